// CodecLimits::headers_with_underscores: request header and trailer fields
// whose name contains '_' are dropped (the default), rejected or allowed.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

CodecLimits Underscores(HeadersWithUnderscores action) {
  CodecLimits l;
  l.headers_with_underscores = action;
  return l;
}

const std::string kSmuggle =
    "GET / HTTP/1.1\r\nHost: h\r\nTransfer_Encoding: chunked\r\nX-Keep: 1\r\n"
    "Content_Length: 5\r\n\r\n";

TEST_CASE("header names with underscores are dropped by default") {
  CHECK(CodecLimits{}.headers_with_underscores == HeadersWithUnderscores::kDrop);
  Harness h;
  h.FeedAll(kSmuggle);
  CHECK_FALSE(h.sink.HasError());
  REQUIRE(h.sink.requests.size() == 1);
  const HeaderMap& headers = h.sink.requests[0].headers;
  CHECK_FALSE(headers.Has("transfer_encoding"));
  CHECK_FALSE(headers.Has("content_length"));
  CHECK(headers.Get("x-keep") == std::optional<std::string_view>("1"));
  CHECK(headers.Get("host") == std::optional<std::string_view>("h"));
  CHECK(h.sink.dropped == std::vector<std::string>{"Transfer_Encoding", "Content_Length"});
  // Dropped before the head is delivered; the request has no body.
  CHECK(h.sink.events.at(0) == "dropped Transfer_Encoding");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("header names with underscores are rejected with 400 under reject") {
  Harness h(CodecMode::kServer, Underscores(HeadersWithUnderscores::kReject));
  h.FeedAll(kSmuggle);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.flag() == "underscore_in_header");
  CHECK(h.sink.requests.empty());
}

TEST_CASE("header names with underscores pass under allow") {
  Harness h(CodecMode::kServer, Underscores(HeadersWithUnderscores::kAllow));
  h.FeedAll(kSmuggle);
  CHECK_FALSE(h.sink.HasError());
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].headers.Get("transfer_encoding") ==
        std::optional<std::string_view>("chunked"));
  CHECK(h.sink.requests[0].headers.Get("content_length") == std::optional<std::string_view>("5"));
  CHECK(h.sink.dropped.empty());
  // Still not framing: the request has no body.
  CHECK_FALSE(h.sink.requests[0].chunked);
  CHECK_FALSE(h.sink.requests[0].content_length.has_value());
}

TEST_CASE("a dropped field's value is still checked") {
  Harness h;
  h.FeedAll(std::string("GET / HTTP/1.1\r\nHost: h\r\nX_A: a\x01b\r\n\r\n"));
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.flag() == "invalid_header");
}

TEST_CASE("trailer names with underscores follow the same action") {
  const std::string input =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nx\r\n0\r\nX_Trailer: 1\r\nX-Ok: 2\r\n\r\n";
  {
    Harness h;
    h.FeedAll(input);
    CHECK_FALSE(h.sink.HasError());
    REQUIRE(h.sink.trailers.size() == 1);
    CHECK(h.sink.trailers[0] == HeaderMap{{"X-Ok", "2"}});
    CHECK(h.sink.dropped == std::vector<std::string>{"X_Trailer"});
  }
  {
    Harness h(CodecMode::kServer, Underscores(HeadersWithUnderscores::kReject));
    h.FeedAll(input);
    REQUIRE(h.sink.HasError());
    CHECK(h.sink.flag() == "underscore_in_header");
  }
}

TEST_CASE("response header names with underscores are kept in client mode") {
  for (auto action : {HeadersWithUnderscores::kDrop, HeadersWithUnderscores::kReject}) {
    Harness h(CodecMode::kClient, Underscores(action));
    h.FeedAll("HTTP/1.1 200 OK\r\nX_Upstream: 1\r\nContent-Length: 0\r\n\r\n");
    CHECK_FALSE(h.sink.HasError());
    REQUIRE(h.sink.responses.size() == 1);
    CHECK(h.sink.responses[0].headers.Has("x_upstream"));
    CHECK(h.sink.dropped.empty());
  }
}

}  // namespace
}  // namespace gateway::codec_test
