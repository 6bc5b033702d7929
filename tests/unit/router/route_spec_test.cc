// RouteSpec::Validate, Router::Build errors, Route accessors and per-route
// filter config.
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/circuit_breaker.h"
#include "gateway/router.h"
#include "unit/router/router_test_util.h"

namespace gateway::test {
namespace {

// The Validate message of a spec named "r", or "ok".
std::string Why(RouteBuilder b) {
  RouteSpec s = std::move(b).Build();
  s.name = "r";
  absl::Status st = s.Validate();
  if (st.ok()) return "ok";
  REQUIRE(st.code() == absl::StatusCode::kInvalidArgument);
  return std::string(st.message());
}

RouteBuilder C() { return std::move(RouteBuilder().ToCluster("c")); }

TEST_CASE("a spec with exactly one action is valid") {
  REQUIRE(Why(C()) == "ok");
  REQUIRE(Why(RouteBuilder().Respond(204, "")) == "ok");
  REQUIRE(Why(RouteBuilder().RedirectTo({.status = 302})) == "ok");
}

TEST_CASE("a spec without an action or with two is rejected naming the route") {
  REQUIRE_THAT(Why(RouteBuilder()), Catch::StartsWith("route 'r': action:"));
  REQUIRE_THAT(Why(C().Respond(200, "x")),
               Catch::StartsWith("route 'r': action:") && Catch::Contains("more than one"));
  REQUIRE_THAT(Why(RouteBuilder().Respond(200, "").RedirectTo({})),
               Catch::Contains("more than one"));
}

TEST_CASE("an unnamed spec is reported as unnamed") {
  RouteSpec s;
  REQUIRE_THAT(std::string(s.Validate().message()), Catch::StartsWith("route (unnamed): "));
}

TEST_CASE("direct response statuses must be final statuses") {
  REQUIRE(Why(RouteBuilder().Respond(200, "")) == "ok");
  REQUIRE(Why(RouteBuilder().Respond(599, "")) == "ok");
  REQUIRE_THAT(Why(RouteBuilder().Respond(101, "")),
               Catch::StartsWith("route 'r': direct_response.status:"));
  REQUIRE_THAT(Why(RouteBuilder().Respond(600, "")), Catch::Contains("direct_response.status"));
  REQUIRE_THAT(Why(RouteBuilder().Respond(0, "")), Catch::Contains("direct_response.status"));
}

TEST_CASE("direct response headers and content type must be valid fields") {
  RouteSpec s = RouteBuilder("r").Respond(200, "").Build();
  s.direct_response->headers.Add("bad name", "v");
  REQUIRE_THAT(std::string(s.Validate().message()), Catch::Contains("direct_response.headers[0]"));
  s.direct_response->headers.Clear();
  s.direct_response->headers.Add("x-ok", "bad\r\nvalue");
  REQUIRE_THAT(std::string(s.Validate().message()), Catch::Contains("direct_response.headers[0]"));
  REQUIRE_THAT(Why(RouteBuilder().Respond(200, "", "text/plain\r\nx: y")),
               Catch::Contains("direct_response.content_type"));
}

TEST_CASE("redirect statuses must be redirect statuses") {
  for (int status : {301, 302, 303, 307, 308}) {
    REQUIRE(Why(RouteBuilder().RedirectTo({.status = status})) == "ok");
  }
  for (int status : {300, 304, 305, 200}) {
    REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.status = status})),
                 Catch::StartsWith("route 'r': redirect.status:"));
  }
}

TEST_CASE("redirect scheme, host and path are checked") {
  REQUIRE(Why(RouteBuilder().RedirectTo({.scheme = "https", .host = "a.com:8443", .path = "/x"})) ==
          "ok");
  REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.scheme = "ht tp"})),
               Catch::Contains("redirect.scheme"));
  REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.host = "a.com/x"})),
               Catch::Contains("redirect.host"));
  REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.host = "a.com\r\nx"})),
               Catch::Contains("redirect.host"));
  REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.path = "x"})), Catch::Contains("redirect.path"));
  REQUIRE_THAT(Why(RouteBuilder().RedirectTo({.path = "/a\nb"})), Catch::Contains("redirect.path"));
}

TEST_CASE("exact and prefix paths must start with a slash") {
  REQUIRE_THAT(Why(C().Exact("healthz")), Catch::StartsWith("route 'r': path.value:"));
  REQUIRE_THAT(Why(C().Prefix("")), Catch::StartsWith("route 'r': path.value:"));
  REQUIRE_THAT(Why(C().Exact("")), Catch::Contains("path.value"));
}

