// The head encoders write straight into space sized up front; these tests hold
// them byte for byte to a plain append-one-piece-at-a-time encoder, over heads
// that exercise every branch (filtered fields, escapes, framing, Host).
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "codec/http1_syntax.h"
#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

using Framing = Codec::Framing;
using internal::HasClass;
using internal::IsFieldName;
using internal::IsFieldValue;
using internal::kTokenChar;
using internal::TrimOws;

namespace reference {

bool IsFramingField(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding");
}

void AppendFields(const HeaderMap& headers, std::string& out) {
  for (const HeaderMap::Field& f : headers) {
    if (IsFramingField(f.name)) continue;
    std::string_view value = TrimOws(f.value);
    if (!IsFieldName(f.name) || !IsFieldValue(value)) continue;
    out += f.name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
}

void AppendFraming(Framing framing, uint64_t body_length, std::string& out) {
  if (framing == Framing::kContentLength) {
    out += "Content-Length: " + std::to_string(body_length) + "\r\n";
  } else if (framing == Framing::kChunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
}

void AppendTarget(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '#') {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
}

std::string ResponseHead(const gateway::ResponseHead& head, Framing framing, uint64_t length) {
  std::string_view reason = head.reason;
  int status = head.status;
  if (status < 100 || status > 999) status = 500;
  if (reason.empty() || !IsFieldValue(reason)) reason = ReasonPhrase(status);
  std::string out = head.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(status) + " " + std::string(reason) + "\r\n";
  AppendFields(head.headers, out);
  AppendFraming(framing, length, out);
  return out + "\r\n";
}

std::string RequestHead(const gateway::RequestHead& head, Framing framing, uint64_t length) {
  std::string out;
  for (char c : head.method) {
    if (HasClass(c, kTokenChar)) out += c;
  }
  if (out.empty()) out = "GET";
  out += ' ';
  if (!head.path.empty()) {
    AppendTarget(head.path, out);
    if (!head.query.empty()) {
      out += '?';
      AppendTarget(head.query, out);
    }
  } else if (!head.target.empty()) {
    AppendTarget(head.target, out);
  } else {
    out += '/';
  }
  out += head.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  if (!head.authority.empty() && !head.headers.Has("host") && IsFieldValue(head.authority)) {
    out += "Host: " + head.authority + "\r\n";
  }
  AppendFields(head.headers, out);
  AppendFraming(framing, length, out);
  return out + "\r\n";
}

std::string ChunkedEnd(const HeaderMap* trailers) {
  std::string out = "0\r\n";
  if (trailers != nullptr) AppendFields(*trailers, out);
  return out + "\r\n";
}

}  // namespace reference

std::vector<HeaderMap> FieldSets() {
  return {
      {},
      {{"Host", "example.com"}},
      {{"Server", "nginx/1.22.1"},
       {"Date", "Mon, 23 Nov 2026 18:48:34 GMT"},
       {"Content-Type", "text/plain"},
       {"Content-Length", "91"},
       {"Connection", "keep-alive"}},
      {{"content-length", "9"}, {"TRANSFER-ENCODING", "chunked"}, {"X", ""}, {"Y", " \t "}},
      {{"Bad Name", "v"},
       {"", "v"},
       {"Bad", "a\r\nSet-Cookie: evil"},
       {"Nul", std::string_view("a\0b", 3)},
       {"Del", "a\x7f"},
       {"Padded", "\t v \t"},
       {"Obs", "caf\xc3\xa9"},
       {"host", "h:8080"},
       {std::string(300, 'n'), std::string(5000, 'v')}},
  };
}

TEST_CASE("response heads encode byte for byte like an append-per-piece encoder") {
  RecordingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kServer, {}, sink);
  const std::vector<std::pair<int, std::string>> statuses = {{200, ""},
                                                             {404, ""},
                                                             {299, ""},
                                                             {204, "Nothing"},
                                                             {503, "Busy\r\nX: 1"},
                                                             {99, ""},
                                                             {1000, "Big"},
                                                             {999, ""},
                                                             {100, "Continue"},
                                                             {-5, "x"},
                                                             {200, "\x80\xff ok"}};
  for (const HeaderMap& fields : FieldSets()) {
    for (const auto& [status, reason] : statuses) {
      for (int minor : {0, 1}) {
        for (Framing framing :
             {Framing::kNone, Framing::kClose, Framing::kContentLength, Framing::kChunked}) {
          for (uint64_t length : {uint64_t{0}, uint64_t{91}, UINT64_MAX}) {
            ResponseHead head;
            head.status = status;
            head.reason = reason;
            head.version_minor = minor;
            head.headers = fields;
            std::string out = "before|";
            codec->EncodeResponseHead(head, framing, length, out);
            INFO(status << " " << reason << " " << minor << " " << static_cast<int>(framing));
            REQUIRE(out == "before|" + reference::ResponseHead(head, framing, length));
          }
        }
      }
    }
  }
}

TEST_CASE("request heads encode byte for byte like an append-per-piece encoder") {
  RecordingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kClient, {}, sink);
  struct Line {
    std::string method, target, path, query, authority;
  };
  const std::vector<Line> lines = {
      {"GET", "/", "/", "", "up:80"},
      {"POST", "/a/b?x=1", "/a/b", "x=1", ""},
      {"", "/", "/", "", ""},
      {"G E\rT", "/", "/", "", ""},
      {" \r\n", "/", "/", "", ""},
      {"CONNECT", "up:443", "", "", "up:443"},
      {"OPTIONS", "*", "", "", "h"},
      {"GET", "", "", "", ""},
      {"GET", "/x", "/sp ace/#frag\x01\x7f\xc3\xa9", "q=a b#c\xff", "h\r\nX: 1"},
      {"GET", "/x", "/p", "", "example.com"},
      {"GET", "/x", std::string(3000, '%'), std::string(2000, ' '), "h"},
      {"DELETE", "/t#x y", "", "", "h"},
  };
  for (const HeaderMap& fields : FieldSets()) {
    for (const Line& line : lines) {
      for (int minor : {0, 1}) {
        for (Framing framing :
             {Framing::kNone, Framing::kClose, Framing::kContentLength, Framing::kChunked}) {
          RequestHead head;
          head.method = line.method;
          head.target = line.target;
          head.path = line.path;
          head.query = line.query;
          head.authority = line.authority;
          head.version_minor = minor;
          head.headers = fields;
          std::string out = "before|";
          codec->EncodeRequestHead(head, framing, 12345, out);
          INFO(line.method << " " << line.path << " " << minor << " " << static_cast<int>(framing));
          REQUIRE(out == "before|" + reference::RequestHead(head, framing, 12345));
        }
      }
    }
  }
}

TEST_CASE("the last chunk encodes byte for byte like an append-per-piece encoder") {
  RecordingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kServer, {}, sink);
  std::string out = "before|";
  codec->EncodeChunkedEnd(nullptr, out);
  CHECK(out == "before|" + reference::ChunkedEnd(nullptr));
  for (const HeaderMap& trailers : FieldSets()) {
    out = "before|";
    codec->EncodeChunkedEnd(&trailers, out);
    REQUIRE(out == "before|" + reference::ChunkedEnd(&trailers));
  }
}

}  // namespace
}  // namespace gateway::codec_test
