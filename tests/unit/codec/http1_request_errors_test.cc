// Server mode: requests that must be rejected, and what the codec does after.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

// Feeds `input` to a fresh server codec and returns the sink.
RecordingSink Parse(std::string_view input, CodecLimits limits = {}) {
  Harness h(CodecMode::kServer, limits);
  h.FeedAll(input);
  return std::move(h.sink);
}

// The request is rejected before any head is reported.
void RequireRejected(std::string_view input, int status, std::string_view flag) {
  INFO("input: " << std::string(input));
  RecordingSink s = Parse(input);
  REQUIRE(s.HasError());
  CHECK(s.errors == 1);
  CHECK(s.status() == status);
  CHECK(s.flag() == flag);
  CHECK(s.requests.empty());
  CHECK_FALSE(s.error->reason.empty());
}

constexpr std::string_view kLine = "POST / HTTP/1.1\r\nHost: h\r\n";

std::string WithHeaders(std::string_view headers, std::string_view rest = "") {
  return std::string(kLine) + std::string(headers) + "\r\n" + std::string(rest);
}

// --- Framing ----------------------------------------------------------------

TEST_CASE("request with both Content-Length and Transfer-Encoding is rejected with 400") {
  RequireRejected(
      WithHeaders("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n"),
      400, "invalid_framing");
}

TEST_CASE("request with Transfer-Encoding before Content-Length is rejected with 400") {
  RequireRejected(
      WithHeaders("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", "3\r\nabc\r\n0\r\n\r\n"),
      400, "invalid_framing");
}

TEST_CASE("request with two identical Content-Length fields is rejected with 400") {
  RequireRejected(WithHeaders("Content-Length: 3\r\nContent-Length: 3\r\n", "abc"), 400,
                  "invalid_framing");
}

TEST_CASE("request with differing Content-Length fields is rejected with 400") {
  RequireRejected(WithHeaders("Content-Length: 3\r\nContent-Length: 4\r\n", "abcd"), 400,
                  "invalid_framing");
}

TEST_CASE("request with a Content-Length list is rejected with 400") {
  RequireRejected(WithHeaders("Content-Length: 3, 3\r\n", "abc"), 400, "invalid_framing");
}

TEST_CASE("request with a malformed Content-Length value is rejected with 400") {
  std::string value = GENERATE(as<std::string>{}, "+3", "-1", "abc", "3 3", "0x10", "",
                               "99999999999999999999999", "3;", "1.0");
  RequireRejected(WithHeaders("Content-Length: " + value + "\r\n", "abc"), 400, "invalid_framing");
}

TEST_CASE("Transfer-Encoding gzip, chunked is rejected with 400") {
  RequireRejected(WithHeaders("Transfer-Encoding: gzip, chunked\r\n", "0\r\n\r\n"), 400,
                  "invalid_framing");
}

TEST_CASE("Transfer-Encoding chunked, gzip is rejected with 400") {
  RequireRejected(WithHeaders("Transfer-Encoding: chunked, gzip\r\n", "0\r\n\r\n"), 400,
                  "invalid_framing");
}

TEST_CASE("Transfer-Encoding other than chunked is rejected with 400") {
  std::string value = GENERATE(as<std::string>{}, "gzip", "identity", "chunked;q=1", "chunkedx",
                               "chunked,", "\"chunked\"");
  RequireRejected(WithHeaders("Transfer-Encoding: " + value + "\r\n", "0\r\n\r\n"), 400,
                  "invalid_framing");
}

TEST_CASE("two Transfer-Encoding fields are rejected with 400") {
  RequireRejected(
      WithHeaders("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n"), 400,
      "invalid_framing");
}

TEST_CASE("Transfer-Encoding on an HTTP/1.0 request is rejected with 400") {
  RequireRejected("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                  "invalid_framing");
}

TEST_CASE("a bad chunk size is rejected with 400") {
  std::string size =
      GENERATE(as<std::string>{}, "zz", "-3", "0x3", "3 ", " 3", "fffffffffffffffffff", "");
  RecordingSink s =
      Parse(WithHeaders("Transfer-Encoding: chunked\r\n", size + "\r\nabc\r\n0\r\n\r\n"));
  INFO("size: " << size);
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.flag() == "invalid_framing");
  CHECK(s.body.empty());
  CHECK(s.completed == 0);
}

