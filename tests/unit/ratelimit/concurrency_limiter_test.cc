// The concurrency limiter: units held while requests are in flight.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/rate_limiter.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

TEST_CASE("concurrency limiter holds units until they are released") {
  testing::ManualClock clock;
  auto made = MakeConcurrencyLimiter({.max_in_flight = 2}, clock);
  REQUIRE(made.ok());
  RateLimiter& c = **made;
  CHECK(c.counts_in_flight());
  RateDecision a = c.Acquire("k");
  CHECK(a.allowed);
  CHECK(a.limit == 2);
  CHECK(a.remaining == 1);
  CHECK(a.window == absl::ZeroDuration());
  CHECK(c.Acquire("k").allowed);
  RateDecision full = c.Acquire("k");
  CHECK_FALSE(full.allowed);
  CHECK(full.remaining == 0);
  CHECK(full.retry_after == absl::Seconds(1));
  CHECK(c.Acquire("other").allowed);  // keys are independent
  c.Release("k");
  CHECK(c.Acquire("k").allowed);
}

TEST_CASE("concurrency counters return to zero when load stops") {
  testing::ManualClock clock;
  auto c = *MakeConcurrencyLimiter({.max_in_flight = 3}, clock);
  for (int round = 0; round < 100; ++round) {
    for (int i = 0; i < 3; ++i) REQUIRE(c->Acquire("k").allowed);
    REQUIRE_FALSE(c->Acquire("k").allowed);
    for (int i = 0; i < 3; ++i) c->Release("k");
  }
  RateDecision d = c->Acquire("k", 0);
  CHECK(d.remaining == 3);
}

TEST_CASE("releasing more than was taken, or an unknown key, does no harm") {
  testing::ManualClock clock;
  auto c = *MakeConcurrencyLimiter({.max_in_flight = 2}, clock);
  c->Release("never-seen");
  REQUIRE(c->Acquire("k").allowed);
  c->Release("k", 5);
  CHECK(c->Acquire("k", 0).remaining == 2);
  CHECK(c->Acquire("k", 2).allowed);
  CHECK_FALSE(c->Acquire("k").allowed);
}

TEST_CASE("concurrency config validation") {
  CHECK_FALSE(ConcurrencyConfig{.max_in_flight = 0}.Validate().ok());
  CHECK_FALSE(
      ConcurrencyConfig{.max_in_flight = 1, .retry_after = -absl::Seconds(1)}.Validate().ok());
  CHECK(ConcurrencyConfig{.max_in_flight = 10}.Validate().ok());
}

TEST_CASE("MakeRateLimiter builds whichever algorithm the config holds") {
  testing::ManualClock clock;
  RateLimitAlgorithm configs[] = {
      TokenBucketConfig{.rate = 1},
      FixedWindowConfig{.limit = 1},
      SlidingWindowLogConfig{.limit = 1},
      SlidingWindowCounterConfig{.limit = 1},
      GcraConfig{.limit = 1},
      ConcurrencyConfig{.max_in_flight = 1},
  };
  for (const RateLimitAlgorithm& config : configs) {
    auto limiter = MakeRateLimiter(config, clock);
    REQUIRE(limiter.ok());
    CHECK((*limiter)->Acquire("k").allowed);
    CHECK_FALSE((*limiter)->Acquire("k").allowed);
  }
  CHECK_FALSE(MakeRateLimiter(FixedWindowConfig{.limit = 0}, clock).ok());
}

}  // namespace
}  // namespace gateway
