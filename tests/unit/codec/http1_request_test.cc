// Server mode: what a valid request head looks like after parsing.
#include <catch2/catch.hpp>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

TEST_CASE("simple GET fills method, target, path, query, authority and version") {
  Harness h;
  std::string_view in = "GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: example.com\r\n\r\n";
  FeedResult r = h.Feed(in);
  REQUIRE(r.consumed == in.size());
  REQUIRE_FALSE(r.paused);
  REQUIRE(h.sink.requests.size() == 1);
  const RequestHead& head = h.sink.requests[0];
  CHECK(head.method == "GET");
  CHECK(head.target == "/a/b?x=1&y=2");
  CHECK(head.path == "/a/b");
  CHECK(head.query == "x=1&y=2");
  CHECK(head.authority == "example.com");
  CHECK(head.version_minor == 1);
  CHECK(head.keep_alive);
  CHECK_FALSE(head.expect_continue);
  CHECK_FALSE(head.upgrade);
  CHECK_FALSE(head.content_length.has_value());
  CHECK_FALSE(head.chunked);
  CHECK_FALSE(head.HasBody());
  CHECK(h.sink.completed == 1);
  CHECK(h.sink.events.back() == "complete");
}

TEST_CASE("header names keep their spelling and values lose surrounding whitespace") {
  Harness h;
  h.Feed(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Mixed-Case:   padded value \t \r\nEmpty:\r\n"
      "X-Tab:\tv\t\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  const HeaderMap& hm = h.sink.requests[0].headers;
  REQUIRE(hm.size() == 4);
  CHECK(hm.fields()[1].name == "X-Mixed-Case");
  CHECK(hm.fields()[1].value == "padded value");
  CHECK(hm.fields()[2].name == "Empty");
  CHECK(hm.fields()[2].value.empty());
  CHECK(hm.Get("x-tab") == "v");
}

TEST_CASE("repeated header fields are kept in order") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nX: 1\r\nAccept: b\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  auto all = h.sink.requests[0].headers.GetAll("accept");
  REQUIRE(all.size() == 2);
  CHECK(all[0] == "a");
  CHECK(all[1] == "b");
}

TEST_CASE("obs-text bytes in a header value are accepted") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].headers.Get("x") == "caf\xc3\xa9");
}

TEST_CASE("HTTP/1.0 request without Host is accepted and not kept alive") {
  Harness h;
  h.Feed("GET /x HTTP/1.0\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  const RequestHead& head = h.sink.requests[0];
  CHECK(head.version_minor == 0);
  CHECK(head.authority.empty());
  CHECK_FALSE(head.keep_alive);
  CHECK(h.sink.completed == 1);
}

TEST_CASE("HTTP/1.0 request with Connection: keep-alive is kept alive") {
  Harness h;
  h.Feed("GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].keep_alive);
}

TEST_CASE("HTTP/1.1 request with Connection: close is not kept alive") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK_FALSE(h.sink.requests[0].keep_alive);
}

TEST_CASE("absolute-form target takes authority and path from the URI") {
  Harness h;
  h.Feed("GET http://Example.com:8080/p/q?z=9 HTTP/1.1\r\nHost: other\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  const RequestHead& head = h.sink.requests[0];
  CHECK(head.target == "http://Example.com:8080/p/q?z=9");
  CHECK(head.authority == "Example.com:8080");
  CHECK(head.path == "/p/q");
  CHECK(head.query == "z=9");
  CHECK(head.headers.Get("host") == "other");
}

TEST_CASE("absolute-form target without a path gets path /") {
  Harness h;
  h.Feed("GET https://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].path == "/");
  CHECK(h.sink.requests[0].query == "q");
}

TEST_CASE("query is empty when the target has a bare question mark") {
  Harness h;
  h.Feed("GET /p? HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].path == "/p");
  CHECK(h.sink.requests[0].query.empty());
}

TEST_CASE("path is reported as received, not normalised") {
  Harness h;
  h.Feed("GET /a/../b//c/%2e? HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].path == "/a/../b//c/%2e");
}

TEST_CASE("CONNECT with authority-form leaves path empty and reports an upgrade") {
  Harness h;
  std::string_view in = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
  FeedResult r = h.Feed(in);
  REQUIRE(h.sink.requests.size() == 1);
  const RequestHead& head = h.sink.requests[0];
  CHECK(head.method == "CONNECT");
  CHECK(head.path.empty());
  CHECK(head.authority == "example.com:443");
  CHECK(head.upgrade);
  CHECK(h.sink.completed == 1);
  CHECK(r.consumed == in.size());
  CHECK(r.paused);
}

TEST_CASE("OPTIONS with asterisk-form is accepted with an empty path") {
  Harness h;
  h.Feed("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].target == "*");
  CHECK(h.sink.requests[0].path.empty());
  CHECK(h.sink.requests[0].authority == "h");
}

TEST_CASE("Expect: 100-continue sets expect_continue on HTTP/1.1, any case") {
  Harness h;
  h.FeedAll("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].expect_continue);
  CHECK(h.sink.body == "x");
}

TEST_CASE("Expect: 100-continue is ignored on HTTP/1.0") {
  Harness h;
  h.Feed("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK_FALSE(h.sink.requests[0].expect_continue);
  CHECK_FALSE(h.sink.HasError());
}

TEST_CASE("websocket upgrade request reports upgrade") {
  Harness h;
  h.Feed("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].upgrade);
}

TEST_CASE("Upgrade header without Connection: upgrade is an ordinary request") {
  Harness h;
  std::string_view in =
      "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  FeedResult r = h.Feed(in);
  CHECK(r.consumed == in.size());
  REQUIRE(h.sink.requests.size() == 2);
  CHECK_FALSE(h.sink.requests[0].upgrade);
}

TEST_CASE("Content-Length body is reported with its length") {
  Harness h;
  h.Feed("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].content_length == 5u);
  CHECK(h.sink.requests[0].HasBody());
  CHECK(h.sink.body == "hello");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("Content-Length: 0 is a message without body") {
  Harness h;
  h.Feed("POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].content_length == 0u);
  CHECK_FALSE(h.sink.requests[0].HasBody());
  CHECK(h.sink.completed == 1);
}

TEST_CASE("Transfer-Encoding: chunked is accepted case-insensitively") {
  Harness h;
  h.Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChUnKeD\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].chunked);
  CHECK_FALSE(h.sink.requests[0].content_length.has_value());
  CHECK(h.sink.body == "abc");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("blank lines before a request are skipped") {
  Harness h;
  std::string_view in = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  FeedResult r = h.Feed(in);
  CHECK(r.consumed == in.size());
  CHECK(h.sink.requests.size() == 1);
  CHECK_FALSE(h.sink.HasError());
}

TEST_CASE("IPv6 literal Host is accepted") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].authority == "[::1]:8080");
}

TEST_CASE("less common methods are reported by name") {
  Harness h;
  h.FeedAll(
      "PATCH /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
      "M-SEARCH /x HTTP/1.1\r\nHost: h\r\n\r\n");
  REQUIRE(h.sink.requests.size() == 2);
  CHECK(h.sink.requests[0].method == "PATCH");
  CHECK(h.sink.requests[1].method == "M-SEARCH");
  CHECK_FALSE(h.sink.HasError());
}

}  // namespace
}  // namespace gateway::codec_test
