// The framing the proxy announces for bodies filters may change.
#include "common/body_framing.h"

#include <catch2/catch.hpp>

namespace gateway::internal {
namespace {

TEST_CASE("responses to HEAD and 1xx, 204 and 304 responses carry no body") {
  CHECK(ResponseCarriesBody("GET", 200));
  CHECK(ResponseCarriesBody("POST", 500));
  CHECK_FALSE(ResponseCarriesBody("HEAD", 200));
  CHECK_FALSE(ResponseCarriesBody("GET", 204));
  CHECK_FALSE(ResponseCarriesBody("GET", 304));
  CHECK_FALSE(ResponseCarriesBody("GET", 101));
}

TEST_CASE("a response body that may change is announced without a length") {
  CHECK(AnnouncedResponseLength(42, false, true) == 42u);
  CHECK_FALSE(AnnouncedResponseLength(42, true, true).has_value());
  CHECK_FALSE(AnnouncedResponseLength(std::nullopt, true, true).has_value());
  // No body to change: the length stays as the upstream sent it.
  CHECK(AnnouncedResponseLength(42, true, false) == 42u);
}

TEST_CASE("a request body that may change is sent chunked without Content-Length") {
  RequestHead head;
  head.content_length = 5;
  head.headers.Add("content-length", "5");
  head.headers.Add("x-other", "1");
  ReframeChangedRequestBody(head);
  CHECK(head.chunked);
  CHECK_FALSE(head.content_length.has_value());
  CHECK_FALSE(head.headers.Has("content-length"));
  CHECK(head.headers.Has("x-other"));
  CHECK(head.HasBody());

  RequestHead chunked;
  chunked.chunked = true;
  ReframeChangedRequestBody(chunked);
  CHECK(chunked.chunked);
}

TEST_CASE("a request without a body keeps none when a filter may change bodies") {
  RequestHead head;
  ReframeChangedRequestBody(head);
  CHECK_FALSE(head.HasBody());
  RequestHead zero;
  zero.content_length = 0;
  zero.headers.Add("content-length", "0");
  ReframeChangedRequestBody(zero);
  CHECK_FALSE(zero.chunked);
  CHECK(zero.content_length == 0u);
}

}  // namespace
}  // namespace gateway::internal
