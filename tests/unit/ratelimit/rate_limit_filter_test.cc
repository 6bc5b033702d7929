// The rate-limit filter with local rules, through the in-process harness.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/filter.h"
#include "gateway/pipeline.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/router.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::PipelineHarness;
using testing::Request;

// Routes: /login, /healthz, /api/** (cluster "users", answered 503 without
// upstreams), /admin/** (cluster "admin"), and everything else.
std::shared_ptr<const Pipeline> Pipe(std::vector<std::shared_ptr<const FilterFactory>> filters) {
  auto router = Router::Build({
      RouteBuilder("login").Exact("/login").Respond(200, "welcome").Build(),
      RouteBuilder("health").Exact("/healthz").Respond(200, "ok").Build(),
      RouteBuilder("api").Prefix("/api").ToCluster("users").Build(),
      RouteBuilder("admin").Prefix("/admin").ToCluster("admin").Build(),
      RouteBuilder("other").Prefix("/").Respond(200, "other").Build(),
  });
  REQUIRE(router.ok());
  PipelineBuilder b;
  b.Routes(*router);
  for (auto& f : filters) b.Add(std::move(f));
  auto p = b.Build();
  REQUIRE(p.ok());
  return *p;
}

std::shared_ptr<const FilterFactory> Limit(RateLimitFilterConfig config) {
  auto f = MakeRateLimitFilter(std::move(config));
  REQUIRE(f.ok());
  return *f;
}

std::string Header(testing::Exchange& ex, std::string_view name) {
  return std::string(ex.headers().Get(name).value_or("<none>"));
}

// Sends a request and runs the loop until it settles; the status (0 while the
// request is still held somewhere).
int Go(PipelineHarness& h, RequestHead head) {
  auto& ex = h.Send(std::move(head));
  h.RunUntilIdle();
  return ex.responded() ? ex.status() : 0;
}

// The limiters' clock is separate from the harness's: both are moved together.
struct Clocks {
  testing::ManualClock limiter;
  void Advance(PipelineHarness& h, absl::Duration d) {
    limiter.Advance(d);
    h.Advance(d);
  }
};

TEST_CASE("an exhausted rule answers 429 with a JSON body, Retry-After and RateLimit headers") {
  Clocks clocks;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "per-ip",
                              .local = FixedWindowConfig{.limit = 2, .window = absl::Minutes(1)},
                              .key = {RateLimitKeyPart::ClientIp()}}},
                   .clock = &clocks.limiter})}));
  auto& first = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(first.status() == 200);
  CHECK(Header(first, "ratelimit-policy") == "\"per-ip\";q=2;w=60");
  CHECK(Header(first, "ratelimit") == "\"per-ip\";r=1;t=60");
  CHECK(Header(first, "retry-after") == "<none>");
  clocks.Advance(h, absl::Seconds(15));
  auto& second = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(second.status() == 200);
  CHECK(Header(second, "ratelimit") == "\"per-ip\";r=0;t=45");
  auto& third = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(third.status() == 429);
  CHECK(third.info().flag == "rate_limited");
  CHECK(Header(third, "content-type") == "application/json");
  CHECK_THAT(third.body(), Catch::StartsWith("{\"error\":\"rate_limited\""));
  CHECK_THAT(third.body(), Catch::Contains("per-ip"));
  CHECK(Header(third, "retry-after") == "45");
  CHECK(Header(third, "ratelimit-policy") == "\"per-ip\";q=2;w=60");
  CHECK(Header(third, "ratelimit") == "\"per-ip\";r=0;t=45");
  clocks.Advance(h, absl::Seconds(45));
  auto& later = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(later.status() == 200);
}

