// The proxy's retry, replay, fallback and per-try timeout logic, driven
// in-process against a scripted upstream on the simulated loop.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "gateway/cluster.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"
#include "gateway/testing/fake_upstream.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::ScriptedAttempt;
using testing::ScriptedUpstream;

struct Setup {
  RetryPolicy retry;
  UpstreamTimeouts timeouts;
  std::optional<FallbackSpec> fallback;
  LbPolicy lb = LbPolicy::kRoundRobin;
};

// A pipeline with one route to cluster "users" (two hosts) and a cluster
// "backup" (one host), both answered by `upstream`.
std::shared_ptr<const Pipeline> Build(const std::shared_ptr<ScriptedUpstream>& upstream,
                                      Setup setup) {
  ClusterSpec users{
      .name = "users",
      .endpoints = {{.address = "10.0.0.1", .port = 80}, {.address = "10.0.0.2", .port = 80}}};
  users.pool_factory = upstream->factory();
  users.fallback = std::move(setup.fallback);
  users.lb.policy = setup.lb;
  ClusterSpec backup{.name = "backup", .endpoints = {{.address = "10.0.1.1", .port = 80}}};
  backup.pool_factory = upstream->factory();
  auto clusters = ClusterManager::Create({std::move(users), std::move(backup)});
  REQUIRE(clusters.ok());
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("users")
                       .Prefix("/")
                       .ToCluster("users")
                       .Retry(setup.retry)
                       .UpstreamTimeout(setup.timeouts)
                       .Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*clusters).Build();
  REQUIRE(pipeline.ok());
  return *pipeline;
}

TEST_CASE("a connect failure is retried on the other host", "[proxy][retry]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt::ConnectFailure()).Then(ScriptedAttempt().Respond(200, "second"));
  // Maglev keys every attempt of the request to the same host; only the
  // hosts already tried can move the retry.
  testing::PipelineHarness h(Build(upstream, {.lb = LbPolicy::kMaglev}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "second");
  REQUIRE(upstream->attempts().size() == 2);
  CHECK(upstream->attempts()[0].host != upstream->attempts()[1].host);
  CHECK(upstream->attempts()[1].request.starts_with("GET /users/1 HTTP/1.1\r\n"));
}

TEST_CASE("a 5xx is retried when the policy retries 5xx", "[proxy][retry]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(503, "busy"))
      .Then(ScriptedAttempt().Respond(200, "second"));
  testing::PipelineHarness h(Build(upstream, {.retry = {.on_5xx = true}}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "second");
  CHECK(upstream->attempts().size() == 2);
}

TEST_CASE("a 5xx is passed on when the policy does not retry 5xx", "[proxy][retry]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(503, "busy"))
      .Then(ScriptedAttempt().Respond(200, "second"));
  testing::PipelineHarness h(Build(upstream, {}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 503);
  CHECK(ex.body() == "busy");
  CHECK(upstream->attempts().size() == 1);
}

TEST_CASE("no retry once response bytes reached the client", "[proxy][retry]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Head(200, {{"content-length", "10"}}).Body("abc").Reset())
      .Then(ScriptedAttempt().Respond(200, "0123456789"));
  testing::PipelineHarness h(
      Build(upstream, {.retry = {.on_reset = true, .on_5xx = true, .max_retries = 2}}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "abc");  // the head was out: the reset cuts the body short
  CHECK(upstream->attempts().size() == 1);
  CHECK(upstream->remaining() == 1);
}

TEST_CASE("a reset before the response head is retried and the body replayed",
          "[proxy][retry][replay]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Reset()).Then(ScriptedAttempt().Respond(201, "made"));
  testing::PipelineHarness h(
      Build(upstream, {.retry = {.on_reset = true, .allow_non_idempotent = true}}));
  auto& ex = h.Send(testing::Request("POST", "/users"), "{\"name\":\"ada\"}");
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 201);
  REQUIRE(upstream->attempts().size() == 2);
  for (const auto& attempt : upstream->attempts()) {
    CHECK(attempt.request_complete);
    CHECK(attempt.request.ends_with("\r\n\r\n{\"name\":\"ada\"}"));
  }
}

TEST_CASE("a body larger than the replay buffer is not retried", "[proxy][retry][replay]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(503, "busy"))
      .Then(ScriptedAttempt().Respond(201, "made"));
  testing::PipelineHarness h(
      Build(upstream,
            {.retry = {.on_5xx = true, .allow_non_idempotent = true, .replay_buffer_bytes = 4}}));
  auto& ex = h.Send(testing::Request("POST", "/users"), "{\"name\":\"ada\"}");
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 503);
  CHECK(upstream->attempts().size() == 1);
}

TEST_CASE("the fallback reply answers once every attempt failed to connect", "[proxy][fallback]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt::ConnectFailure()).Then(ScriptedAttempt::ConnectFailure());
  FallbackSpec fallback{.status = 200, .body = "cached answer"};
  testing::PipelineHarness h(Build(upstream, {.fallback = fallback}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(upstream->attempts().size() == 2);  // the retry came first
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "cached answer");
  CHECK(ex.info().flag == "fallback");
}

TEST_CASE("the fallback cluster serves the request when the cluster's connects time out",
          "[proxy][fallback]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt::ConnectTimeout(absl::Milliseconds(100)))
      .Then(ScriptedAttempt().Respond(200, "from backup"));
  FallbackSpec fallback{.cluster = "backup"};
  testing::PipelineHarness h(Build(upstream, {.retry = {.max_retries = 0}, .fallback = fallback}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "from backup");
  REQUIRE(upstream->attempts().size() == 2);
  CHECK(upstream->attempts()[1].host == "10.0.1.1:80");
}

TEST_CASE("a slow attempt is cut at the per-try timeout and retried", "[proxy][retry][timeout]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Wait(absl::Seconds(5)).Respond(200, "slow"))
      .Then(ScriptedAttempt().Wait(absl::Milliseconds(100)).Respond(200, "fast"));
  testing::PipelineHarness h(Build(
      upstream, {.retry = {.on_gateway_error = true}, .timeouts = {.per_try = absl::Seconds(1)}}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Milliseconds(900));
  CHECK_FALSE(ex.responded());
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "fast");
  REQUIRE(upstream->attempts().size() == 2);
  CHECK(upstream->attempts()[0].closed_by_proxy);
}

TEST_CASE("the per-try timeout answers 504 when no retry is allowed", "[proxy][timeout]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Wait(absl::Seconds(5)).Respond(200, "slow"));
  testing::PipelineHarness h(Build(upstream, {.timeouts = {.per_try = absl::Seconds(1)}}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(2));
  REQUIRE(ex.done());
  CHECK(ex.status() == 504);
  CHECK(ex.info().flag == "upstream_per_try_timeout");
}

TEST_CASE("a body cut short by the upstream closing ends the response unfinished",
          "[proxy][fake_upstream]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Head(200, {{"content-length", "10"}}).Body("0123").Close());
  testing::PipelineHarness h(Build(upstream, {}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 200);
  CHECK(ex.body() == "0123");
  CHECK_FALSE(upstream->attempts()[0].released);
}

TEST_CASE("a complete exchange returns the scripted connection for reuse",
          "[proxy][fake_upstream]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(200, "ok"));
  testing::PipelineHarness h(Build(upstream, {}));
  auto& ex = h.Send(testing::Request("GET", "/users/1"));
  h.RunUntilIdle();
  REQUIRE(ex.done());
  CHECK(ex.body() == "ok");
  CHECK(upstream->attempts()[0].released);
}

}  // namespace
}  // namespace gateway
