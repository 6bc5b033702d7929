// The code samples of docs/routing.md, compiled and checked against what the
// page says they do. Keep the two in sync.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/router.h"
#include "unit/router/router_test_util.h"

namespace gateway::test {
namespace {

absl::StatusOr<std::shared_ptr<const Router>> MakeRouter() {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("health").Exact("/healthz").Respond(200, "ok").Build());
  routes.push_back(RouteBuilder("users")
                       .Host("api.example.com")
                       .Prefix("/api/users")
                       .Methods({"GET", "HEAD", "POST"})
                       .StripPrefix()
                       .ToCluster("users")
                       .Timeout(absl::Seconds(5))
                       .Build());
  routes.push_back(RouteBuilder("user-by-id")
                       .Priority(10)
                       .Template("/api/users/{id}")
                       .Methods({"GET", "DELETE"})
                       .ToCluster("users")
                       .Build());
  routes.push_back(RouteBuilder("old-docs")
                       .Prefix("/docs")
                       .RedirectTo({.status = 308, .host = "docs.example.com"})
                       .Build());
  return Router::Build(std::move(routes));
}

TEST_CASE("docs: the overview router routes as described") {
  auto router = MakeRouter();
  REQUIRE(router.ok());
  const Router& r = **router;
  REQUIRE(Outcome(r, Req("GET", "/healthz")) == "health");
  auto by_id = r.Match(Req("GET", "/api/users/7", "api.example.com"));
  REQUIRE(Outcome(by_id) == "user-by-id");
  REQUIRE(by_id.Capture("id") == "7");
  auto list = r.Match(Req("POST", "/api/users/7/friends", "API.example.com:443"));
  REQUIRE(Outcome(list) == "users");
  REQUIRE(list.rewritten_path == "/7/friends");
  // DELETE /api/users/7 from another host: only user-by-id matches.
  REQUIRE(Outcome(r, Req("DELETE", "/api/users/7", "other")) == "user-by-id");
  // PUT matches both routes' paths, neither's methods.
  REQUIRE(Outcome(r, Req("PUT", "/api/users/7", "api.example.com")) ==
          "405 DELETE, GET, HEAD, POST");
  RequestHead docs = Req("GET", "/docs/intro", "www.example.com", "lang=en");
  RouteMatch m = r.Match(docs);
  REQUIRE(r.RedirectLocation(*m.route, docs, m) == "http://docs.example.com/docs/intro?lang=en");
}

TEST_CASE("docs: a build error names the route and the field") {
  auto bad = Router::Build({RouteBuilder("users").Prefix("api/users").ToCluster("u").Build()});
  REQUIRE(std::string(bad.status().message()) == "route 'users': path.value: must start with '/'");
  auto unnamed = Router::Build({RouteBuilder("a").ToCluster("c").Build(),
                                RouteBuilder("b").ToCluster("c").Build(),
                                RouteBuilder("c").ToCluster("c").Build(),
                                RouteBuilder().Methods({"GET", "get"}).ToCluster("c").Build()});
  REQUIRE(std::string(unnamed.status().message()) ==
          "route 'route-3': methods[1]: 'get' is not an upper-case method token");
}

TEST_CASE("docs: priority beats definition order") {
  auto r = MustBuild({
      RouteBuilder("api").Prefix("/api").ToCluster("api").Build(),
      RouteBuilder("user-by-id")
          .Priority(10)
          .Template("/api/users/{id}")
          .ToCluster("users")
          .Build(),
  });
  REQUIRE(Outcome(*r, Req("GET", "/api/users/7")) == "user-by-id");
  REQUIRE(Outcome(*r, Req("GET", "/api/orders")) == "api");
}

TEST_CASE("docs: header and query examples") {
  auto r = MustBuild({
      RouteBuilder("canary")
          .Priority(5)
          .Prefix("/")
          .Header({.name = "x-canary", .value = "1"})
          .Header({.name = "authorization", .kind = HeaderMatcher::Kind::kPresent})
          .ToCluster("canary")
          .Build(),
      RouteBuilder("v2-clients")
          .Prefix("/api")
          .Query({.name = "version", .kind = QueryMatcher::Kind::kRegex, .value = "2(\\.[0-9]+)?"})
          .ToCluster("api-v2")
          .Build(),
  });
  REQUIRE(Outcome(*r, Req("GET", "/api", "h", "version=2.1",
                          {{"x-canary", "1"}, {"Authorization", "Bearer x"}})) == "canary");
  REQUIRE(Outcome(*r, Req("GET", "/api", "h", "version=2.1", {{"x-canary", "1"}})) == "v2-clients");
  REQUIRE(Outcome(*r, Req("GET", "/api", "h", "version=3")) == "404");
}

TEST_CASE("docs: rewrite examples") {
  auto r = MustBuild({
      RouteBuilder("files")
          .Template("/users/{id}/files/{rest=**}")
          .Rewrite({.kind = PathRewrite::Kind::kTemplate, .value = "/storage/{id}/{rest}"})
          .ToCluster("storage")
          .Build(),
      RouteBuilder("unversioned")
          .Prefix("/v1")
          .Rewrite(
              {.kind = PathRewrite::Kind::kRegex, .value = "/\\1", .pattern = "^/v[0-9]+/(.*)$"})
          .ToCluster("api")
          .Build(),
  });
  REQUIRE(r->Match(Req("GET", "/users/7/files/a/b.txt")).rewritten_path == "/storage/7/a/b.txt");
  REQUIRE(r->Match(Req("GET", "/v1/users/7")).rewritten_path == "/users/7");
}

TEST_CASE("docs: direct response and redirect examples") {
  auto r = MustBuild({
      RouteBuilder("robots")
          .Exact("/robots.txt")
          .Respond(200, "User-agent: *\nDisallow: /\n")
          .Build(),
      RouteBuilder("to-https-login")
          .Exact("/login")
          .RedirectTo({.status = 301, .scheme = "https", .host = "login.example.com"})
          .Build(),
      RouteBuilder("v1-to-v2")
          .Prefix("/v1")
          .Rewrite({.kind = PathRewrite::Kind::kReplacePrefix, .value = "/v2"})
          .RedirectTo({.status = 308})
          .Build(),
  });
  auto robots = r->Match(Req("GET", "/robots.txt"));
  REQUIRE(robots.route->action() == Route::Action::kDirectResponse);
  REQUIRE(robots.route->spec().direct_response->content_type == "text/plain");

  RequestHead login = Req("GET", "/login", "example.com", "next=/a");
  auto m = r->Match(login);
  REQUIRE(r->RedirectLocation(*m.route, login, m) == "https://login.example.com/login?next=/a");
  RequestHead v1 = Req("GET", "/v1/anything", "example.com");
  m = r->Match(v1);
  REQUIRE(r->RedirectLocation(*m.route, v1, m) == "http://example.com/v2/anything");
}

struct RateLimitConfig : RouteFilterConfig {
  explicit RateLimitConfig(int rps) : requests_per_second(rps) {}
  int requests_per_second;
};

TEST_CASE("docs: per-route filter config example") {
  auto strict = std::make_shared<const RateLimitConfig>(5);
  RouteSpec login =
      RouteBuilder("login").Exact("/login").Config("ratelimit", strict).ToCluster("auth").Build();
  auto r = MustBuild({login});
  const Route& route = *r->Match(Req("GET", "/login")).route;
  REQUIRE(route.FilterConfig<RateLimitConfig>("ratelimit")->requests_per_second == 5);
}

TEST_CASE("docs: path normalisation table") {
  auto n = [](std::string_view p) {
    auto r = NormalizePath(p, PathPolicy{});
    return r.ok() ? *r : std::string("400");
  };
  REQUIRE(n("*") == "400");
  REQUIRE(n("/%41%7e") == "/A~");
  REQUIRE(n("/%3b/%e2%82%ac") == "/%3B/%E2%82%AC");
  REQUIRE(n("/%25") == "/%25");
  REQUIRE(n("/%G1") == "400");
  REQUIRE(n("/%00") == "400");
  REQUIRE(n("/a b") == "400");
  REQUIRE(n("/\"\xC3\xA9") == "/%22%C3%A9");
  REQUIRE(n("//a///b") == "/a/b");
  REQUIRE(n("/a/./b/../c") == "/a/c");
  REQUIRE(n("/a/b/%2e%2e/c") == "/a/c");
  REQUIRE(n("/a/..") == "/");
  REQUIRE(n("/a/b/.") == "/a/b/");
  REQUIRE(n("/a/../..") == "400");
  REQUIRE(n("/a%2Fb") == "400");
  REQUIRE(n("/a\\b") == "400");
  auto decode = NormalizePath("/public%2F..%2Fadmin",
                              PathPolicy{.encoded_slash = PathPolicy::EncodedSlash::kDecode});
  REQUIRE(*decode == "/admin");
  REQUIRE(n("/%C0%AE") == "/%C0%AE");
}

}  // namespace
}  // namespace gateway::test