TEST_CASE("an any-path condition must not carry a value") {
  RouteSpec s = C().Build();
  s.name = "r";
  s.path.value = "/x";
  REQUIRE_THAT(std::string(s.Validate().message()), Catch::Contains("path.value"));
}

TEST_CASE("valid templates are accepted") {
  for (std::string t : {"/", "/users", "/users/", "/users/{id}", "/users/{id=*}", "/a/*/b",
                        "/files/{rest=**}", "/api/{svc}/**", "/**", "/{a}/{b}/{c_1}"}) {
    CAPTURE(t);
    REQUIRE(Why(C().Template(t)) == "ok");
  }
}

TEST_CASE("invalid templates are rejected with the reason") {
  struct Case {
    std::string templ;
    std::string why;
  };
  for (const Case& c : std::vector<Case>{
           {"users/{id}", "start with '/'"},
           {"/a//b", "empty segment"},
           {"/a/**/b", "last segment"},
           {"/a/{rest=**}/b", "last segment"},
           {"/a/{id}/{id}", "used twice"},
           {"/a/{id}/{id=**}", "used twice"},
           {"/a/{}", "variable"},
           {"/a/{1x}", "identifier"},
           {"/a/{x=y}", "{name=**}"},
           {"/a/{x", "malformed"},
           {"/a/v{x}", "whole segment"},
           {"/a/x*", "whole segment"},
           {"/a/}", "whole segment"},
       }) {
    CAPTURE(c.templ);
    const std::string why = Why(C().Template(c.templ));
    REQUIRE_THAT(why, Catch::StartsWith("route 'r': path.value: template"));
    REQUIRE_THAT(why, Catch::Contains(c.why));
  }
}

TEST_CASE("regex paths and matchers must compile") {
  REQUIRE_THAT(Why(C().Regex("/a/(")), Catch::StartsWith("route 'r': path.value: invalid regex"));
  REQUIRE_THAT(Why(C().Header({.name = "x", .kind = HeaderMatcher::Kind::kRegex, .value = "["})),
               Catch::StartsWith("route 'r': headers[0].value:"));
  REQUIRE_THAT(
      Why(C().Query({.name = "q"})
              .Query({.name = "x", .kind = QueryMatcher::Kind::kRegex, .value = "(?P<a>"})),
      Catch::StartsWith("route 'r': query[1].value:"));
}

TEST_CASE("header and query matcher names must be usable") {
  REQUIRE_THAT(Why(C().Header({.name = "bad name"})), Catch::Contains("headers[0].name"));
  REQUIRE_THAT(Why(C().Header({.name = ""})), Catch::Contains("headers[0].name"));
  REQUIRE_THAT(Why(C().Query({.name = ""})), Catch::Contains("query[0].name"));
}

TEST_CASE("methods must be upper-case tokens") {
  REQUIRE(Why(C().Methods({"GET", "PURGE", "M-SEARCH"})) == "ok");
  REQUIRE_THAT(Why(C().Methods({"GET", "post"})), Catch::StartsWith("route 'r': methods[1]:"));
  REQUIRE_THAT(Why(C().Methods({""})), Catch::Contains("methods[0]"));
  REQUIRE_THAT(Why(C().Methods({"GE T"})), Catch::Contains("methods[0]"));
}

TEST_CASE("host patterns are checked") {
  REQUIRE(Why(C().Host("a.com").Host("*.b.com").Host("api.*").Host("*").Host("[::1]")) == "ok");
  REQUIRE_THAT(Why(C().Host("a.com").Host("")), Catch::StartsWith("route 'r': hosts[1]:"));
  REQUIRE_THAT(Why(C().Host("a.com:80")), Catch::Contains("hosts[0]") && Catch::Contains("port"));
  REQUIRE_THAT(Why(C().Host("a.*.com")), Catch::Contains("hosts[0]"));
  REQUIRE_THAT(Why(C().Host("*a.com")), Catch::Contains("hosts[0]"));
  REQUIRE_THAT(Why(C().Host("*.*")), Catch::Contains("hosts[0]"));
  REQUIRE_THAT(Why(C().Host("a.com/x")), Catch::Contains("hosts[0]"));
  REQUIRE_THAT(Why(C().Host("[::1]:80")), Catch::Contains("hosts[0]"));
}

