// Serialisation for Http1Codec: request and response heads, body pieces in
// their framing, and the end of a chunked body with its trailers. Separate
// from parsing because it shares nothing with it but the field syntax: it
// reads heads the gateway built (or rewrote), and its one job beyond copying
// is never to write bytes that could split the message (see PutFields,
// PutTarget).
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "codec/http1_codec.h"
#include "codec/http1_syntax.h"
#include "common/header_map_access.h"
#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway::internal {
namespace {

bool IsFramingField(std::string_view name) {
  return NameIs(name, "content-length") || NameIs(name, "transfer-encoding");
}

// The encoders size their output first, grow it once and then write through
// a pointer: a head is a dozen small pieces, and appending them one by one
// costs a capacity check (and often a call) each.

// Grows `out` by `n` bytes and returns where they start.
char* Grow(std::string& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  return out.data() + old;
}

// Drops what the bound in Grow left unused after `end`.
void Shrink(std::string& out, const char* end) {
  out.resize(static_cast<size_t>(end - out.data()));
}

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutCrLf(char* p) {
  p[0] = '\r';
  p[1] = '\n';
  return p + 2;
}

// At least what PutFields writes for `headers`.
size_t FieldsBound(const HeaderMap& headers) {
  size_t n = 0;
  for (const HeaderMap::Field& f : headers) n += f.name.size() + f.value.size() + 4;
  return n;
}

// Writes the fields that are safe to write: framing fields are left to the
// encoder, and a field that could split the message (bad name, CR/LF/NUL in
// the value) is dropped rather than written.
char* PutFields(const HeaderMap& headers, char* p) {
  // A map whose every field was checked when it was added (by the parser or
  // HeaderMap) is copied without checking again.
  const bool checked = HeaderMapAccess::Clean(headers);
  for (const HeaderMap::Field& f : headers) {
    if (IsFramingField(f.name)) continue;
    std::string_view value = f.value;
    if (!checked) {
      value = TrimOws(value);
      if (!IsFieldName(f.name) || !IsFieldValue(value)) continue;
    }
    p = Put(p, f.name);
    p[0] = ':';
    p[1] = ' ';
    p = Put(p + 2, value);
    p = PutCrLf(p);
  }
  return p;
}

// "Content-Length: " and 20 digits, or "Transfer-Encoding: chunked", and CRLF.
constexpr size_t kFramingBound = 16 + 20 + 2;

char* PutFraming(Codec::Framing framing, uint64_t body_length, char* p) {
  switch (framing) {
    case Codec::Framing::kContentLength:
      p = Put(p, "Content-Length: ");
      p = std::to_chars(p, p + 20, body_length).ptr;
      return PutCrLf(p);
    case Codec::Framing::kChunked:
      return Put(p, "Transfer-Encoding: chunked\r\n");
    case Codec::Framing::kNone:
    case Codec::Framing::kClose:
      break;
  }
  return p;
}

// Bytes that may not appear in a request-target: controls, space, non-ASCII, '#'.
bool NeedsEscape(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '#';
}

// What PutTarget writes for `s`.
size_t TargetSize(std::string_view s) {
  size_t escaped = 0;
  for (char c : s) escaped += NeedsEscape(c) ? 1 : 0;
  return s.size() + 2 * escaped;
}

// Writes `s` as a request-target, percent-encoding bytes that may not appear
// in one, so a rewritten path can never break the request line. `size` is
// TargetSize(s).
char* PutTarget(std::string_view s, size_t size, char* p) {
  if (size == s.size()) return Put(p, s);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (NeedsEscape(c)) {
      const auto u = static_cast<unsigned char>(c);
      p[0] = '%';
      p[1] = kHex[u >> 4];
      p[2] = kHex[u & 0xf];
      p += 3;
    } else {
      *p++ = c;
    }
  }
  return p;
}

}  // namespace

