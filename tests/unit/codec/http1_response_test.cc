// Client mode: parsing upstream responses.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

struct Client : Harness {
  Client() : Harness(CodecMode::kClient) {}
};

void RequireInvalid(std::string_view input) {
  INFO("input: " << std::string(input));
  Client c;
  c.FeedAll(input);
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.errors == 1);
  CHECK(c.sink.status() == 502);
  CHECK(c.sink.flag() == "upstream_protocol_error");
  CHECK(c.sink.completed == 0);
}

TEST_CASE("response with Content-Length fills the head and streams the body") {
  Client c;
  std::string_view in = "HTTP/1.1 201 Created Here\r\nContent-Length: 4\r\nX-Id: 7\r\n\r\nbody";
  FeedResult r = c.Feed(in);
  CHECK(r.consumed == in.size());
  REQUIRE(c.sink.responses.size() == 1);
  const ResponseHead& head = c.sink.responses[0];
  CHECK(head.status == 201);
  CHECK(head.reason == "Created Here");
  CHECK(head.version_minor == 1);
  CHECK(head.content_length == 4u);
  CHECK_FALSE(head.chunked);
  CHECK(head.keep_alive);
  CHECK(head.headers.Get("x-id") == "7");
  CHECK(c.sink.body == "body");
  CHECK(c.sink.completed == 1);
}

TEST_CASE("response without a reason phrase is accepted") {
  Client c;
  c.Feed("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.sink.responses.size() == 1);
  CHECK(c.sink.responses[0].reason.empty());
  CHECK(c.sink.completed == 1);
}

TEST_CASE("keep-alive responses on one connection are reported in order") {
  Client c;
  c.Feed(
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb");
  REQUIRE(c.sink.responses.size() == 2);
  CHECK(c.sink.responses[1].status == 404);
  CHECK(c.sink.body == "ab");
  CHECK(c.sink.completed == 2);
}

TEST_CASE("chunked response with trailers is decoded") {
  Client c;
  c.Feed(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\nGrpc-Status: 0\r\n\r\n");
  REQUIRE(c.sink.responses.size() == 1);
  CHECK(c.sink.responses[0].chunked);
  CHECK(c.sink.body == "hello world");
  REQUIRE(c.sink.trailers.size() == 1);
  CHECK(c.sink.trailers[0].Get("grpc-status") == "0");
  CHECK(c.sink.events.back() == "complete");
}

TEST_CASE("close-delimited response body ends at FeedEof") {
  Client c;
  FeedResult r = c.Feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ");
  CHECK(r.consumed > 0);
  REQUIRE(c.sink.responses.size() == 1);
  CHECK_FALSE(c.sink.responses[0].keep_alive);
  CHECK_FALSE(c.sink.responses[0].content_length.has_value());
  c.Feed("data");
  CHECK(c.sink.completed == 0);
  c.codec->FeedEof();
  CHECK_FALSE(c.sink.HasError());
  CHECK(c.sink.body == "some data");
  CHECK(c.sink.completed == 1);
}

TEST_CASE("close-delimited response body ends at FeedEof even while paused") {
  Client c;
  c.sink.after = [&](std::string_view kind) {
    if (kind == "body") c.codec->Pause();
  };
  c.Feed("HTTP/1.1 200 OK\r\n\r\nabc");
  REQUIRE(c.codec->paused());
  c.codec->FeedEof();
  CHECK_FALSE(c.sink.HasError());
  CHECK(c.sink.completed == 1);
}

TEST_CASE("close-delimited response paused at its head ends at FeedEof with an empty body") {
  Client c;
  c.sink.after = [&](std::string_view kind) {
    if (kind == "head") c.codec->Pause();
  };
  FeedResult r = c.Feed("HTTP/1.1 200 OK\r\nServer: old\r\n\r\n");
  REQUIRE(r.paused);
  c.codec->FeedEof();
  CHECK_FALSE(c.sink.HasError());
  CHECK(c.sink.body.empty());
  CHECK(c.sink.completed == 1);
}

TEST_CASE("Content-Length response paused at its head is truncated at FeedEof") {
  Client c;
  c.sink.after = [&](std::string_view kind) {
    if (kind == "head") c.codec->Pause();
  };
  c.Feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.flag() == "upstream_truncated");
  CHECK(c.sink.events.size() == 2);  // head, error: no empty body piece
}

TEST_CASE("response truncated inside a Content-Length body is reported as upstream_truncated") {
  Client c;
  c.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.status() == 502);
  CHECK(c.sink.flag() == "upstream_truncated");
  CHECK(c.sink.completed == 0);
}

TEST_CASE("response truncated before the last chunk is reported as upstream_truncated") {
  Client c;
  c.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.flag() == "upstream_truncated");
  CHECK(c.sink.completed == 0);
}

