// CodecLimits: enforced as bytes arrive, exactly at the documented boundary.
//
// What counts: the request target against max_uri_bytes; every byte of the
// head after the HTTP version (the request line's CRLF, each field line with
// its CRLF, the blank line) against max_header_bytes; for responses the status
// code and reason phrase count too.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

CodecLimits Limits(size_t uri, size_t header_bytes, size_t header_count, uint64_t body) {
  CodecLimits l;
  l.max_uri_bytes = uri;
  l.max_header_bytes = header_bytes;
  l.max_header_count = header_count;
  l.max_body_bytes = body;
  return l;
}

// Bytes of `head` counted against max_header_bytes.
size_t HeaderBytes(std::string_view head) {
  size_t version_end = head.find(" HTTP/1.1") + 9;
  size_t head_end = head.find("\r\n\r\n") + 4;
  return head_end - version_end;
}

std::string RequestWithTarget(size_t target_len) {
  std::string target = "/" + std::string(target_len - 1, 'a');
  return "GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n";
}

TEST_CASE("a target exactly at max_uri_bytes is accepted") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 100));
  h.FeedAll(RequestWithTarget(64));
  CHECK_FALSE(h.sink.HasError());
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].target.size() == 64);
}

TEST_CASE("a target one byte over max_uri_bytes is rejected with 414") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 100));
  h.FeedAll(RequestWithTarget(65));
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 414);
  CHECK(h.sink.flag() == "uri_too_long");
  CHECK(h.sink.requests.empty());
}

TEST_CASE("an overlong target is rejected before the request line ends") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 100));
  std::string partial = "GET /" + std::string(100, 'a');  // no end of line yet
  h.Feed(partial);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 414);
}

TEST_CASE("an overlong target fed byte by byte is rejected at the first byte over") {
  Harness h(CodecMode::kServer, Limits(16, 1024, 10, 100));
  std::string line = "GET /" + std::string(40, 'a');
  size_t fed = 0;
  for (char c : line) {
    if (h.sink.HasError()) break;
    fed += h.Feed(std::string_view(&c, 1)).consumed;
  }
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 414);
  CHECK(fed == 4 + 17);  // "GET " and the target up to the byte that broke the limit
}

TEST_CASE("a head exactly at max_header_bytes is accepted") {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: \r\n\r\n";
  size_t base = HeaderBytes(head);
  std::string padded = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
  REQUIRE(HeaderBytes(padded) == base + 100);
  Harness h(CodecMode::kServer, Limits(64, base + 100, 10, 100));
  h.FeedAll(padded);
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.requests.size() == 1);
}

TEST_CASE("a head one byte over max_header_bytes is rejected with 431") {
  std::string padded = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: " + std::string(100, 'p') + "\r\n\r\n";
  Harness h(CodecMode::kServer, Limits(64, HeaderBytes(padded) - 1, 10, 100));
  h.FeedAll(padded);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
  CHECK(h.sink.flag() == "headers_too_large");
  CHECK(h.sink.requests.empty());
}

TEST_CASE("whitespace padding counts against max_header_bytes") {
  std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX:" + std::string(500, ' ') + "v\r\n\r\n";
  Harness h(CodecMode::kServer, Limits(64, 256, 10, 100));
  h.FeedAll(head);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
}

TEST_CASE("an oversized header section is rejected before the head ends") {
  Harness h(CodecMode::kServer, Limits(64, 256, 100, 100));
  std::string in = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (int i = 0; i < 20; ++i) in += "X-Field-" + std::to_string(i) + ": some value\r\n";
  // No blank line: the head never completes, the limit still triggers.
  h.Feed(in);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
}

TEST_CASE("an oversized header value fed in small pieces is never buffered past the limit") {
  Harness h(CodecMode::kServer, Limits(64, 128, 100, 100));
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\nX: ");
  std::string piece(16, 'v');
  int pieces = 0;
  while (!h.sink.HasError() && pieces < 100) {
    h.Feed(piece);
    ++pieces;
  }
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
  CHECK(pieces * 16 <= 128);
}

TEST_CASE("exactly max_header_count fields are accepted") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 3, 100));
  h.FeedAll("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.requests.size() == 1);
}

TEST_CASE("one field over max_header_count is rejected with 431") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 3, 100));
  h.FeedAll("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
  CHECK(h.sink.requests.empty());
}

TEST_CASE("Content-Length exactly at max_body_bytes is accepted") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 10));
  h.FeedAll("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "0123456789");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("Content-Length one over max_body_bytes is rejected with 413 at the head") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 10));
  h.FeedAll("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n0123456789X");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 413);
  CHECK(h.sink.flag() == "body_too_large");
  CHECK(h.sink.requests.empty());
  CHECK(h.sink.body.empty());
}

TEST_CASE("a huge Content-Length is rejected with 413 before any body byte is passed on") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 1024));
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000\r\n\r\n";
  size_t head_len = in.size();
  in += std::string(4096, 'b');
  FeedResult r = h.Feed(in);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 413);
  CHECK(h.sink.events.size() == 1);  // just the error: no head, no body
  CHECK(h.sink.body.empty());
  CHECK(r.consumed <= head_len);
}

TEST_CASE("a chunked body exactly at max_body_bytes is accepted") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 10));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "0123456789");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("a chunked body crossing max_body_bytes is rejected with 413 at that chunk") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 10));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\n0123\r\n7\r\n456789X\r\n0\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 413);
  CHECK(h.sink.requests.size() == 1);
  CHECK(h.sink.body == "0123");  // nothing of the chunk that crosses the limit
  CHECK(h.sink.completed == 0);
}

TEST_CASE("a chunk announcing a huge size is rejected with 413 before its data") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 1 << 20));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "ffffffffff\r\nabc");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 413);
  CHECK(h.sink.body.empty());
}

TEST_CASE("the body limit applies to each request of a connection separately") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 10, 4));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nefgh");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.completed == 2);
}

TEST_CASE("too many trailer fields are rejected with 431") {
  Harness h(CodecMode::kServer, Limits(64, 1024, 3, 100));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
  CHECK(h.sink.trailers.empty());
}

TEST_CASE("an oversized trailer section is rejected with 431") {
  Harness h(CodecMode::kServer, Limits(64, 64, 10, 100));
  h.FeedAll(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\na\r\n0\r\nT: " +
      std::string(100, 't') + "\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 431);
  CHECK(h.sink.trailers.empty());
}

TEST_CASE("response headers over max_header_bytes are rejected with 502 in client mode") {
  Harness h(CodecMode::kClient, Limits(64, 128, 10, 100));
  h.FeedAll("HTTP/1.1 200 OK\r\nX: " + std::string(200, 'x') + "\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 502);
  CHECK(h.sink.responses.empty());
}

TEST_CASE("too many response header fields are rejected with 502 in client mode") {
  Harness h(CodecMode::kClient, Limits(64, 1024, 2, 100));
  h.FeedAll("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 502);
}

TEST_CASE("response bodies are not limited by max_body_bytes") {
  Harness h(CodecMode::kClient, Limits(64, 1024, 10, 4));
  h.FeedAll("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "0123456789");
}

}  // namespace
}  // namespace gateway::codec_test
