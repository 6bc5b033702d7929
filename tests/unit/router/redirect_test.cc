// Router::RedirectLocation.
#include <string>

#include <catch2/catch.hpp>

#include "gateway/router.h"
#include "unit/router/router_test_util.h"

namespace gateway::test {
namespace {

std::string Location(RouteBuilder b, const RequestHead& head) {
  auto r = MustBuild({std::move(b).Build()});
  RouteMatch m = r->Match(head);
  REQUIRE(m.result == RouteMatch::Result::kMatched);
  return r->RedirectLocation(*m.route, head, m);
}

TEST_CASE("a redirect keeps the request's host, path and query by default") {
  REQUIRE(
      Location(RouteBuilder("r").RedirectTo({}), Req("GET", "/a/b", "example.com:8080", "x=1")) ==
      "http://example.com:8080/a/b?x=1");
}

TEST_CASE("a redirect replaces only the fields it sets") {
  RequestHead head = Req("GET", "/old", "example.com", "q=1");
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.path = "/new"}), head) ==
          "http://example.com/new?q=1");
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.host = "other.org:81"}), head) ==
          "http://other.org:81/old?q=1");
  REQUIRE(Location(RouteBuilder("r").RedirectTo(
                       {.scheme = "https", .host = "x.io", .path = "/p", .strip_query = true}),
                   head) == "https://x.io/p");
}

TEST_CASE("changing only the scheme drops the request's port") {
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.scheme = "https"}),
                   Req("GET", "/a", "example.com:8080")) == "https://example.com/a");
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.scheme = "https"}),
                   Req("GET", "/a", "[::1]:80")) == "https://[::1]/a");
  // Same scheme: the port stays.
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.scheme = "HTTP"}),
                   Req("GET", "/a", "example.com:8080")) == "http://example.com:8080/a");
}

TEST_CASE("strip_query drops the request's query") {
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.strip_query = true}),
                   Req("GET", "/a", "h", "secret=1")) == "http://h/a");
}

TEST_CASE("a redirect path with its own query gets the request's query appended") {
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.path = "/login?from=old"}),
                   Req("GET", "/a", "h", "x=1")) == "http://h/login?from=old&x=1");
}

TEST_CASE("a redirect without a path uses the rewritten path") {
  REQUIRE(Location(RouteBuilder("r")
                       .Prefix("/v1")
                       .Rewrite({.kind = PathRewrite::Kind::kReplacePrefix, .value = "/v2"})
                       .RedirectTo({.status = 308}),
                   Req("GET", "/v1/users")) == "http://example.com/v2/users");
  // An explicit path wins over the rewrite.
  REQUIRE(Location(RouteBuilder("r").Prefix("/v1").StripPrefix().RedirectTo({.path = "/x"}),
                   Req("GET", "/v1/users")) == "http://example.com/x");
}

TEST_CASE("the scheme of an absolute-form request target is the request's scheme") {
  RequestHead head = Req("GET", "/a", "example.com:8443");
  head.target = "HTTPS://example.com:8443/a";
  REQUIRE(Location(RouteBuilder("r").RedirectTo({}), head) == "https://example.com:8443/a");
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.scheme = "http"}), head) ==
          "http://example.com/a");
}

TEST_CASE("without any host the redirect is a relative reference") {
  REQUIRE(Location(RouteBuilder("r").RedirectTo({.path = "/new"}), Req("GET", "/old", "", "a=b")) ==
          "/new?a=b");
}

TEST_CASE("a non-redirect route has no location") {
  auto r = MustBuild({RouteBuilder("c").ToCluster("c").Build()});
  RequestHead head = Req("GET", "/");
  RouteMatch m = r->Match(head);
  REQUIRE(r->RedirectLocation(*m.route, head, m).empty());
}

}  // namespace
}  // namespace gateway::test
