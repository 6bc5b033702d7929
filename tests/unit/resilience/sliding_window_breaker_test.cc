// The sliding-window breaker: count and time windows, minimum calls, failure
// and slow-call rates, half-open judged by rate, open-duration backoff.
#include <catch2/catch.hpp>

#include <cmath>
#include <optional>
#include <vector>

#include "gateway/circuit_breaker.h"
#include "gateway/testing/harness.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using Window = SlidingWindowBreakerConfig::Window;
using test::Ok;
using test::RecordingObserver;
using test::ServerError;
using testing::ManualClock;

std::shared_ptr<CircuitBreaker> Make(SlidingWindowBreakerConfig config, const Clock& clock,
                                     std::shared_ptr<ResilienceObserver> observer = nullptr) {
  auto breaker = MakeSlidingWindowBreaker(std::move(config), clock, std::move(observer));
  REQUIRE(breaker.ok());
  return *breaker;
}

bool Call(CircuitBreaker& breaker, const CallOutcome& outcome) {
  std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
  if (!permit) return false;
  permit->Record(outcome);
  return true;
}

// A call that takes `duration` on the manual clock.
bool TimedCall(CircuitBreaker& breaker, ManualClock& clock, absl::Duration duration,
               const CallOutcome& outcome) {
  std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
  if (!permit) return false;
  clock.Advance(duration);
  permit->Record(outcome);
  return true;
}

SlidingWindowBreakerConfig CountConfig() {
  return {.name = "orders",
          .window = Window::kCount,
          .window_size = 10,
          .minimum_calls = 5,
          .failure_rate_threshold = 50,
          .half_open_calls = 4,
          .open_duration = absl::Seconds(1),
          .open_backoff_multiplier = 2,
          .max_open_duration = absl::Seconds(5)};
}

// Opens `breaker` (CountConfig) with five failures.
void Trip(CircuitBreaker& breaker) {
  for (int i = 0; i < 5; ++i) REQUIRE(Call(breaker, ServerError()));
  REQUIRE(breaker.state() == BreakerState::kOpen);
}

TEST_CASE("sliding breaker judges no rate before minimum_calls") {
  ManualClock clock;
  auto breaker = Make(CountConfig(), clock);
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(breaker->stats().window_calls == 4);
  CHECK(breaker->stats().failure_rate_percent == -1);
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("sliding breaker opens when the failure rate reaches the threshold exactly") {
  ManualClock clock;
  SlidingWindowBreakerConfig config = CountConfig();
  config.minimum_calls = 10;
  auto below = Make(config, clock);
  for (int i = 0; i < 6; ++i) REQUIRE(Call(*below, Ok()));
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*below, ServerError()));
  CHECK(below->state() == BreakerState::kClosed);
  CHECK(below->stats().failure_rate_percent == Approx(40));

  auto at = Make(config, clock);
  for (int i = 0; i < 5; ++i) REQUIRE(Call(*at, ServerError()));
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*at, Ok()));
  CHECK(at->state() == BreakerState::kClosed);  // 9 calls: below minimum_calls
  REQUIRE(Call(*at, Ok()));                     // the tenth call is a success, yet 5 of 10 failed
  CHECK(at->state() == BreakerState::kOpen);
}

TEST_CASE("count window judges only the last window_size calls") {
  ManualClock clock;
  SlidingWindowBreakerConfig config = CountConfig();
  config.window_size = 4;
  config.minimum_calls = 4;
  config.failure_rate_threshold = 75;
  auto breaker = Make(config, clock);
  for (const CallOutcome& o : {ServerError(), ServerError(), Ok(), Ok(), Ok()}) {
    REQUIRE(Call(*breaker, o));
  }
  // Window now: F S S S. Two more failures: five of the seven calls made so
  // far failed, but the window holds S S F F (50%).
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(breaker->stats().failure_rate_percent == Approx(50));
  REQUIRE(Call(*breaker, ServerError()));  // S F F F: 75%
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("slow calls open the sliding breaker at the slow-call rate threshold") {
  ManualClock clock;
  auto observer = std::make_shared<RecordingObserver>();
  SlidingWindowBreakerConfig config = CountConfig();
  config.window_size = 4;
  config.minimum_calls = 4;
  config.slow_call_rate_threshold = 50;
  config.classifier.slow_call_duration = absl::Seconds(2);
  auto breaker = Make(config, clock, observer);
  REQUIRE(TimedCall(*breaker, clock, absl::Seconds(2), Ok()));  // slow: at the duration
  REQUIRE(TimedCall(*breaker, clock, absl::Seconds(2) - absl::Nanoseconds(1), Ok()));
  REQUIRE(TimedCall(*breaker, clock, absl::Milliseconds(1), Ok()));
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(breaker->stats().slow_call_rate_percent == -1);  // 3 calls, minimum 4
  REQUIRE(TimedCall(*breaker, clock, absl::Seconds(5), Ok()));
  CHECK(breaker->state() == BreakerState::kOpen);
  auto events = observer->transitions();
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == "slow-call rate 50% >= 50% over 4 calls");
}

