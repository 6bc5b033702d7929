// Token bucket and GCRA decisions under the manual clock.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/rate_limiter.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::ManualClock;

std::unique_ptr<RateLimiter> Bucket(const ManualClock& clock, uint64_t rate, uint64_t burst,
                                    absl::Duration per = absl::Seconds(1)) {
  auto limiter = MakeTokenBucket({.rate = rate, .per = per, .burst = burst}, clock);
  REQUIRE(limiter.ok());
  return *std::move(limiter);
}

TEST_CASE("token bucket admits a full burst at once, then one token per interval") {
  ManualClock clock;
  auto tb = Bucket(clock, 10, 5);  // a token every 100 ms, 5 at most
  for (int i = 0; i < 5; ++i) REQUIRE(tb->Acquire("k").allowed);
  RateDecision d = tb->Acquire("k");
  REQUIRE_FALSE(d.allowed);
  CHECK(d.retry_after == absl::Milliseconds(100));
  clock.Advance(absl::Milliseconds(99));
  CHECK_FALSE(tb->Acquire("k").allowed);
  clock.Advance(absl::Milliseconds(1));
  CHECK(tb->Acquire("k").allowed);
  CHECK_FALSE(tb->Acquire("k").allowed);
}

TEST_CASE("token bucket refills continuously but never above its burst") {
  ManualClock clock;
  auto tb = Bucket(clock, 10, 5);
  for (int i = 0; i < 5; ++i) REQUIRE(tb->Acquire("k").allowed);
  clock.Advance(absl::Milliseconds(250));  // 2.5 tokens
  CHECK(tb->Acquire("k").allowed);
  CHECK(tb->Acquire("k").allowed);
  RateDecision d = tb->Acquire("k");
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == absl::Milliseconds(50));  // the half token left needs 50 ms more
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 5; ++i) CHECK(tb->Acquire("k").allowed);
  CHECK_FALSE(tb->Acquire("k").allowed);
}

TEST_CASE("token bucket reports limit, remaining, reset and window") {
  ManualClock clock;
  auto tb = Bucket(clock, 2, 4);  // 500 ms per token
  RateDecision d = tb->Acquire("k");
  CHECK(d.allowed);
  CHECK(d.limit == 4);
  CHECK(d.remaining == 3);
  CHECK(d.reset == absl::Milliseconds(500));  // until the bucket is full again
  CHECK(d.window == absl::Seconds(2));        // time to refill an empty bucket
  CHECK(d.retry_after == absl::ZeroDuration());
  d = tb->Acquire("k", 3);
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  CHECK(d.reset == absl::Seconds(2));
}

TEST_CASE("token bucket burst defaults to the rate") {
  ManualClock clock;
  auto tb = Bucket(clock, 3, 0);
  for (int i = 0; i < 3; ++i) REQUIRE(tb->Acquire("k").allowed);
  CHECK_FALSE(tb->Acquire("k").allowed);
}

TEST_CASE("a denied request spends nothing and a cost of zero only reports") {
  ManualClock clock;
  auto tb = Bucket(clock, 1, 3);
  REQUIRE(tb->Acquire("k", 2).allowed);
  RateDecision denied = tb->Acquire("k", 2);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.remaining == 1);
  RateDecision peek = tb->Acquire("k", 0);
  CHECK(peek.allowed);
  CHECK(peek.remaining == 1);
  CHECK(tb->Acquire("k", 1).allowed);
}

TEST_CASE("a cost larger than the burst is refused with an infinite retry-after") {
  ManualClock clock;
  auto tb = Bucket(clock, 10, 5);
  RateDecision d = tb->Acquire("k", 6);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == absl::InfiniteDuration());
  CHECK(tb->Acquire("k", 5).allowed);
}

TEST_CASE("every key has its own bucket") {
  ManualClock clock;
  auto tb = Bucket(clock, 1, 1, absl::Minutes(1));
  CHECK(tb->Acquire("alice").allowed);
  CHECK_FALSE(tb->Acquire("alice").allowed);
  CHECK(tb->Acquire("bob").allowed);
  CHECK(tb->Acquire("").allowed);
  CHECK(tb->keys() == 3);
}

TEST_CASE("token bucket config validation names the bad field") {
  CHECK_FALSE(TokenBucketConfig{.rate = 0}.Validate().ok());
  CHECK_FALSE(TokenBucketConfig{.rate = 1, .per = absl::ZeroDuration()}.Validate().ok());
  CHECK_FALSE(
      TokenBucketConfig{.rate = 1'000'000'000'000, .per = absl::Seconds(1)}.Validate().ok());
  CHECK_FALSE(TokenBucketConfig{.rate = 1, .max_keys = 0}.Validate().ok());
  CHECK(TokenBucketConfig{.rate = 100, .burst = 200}.Validate().ok());
  auto bad = MakeTokenBucket({.rate = 0});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("rate"));
}

TEST_CASE("GCRA with burst 1 spaces requests evenly") {
  ManualClock clock;
  auto gcra = MakeGcra({.limit = 10, .period = absl::Seconds(1)}, clock);
  REQUIRE(gcra.ok());
  RateLimiter& g = **gcra;
  RateDecision first = g.Acquire("k");
  CHECK(first.allowed);
  CHECK(first.limit == 10);
  CHECK(first.window == absl::Seconds(1));
  CHECK(first.remaining == 0);
  clock.Advance(absl::Milliseconds(40));
  RateDecision early = g.Acquire("k");
  CHECK_FALSE(early.allowed);
  CHECK(early.retry_after == absl::Milliseconds(60));
  clock.Advance(absl::Milliseconds(60));
  CHECK(g.Acquire("k").allowed);
}

TEST_CASE("GCRA lets a burst through back to back, then enforces the spacing") {
  ManualClock clock;
  auto gcra = MakeGcra({.limit = 60, .period = absl::Minutes(1), .burst = 3}, clock);
  REQUIRE(gcra.ok());
  RateLimiter& g = **gcra;
  for (int i = 0; i < 3; ++i) REQUIRE(g.Acquire("k").allowed);
  RateDecision d = g.Acquire("k");
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == absl::Seconds(1));
  CHECK(d.reset == absl::Seconds(3));
  clock.Advance(absl::Seconds(1));
  CHECK(g.Acquire("k").allowed);
  CHECK_FALSE(g.Acquire("k").allowed);
  clock.Advance(absl::Seconds(10));
  for (int i = 0; i < 3; ++i) CHECK(g.Acquire("k").allowed);
  CHECK_FALSE(g.Acquire("k").allowed);
}

TEST_CASE("GCRA config validation") {
  CHECK_FALSE(GcraConfig{.limit = 0}.Validate().ok());
  CHECK_FALSE(GcraConfig{.limit = 1, .burst = 0}.Validate().ok());
  CHECK_FALSE(GcraConfig{.limit = 1, .period = -absl::Seconds(1)}.Validate().ok());
  CHECK(GcraConfig{.limit = 5, .period = absl::Minutes(1), .burst = 5}.Validate().ok());
}

}  // namespace
}  // namespace gateway