TEST_CASE("RateLimit headers from further down the chain are replaced, other fields kept") {
  // Runs before the limiter in the response phase, as an upstream's own
  // headers would arrive.
  struct Stale final : Filter {
    FilterStatus OnResponseHeaders(FilterContext& ctx) override {
      HeaderMap& h = ctx.response()->headers;
      h.Add("RateLimit", "\"upstream\";r=7;t=1");
      h.Add("x-kept", "1");
      h.Add("ratelimit-policy", "\"upstream\";q=9;w=1");
      h.Add("RATELIMIT", "again");
      return FilterStatus::kContinue;
    }
  };
  Clocks clocks;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "per-ip",
                              .local = FixedWindowConfig{.limit = 2, .window = absl::Minutes(1)},
                              .key = {RateLimitKeyPart::ClientIp()}}},
                   .clock = &clocks.limiter}),
            MakeFilterFactory("stale", [](const Route&) { return std::make_unique<Stale>(); })}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(ex.status() == 200);
  CHECK(ex.headers().Count("ratelimit") == 1);
  CHECK(ex.headers().Count("ratelimit-policy") == 1);
  CHECK(Header(ex, "ratelimit-policy") == "\"per-ip\";q=2;w=60");
  CHECK(Header(ex, "ratelimit") == "\"per-ip\";r=1;t=60");
  CHECK(Header(ex, "x-kept") == "1");
}

TEST_CASE("legacy headers describe the most restrictive rule") {
  Clocks clocks;
  RateLimitFilterConfig config{
      .rules = {{.name = "wide",
                 .local = FixedWindowConfig{.limit = 100, .window = absl::Hours(1)}},
                {.name = "narrow",
                 .local = FixedWindowConfig{.limit = 3, .window = absl::Minutes(1)}}},
      .headers = RateLimitHeaders::kLegacy,
      .clock = &clocks.limiter};
  PipelineHarness h(Pipe({Limit(config)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(Header(ex, "x-ratelimit-limit") == "3");
  CHECK(Header(ex, "x-ratelimit-remaining") == "2");
  CHECK(Header(ex, "x-ratelimit-reset") == "60");
  CHECK(Header(ex, "ratelimit") == "<none>");

  config.headers = RateLimitHeaders::kBoth;
  PipelineHarness both(Pipe({Limit(config)}));
  auto& b = both.Send(Request("GET", "/x"));
  both.RunUntilIdle();
  CHECK(Header(b, "x-ratelimit-limit") == "3");
  CHECK(Header(b, "ratelimit-policy") == "\"wide\";q=100;w=3600, \"narrow\";q=3;w=60");
  CHECK(Header(b, "ratelimit") == "\"wide\";r=99;t=3600, \"narrow\";r=2;t=60");

  config.headers = RateLimitHeaders::kNone;
  PipelineHarness none(Pipe({Limit(config)}));
  for (int i = 0; i < 3; ++i) none.Send(Request("GET", "/x"));
  auto& n = none.Send(Request("GET", "/x"));
  none.RunUntilIdle();
  CHECK(n.status() == 429);  // still limits
  CHECK(Header(n, "x-ratelimit-limit") == "<none>");
  CHECK(Header(n, "ratelimit") == "<none>");
  CHECK(Header(n, "retry-after") == "60");
}

TEST_CASE("a login route limited to five per minute leaves other routes alone") {
  Clocks clocks;
  PipelineHarness h(Pipe(
      {Limit({.rules = {{.name = "login",
                         .local = SlidingWindowLogConfig{.limit = 5, .window = absl::Minutes(1)},
                         .routes = {"login"},
                         .key = {RateLimitKeyPart::ClientIp()}}},
              .clock = &clocks.limiter})}));
  for (int i = 0; i < 5; ++i) {
    auto& ok = h.Send(Request("POST", "/login"));
    h.RunUntilIdle();
    REQUIRE(ok.status() == 200);
    clocks.Advance(h, absl::Seconds(1));
  }
  auto& refused = h.Send(Request("POST", "/login"));
  h.RunUntilIdle();
  CHECK(refused.status() == 429);
  CHECK(Header(refused, "retry-after") == "55");  // the first attempt leaves the window at 60 s
  for (int i = 0; i < 20; ++i) {
    auto& health = h.Send(Request("GET", "/healthz"));
    h.RunUntilIdle();
    REQUIRE(health.status() == 200);
    CHECK(Header(health, "ratelimit") == "<none>");  // no rule, no filter
  }
  clocks.Advance(h, absl::Seconds(55));
  auto& again = h.Send(Request("POST", "/login"));
  h.RunUntilIdle();
  CHECK(again.status() == 200);
}

TEST_CASE("rules compose: every rule is checked and the most restrictive answer wins") {
  Clocks clocks;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "fast",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Seconds(10)}},
                             {.name = "slow",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)}}},
                   .clock = &clocks.limiter})}));
  REQUIRE(Go(h, Request("GET", "/x")) == 200);
  auto& refused = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(refused.status() == 429);
  // "fast" refused first, but the reply carries the longer wait of "slow".
  CHECK(Header(refused, "retry-after") == "60");
  CHECK_THAT(refused.body(), Catch::Contains("fast, slow"));
  clocks.Advance(h, absl::Seconds(10));
  CHECK(Go(h, Request("GET", "/x")) == 429);  // "fast" allows again, "slow" does not
  clocks.Advance(h, absl::Seconds(50));
  CHECK(Go(h, Request("GET", "/x")) == 200);
}

