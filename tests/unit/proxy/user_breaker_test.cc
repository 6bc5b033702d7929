// The proxy asks a user's CircuitBreaker (a UserBreaker on the cluster or the
// route) exactly where it asks a built-in one.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "gateway/circuit_breaker.h"
#include "gateway/cluster.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"
#include "gateway/testing/fake_upstream.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::ScriptedAttempt;
using testing::ScriptedUpstream;

class ScriptedBreaker final : public CircuitBreaker {
 public:
  std::optional<Permit> TryAcquire() override {
    ++asked;
    if (open) return std::nullopt;
    return MakePermit(0, absl::ZeroDuration());
  }
  BreakerState state() const override { return open ? BreakerState::kOpen : BreakerState::kClosed; }
  BreakerStats stats() const override { return {}; }
  std::string_view name() const override { return "scripted"; }

  bool open = false;
  int asked = 0;
  std::vector<CallOutcome> outcomes;

 protected:
  void OnPermitDone(uint64_t, absl::Duration, const CallOutcome& outcome) override {
    outcomes.push_back(outcome);
  }
};

std::shared_ptr<const Pipeline> Build(const std::shared_ptr<ScriptedUpstream>& upstream,
                                      BreakerConfig cluster_breaker, BreakerConfig route_breaker) {
  ClusterSpec users{.name = "users", .endpoints = {{.address = "10.0.0.1", .port = 80}}};
  users.pool_factory = upstream->factory();
  users.resilience.breaker = std::move(cluster_breaker);
  auto clusters = ClusterManager::Create({std::move(users)});
  REQUIRE(clusters.ok());
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("users")
                       .Prefix("/")
                       .ToCluster("users")
                       .Breaker(std::move(route_breaker))
                       .Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*clusters).Build();
  REQUIRE(pipeline.ok());
  return *pipeline;
}

TEST_CASE("a cluster's user breaker is asked per attempt and told the outcome",
          "[proxy][breaker]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(503, "busy")).Then(ScriptedAttempt().Respond(200, "ok"));
  auto breaker = std::make_shared<ScriptedBreaker>();
  testing::PipelineHarness h(Build(upstream, UserBreaker(breaker), std::monostate{}));
  // The route retries nothing by default; a second request gets the second answer.
  auto& first = h.Send(testing::Request("GET", "/a"));
  h.Advance(absl::Seconds(1));
  auto& second = h.Send(testing::Request("GET", "/b"));
  h.Advance(absl::Seconds(1));
  CHECK(first.status() == 503);
  CHECK(second.status() == 200);
  CHECK(breaker->asked == 2);
  REQUIRE(breaker->outcomes.size() == 2);
  CHECK(breaker->outcomes[0].status == 503);
  CHECK(breaker->outcomes[1].status == 200);
}

TEST_CASE("an open user breaker on the route refuses before any upstream attempt",
          "[proxy][breaker]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(200, "ok"));
  auto breaker = std::make_shared<ScriptedBreaker>();
  breaker->open = true;
  testing::PipelineHarness h(Build(upstream, std::monostate{}, UserBreaker(breaker)));
  auto& ex = h.Send(testing::Request("GET", "/a"));
  h.Advance(absl::Seconds(1));
  REQUIRE(ex.done());
  CHECK(ex.status() == 503);
  CHECK(ex.info().flag == kCircuitOpenFlag);
  CHECK(breaker->asked == 1);
  CHECK(upstream->attempts().empty());
}

}  // namespace
}  // namespace gateway

namespace gateway {
namespace {

class LastHost final : public LoadBalancer {
 public:
  explicit LastHost(std::shared_ptr<const HostSet> hosts) : hosts_(std::move(hosts)) {}
  HostPtr Pick(const LbContext&) override { return hosts_->hosts().back(); }

 private:
  std::shared_ptr<const HostSet> hosts_;
};

class LastHostFactory final : public LoadBalancerFactory {
 public:
  std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const override {
    ++created;
    return std::make_unique<LastHost>(std::move(hosts));
  }
  mutable int created = 0;
};

TEST_CASE("a cluster's own balancer factory picks the hosts, not its lb policy",
          "[proxy][balancer]") {
  auto upstream = std::make_shared<ScriptedUpstream>();
  upstream->Then(ScriptedAttempt().Respond(200, "a")).Then(ScriptedAttempt().Respond(200, "b"));
  auto factory = std::make_shared<LastHostFactory>();
  ClusterSpec users{
      .name = "users",
      .endpoints = {{.address = "10.0.0.1", .port = 80}, {.address = "10.0.0.2", .port = 80}}};
  users.pool_factory = upstream->factory();
  users.load_balancer = factory;
  auto clusters = ClusterManager::Create({std::move(users)});
  REQUIRE(clusters.ok());
  CHECK((*clusters)->Balancer("users") == factory);
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("users").Prefix("/").ToCluster("users").Build());
  auto pipeline =
      PipelineBuilder{}.Routes(*Router::Build(std::move(routes))).Clusters(*clusters).Build();
  REQUIRE(pipeline.ok());
  testing::PipelineHarness h(*pipeline);
  auto& first = h.Send(testing::Request("GET", "/a"));
  auto& second = h.Send(testing::Request("GET", "/b"));
  h.RunUntilIdle();
  CHECK(first.status() == 200);
  CHECK(second.status() == 200);
  REQUIRE(upstream->attempts().size() == 2);
  CHECK(upstream->attempts()[0].host == "10.0.0.2:80");  // round robin would alternate
  CHECK(upstream->attempts()[1].host == "10.0.0.2:80");
  CHECK(factory->created == 1);
}

}  // namespace
}  // namespace gateway