TEST_CASE("replace-prefix rewrites need a prefix or exact path") {
  REQUIRE(Why(C().Prefix("/a").StripPrefix()) == "ok");
  REQUIRE(Why(C().Exact("/a").StripPrefix()) == "ok");
  REQUIRE_THAT(Why(C().Template("/a/{x}").StripPrefix()),
               Catch::StartsWith("route 'r': rewrite.kind:"));
  REQUIRE_THAT(Why(C().Regex("/a/.*").StripPrefix()), Catch::Contains("rewrite.kind"));
  REQUIRE_THAT(Why(C().StripPrefix()), Catch::Contains("rewrite.kind"));
  REQUIRE_THAT(
      Why(C().Prefix("/a").Rewrite({.kind = PathRewrite::Kind::kReplacePrefix, .value = "v2"})),
      Catch::StartsWith("route 'r': rewrite.value:"));
}

TEST_CASE("template rewrites need a template path and existing captures") {
  auto t = [](std::string value) {
    return PathRewrite{.kind = PathRewrite::Kind::kTemplate, .value = std::move(value)};
  };
  REQUIRE(Why(C().Template("/a/{x}/**").Rewrite(t("/b/{x}/{**}"))) == "ok");
  REQUIRE_THAT(Why(C().Prefix("/a").Rewrite(t("/b"))), Catch::Contains("rewrite.kind"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("/b/{y}"))),
               Catch::StartsWith("route 'r': rewrite.value:") && Catch::Contains("{y}"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("/b/{**}"))), Catch::Contains("{**}"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("/b/{x"))), Catch::Contains("unclosed"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("/b/x}"))), Catch::Contains("unmatched"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("b/{x}"))), Catch::Contains("rewrite.value"));
  REQUIRE_THAT(Why(C().Template("/a/{x}").Rewrite(t("/b c/{x}"))),
               Catch::Contains("rewrite.value"));
}

TEST_CASE("regex rewrites need a compiling pattern and valid group references") {
  auto re = [](std::string pattern, std::string value) {
    return PathRewrite{.kind = PathRewrite::Kind::kRegex,
                       .value = std::move(value),
                       .pattern = std::move(pattern)};
  };
  REQUIRE(Why(C().Rewrite(re("^/(a)/(b)", "/\\2/\\1"))) == "ok");
  REQUIRE_THAT(Why(C().Rewrite(re("(", "/"))), Catch::StartsWith("route 'r': rewrite.pattern:"));
  REQUIRE_THAT(Why(C().Rewrite(re("", "/"))), Catch::Contains("rewrite.pattern"));
  REQUIRE_THAT(Why(C().Rewrite(re("^/(a)", "/\\2"))),
               Catch::StartsWith("route 'r': rewrite.value:"));
}

TEST_CASE("negative timeouts and broken filter configs are rejected") {
  REQUIRE_THAT(Why(C().Timeout(absl::Seconds(-1))), Catch::Contains("timeout"));
  REQUIRE(Why(C().Timeout(absl::Seconds(3))) == "ok");
  REQUIRE_THAT(Why(C().Config("f", nullptr)), Catch::Contains("filter_configs[0]"));
  auto cfg = std::make_shared<RouteFilterConfig>();
  REQUIRE_THAT(Why(C().Config("", cfg)), Catch::Contains("filter_configs[0]"));
  REQUIRE_THAT(Why(C().Config("f", cfg).Config("f", cfg)), Catch::Contains("filter_configs[1]"));
}

// ---------------------------------------------------------------------------
// Router::Build

TEST_CASE("build names unnamed routes after their index") {
  std::vector<RouteSpec> routes = {RouteBuilder().Prefix("/a").ToCluster("c").Build(),
                                   RouteBuilder("b").Prefix("/b").ToCluster("c").Build(),
                                   RouteBuilder().Prefix("/c").ToCluster("c").Build()};
  auto r = MustBuild(std::move(routes));
  REQUIRE(r->routes()[0]->name() == "route-0");
  REQUIRE(r->routes()[1]->name() == "b");
  REQUIRE(r->routes()[2]->name() == "route-2");
  REQUIRE(Outcome(*r, Req("GET", "/c")) == "route-2");
}

TEST_CASE("build rejects two routes with the same name") {
  auto r = Router::Build({RouteBuilder("x").ToCluster("c").Build(),
                          RouteBuilder("route-2").ToCluster("c").Build(),
                          RouteBuilder().ToCluster("c").Build()});
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.status().code() == absl::StatusCode::kInvalidArgument);
  REQUIRE_THAT(std::string(r.status().message()), Catch::Contains("'route-2'"));
  auto dup = Router::Build(
      {RouteBuilder("x").ToCluster("c").Build(), RouteBuilder("x").ToCluster("d").Build()});
  REQUIRE_THAT(std::string(dup.status().message()), Catch::StartsWith("route 'x': name:"));
}