TEST_CASE("the first refusing rule's on_limit answers with the longest Retry-After of all") {
  Clocks clocks;
  RateLimitResponse custom{.status = 503,
                           .body = "busy\n",
                           .headers = {{"x-limited-by", "fast"}, {"cache-control", "no-store"}}};
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "fast",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Seconds(10)},
                              .on_limit = custom},
                             {.name = "slow",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                              .on_limit = {.status = 418, .body = "never seen"}}},
                   .clock = &clocks.limiter})}));
  REQUIRE(Go(h, Request("GET", "/x")) == 200);
  auto& both = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(both.status() == 503);
  CHECK(both.body() == "busy\n");
  CHECK(both.info().flag == "rate_limited");
  CHECK(Header(both, "content-type") == "text/plain; charset=utf-8");
  CHECK(Header(both, "x-limited-by") == "fast");
  CHECK(Header(both, "cache-control") == "no-store");
  CHECK(Header(both, "retry-after") == "60");  // "slow"'s wait
  CHECK(Header(both, "ratelimit") == "\"fast\";r=0;t=10, \"slow\";r=0;t=60");
  // Only "slow" refuses now: its own refusal, with an empty content type
  // defaulting for its body.
  clocks.Advance(h, absl::Seconds(10));
  auto& slow = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(slow.status() == 418);
  CHECK(slow.body() == "never seen");
  CHECK(Header(slow, "x-limited-by") == "<none>");
  CHECK(Header(slow, "retry-after") == "50");
}

TEST_CASE("on_limit refuses headers the gateway sets itself and bad statuses") {
  auto check = [](RateLimitResponse r) {
    RateLimitFilterConfig config{
        .rules = {{.name = "r", .local = FixedWindowConfig{.limit = 1}, .on_limit = std::move(r)}}};
    return std::string(config.Validate().message());
  };
  CHECK(check({}).empty());
  CHECK(check({.status = 503, .body = "", .headers = {{"x-a", "b"}}}).empty());
  CHECK_THAT(check({.status = 200}), Catch::Contains("on_limit: status must be a 4xx or 5xx"));
  CHECK_THAT(check({.headers = {{"Retry-After", "0"}}}), Catch::Contains("set by the gateway"));
  CHECK_THAT(check({.headers = {{"Upgrade", "h2c"}}}), Catch::Contains("set by the gateway"));
  CHECK_THAT(check({.headers = {{"content-type", "x"}}}), Catch::Contains("use content_type"));
  CHECK_THAT(check({.headers = {{"bad name", "x"}}}), Catch::Contains("not a valid header name"));
  CHECK_THAT(check({.headers = {{"x-a", "a\r\nb"}}}), Catch::Contains("invalid value"));
  CHECK_THAT(check({.content_type = "text/plain\r\nx: y"}), Catch::Contains("content_type"));
}

TEST_CASE("a rejected request does not spend the quota of later rules") {
  Clocks clocks;
  PipelineHarness h(Pipe({Limit(
      {.rules = {{.name = "per-client",
                  .local = FixedWindowConfig{.limit = 2, .window = absl::Minutes(1)},
                  .key = {RateLimitKeyPart::Header("x-client-id")}},
                 {.name = "global",
                  .local = TokenBucketConfig{.rate = 1, .per = absl::Minutes(1), .burst = 10}}},
       .clock = &clocks.limiter})}));
  for (int i = 0; i < 5; ++i) h.Send(Request("GET", "/x", {{"x-client-id", "greedy"}}));
  auto& other = h.Send(Request("GET", "/x", {{"x-client-id", "polite"}}));
  h.RunUntilIdle();
  CHECK(other.status() == 200);
  // 2 admitted for "greedy" and 1 for "polite": the 3 refusals cost "global" nothing.
  CHECK(Header(other, "ratelimit") == "\"per-client\";r=1;t=60, \"global\";r=7;t=180");
}