TEST_CASE("a bad chunk data terminator is rejected with 400") {
  std::string after = GENERATE(as<std::string>{}, "X\r\n", "\n", "\r\r", "\rX", "\n\r\n");
  RecordingSink s =
      Parse(WithHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc" + after + "0\r\n\r\n"));
  INFO("after data: " << after);
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.flag() == "invalid_framing");
  CHECK(s.completed == 0);
}

TEST_CASE("a chunk size line ending in a bare LF or lone CR is rejected with 400") {
  std::string line = GENERATE(as<std::string>{}, "3\n", "3;ext\n", "3;ext\r\r", "3\r");
  RecordingSink s = Parse(WithHeaders("Transfer-Encoding: chunked\r\n", line + "abc\r\n0\r\n\r\n"));
  INFO("size line: " << line);
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.body.empty());
}

TEST_CASE("a chunked body ending in a bare LF instead of CRLF is rejected with 400") {
  RecordingSink s =
      Parse(WithHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\nGET / HTTP/1.1\r\n"));
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.completed == 0);
}

TEST_CASE("trailers ending in a bare LF are rejected with 400") {
  RecordingSink s =
      Parse(WithHeaders("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\nT: v\r\n\n"));
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.trailers.empty());
  CHECK(s.completed == 0);
}

TEST_CASE("a smuggled request behind conflicting framing is never reported") {
  RecordingSink s = Parse(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /admin HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.requests.empty());
  CHECK(s.events.size() == 1);
}

// --- Header syntax ----------------------------------------------------------

TEST_CASE("NUL inside a header value is rejected with 400") {
  RequireRejected(std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n", 34), 400,
                  "invalid_header");
}

TEST_CASE("NUL inside a header name is rejected with 400") {
  RequireRejected(std::string("GET / HTTP/1.1\r\nHost: h\r\nX\0Y: ab\r\n\r\n", 35), 400,
                  "invalid_header");
}