TEST_CASE("build rejects an invalid route, naming it by its index if unnamed") {
  auto r = Router::Build({RouteBuilder("ok").ToCluster("c").Build(),
                          RouteBuilder().Exact("nope").ToCluster("c").Build()});
  REQUIRE_FALSE(r.ok());
  REQUIRE_THAT(std::string(r.status().message()),
               Catch::StartsWith("route 'route-1': path.value:"));
}

// ---------------------------------------------------------------------------
// Route

TEST_CASE("a route reports its action and cluster") {
  REQUIRE(Route(RouteBuilder("c").ToCluster("users").Build()).action() == Route::Action::kCluster);
  REQUIRE(Route(RouteBuilder("c").ToCluster("users").Build()).cluster() == "users");
  REQUIRE(Route(RouteBuilder().Respond(200, "").Build()).action() ==
          Route::Action::kDirectResponse);
  REQUIRE(Route(RouteBuilder().RedirectTo({}).Build()).action() == Route::Action::kRedirect);
}

struct RateConfig : RouteFilterConfig {
  explicit RateConfig(int l) : limit(l) {}
  int limit;
};
struct OtherConfig : RouteFilterConfig {};

TEST_CASE("per-route typed filter config round-trips through the router") {
  auto rate = std::make_shared<const RateConfig>(42);
  auto r = MustBuild({RouteBuilder("limited")
                          .Prefix("/")
                          .ToCluster("c")
                          .Config("ratelimit", rate)
                          .Config("other", std::make_shared<const OtherConfig>())
                          .Build()});
  const RouteMatch m = r->Match(Req("GET", "/x"));
  REQUIRE(m.route != nullptr);
  const RateConfig* got = m.route->FilterConfig<RateConfig>("ratelimit");
  REQUIRE(got == rate.get());
  REQUIRE(got->limit == 42);
  // Wrong type or unknown filter: nullptr, never a bad cast.
  REQUIRE(m.route->FilterConfig<OtherConfig>("ratelimit") == nullptr);
  REQUIRE(m.route->FilterConfig<RateConfig>("other") == nullptr);
  REQUIRE(m.route->FilterConfig<RateConfig>("missing") == nullptr);
  REQUIRE(m.route->FindFilterConfig("other") != nullptr);
}

TEST_CASE("the builder fills every spec field") {
  RouteSpec s = RouteBuilder("n")
                    .Priority(3)
                    .Host("h")
                    .Template("/t/{x}")
                    .Methods({"GET"})
                    .Header({.name = "a"})
                    .Query({.name = "q"})
                    .ToCluster("c")
                    .Timeout(absl::Seconds(2))
                    .Build();
  REQUIRE(s.name == "n");
  REQUIRE(s.priority == 3);
  REQUIRE(s.hosts == std::vector<std::string>{"h"});
  REQUIRE(s.path.kind == PathMatch::Kind::kTemplate);
  REQUIRE(s.path.value == "/t/{x}");
  REQUIRE(s.headers.size() == 1);
  REQUIRE(s.query.size() == 1);
  REQUIRE(s.cluster == "c");
  REQUIRE(s.timeout == absl::Seconds(2));
  REQUIRE(s.Validate().ok());
}

}  // namespace
}  // namespace gateway::test