TEST_CASE("a header key separates clients and a request without it skips the rule") {
  Clocks clocks;
  RateLimitFilterConfig config{
      .rules = {{.name = "api-key",
                 .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                 .key = {RateLimitKeyPart::Header("x-api-key")}}},
      .clock = &clocks.limiter};
  PipelineHarness h(Pipe({Limit(config)}));
  CHECK(Go(h, Request("GET", "/x", {{"x-api-key", "alice"}})) == 200);
  CHECK(Go(h, Request("GET", "/x", {{"x-api-key", "alice"}})) == 429);
  CHECK(Go(h, Request("GET", "/x", {{"x-api-key", "bob"}})) == 200);
  auto& anonymous = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(anonymous.status() == 200);
  CHECK(Header(anonymous, "ratelimit") == "<none>");
  CHECK(Go(h, Request("GET", "/x")) == 200);

  // Without skipping, requests lacking the header share one bucket.
  config.rules[0].skip_if_key_missing = false;
  PipelineHarness shared(Pipe({Limit(config)}));
  CHECK(Go(shared, Request("GET", "/x")) == 200);
  CHECK(Go(shared, Request("GET", "/x")) == 429);
}

TEST_CASE("an identity attribute set by an earlier filter keys a rule") {
  Clocks clocks;
  // Stands in for an auth filter: the identity comes from a verified token.
  auto auth = MakeFilterFactory("auth", [](const Route&) {
    struct Auth final : Filter {
      FilterStatus OnRequestHeaders(FilterContext& ctx) override {
        if (auto user = ctx.request().headers.Get("x-test-user")) {
          ctx.SetAttribute("identity", std::string(*user));
        }
        return FilterStatus::kContinue;
      }
    };
    return std::make_unique<Auth>();
  });
  PipelineHarness h(
      Pipe({auth, Limit({.rules = {{.name = "per-user",
                                    .local = GcraConfig{.limit = 1, .period = absl::Minutes(1)},
                                    .key = {RateLimitKeyPart::Attribute("identity"),
                                            RateLimitKeyPart::Route()}}},
                         .clock = &clocks.limiter})}));
  CHECK(Go(h, Request("GET", "/x", {{"x-test-user", "ann"}})) == 200);
  CHECK(Go(h, Request("GET", "/x", {{"x-test-user", "ann"}})) == 429);
  CHECK(Go(h, Request("GET", "/login", {{"x-test-user", "ann"}})) == 200);  // other route
  CHECK(Go(h, Request("GET", "/x", {{"x-test-user", "ben"}})) == 200);
}

TEST_CASE("client ip keys believe X-Forwarded-For only from trusted proxies") {
  Clocks clocks;
  RateLimitFilterConfig config{
      .rules = {{.name = "per-ip",
                 .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                 .key = {RateLimitKeyPart::ClientIp()}}},
      .trusted_proxies = {"10.0.0.0/8"},
      .clock = &clocks.limiter};
  testing::HarnessOptions behind_proxy;
  behind_proxy.connection.peer_address = "10.0.0.7";
  PipelineHarness h(Pipe({Limit(config)}), behind_proxy);
  CHECK(Go(h, Request("GET", "/x", {{"x-forwarded-for", "203.0.113.1"}})) == 200);
  CHECK(Go(h, Request("GET", "/x", {{"x-forwarded-for", "203.0.113.2"}})) == 200);
  CHECK(Go(h, Request("GET", "/x", {{"x-forwarded-for", "203.0.113.1"}})) == 429);
  // A client cannot escape its limit by prepending addresses.
  CHECK(Go(h, Request("GET", "/x", {{"x-forwarded-for", "1.1.1.1, 203.0.113.2"}})) == 429);

  // The same peer, not trusted: every request is the proxy's own.
  config.trusted_proxies.clear();
  PipelineHarness untrusted(Pipe({Limit(config)}), behind_proxy);
  CHECK(Go(untrusted, Request("GET", "/x", {{"x-forwarded-for", "203.0.113.1"}})) == 200);
  CHECK(Go(untrusted, Request("GET", "/x", {{"x-forwarded-for", "203.0.113.2"}})) == 429);
}