TEST_CASE("CR or LF inside a header name is rejected with 400") {
  std::string name = GENERATE(as<std::string>{}, "X\rY", "X\nY", "X\r");
  RecordingSink s = Parse("GET / HTTP/1.1\r\nHost: h\r\n" + name + ": v\r\n\r\n");
  INFO("name: " << name);
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

TEST_CASE("CR inside a header value is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("LF inside a header value is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\nb: c\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("control characters inside a header value are rejected with 400") {
  std::string ctl = GENERATE(as<std::string>{}, "\x01", "\x1f", "\x7f", "\x0b");
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a" + ctl + "b\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("a header field without a colon is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nNoColonHere\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("whitespace before the colon is rejected with 400") {
  std::string ws = GENERATE(as<std::string>{}, " ", "\t", "  ");
  RequireRejected("GET / HTTP/1.1\r\nHost" + ws + ": h\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("an empty header name is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("a header name with separators is rejected with 400") {
  std::string name = GENERATE(as<std::string>{}, "X(y)", "X/Y", "X\"Y", "X@Y", "X[Y]", "X Y");
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\n" + name + ": v\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("obs-fold continuation with a space is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("obs-fold continuation with a tab is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("obs-fold after an empty value is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n b\r\n\r\n", 400, "invalid_header");
}

TEST_CASE("obs-fold of only whitespace is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n \r\n\r\n", 400, "invalid_header");
}

TEST_CASE("a header line starting with whitespace after the request line is rejected") {
  RecordingSink s = Parse("GET / HTTP/1.1\r\n Host: h\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

TEST_CASE("a bare LF after the request line is rejected with 400") {
  RecordingSink s = Parse("GET / HTTP/1.1\nHost: h\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

TEST_CASE("a bare LF as the blank line ending the head is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\n\n", 400, "invalid_header");
}

TEST_CASE("a lone CR as the blank line ending the head is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: h\r\n\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", 400,
                  "invalid_header");
}

TEST_CASE("a header line ending in a bare LF is rejected with 400") {
  RecordingSink s = Parse("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

// --- Host -------------------------------------------------------------------

TEST_CASE("HTTP/1.1 request without Host is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nX: y\r\n\r\n", 400, "invalid_host");
}

TEST_CASE("request with two Host fields is rejected with 400") {
  RequireRejected("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "invalid_host");
}

TEST_CASE("HTTP/1.0 request with two Host fields is rejected with 400") {
  RequireRejected("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, "invalid_host");
}

TEST_CASE("a Host value that is not an authority is rejected with 400") {
  std::string host = GENERATE(as<std::string>{}, "", "a b", "a/b", "user@h", "h:port", "h:99999",
                              "[::1", "h?x", "h#x");
  RequireRejected("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 400, "invalid_host");
}

// --- Request line and target ------------------------------------------------

TEST_CASE("HTTP/2.0 request line is rejected with 505") {
  RequireRejected("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505, "unsupported_version");
}

TEST_CASE("HTTP/1.2 request line is rejected with 505") {
  RequireRejected("GET / HTTP/1.2\r\nHost: h\r\n\r\n", 505, "unsupported_version");
}

TEST_CASE("HTTP/0.9 request line is rejected with 505") {
  RequireRejected("GET /\r\n\r\n", 505, "unsupported_version");
}

TEST_CASE("the HTTP/2 connection preface is rejected with 505") {
  RequireRejected("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "unsupported_version");
}

TEST_CASE("a request line naming another protocol is rejected with 400") {
  RequireRejected("GET / RTSP/1.0\r\nHost: h\r\n\r\n", 400, "bad_request");
}

TEST_CASE("extra spaces in the request line are rejected with 400") {
  std::string line = GENERATE(as<std::string>{}, "GET  / HTTP/1.1", "GET /  HTTP/1.1",
                              "GET / HTTP/1.1 ", "GET\t/ HTTP/1.1");
  RecordingSink s = Parse(line + "\r\nHost: h\r\n\r\n");
  INFO("line: " << line);
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

TEST_CASE("an unknown or lower-case method is rejected with 400") {
  std::string method = GENERATE(as<std::string>{}, "get", "FOO", "GETT");
  RecordingSink s = Parse(method + " / HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
}

TEST_CASE("asterisk-form target is rejected for methods other than OPTIONS") {
  RequireRejected("GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("a target with a fragment is rejected with 400") {
  RequireRejected("GET /p#frag HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("CONNECT with an origin-form target is rejected with 400") {
  RequireRejected("CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("CONNECT without a port is rejected with 400") {
  RequireRejected("CONNECT example.com HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("absolute-form target with userinfo is rejected with 400") {
  RequireRejected("GET http://user@h/p HTTP/1.1\r\nHost: h\r\n\r\n", 400, "invalid_target");
}

TEST_CASE("absolute-form target with a scheme other than http or https is rejected") {
  RecordingSink s = Parse("GET ftp://h/p HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

TEST_CASE("control bytes in the target are rejected with 400") {
  RecordingSink s = Parse(std::string("GET /a\0b HTTP/1.1\r\nHost: h\r\n\r\n", 31));
  REQUIRE(s.HasError());
  CHECK(s.status() == 400);
  CHECK(s.requests.empty());
}

// --- Expect -----------------------------------------------------------------

TEST_CASE("an unknown expectation is rejected with 417") {
  RequireRejected("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417,
                  "expectation_failed");
}

TEST_CASE("an expectation list beyond 100-continue is rejected with 417") {
  RequireRejected(
      "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue, x\r\nContent-Length: 1\r\n\r\nx", 417,
      "expectation_failed");
}

// --- After an error ---------------------------------------------------------

TEST_CASE("after an error the codec is dead and consumes nothing") {
  Harness h;
  FeedResult r = h.Feed("GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK_FALSE(r.paused);
  CHECK_FALSE(h.codec->paused());
  FeedResult again = h.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(again.consumed == 0);
  h.codec->Resume();
  CHECK(h.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").consumed == 0);
  h.codec->FeedEof();
  CHECK(h.sink.errors == 1);
  CHECK(h.sink.requests.empty());
}

TEST_CASE("an error in a later pipelined request stops after the good ones") {
  Harness h;
  h.FeedAll(
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n"
      "GET /3 HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 2);
  CHECK(h.sink.requests[1].target == "/2");
  CHECK(h.sink.completed == 2);
  CHECK(h.sink.errors == 1);
  CHECK(h.sink.events.back() == "error 400 invalid_header");
}

TEST_CASE("FeedEof in the middle of a request head is an error") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost:");
  REQUIRE_FALSE(h.sink.HasError());
  h.codec->FeedEof();
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.flag() == "incomplete_request");
}

TEST_CASE("FeedEof in the middle of a request body is an error") {
  Harness h;
  h.Feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  REQUIRE(h.sink.requests.size() == 1);
  h.codec->FeedEof();
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.flag() == "incomplete_request");
  CHECK(h.sink.completed == 0);
}

TEST_CASE("FeedEof between requests is not an error") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n\r\n");
  h.codec->FeedEof();
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.completed == 1);
}

}  // namespace
}  // namespace gateway::codec_test