TEST_CASE("response truncated inside the head is reported as upstream_truncated") {
  Client c;
  c.Feed("HTTP/1.1 200 OK\r\nContent-Le");
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.flag() == "upstream_truncated");
}

TEST_CASE("connection closed after a 1xx but before the final response is truncation") {
  Client c;
  c.Feed("HTTP/1.1 100 Continue\r\n\r\n");
  c.codec->FeedEof();
  REQUIRE(c.sink.HasError());
  CHECK(c.sink.flag() == "upstream_truncated");
}

TEST_CASE("FeedEof with no response started is not an error") {
  Client c;
  c.codec->FeedEof();
  CHECK_FALSE(c.sink.HasError());
  CHECK(c.sink.events.empty());
}

TEST_CASE("response to HEAD has no body even with Content-Length") {
  Client c;
  c.codec->ExpectResponseTo("HEAD");
  std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n";
  FeedResult r = c.Feed(first);
  CHECK(r.consumed == first.size());
  REQUIRE(c.sink.responses.size() == 1);
  CHECK(c.sink.responses[0].content_length == 1234u);
  CHECK(c.sink.completed == 1);
  CHECK(c.sink.body.empty());
  // The expectation was used up: the next response has its body again.
  c.Feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(c.sink.body == "ok");
  CHECK(c.sink.completed == 2);
}

TEST_CASE("response to HEAD with chunked framing has no body") {
  Client c;
  c.codec->ExpectResponseTo("HEAD");
  c.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
  CHECK(c.sink.completed == 1);
  CHECK_FALSE(c.sink.HasError());
}

TEST_CASE("204 and 304 responses have no body even with Content-Length") {
  int status = GENERATE(204, 304);
  Client c;
  std::string first = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 5\r\n\r\n";
  std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  FeedResult r = c.Feed(first + second);
  CHECK(r.consumed == first.size() + second.size());
  REQUIRE(c.sink.responses.size() == 2);
  CHECK(c.sink.responses[0].status == status);
  CHECK(c.sink.body == "ok");
  CHECK(c.sink.completed == 2);
}

TEST_CASE("100 Continue is reported as a head without end, then the final response") {
  Client c;
  c.Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  REQUIRE(c.sink.responses.size() == 2);
  CHECK(c.sink.responses[0].status == 100);
  CHECK(c.sink.responses[1].status == 200);
  CHECK(c.sink.completed == 1);
  std::vector<std::string> merged = c.sink.Merged();
  REQUIRE(merged.size() == 4);
  CHECK(merged[2] == "body ok");
  CHECK(merged[3] == "complete");
}

TEST_CASE("several informational responses precede the final one") {
  Client c;
  c.Feed(
      "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
      "HTTP/1.1 204 No Content\r\n\r\n");
  REQUIRE(c.sink.responses.size() == 3);
  CHECK(c.sink.responses[0].headers.Get("link") == "</a>");
  CHECK(c.sink.completed == 1);
}