TEST_CASE("per-service rules match the cluster a route sends to, per-method rules the method") {
  Clocks clocks;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "users-service",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                              .clusters = {"users"}},
                             {.name = "writes",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                              .methods = {"POST"},
                              .key = {RateLimitKeyPart::Method(), RateLimitKeyPart::Path()}}},
                   .clock = &clocks.limiter})}));
  // No upstream in the harness: the cluster route answers 503 once admitted.
  CHECK(Go(h, Request("GET", "/api/a")) == 503);
  CHECK(Go(h, Request("GET", "/api/b")) == 429);
  CHECK(Go(h, Request("GET", "/admin/a")) == 503);  // another cluster
  CHECK(Go(h, Request("GET", "/admin/a")) == 503);
  CHECK(Go(h, Request("POST", "/p")) == 200);
  CHECK(Go(h, Request("POST", "/p")) == 429);
  CHECK(Go(h, Request("POST", "/q")) == 200);  // keyed by path
  CHECK(Go(h, Request("GET", "/p")) == 200);   // not a POST
}

// Records the dry-run attribute as seen by a later filter.
struct AttributeProbe {
  std::vector<std::string> seen;
  std::shared_ptr<const FilterFactory> Factory() {
    return MakeFilterFactory("probe", [this](const Route&) {
      struct Probe final : Filter {
        explicit Probe(AttributeProbe* probe) : p(probe) {}
        FilterStatus OnRequestHeaders(FilterContext& ctx) override {
          auto v = ctx.GetAttribute(kRateLimitDryRunDeniedAttribute);
          p->seen.push_back(v ? std::string(*v) : "-");
          return FilterStatus::kContinue;
        }
        AttributeProbe* p;
      };
      return std::make_unique<Probe>(this);
    });
  }
};

TEST_CASE("dry run counts and adds headers but never rejects") {
  Clocks clocks;
  AttributeProbe probe;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "trial",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)}}},
                   .headers = RateLimitHeaders::kBoth,
                   .dry_run = true,
                   .clock = &clocks.limiter}),
            probe.Factory()}));
  auto& first = h.Send(Request("GET", "/x"));
  auto& second = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  CHECK(first.status() == 200);
  CHECK(second.status() == 200);
  CHECK(Header(second, "ratelimit") == "\"trial\";r=0;t=60");
  CHECK(Header(second, "x-ratelimit-remaining") == "0");
  CHECK(Header(second, "retry-after") == "<none>");
  CHECK(probe.seen == std::vector<std::string>{"-", "trial"});
}

// Holds every request it sees until the test lets it go.
struct Gate {
  std::vector<Resumer> held;
  std::shared_ptr<const FilterFactory> Factory() {
    return MakeFilterFactory("gate", [this](const Route&) {
      struct Hold final : Filter {
        explicit Hold(Gate* gate) : g(gate) {}
        FilterStatus OnRequestHeaders(FilterContext& ctx) override {
          g->held.push_back(ctx.Pause());
          return FilterStatus::kPause;
        }
        Gate* g;
      };
      return std::make_unique<Hold>(this);
    });
  }
};

TEST_CASE("a concurrency rule holds a unit until the request ends, however it ends") {
  Clocks clocks;
  Gate gate;
  PipelineHarness h(Pipe({Limit({.rules = {{.name = "in-flight",
                                            .local = ConcurrencyConfig{.max_in_flight = 1},
                                            .key = {RateLimitKeyPart::Header("x-user")}}},
                                 .clock = &clocks.limiter}),
                          gate.Factory()}));
  auto& a = h.Send(Request("GET", "/x", {{"x-user", "u"}}));
  h.RunUntilIdle();
  REQUIRE_FALSE(a.responded());
  auto& b = h.Send(Request("GET", "/x", {{"x-user", "u"}}));
  h.RunUntilIdle();
  CHECK(b.status() == 429);
  CHECK(Header(b, "retry-after") == "1");
  CHECK(Header(b, "ratelimit") == "<none>");  // not a quota over time
  gate.held[0].Resume();
  h.RunUntilIdle();
  CHECK(a.status() == 200);
  auto& c = h.Send(Request("GET", "/x", {{"x-user", "u"}}));
  h.RunUntilIdle();
  REQUIRE_FALSE(c.responded());  // admitted, now held at the gate
  c.Disconnect();
  h.RunUntilIdle();
  auto& d = h.Send(Request("GET", "/x", {{"x-user", "u"}}));
  h.RunUntilIdle();
  CHECK_FALSE(d.responded());  // the client that left gave its unit back
  CHECK(gate.held.size() == 3);
}