namespace gateway {
namespace {

TEST_CASE("cluster_from_capture takes the cluster name from the template capture") {
  auto router = Router::Build(
      {RouteBuilder("svc").Template("/api/{service}/**").ToClusterFromCapture("service").Build()});
  REQUIRE(router.ok());
  RequestHead head;
  head.method = "GET";
  head.path = "/api/users/1";
  head.authority = "x";
  RouteMatch m = (*router)->Match(head);
  REQUIRE(m.result == RouteMatch::Result::kMatched);
  REQUIRE(m.cluster() == "users");
}

TEST_CASE("cluster_from_capture must name a capture of the path") {
  RouteSpec spec =
      RouteBuilder("svc").Template("/api/{service}/**").ToClusterFromCapture("svc").Build();
  absl::Status s = spec.Validate();
  REQUIRE_FALSE(s.ok());
  REQUIRE(std::string(s.message()).find("cluster_from_capture") != std::string::npos);
}

TEST_CASE("invalid proxy policies are rejected naming the field") {
  RouteSpec spec = RouteBuilder("r").Prefix("/").ToCluster("c").Build();
  spec.retry.on_statuses = {700};
  REQUIRE(std::string(spec.Validate().message()).find("retry.on_statuses[0]") != std::string::npos);
  spec.retry.on_statuses.clear();
  spec.request_headers.add = {{"bad name", "v"}};
  REQUIRE(std::string(spec.Validate().message()).find("request_headers.add[0]") !=
          std::string::npos);
  spec.request_headers.add.clear();
  spec.host_rewrite = HostRewrite{.kind = HostRewrite::Kind::kLiteral, .value = ""};
  REQUIRE(std::string(spec.Validate().message()).find("host_rewrite.value") != std::string::npos);
}

TEST_CASE("upgrades must be tokens, never h2c, and the tunnel idle timeout not negative") {
  RouteSpec spec = RouteBuilder("r").Prefix("/").ToCluster("c").Build();
  CHECK(spec.upgrades == std::vector<std::string>{"websocket"});
  spec.upgrades = {"websocket", "custom-proto"};
  CHECK(spec.Validate().ok());
  spec.upgrades = {"H2C"};
  CHECK(std::string(spec.Validate().message()).find("h2c") != std::string::npos);
  spec.upgrades = {"web socket"};
  CHECK(std::string(spec.Validate().message()).find("upgrades") != std::string::npos);
  spec.upgrades.clear();
  CHECK(spec.Validate().ok());
  spec.upstream_timeouts.tunnel_idle = absl::Seconds(-1);
  CHECK(std::string(spec.Validate().message()).find("upstream_timeouts") != std::string::npos);
}

}  // namespace
}  // namespace gateway

namespace gateway {
namespace {

// A breaker that counts how often it is asked; the router must never ask.
class AskCountingBreaker final : public CircuitBreaker {
 public:
  std::optional<Permit> TryAcquire() override {
    ++asked;
    return std::nullopt;
  }
  BreakerState state() const override { return BreakerState::kClosed; }
  BreakerStats stats() const override { return {}; }
  std::string_view name() const override { return "counting"; }
  int asked = 0;

 protected:
  void OnPermitDone(uint64_t, absl::Duration, const CallOutcome&) override {}
};

TEST_CASE("the router builds no breaker: a route's breaker config is kept as given") {
  auto user = std::make_shared<AskCountingBreaker>();
  auto router =
      Router::Build({RouteBuilder("guarded")
                         .Prefix("/g")
                         .ToCluster("c")
                         .Breaker(ConsecutiveFailureBreakerConfig{.failure_threshold = 2})
                         .Build(),
                     RouteBuilder("user").Prefix("/u").ToCluster("c").Breaker(user).Build(),
                     RouteBuilder("plain").Exact("/plain").ToCluster("c").Build()});
  REQUIRE(router.ok());
  const auto& routes = (*router)->routes();
  REQUIRE(routes.size() == 3);
  for (size_t i = 0; i < routes.size(); ++i) CHECK(routes[i]->index() == i);
  // The config, unnamed: naming and building it is the pipeline's job.
  const auto* consecutive =
      std::get_if<ConsecutiveFailureBreakerConfig>(&routes[0]->spec().breaker);
  REQUIRE(consecutive != nullptr);
  CHECK(consecutive->name.empty());
  CHECK(consecutive->failure_threshold == 2);
  // The user's breaker is held only by the specs (the caller's and the
  // route's), and matching never asks it.
  const auto* held = std::get_if<UserBreaker>(&routes[1]->spec().breaker);
  REQUIRE(held != nullptr);
  CHECK(held->get() == user.get());
  CHECK(user.use_count() == 2);
  for (int i = 0; i < 3; ++i) {
    RouteMatch m = (*router)->Match(test::Req("GET", "/u/x"));
    REQUIRE(m.result == RouteMatch::Result::kMatched);
    CHECK(m.route == routes[1].get());
  }
  CHECK(user->asked == 0);
  CHECK(std::holds_alternative<std::monostate>(routes[2]->spec().breaker));
}

TEST_CASE("an invalid route breaker config names the route and the breaker") {
  RouteSpec spec = RouteBuilder("r").Prefix("/").ToCluster("c").Build();
  spec.breaker = SlidingWindowBreakerConfig{.failure_rate_threshold = 0};
  absl::Status s = spec.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("route 'r': breaker: ") == 0);
}

}  // namespace
}  // namespace gateway