TEST_CASE("half-open sliding breaker permits exactly half_open_calls probes in all") {
  ManualClock clock;
  auto breaker = Make(CountConfig(), clock);
  Trip(*breaker);
  clock.Advance(absl::Seconds(1));
  std::vector<CircuitBreaker::Permit> probes;
  for (int i = 0; i < 4; ++i) {
    auto p = breaker->TryAcquire();
    REQUIRE(p.has_value());
    probes.push_back(std::move(*p));
  }
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  CHECK_FALSE(breaker->TryAcquire().has_value());
  // A reported probe does not free a slot: the verdict waits for all four.
  probes[0].Record(Ok());
  probes[1].Record(Ok());
  CHECK_FALSE(breaker->TryAcquire().has_value());
  // A cancelled one does.
  probes[2].Record(test::Cancelled());
  auto replacement = breaker->TryAcquire();
  REQUIRE(replacement.has_value());
  CHECK_FALSE(breaker->TryAcquire().has_value());
  CHECK(breaker->state() == BreakerState::kHalfOpen);
}

TEST_CASE("half-open sliding breaker closes when the probes' failure rate is below threshold") {
  ManualClock clock;
  auto observer = std::make_shared<RecordingObserver>();
  auto breaker = Make(CountConfig(), clock, observer);
  Trip(*breaker);
  clock.Advance(absl::Seconds(1));
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(Call(*breaker, Ok()));
  CHECK(breaker->state() == BreakerState::kHalfOpen);
  REQUIRE(Call(*breaker, Ok()));  // 1 of 4 failed: 25% < 50%
  CHECK(breaker->state() == BreakerState::kClosed);
  // The closed period starts from an empty window.
  CHECK(breaker->stats().window_calls == 0);
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);
  auto events = observer->transitions();
  REQUIRE(events.size() == 3);
  CHECK(events[2].reason == "4 probes: failure rate 25%, slow-call rate 0%");
}

TEST_CASE("half-open sliding breaker reopens when the probes' failure rate reaches threshold") {
  ManualClock clock;
  auto breaker = Make(CountConfig(), clock);
  Trip(*breaker);
  clock.Advance(absl::Seconds(1));
  for (const CallOutcome& o : {Ok(), ServerError(), Ok(), ServerError()}) {
    REQUIRE(Call(*breaker, o));
  }
  CHECK(breaker->state() == BreakerState::kOpen);
  CHECK(breaker->stats().opened == 2);
}

TEST_CASE("open duration backs off exponentially per trip and is capped") {
  ManualClock clock;
  auto observer = std::make_shared<RecordingObserver>();
  auto breaker = Make(CountConfig(), clock, observer);
  Trip(*breaker);
  // 1s, 2s, 4s, then the 5s cap.
  for (absl::Duration open_for :
       {absl::Seconds(1), absl::Seconds(2), absl::Seconds(4), absl::Seconds(5), absl::Seconds(5)}) {
    clock.Advance(open_for - absl::Nanoseconds(1));
    CHECK_FALSE(breaker->TryAcquire().has_value());
    clock.Advance(absl::Nanoseconds(1));
    for (int i = 0; i < 4; ++i) REQUIRE(Call(*breaker, ServerError()));
    REQUIRE(breaker->state() == BreakerState::kOpen);
  }
  std::vector<absl::Duration> open_fors;
  for (const auto& e : observer->transitions()) {
    if (e.to == BreakerState::kOpen) open_fors.push_back(e.open_for);
  }
  CHECK(open_fors == std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2),
                                                 absl::Seconds(4), absl::Seconds(5),
                                                 absl::Seconds(5), absl::Seconds(5)});

  // Closing resets the backoff: the next trip opens for 1s again.
  clock.Advance(absl::Seconds(5));
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*breaker, Ok()));
  REQUIRE(breaker->state() == BreakerState::kClosed);
  Trip(*breaker);
  CHECK(observer->transitions().back().open_for == absl::Seconds(1));
  clock.Advance(absl::Seconds(1));
  CHECK(breaker->TryAcquire().has_value());
}

SlidingWindowBreakerConfig TimeConfig() {
  return {.name = "search",
          .window = Window::kTime,
          .window_duration = absl::Seconds(10),
          .window_buckets = 10,
          .minimum_calls = 2,
          .failure_rate_threshold = 100,
          .half_open_calls = 1,
          .open_duration = absl::Seconds(1)};
}

