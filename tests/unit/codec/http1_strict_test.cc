// What llhttp's strict parser refuses on the codec's behalf (the checks the
// codec no longer makes itself), and what it still lets through that the codec
// refuses. Each case is split at every byte too, so the answer never depends
// on how the input arrives.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

RecordingSink ParseSplit(std::string_view input, size_t split, CodecMode mode) {
  Harness h(mode);
  h.FeedAll(input.substr(0, split));
  h.FeedAll(input.substr(split));
  return std::move(h.sink);
}

// Rejected with `status` and `flag` whole and split at every byte, before any
// complete message is reported.
void RequireRejectedEverySplit(std::string_view input, int status, std::string_view flag,
                               CodecMode mode = CodecMode::kServer) {
  for (size_t split = 0; split <= input.size(); ++split) {
    INFO("input: " << std::string(input) << " split at " << split);
    RecordingSink s = ParseSplit(input, split, mode);
    REQUIRE(s.HasError());
    CHECK(s.errors == 1);
    CHECK(s.status() == status);
    CHECK(s.flag() == flag);
    CHECK(s.completed == 0);
  }
}

TEST_CASE("a request target with raw non-ASCII bytes is rejected with 400 invalid_target") {
  RequireRejectedEverySplit("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
  RequireRejectedEverySplit("GET /a?q=\xff HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("a request target with a tab is rejected with 400 invalid_target") {
  RequireRejectedEverySplit("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("whitespace inside or after a field name is rejected with 400 invalid_header") {
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost: h\r\nX Y: 1\r\n\r\n", 400, "invalid_header");
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("an empty field name, which strict llhttp takes, is rejected with 400") {
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost: h\r\n: x\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("control characters in a field value are rejected with 400 invalid_header") {
  for (char c : std::string_view("\x01\x0b\x1f\x7f", 4)) {
    std::string input = "GET / HTTP/1.1\r\nHost: h\r\nX: a";
    input += c;
    input += "b\r\n\r\n";
    RequireRejectedEverySplit(input, 400, "invalid_header");
  }
  std::string nul = "GET / HTTP/1.1\r\nHost: h\r\nX: a";
  nul += '\0';
  nul += "\r\n\r\n";
  RequireRejectedEverySplit(nul, 400, "invalid_header");
}

TEST_CASE("bytes other than CRLF after chunk data are rejected with 400 invalid_framing") {
  constexpr std::string_view kHead =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  RequireRejectedEverySplit(std::string(kHead) + "1\r\naXY0\r\n\r\n", 400, "invalid_framing");
  RequireRejectedEverySplit(std::string(kHead) + "1\r\na\r0\r\n\r\n", 400, "invalid_framing");
}

TEST_CASE("a bare CR ending a head or a chunk-size line is rejected with 400") {
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost: h\r\n\rX", 400, "invalid_header");
  RequireRejectedEverySplit(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;e=f\rXa\r\n0\r\n\r\n", 400,
      "invalid_framing");
}

TEST_CASE("bare LF line ends, which strict llhttp takes, are still rejected with 400") {
  RequireRejectedEverySplit("GET / HTTP/1.1\nHost: h\r\n\r\n", 400, "invalid_header");
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "invalid_header");
  RequireRejectedEverySplit(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\n", 400,
      "invalid_framing");
}

TEST_CASE("obs-fold and extra spaces in the request line, which strict llhttp takes, are 400") {
  RequireRejectedEverySplit("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400,
                            "invalid_header");
  RequireRejectedEverySplit("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400, "bad_request");
  RequireRejectedEverySplit("GET / RTSP/1.0\r\nHost: h\r\n\r\n", 400, "bad_request");
}

TEST_CASE("a response with a bare CR after the status line is rejected with 502") {
  RequireRejectedEverySplit("HTTP/1.1 200 OK\rContent-Length: 0\r\n\r\n", 502,
                            "upstream_protocol_error", CodecMode::kClient);
}

TEST_CASE("obs-text in field values is passed on unchanged") {
  Harness h;
  h.FeedAll("GET / HTTP/1.1\r\nHost: h\r\nX: a\x80\xff b\r\n\r\n");
  REQUIRE_FALSE(h.sink.HasError());
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].headers.Get("x") == "a\x80\xff b");
}

}  // namespace
}  // namespace gateway::codec_test
