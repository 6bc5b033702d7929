// The consecutive-failure breaker, every transition driven by a manual clock.
#include <catch2/catch.hpp>

#include <optional>
#include <vector>

#include "gateway/circuit_breaker.h"
#include "gateway/testing/harness.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using test::ConnectFailure;
using test::Ok;
using test::RecordingObserver;
using test::ServerError;
using testing::ManualClock;

std::shared_ptr<CircuitBreaker> Make(ConsecutiveFailureBreakerConfig config, const Clock& clock,
                                     std::shared_ptr<ResilienceObserver> observer = nullptr) {
  auto breaker = MakeConsecutiveFailureBreaker(std::move(config), clock, std::move(observer));
  REQUIRE(breaker.ok());
  return *breaker;
}

// Makes one call through the breaker; false if it was refused.
bool Call(CircuitBreaker& breaker, const CallOutcome& outcome) {
  std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
  if (!permit) return false;
  permit->Record(outcome);
  return true;
}

ConsecutiveFailureBreakerConfig Config() {
  return {.name = "users",
          .failure_threshold = 3,
          .success_threshold = 2,
          .half_open_max_calls = 2,
          .open_timeout = absl::Seconds(10)};
}

TEST_CASE("consecutive breaker opens at the failure threshold, not before") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ConnectFailure()));
  CHECK(breaker->state() == BreakerState::kClosed);
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);
  CHECK(breaker->stats().opened == 1);
}

TEST_CASE("a success resets the consecutive failure count") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  for (int round = 0; round < 5; ++round) {
    REQUIRE(Call(*breaker, ServerError()));
    REQUIRE(Call(*breaker, ServerError()));
    REQUIRE(Call(*breaker, Ok()));
  }
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(breaker->stats().opened == 0);
}

TEST_CASE("open consecutive breaker refuses every call until open_timeout has passed") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  for (int i = 0; i < 4; ++i) CHECK_FALSE(breaker->TryAcquire().has_value());
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  CHECK_FALSE(breaker->TryAcquire().has_value());
  CHECK(breaker->state() == BreakerState::kOpen);
  CHECK(breaker->stats().rejected == 5);

  clock.Advance(absl::Nanoseconds(1));
  std::optional<CircuitBreaker::Permit> probe = breaker->TryAcquire();
  REQUIRE(probe.has_value());
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  CHECK(breaker->stats().half_opened == 1);
}

TEST_CASE("half-open consecutive breaker lets only half_open_max_calls probes run at once") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10));
  auto first = breaker->TryAcquire();
  auto second = breaker->TryAcquire();
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK_FALSE(breaker->TryAcquire().has_value());
  first->Record(Ok());  // one success of two needed: still half-open, one slot free
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  auto third = breaker->TryAcquire();
  REQUIRE(third.has_value());
  CHECK_FALSE(breaker->TryAcquire().has_value());
}

TEST_CASE("half-open consecutive breaker closes after success_threshold successful probes") {
  ManualClock clock;
  RecordingObserver observer;
  auto breaker =
      Make(Config(), clock, std::shared_ptr<ResilienceObserver>(&observer, [](auto*) {}));
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10));
  REQUIRE(Call(*breaker, Ok()));
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  REQUIRE(Call(*breaker, Ok()));
  CHECK(breaker->state() == BreakerState::kClosed);

  // Closed again: failures count from zero.
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);

  BreakerStats stats = breaker->stats();
  CHECK(stats.opened == 1);
  CHECK(stats.half_opened == 1);
  CHECK(stats.closed == 1);
  auto events = observer.transitions();
  REQUIRE(events.size() == 3);
  CHECK(events[2].from == BreakerState::kHalfOpen);
  CHECK(events[2].to == BreakerState::kClosed);
  CHECK(events[2].reason == "2 successful probes");
  CHECK(events[2].sequence == 3);
}

TEST_CASE("a failed probe reopens the consecutive breaker for another open_timeout") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10));
  auto other = breaker->TryAcquire();
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);
  // The other probe's result belongs to the period that ended: not counted.
  other->Record(Ok());
  CHECK(breaker->state() == BreakerState::kOpen);
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  CHECK_FALSE(breaker->TryAcquire().has_value());
  clock.Advance(absl::Nanoseconds(1));
  CHECK(breaker->TryAcquire().has_value());
  CHECK(breaker->stats().opened == 2);
}

