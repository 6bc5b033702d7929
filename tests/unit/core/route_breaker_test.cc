// Route breakers (RouteSpec::breaker) are the pipeline's per-route state:
// PipelineBuilder::Build makes them, one per route that configures one, and
// the proxy finds them by Route::index. The router holds none.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/circuit_breaker.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"

namespace gateway {
namespace {

class CountingObserver final : public ResilienceObserver {
 public:
  void OnBreakerTransition(const BreakerTransition& event) override {
    names.emplace_back(event.breaker);
    states.push_back(event.to);
  }
  std::vector<std::string> names;
  std::vector<BreakerState> states;
};

std::shared_ptr<const Router> GuardedRouter(BreakerConfig breaker) {
  auto router = Router::Build(
      {RouteBuilder("plain").Exact("/plain").ToCluster("c").Build(),
       RouteBuilder("guarded").Prefix("/").ToCluster("c").Breaker(std::move(breaker)).Build()});
  REQUIRE(router.ok());
  return *router;
}

void Fail(CircuitBreaker& breaker, int times) {
  for (int i = 0; i < times; ++i) {
    auto permit = breaker.TryAcquire();
    REQUIRE(permit);
    permit->Record({.result = CallResult::kResponse, .status = 500});
  }
}

TEST_CASE(
    "the pipeline builds a route's breaker, named after the route, reporting to its observer") {
  auto observer = std::make_shared<CountingObserver>();
  auto router = GuardedRouter(ConsecutiveFailureBreakerConfig{.failure_threshold = 2});
  auto pipeline = PipelineBuilder{}.Routes(router).RouteBreakerObserver(observer).Build();
  REQUIRE(pipeline.ok());
  const Route& plain = *router->routes()[0];
  const Route& guarded = *router->routes()[1];
  CHECK((*pipeline)->route_breaker(plain) == nullptr);
  CircuitBreaker* breaker = (*pipeline)->route_breaker(guarded);
  REQUIRE(breaker != nullptr);
  CHECK(breaker->name() == "guarded");
  Fail(*breaker, 2);
  CHECK_FALSE(breaker->TryAcquire().has_value());
  CHECK(observer->names == std::vector<std::string>{"guarded"});
  CHECK(observer->states == std::vector<BreakerState>{BreakerState::kOpen});
}

TEST_CASE("each pipeline build starts the route breakers afresh, even on the same router") {
  auto router = GuardedRouter(
      ConsecutiveFailureBreakerConfig{.failure_threshold = 1, .open_timeout = absl::Hours(1)});
  const Route& guarded = *router->routes()[1];
  auto before = PipelineBuilder{}.Routes(router).Build();
  REQUIRE(before.ok());
  Fail(*(*before)->route_breaker(guarded), 1);
  CHECK((*before)->route_breaker(guarded)->state() == BreakerState::kOpen);

  // What a reload installs: a new pipeline, here on the very same router.
  auto after = PipelineBuilder{}.Routes(router).Build();
  REQUIRE(after.ok());
  CircuitBreaker* fresh = (*after)->route_breaker(guarded);
  REQUIRE(fresh != nullptr);
  CHECK(fresh != (*before)->route_breaker(guarded));
  CHECK(fresh->state() == BreakerState::kClosed);
  CHECK(fresh->TryAcquire().has_value());
  // The old pipeline's requests keep the old, open breaker until they end.
  CHECK((*before)->route_breaker(guarded)->state() == BreakerState::kOpen);
}

TEST_CASE("a user breaker on a route is used as is by every pipeline built on it") {
  auto user = MakeConsecutiveFailureBreaker({.name = "mine", .failure_threshold = 1});
  REQUIRE(user.ok());
  auto router = GuardedRouter(UserBreaker(*user));
  const Route& guarded = *router->routes()[1];
  auto first = PipelineBuilder{}.Routes(router).Build();
  auto second = PipelineBuilder{}.Routes(router).Build();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK((*first)->route_breaker(guarded) == user->get());
  CHECK((*second)->route_breaker(guarded) == user->get());
  CHECK(user->get()->name() == "mine");
}

TEST_CASE("a pipeline has no breaker for a route of another router") {
  auto router = GuardedRouter(ConsecutiveFailureBreakerConfig{});
  auto other = GuardedRouter(ConsecutiveFailureBreakerConfig{});
  auto pipeline = PipelineBuilder{}.Routes(router).Build();
  REQUIRE(pipeline.ok());
  CHECK((*pipeline)->route_breaker(*router->routes()[1]) != nullptr);
  // Same index, different route: not this pipeline's state.
  CHECK((*pipeline)->route_breaker(*other->routes()[1]) == nullptr);
  // No route with a breaker: nothing is built.
  auto bare = Router::Build({RouteBuilder("r").Prefix("/").ToCluster("c").Build()});
  REQUIRE(bare.ok());
  auto plain = PipelineBuilder{}.Routes(*bare).Build();
  REQUIRE(plain.ok());
  CHECK((*plain)->route_breaker(*(*bare)->routes()[0]) == nullptr);
}

}  // namespace
}  // namespace gateway