TEST_CASE("time window keeps a call until window_duration after its bucket began") {
  ManualClock clock;
  auto breaker = Make(TimeConfig(), clock);  // buckets start at the creation time
  REQUIRE(Call(*breaker, ServerError()));
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  CHECK(breaker->stats().window_calls == 1);
  REQUIRE(Call(*breaker, ServerError()));  // both in the window: 2 of 2 failed
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("time window drops a call once its bucket is window_duration old") {
  ManualClock clock;
  auto breaker = Make(TimeConfig(), clock);
  clock.Advance(absl::Milliseconds(500));  // mid-bucket
  REQUIRE(Call(*breaker, ServerError()));
  // The call's bucket began at 0s: at 10s it leaves, 9.5s after the call.
  clock.Advance(absl::Milliseconds(9500));
  CHECK(breaker->stats().window_calls == 0);
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);  // 1 call: below minimum_calls
  clock.Advance(absl::Seconds(3));
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("time window adds up calls across its buckets and reuses old ones") {
  ManualClock clock;
  SlidingWindowBreakerConfig config = TimeConfig();
  config.minimum_calls = 20;
  config.failure_rate_threshold = 50;
  auto breaker = Make(config, clock);
  // 30 seconds of two calls every 500ms, one in four a failure: the ten
  // buckets are reused three times over.
  for (int i = 0; i < 60; ++i) {
    REQUIRE(Call(*breaker, Ok()));
    REQUIRE(Call(*breaker, i % 2 == 0 ? Ok() : ServerError()));
    clock.Advance(absl::Milliseconds(500));
  }
  // The clock is at 30s: steps 21-29 hold four calls each, step 30 none yet.
  BreakerStats stats = breaker->stats();
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(stats.window_calls == 36);
  CHECK(stats.failure_rate_percent == Approx(25));
  for (int i = 0; i < 9; ++i) REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->stats().failure_rate_percent == Approx(40));  // 18 of 45
  for (int i = 0; i < 8; ++i) REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kClosed);  // 26 of 53
  REQUIRE(Call(*breaker, ServerError()));
  CHECK(breaker->state() == BreakerState::kOpen);  // 27 of 54
}

TEST_CASE("time window judges rates on failing calls, not on fast successes") {
  ManualClock clock;
  SlidingWindowBreakerConfig config = TimeConfig();
  config.minimum_calls = 4;
  config.failure_rate_threshold = 50;
  auto breaker = Make(config, clock);
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, ServerError()));
  REQUIRE(Call(*breaker, Ok()));
  REQUIRE(Call(*breaker, Ok()));
  // 2 of 4 failed, but a success is not judged.
  CHECK(breaker->state() == BreakerState::kClosed);
  CHECK(breaker->stats().failure_rate_percent == Approx(50));
  REQUIRE(Call(*breaker, ServerError()));  // 3 of 5
  CHECK(breaker->state() == BreakerState::kOpen);
}

TEST_CASE("sliding breaker ignores results from permits of an earlier period") {
  ManualClock clock;
  auto breaker = Make(CountConfig(), clock);
  auto stale = breaker->TryAcquire();
  REQUIRE(stale.has_value());
  Trip(*breaker);
  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 4; ++i) REQUIRE(Call(*breaker, Ok()));
  REQUIRE(breaker->state() == BreakerState::kClosed);
  stale->Record(ServerError());
  CHECK(breaker->stats().window_calls == 0);
}

TEST_CASE("sliding breaker config validation names the bad field") {
  ManualClock clock;
  auto message = [&](SlidingWindowBreakerConfig config) {
    return std::string(MakeSlidingWindowBreaker(config, clock).status().message());
  };
  SlidingWindowBreakerConfig config;
  CHECK(config.Validate().ok());
  config.minimum_calls = 101;
  CHECK_THAT(message(config), Catch::Contains("minimum_calls"));
  config = {};
  config.window_size = 0;
  CHECK_THAT(message(config), Catch::Contains("window_size"));
  config = {};
  config.failure_rate_threshold = 0;
  CHECK_THAT(message(config), Catch::Contains("failure_rate_threshold"));
  config = {};
  config.slow_call_rate_threshold = std::nan("");
  CHECK_THAT(message(config), Catch::Contains("slow_call_rate_threshold"));
  config = {};
  config.half_open_calls = 256;
  CHECK_THAT(message(config), Catch::Contains("half_open_calls"));
  config = {};
  config.open_backoff_multiplier = 0.5;
  CHECK_THAT(message(config), Catch::Contains("open_backoff_multiplier"));
  config = {};
  config.max_open_duration = absl::Seconds(1);
  CHECK_THAT(message(config), Catch::Contains("max_open_duration"));
  config = {
      .window = Window::kTime, .window_duration = absl::Milliseconds(5), .window_buckets = 10};
  CHECK_THAT(message(config), Catch::Contains("window_duration"));
  config = {.window = Window::kTime, .window_buckets = 0};
  CHECK_THAT(message(config), Catch::Contains("window_buckets"));
}

}  // namespace
}  // namespace gateway
