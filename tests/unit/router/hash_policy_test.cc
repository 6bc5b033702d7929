// HashPolicy::Validate and the hash policies of a RouteSpec.
#include <catch2/catch.hpp>

#include <string>

#include "gateway/hash_policy.h"
#include "gateway/router.h"

namespace gateway {
namespace {

std::string Problem(const HashPolicy& p) { return std::string(p.Validate().message()); }

TEST_CASE("HashPolicy::Validate accepts every well-formed policy") {
  CHECK(HashPolicy::ClientIp().Validate().ok());
  CHECK(HashPolicy::Header("x-user-id").Validate().ok());
  CHECK(HashPolicy::Cookie("sid").Validate().ok());
  CHECK(HashPolicy::GeneratedCookie("sid", absl::Hours(1)).Validate().ok());
  CHECK(HashPolicy::GeneratedCookie("sid", absl::ZeroDuration(), "/app").Validate().ok());
  CHECK(HashPolicy::QueryParameter("user id").Validate().ok());  // decoded names may hold spaces
  CHECK(HashPolicy::RouteCapture("id").Validate().ok());
}

TEST_CASE("HashPolicy::Validate rejects policies that could never find a value") {
  CHECK_THAT(Problem(HashPolicy::Header("")), Catch::StartsWith("header: the header name"));
  CHECK_THAT(Problem(HashPolicy::Header("x user")), Catch::StartsWith("header: 'x user'"));
  CHECK_THAT(Problem(HashPolicy::Cookie("")), Catch::StartsWith("cookie: the cookie name"));
  CHECK_THAT(Problem(HashPolicy::Cookie("a;b")), Catch::StartsWith("cookie: 'a;b'"));
  CHECK_THAT(Problem(HashPolicy::QueryParameter("")), Catch::StartsWith("query_parameter: "));
  CHECK_THAT(Problem(HashPolicy::RouteCapture("")), Catch::StartsWith("route_capture: "));
  // A ttl without a cookie name, on another kind, or not in whole seconds.
  CHECK_THAT(Problem(HashPolicy::GeneratedCookie("", absl::Hours(1))),
             Catch::StartsWith("cookie: the cookie name must not be empty"));
  HashPolicy header_ttl = HashPolicy::Header("x-a");
  header_ttl.cookie_ttl = absl::Hours(1);
  CHECK_THAT(Problem(header_ttl), Catch::StartsWith("ttl: only a cookie policy"));
  CHECK_THAT(Problem(HashPolicy::GeneratedCookie("sid", absl::Milliseconds(1500))),
             Catch::StartsWith("ttl: must be whole seconds"));
  CHECK_THAT(Problem(HashPolicy::GeneratedCookie("sid", absl::Seconds(-1))),
             Catch::StartsWith("ttl: must be whole seconds"));
  // A path only for a generated cookie, and a path that fits the attribute.
  HashPolicy path_only = HashPolicy::Cookie("sid");
  path_only.cookie_path = "/";
  CHECK_THAT(Problem(path_only), Catch::StartsWith("path: only a generated cookie"));
  CHECK_THAT(Problem(HashPolicy::GeneratedCookie("sid", absl::Hours(1), "app")),
             Catch::StartsWith("path: 'app' must start with '/'"));
  CHECK_THAT(Problem(HashPolicy::GeneratedCookie("sid", absl::Hours(1), "/a;Domain=x")),
             Catch::StartsWith("path: "));
}

TEST_CASE("RouteSpec::Validate checks a route's hash policies against its path and action") {
  RouteSpec ok = RouteBuilder("r")
                     .Template("/users/{id}/**")
                     .ToCluster("c")
                     .Hash(HashPolicy::RouteCapture("id"))
                     .Hash(HashPolicy::RouteCapture("**"))
                     .Build();
  CHECK(ok.Validate().ok());

  RouteSpec missing = RouteBuilder("r")
                          .Template("/users/{id}")
                          .ToCluster("c")
                          .Hash(HashPolicy::Header("x-a"))
                          .Hash(HashPolicy::RouteCapture("user"))
                          .Build();
  CHECK_THAT(std::string(missing.Validate().message()),
             Catch::Contains("hash_policy[1].route_capture: the path has no capture 'user'"));

  RouteSpec prefix = RouteBuilder("r").Prefix("/u").ToCluster("c").Build();
  prefix.hash_policy = {HashPolicy::RouteCapture("id")};
  CHECK(!prefix.Validate().ok());

  RouteSpec direct = RouteBuilder("r").Prefix("/").Respond(200, "").Build();
  direct.hash_policy = {HashPolicy::ClientIp()};
  CHECK_THAT(std::string(direct.Validate().message()),
             Catch::Contains("hash_policy: only a cluster route balances"));

  RouteSpec bad = RouteBuilder("r").Prefix("/").ToCluster("c").Build();
  bad.hash_policy = {HashPolicy::ClientIp(), HashPolicy::Header("")};
  CHECK_THAT(std::string(bad.Validate().message()),
             Catch::Contains("hash_policy[1].header: the header name must not be empty"));
}

}  // namespace
}  // namespace gateway