TEST_CASE("a refusal by a later rule gives back the units an earlier concurrency rule took") {
  Clocks clocks;
  Gate gate;
  PipelineHarness h(
      Pipe({Limit({.rules = {{.name = "in-flight", .local = ConcurrencyConfig{.max_in_flight = 1}},
                             {.name = "rate",
                              .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                              .key = {RateLimitKeyPart::Header("x-user")}}},
                   .clock = &clocks.limiter}),
            gate.Factory()}));
  CHECK(Go(h, Request("GET", "/x", {{"x-user", "a"}})) == 0);  // held
  gate.held[0].Resume();
  h.RunUntilIdle();
  CHECK(Go(h, Request("GET", "/x", {{"x-user", "a"}})) == 429);  // "rate" refuses
  auto& b = h.Send(Request("GET", "/x", {{"x-user", "b"}}));
  h.RunUntilIdle();
  CHECK_FALSE(b.responded());  // admitted: the refused request did not keep the unit
  CHECK(gate.held.size() == 2);
}

TEST_CASE("your own limiter plugs in as a rule") {
  struct Closed final : RateLimiter {
    RateDecision Acquire(std::string_view key, uint64_t cost) override {
      keys.emplace_back(key);
      return {.allowed = false,
              .limit = 10,
              .remaining = 0,
              .reset = absl::Seconds(30),
              .retry_after = absl::Milliseconds(6500),
              .window = absl::Seconds(30)};
    }
    std::vector<std::string> keys;
  };
  auto closed = std::make_shared<Closed>();
  PipelineHarness h(Pipe({Limit(
      {.rules = {{.name = "custom", .limiter = closed, .key = {RateLimitKeyPart::Route()}}}})}));
  auto& ex = h.Send(Request("GET", "/login"));
  h.RunUntilIdle();
  CHECK(ex.status() == 429);
  CHECK(Header(ex, "retry-after") == "7");  // rounded up
  CHECK(Header(ex, "ratelimit") == "\"custom\";r=0;t=30");
  CHECK(closed->keys == std::vector<std::string>{"5:login;"});
}

TEST_CASE("the rejection status is configurable") {
  Clocks clocks;
  PipelineHarness h(Pipe({Limit(
      {.rules = {{.name = "r", .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)}}},
       .status = 503,
       .clock = &clocks.limiter})}));
  h.Send(Request("GET", "/x"));
  CHECK(Go(h, Request("GET", "/x")) == 503);
}

TEST_CASE("filter config validation explains what is wrong") {
  auto error = [](RateLimitFilterConfig c) {
    auto f = MakeRateLimitFilter(std::move(c));
    REQUIRE_FALSE(f.ok());
    return std::string(f.status().message());
  };
  RateLimitRule ok{.name = "ok", .local = FixedWindowConfig{.limit = 5}};
  CHECK_THAT(error({}), Catch::Contains("no rules"));
  CHECK_THAT(error({.rules = {ok, ok}}), Catch::Contains("duplicate rule name \"ok\""));
  CHECK_THAT(error({.rules = {{.name = "none"}}}), Catch::Contains("exactly one of"));
  CHECK_THAT(error({.rules = {{.name = "bad name", .local = FixedWindowConfig{.limit = 5}}}}),
             Catch::Contains("name"));
  CHECK_THAT(error({.rules = {{.name = "zero", .local = FixedWindowConfig{.limit = 0}}}}),
             Catch::Contains("fixed_window: limit"));
  CHECK_THAT(error({.rules = {{.name = "big", .local = FixedWindowConfig{.limit = 5}, .cost = 6}}}),
             Catch::Contains("cost 6"));
  CHECK_THAT(error({.rules = {{.name = "hdr",
                               .local = FixedWindowConfig{.limit = 5},
                               .key = {RateLimitKeyPart::Header("bad header")}}}}),
             Catch::Contains("header name"));
  CHECK_THAT(error({.rules = {ok}, .status = 200}), Catch::Contains("status"));
  CHECK_THAT(error({.rules = {ok}, .trusted_proxies = {"nonsense"}}),
             Catch::Contains("trusted_proxies[0]"));
}

}  // namespace
}  // namespace gateway