TEST_CASE("a probe dropped without a result gives its slot back and judges nothing") {
  ManualClock clock;
  ConsecutiveFailureBreakerConfig config = Config();
  config.half_open_max_calls = 1;
  auto breaker = Make(config, clock);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10));
  {
    auto probe = breaker->TryAcquire();
    REQUIRE(probe.has_value());
    CHECK_FALSE(breaker->TryAcquire().has_value());
  }
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  auto probe = breaker->TryAcquire();
  REQUIRE(probe.has_value());
  probe->Record(test::Cancelled());
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(Call(*breaker, Ok()));
  CHECK(breaker->state() == BreakerState::kClosed);
}

TEST_CASE("a closed-period result arriving after the breaker moved on is not counted") {
  ManualClock clock;
  auto breaker = Make(Config(), clock);
  auto slow_call = breaker->TryAcquire();  // issued while closed
  REQUIRE(slow_call.has_value());
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10));
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(breaker->state() == BreakerState::kClosed);
  // Two fresh failures plus the stale one would reach the threshold.
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ServerError()));
  slow_call->Record(ServerError());
  CHECK(breaker->state() == BreakerState::kClosed);
}

TEST_CASE("outcomes the classifier ignores neither open nor close the breaker") {
  ManualClock clock;
  ConsecutiveFailureBreakerConfig config = Config();
  config.classifier.resets = false;
  auto breaker = Make(config, clock);
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ServerError()));
  // Neither a reset (switched off) nor a cancellation breaks the run of failures...
  REQUIRE(Call(*breaker, test::Reset()));
  REQUIRE(Call(*breaker, test::Cancelled()));
  { auto dropped = breaker->TryAcquire(); }
  CHECK(breaker->state() == BreakerState::kClosed);
  // ...nor counts as one.
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("statuses listed as successes never open the breaker") {
  ManualClock clock;
  ConsecutiveFailureBreakerConfig config = Config();
  config.classifier.success_statuses = {501};
  config.classifier.failure_statuses = {429};
  auto breaker = Make(config, clock);
  for (int i = 0; i < 5; ++i) REQUIRE(Call(*breaker, test::Status(501)));
  CHECK(breaker->state() == BreakerState::kClosed);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, test::Status(429)));
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("consecutive breaker announces each transition once, in order, with its reason") {
  ManualClock clock;
  auto observer = std::make_shared<RecordingObserver>();
  auto breaker = Make(Config(), clock, observer);
  for (int i = 0; i < 3; ++i) REQUIRE(Call(*breaker, ServerError()));
  for (int i = 0; i < 3; ++i) CHECK_FALSE(breaker->TryAcquire().has_value());
  clock.Advance(absl::Seconds(10));
  REQUIRE(Call(*breaker, ServerError()));

  auto events = observer->transitions();
  REQUIRE(events.size() == 3);
  CHECK(events[0].breaker == "users");
  CHECK(events[0].from == BreakerState::kClosed);
  CHECK(events[0].to == BreakerState::kOpen);
  CHECK(events[0].reason == "3 consecutive failures");
  CHECK(events[0].open_for == absl::Seconds(10));
  CHECK(events[1].to == BreakerState::kHalfOpen);
  CHECK(events[1].reason == "open for 10s elapsed");
  CHECK(events[2].from == BreakerState::kHalfOpen);
  CHECK(events[2].to == BreakerState::kOpen);
  CHECK(events[2].reason == "probe failed");
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].sequence == i + 1);
  CHECK(observer->lines()[0] ==
        "circuit breaker 'users': closed -> open (3 consecutive failures; open for 10s)");
}

TEST_CASE("consecutive breaker config validation names the bad field") {
  ManualClock clock;
  auto bad = [&](ConsecutiveFailureBreakerConfig config) {
    return MakeConsecutiveFailureBreaker(config, clock).status();
  };
  ConsecutiveFailureBreakerConfig config;
  CHECK(config.Validate().ok());
  config.failure_threshold = 0;
  CHECK_THAT(std::string(bad(config).message()), Catch::Contains("failure_threshold"));
  config = {};
  config.success_threshold = 70000;
  CHECK_THAT(std::string(bad(config).message()), Catch::Contains("success_threshold"));
  config = {};
  config.half_open_max_calls = 0;
  CHECK_THAT(std::string(bad(config).message()), Catch::Contains("half_open_max_calls"));
  config = {};
  config.open_timeout = absl::ZeroDuration();
  CHECK_THAT(std::string(bad(config).message()), Catch::Contains("open_timeout"));
  config = {};
  config.classifier.failure_statuses = {99};
  CHECK_THAT(std::string(bad(config).message()), Catch::Contains("failure_statuses"));
}

}  // namespace
}  // namespace gateway