TEST_CASE("a 1xx saying Connection: close does not end the exchange") {
  Client c;
  c.Feed(
      "HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.sink.responses.size() == 2);
  CHECK(c.sink.completed == 1);
}

TEST_CASE("HEAD expectation survives a 1xx response") {
  Client c;
  c.codec->ExpectResponseTo("HEAD");
  c.Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n");
  CHECK(c.sink.completed == 1);
  CHECK(c.sink.body.empty());
}

TEST_CASE("101 Switching Protocols completes and pauses with the rest unconsumed") {
  Client c;
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\n\r\n";
  FeedResult r = c.Feed(head + "\x81\x02hi");
  CHECK(r.consumed == head.size());
  CHECK(r.paused);
  REQUIRE(c.sink.responses.size() == 1);
  CHECK(c.sink.responses[0].status == 101);
  CHECK(c.sink.completed == 1);
}

TEST_CASE("101 without Upgrade headers still switches protocols") {
  Client c;
  std::string head = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
  FeedResult r = c.Feed(head + "raw");
  CHECK(r.consumed == head.size());
  CHECK(r.paused);
  CHECK(c.sink.completed == 1);
}

TEST_CASE("2xx response to CONNECT opens a tunnel after the head") {
  Client c;
  c.codec->ExpectResponseTo("CONNECT");
  std::string head = "HTTP/1.1 200 Connection Established\r\n\r\n";
  FeedResult r = c.Feed(head + "tunnel bytes");
  CHECK(r.consumed == head.size());
  CHECK(r.paused);
  CHECK(c.sink.completed == 1);
}

TEST_CASE("non-2xx response to CONNECT has an ordinary body") {
  Client c;
  c.codec->ExpectResponseTo("CONNECT");
  c.Feed("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\nno");
  CHECK(c.sink.body == "no");
  CHECK(c.sink.completed == 1);
  CHECK_FALSE(c.codec->paused());
}

TEST_CASE("response with Connection: close ends the connection, later bytes unconsumed") {
  Client c;
  std::string first = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na";
  FeedResult r = c.Feed(first + "garbage");
  CHECK(r.consumed == first.size());
  CHECK(r.paused);
  REQUIRE(c.sink.responses.size() == 1);
  CHECK_FALSE(c.sink.responses[0].keep_alive);
  c.codec->FeedEof();
  CHECK_FALSE(c.sink.HasError());
}

TEST_CASE("HTTP/1.0 response with Content-Length is complete and not kept alive") {
  Client c;
  FeedResult r = c.Feed("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
  CHECK(r.paused);
  REQUIRE(c.sink.responses.size() == 1);
  CHECK(c.sink.responses[0].version_minor == 0);
  CHECK_FALSE(c.sink.responses[0].keep_alive);
  CHECK(c.sink.completed == 1);
}

TEST_CASE("a malformed status line is rejected with 502") {
  std::string line =
      GENERATE(as<std::string>{}, "HTTP/1.1 20 OK", "HTTP/1.1 099 Low", "HTTP/1.1  200 OK",
               "HTTP/1.1 600 Odd", "HTTP/1.1 2000 OK", "HTTP/1.1 0200 OK", "HTTP/2.0 200 OK",
               "HTTP/1.2 200 OK", "HTTP/0.9 200 OK", "ICY 200 OK", "RTSP/1.0 200 OK",
               "HTTP/1.1 200 OK\n", "HTTP/1.1 abc OK");
  RequireInvalid(line + "\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("CR, LF or NUL in a response header is rejected with 502") {
  std::string field = GENERATE(as<std::string>{}, std::string("X: a\0b", 6), "X: a\rb",
                               "X: a\nb: c", "X : y", "NoColon", "X: a\r\n b");
  RequireInvalid("HTTP/1.1 200 OK\r\n" + field + "\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("response with both Content-Length and Transfer-Encoding is rejected with 502") {
  RequireInvalid(
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\n\r\n");
}

TEST_CASE("response with differing Content-Length fields is rejected with 502") {
  RequireInvalid("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
}

TEST_CASE("response with a transfer coding other than chunked is rejected with 502") {
  std::string te = GENERATE(as<std::string>{}, "gzip", "gzip, chunked", "chunked, gzip");
  RequireInvalid("HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te + "\r\n\r\n0\r\n\r\n");
}

TEST_CASE("response with a bad chunk is rejected with 502") {
  RequireInvalid("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n");
}

TEST_CASE("response ending its head with a bare LF is rejected with 502") {
  RequireInvalid("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n");
}

}  // namespace
}  // namespace gateway::codec_test