void Http1Codec::EncodeResponseHead(const ResponseHead& head, Framing framing, uint64_t body_length,
                                    std::string& out) {
  std::string_view reason = head.reason;
  int status = head.status;
  if (status < 100 || status > 999) status = 500;
  if (reason.empty() || !IsFieldValue(reason)) reason = ReasonPhrase(status);
  // "HTTP/1.x NNN " reason CRLF, fields, framing, CRLF.
  char* p = Grow(out, 13 + reason.size() + 2 + FieldsBound(head.headers) + kFramingBound + 2);
  p = Put(p, head.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  p[0] = static_cast<char>('0' + status / 100);
  p[1] = static_cast<char>('0' + status / 10 % 10);
  p[2] = static_cast<char>('0' + status % 10);
  p[3] = ' ';
  p = Put(p + 4, reason);
  p = PutCrLf(p);
  p = PutFields(head.headers, p);
  p = PutFraming(framing, body_length, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

void Http1Codec::EncodeRequestHead(const RequestHead& head, Framing framing, uint64_t body_length,
                                   std::string& out) {
  size_t method_size = 0;
  for (char c : head.method) method_size += HasClass(c, kTokenChar) ? 1 : 0;
  // The routed (normalised, possibly rewritten) path goes upstream; forms
  // without a path (CONNECT, OPTIONS *) keep their target.
  size_t path_size = 0;
  size_t query_size = 0;
  size_t target_size = 1;  // "/"
  if (!head.path.empty()) {
    path_size = TargetSize(head.path);
    if (!head.query.empty()) query_size = TargetSize(head.query);
    target_size = path_size + (head.query.empty() ? 0 : 1 + query_size);
  } else if (!head.target.empty()) {
    target_size = TargetSize(head.target);
  }
  bool has_host = false;
  size_t fields_bound = 0;
  for (const HeaderMap::Field& f : head.headers) {
    fields_bound += f.name.size() + f.value.size() + 4;
    has_host = has_host || NameIs(f.name, "host");
  }
  const bool add_host = !head.authority.empty() && !has_host && IsFieldValue(head.authority);
  // Method SP target " HTTP/1.x" CRLF, Host, fields, framing, CRLF.
  char* p = Grow(out, (method_size == 0 ? 3 : method_size) + 1 + target_size + 11 +
                          (add_host ? 6 + head.authority.size() + 2 : 0) + fields_bound +
                          kFramingBound + 2);
  if (method_size == 0) {
    p = Put(p, "GET");
  } else if (method_size == head.method.size()) {
    p = Put(p, head.method);
  } else {
    for (char c : head.method) {
      if (HasClass(c, kTokenChar)) *p++ = c;
    }
  }
  *p++ = ' ';
  if (!head.path.empty()) {
    p = PutTarget(head.path, path_size, p);
    if (!head.query.empty()) {
      *p++ = '?';
      p = PutTarget(head.query, query_size, p);
    }
  } else if (!head.target.empty()) {
    p = PutTarget(head.target, target_size, p);
  } else {
    *p++ = '/';
  }
  p = Put(p, head.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  if (add_host) {
    p = Put(p, "Host: ");
    p = Put(p, head.authority);
    p = PutCrLf(p);
  }
  p = PutFields(head.headers, p);
  p = PutFraming(framing, body_length, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

void Http1Codec::EncodeBody(std::string_view data, Framing framing, std::string& out) {
  if (data.empty()) return;  // an empty chunk would end a chunked body
  switch (framing) {
    case Framing::kChunked:
      out.reserve(out.size() + data.size() + 20);
      AppendHex(data.size(), out);
      out.append("\r\n", 2);
      out.append(data);
      out.append("\r\n", 2);
      break;
    case Framing::kContentLength:
    case Framing::kClose:
      out.append(data);
      break;
    case Framing::kNone:
      break;
  }
}

void Http1Codec::EncodeChunkedEnd(const HeaderMap* trailers, std::string& out) {
  if (trailers == nullptr || trailers->empty()) {
    out.append("0\r\n\r\n", 5);
    return;
  }
  char* p = Grow(out, 3 + FieldsBound(*trailers) + 2);
  p = Put(p, "0\r\n");
  p = PutFields(*trailers, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

}  // namespace gateway::internal
