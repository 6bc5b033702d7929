// The code samples of docs/resilience.md, compiled and run. Keep the two in
// step: the code between the markers is copied verbatim from the page.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/gateway.h"
#include "gateway/testing/harness.h"

namespace docs_example {
namespace {

using namespace gateway;

// --- "Guarding your own calls" (verbatim) -----------------------------------

// Guards a route with a shared concurrency limit and circuit breaker, and
// reports the route's answer to the breaker when the request is over.
class Guard final : public Filter {
 public:
  Guard(CircuitBreaker& breaker, ConcurrencyLimits& limits) : breaker_(breaker), limits_(limits) {}

  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    slot_ = limits_.TryAcquire(LimitKind::kRequests);
    if (!slot_) {
      ctx.SendLocalReply(LocalReply::Json(503, LimitFlag(LimitKind::kRequests), "busy"));
      return FilterStatus::kStop;
    }
    permit_ = breaker_.TryAcquire();
    if (!permit_) {
      ctx.SendLocalReply(LocalReply::Json(503, kCircuitOpenFlag, "circuit open"));
      return FilterStatus::kStop;
    }
    return FilterStatus::kContinue;
  }

  void OnDone(const RequestInfo& info) override {
    slot_.reset();  // free the slot now: the filter itself may live a little longer
    if (!permit_) return;
    switch (info.outcome) {
      case RequestOutcome::kCompleted:
        permit_->Record({.result = CallResult::kResponse, .status = info.status});
        break;
      case RequestOutcome::kTimeout:
        permit_->Record({.result = CallResult::kTimeout});
        break;
      default:  // the client left: says nothing about the service
        break;  // dropping the permit records kCancelled
    }
  }

 private:
  CircuitBreaker& breaker_;
  ConcurrencyLimits& limits_;
  std::optional<ConcurrencyLimits::Permit> slot_;
  std::optional<CircuitBreaker::Permit> permit_;
};

std::shared_ptr<const FilterFactory> MakeGuard(std::shared_ptr<CircuitBreaker> breaker,
                                               std::shared_ptr<ConcurrencyLimits> limits) {
  // The factory keeps both alive for as long as any pipeline uses it.
  return MakeFilterFactory("guard", [breaker, limits](const Route&) {
    return std::make_unique<Guard>(*breaker, *limits);
  });
}

// --- end of verbatim code ----------------------------------------------------

TEST_CASE("docs: the guard filter opens its breaker on failing answers and probes later") {
  testing::ManualClock breaker_clock;
  auto breaker = MakeConsecutiveFailureBreaker(
      {.name = "flaky", .failure_threshold = 3, .open_timeout = absl::Seconds(30)}, breaker_clock);
  auto limits = ConcurrencyLimits::Create({.name = "flaky", .max_requests = 100});
  REQUIRE(breaker.ok());
  REQUIRE(limits.ok());
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("fail").Exact("/fail").Respond(500, "down").Build());
  routes.push_back(RouteBuilder("ok").Exact("/ok").Respond(200, "up").Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(MakeGuard(*breaker, *limits)).Build();
  REQUIRE(pipeline.ok());
  testing::PipelineHarness h(*pipeline);

  for (int i = 0; i < 3; ++i) {
    auto& ex = h.Send(testing::Request("GET", "/fail"));
    h.RunUntilIdle();
    REQUIRE(ex.status() == 500);
  }
  auto& refused = h.Send(testing::Request("GET", "/ok"));
  h.RunUntilIdle();
  CHECK(refused.status() == 503);
  CHECK(refused.info().flag == "circuit_open");

  breaker_clock.Advance(absl::Seconds(30));
  auto& probe = h.Send(testing::Request("GET", "/ok"));
  h.RunUntilIdle();
  CHECK(probe.status() == 200);
  CHECK((*breaker)->state() == BreakerState::kClosed);
  CHECK((*limits)->active(LimitKind::kRequests) == 0);
}

TEST_CASE("docs: the sample configurations build, and a bad one says why") {
  auto breaker = MakeConsecutiveFailureBreaker(
      {.name = "users", .failure_threshold = 5, .open_timeout = absl::Seconds(30)});
  CHECK(breaker.ok());
  auto search =
      MakeSlidingWindowBreaker({.name = "search",
                                .window = SlidingWindowBreakerConfig::Window::kTime,
                                .window_duration = absl::Seconds(10),
                                .window_buckets = 10,
                                .minimum_calls = 50,
                                .failure_rate_threshold = 25,
                                .slow_call_rate_threshold = 50,
                                .classifier = {.slow_call_duration = absl::Milliseconds(500)}});
  CHECK(search.ok());

  ClusterResilienceSpec spec{.classifier = {.failure_statuses = {429}},
                             .breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 5},
                             .outlier_detection = OutlierDetectionConfig{}};
  absl::StatusOr<ClusterResilience> built = BuildClusterResilience("users", spec);
  REQUIRE(built.ok());
  CHECK(built->breaker != nullptr);
  CHECK(built->outlier_detector != nullptr);
  CHECK(BuildClusterResilience("users",
                               {.breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 0}})
            .status()
            .message() ==
        "cluster 'users': breaker: consecutive breaker failure_threshold must be in "
        "[1, 2147483648], got 0");
}

}  // namespace
}  // namespace docs_example
