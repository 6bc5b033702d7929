// Fixed window, exact sliding log and sliding window counter, at and around
// their window edges, under the manual clock.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/rate_limiter.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::ManualClock;

template <typename T>
T Ok(absl::StatusOr<T> v) {
  REQUIRE(v.ok());
  return *std::move(v);
}

TEST_CASE("fixed window admits the limit per window and restarts exactly at the edge") {
  ManualClock clock;
  auto fw = Ok(MakeFixedWindow({.limit = 3, .window = absl::Seconds(10)}, clock));
  clock.Advance(absl::Seconds(2));
  for (int i = 0; i < 3; ++i) REQUIRE(fw->Acquire("k").allowed);
  RateDecision d = fw->Acquire("k");
  CHECK_FALSE(d.allowed);
  CHECK(d.limit == 3);
  CHECK(d.remaining == 0);
  CHECK(d.window == absl::Seconds(10));
  CHECK(d.reset == absl::Seconds(8));
  CHECK(d.retry_after == absl::Seconds(8));
  clock.Advance(absl::Seconds(8) - absl::Nanoseconds(1));  // last nanosecond of the window
  CHECK_FALSE(fw->Acquire("k").allowed);
  clock.Advance(absl::Nanoseconds(1));  // the next window
  RateDecision fresh = fw->Acquire("k");
  CHECK(fresh.allowed);
  CHECK(fresh.remaining == 2);
  CHECK(fresh.reset == absl::Seconds(10));
}

TEST_CASE("fixed window lets twice the limit through around an edge") {
  ManualClock clock;
  auto fw = Ok(MakeFixedWindow({.limit = 5, .window = absl::Seconds(1)}, clock));
  clock.Advance(absl::Milliseconds(999));
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += fw->Acquire("k").allowed;
  clock.Advance(absl::Milliseconds(2));
  for (int i = 0; i < 10; ++i) admitted += fw->Acquire("k").allowed;
  CHECK(admitted == 10);  // the weakness the sliding algorithms fix
}

TEST_CASE("fixed window counts cost units and refuses a cost above the limit for ever") {
  ManualClock clock;
  auto fw = Ok(MakeFixedWindow({.limit = 10, .window = absl::Seconds(1)}, clock));
  CHECK(fw->Acquire("k", 7).allowed);
  CHECK_FALSE(fw->Acquire("k", 4).allowed);
  CHECK(fw->Acquire("k", 3).allowed);
  RateDecision d = fw->Acquire("k", 11);
  CHECK_FALSE(d.allowed);
  CHECK(d.retry_after == absl::InfiniteDuration());
}

TEST_CASE("fixed window config validation") {
  CHECK_FALSE(FixedWindowConfig{.limit = 0}.Validate().ok());
  CHECK_FALSE(FixedWindowConfig{.limit = 1, .window = absl::Microseconds(10)}.Validate().ok());
  CHECK_FALSE(FixedWindowConfig{.limit = uint64_t{1} << 30}.Validate().ok());
  CHECK(FixedWindowConfig{.limit = 100, .window = absl::Minutes(1)}.Validate().ok());
}

TEST_CASE("sliding log allows the limit in any window-long period, exactly") {
  ManualClock clock;
  auto log = Ok(MakeSlidingWindowLog({.limit = 5, .window = absl::Minutes(1)}, clock));
  // 5 logins spread over the first 40 s.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(log->Acquire("ip").allowed);
    clock.Advance(absl::Seconds(10));
  }
  // t = 50 s: the first login (t = 0) is still inside the last minute.
  RateDecision d = log->Acquire("ip");
  CHECK_FALSE(d.allowed);
  CHECK(d.remaining == 0);
  CHECK(d.retry_after == absl::Seconds(10));
  CHECK(d.reset == absl::Seconds(50));  // the newest (t = 40 s) expires at 100 s
  clock.Advance(absl::Seconds(10) - absl::Nanoseconds(1));
  CHECK_FALSE(log->Acquire("ip").allowed);
  clock.Advance(absl::Nanoseconds(1));  // t = 60 s: the first one has left the window
  CHECK(log->Acquire("ip").allowed);
  CHECK_FALSE(log->Acquire("ip").allowed);
  clock.Advance(absl::Seconds(10));  // t = 70 s: the second one (t = 10 s) has left
  CHECK(log->Acquire("ip").allowed);
}

TEST_CASE("sliding log has no edge burst") {
  ManualClock clock;
  auto log = Ok(MakeSlidingWindowLog({.limit = 5, .window = absl::Seconds(1)}, clock));
  clock.Advance(absl::Milliseconds(999));
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += log->Acquire("k").allowed;
  clock.Advance(absl::Milliseconds(2));
  for (int i = 0; i < 10; ++i) admitted += log->Acquire("k").allowed;
  CHECK(admitted == 5);
}

TEST_CASE("sliding log retry-after for a cost waits for enough entries to expire") {
  ManualClock clock;
  auto log = Ok(MakeSlidingWindowLog({.limit = 4, .window = absl::Seconds(10)}, clock));
  REQUIRE(log->Acquire("k").allowed);  // t = 0
  clock.Advance(absl::Seconds(2));
  REQUIRE(log->Acquire("k", 2).allowed);  // t = 2 (two entries)
  clock.Advance(absl::Seconds(1));
  RateDecision d = log->Acquire("k", 3);  // t = 3: 3 used, 3 more need 2 to expire
  CHECK_FALSE(d.allowed);
  CHECK(d.remaining == 1);
  CHECK(d.retry_after == absl::Seconds(9));  // the entries of t = 0 and t = 2
  clock.Advance(absl::Seconds(9));
  CHECK(log->Acquire("k", 3).allowed);
}

TEST_CASE("sliding log config keeps memory bounded") {
  CHECK_FALSE(SlidingWindowLogConfig{.limit = 0}.Validate().ok());
  CHECK_FALSE(SlidingWindowLogConfig{.limit = 1000, .max_keys = 1'000'000}.Validate().ok());
  CHECK_FALSE(SlidingWindowLogConfig{.limit = 5, .window = absl::Hours(24 * 30)}.Validate().ok());
  CHECK(SlidingWindowLogConfig{.limit = 5, .window = absl::Minutes(1)}.Validate().ok());
}

TEST_CASE("sliding window counter weights the previous window by its overlap") {
  ManualClock clock;
  auto sw = Ok(MakeSlidingWindowCounter({.limit = 10, .window = absl::Minutes(1)}, clock));
  clock.Advance(absl::Seconds(30));
  for (int i = 0; i < 10; ++i) REQUIRE(sw->Acquire("k").allowed);
  CHECK_FALSE(sw->Acquire("k").allowed);
  // t = 75 s: 15 s into the next window the previous 10 weigh 10 * 45/60 = 7.5.
  clock.Advance(absl::Seconds(45));
  CHECK(sw->Acquire("k").allowed);    // 8.5
  RateDecision d = sw->Acquire("k");  // 9.5
  CHECK(d.allowed);
  CHECK(d.remaining == 0);
  d = sw->Acquire("k");  // 10.5: refused
  CHECK_FALSE(d.allowed);
  // Fits once 10 * (60 - e) / 60 + 3 <= 10, at e = 18 s: 3 s from now.
  CHECK(d.retry_after == absl::Seconds(3));
  CHECK(d.reset == absl::Seconds(105));  // the current window's count weighs until t = 180 s
  clock.Advance(absl::Seconds(3) - absl::Nanoseconds(1));
  CHECK_FALSE(sw->Acquire("k").allowed);
  clock.Advance(absl::Nanoseconds(1));
  CHECK(sw->Acquire("k").allowed);
}

TEST_CASE("sliding window counter forgets everything after two idle windows") {
  ManualClock clock;
  auto sw = Ok(MakeSlidingWindowCounter({.limit = 2, .window = absl::Seconds(1)}, clock));
  REQUIRE(sw->Acquire("k").allowed);
  REQUIRE(sw->Acquire("k").allowed);
  REQUIRE_FALSE(sw->Acquire("k").allowed);
  clock.Advance(absl::Seconds(2));
  RateDecision d = sw->Acquire("k");
  CHECK(d.allowed);
  CHECK(d.remaining == 1);
  CHECK(sw->Acquire("k").allowed);
}

TEST_CASE("sliding window counter retry-after reaches into the next window when needed") {
  ManualClock clock;
  auto sw = Ok(MakeSlidingWindowCounter({.limit = 4, .window = absl::Seconds(10)}, clock));
  clock.Advance(absl::Seconds(5));
  for (int i = 0; i < 4; ++i) REQUIRE(sw->Acquire("k").allowed);
  RateDecision d = sw->Acquire("k");
  CHECK_FALSE(d.allowed);
  // At e into the next window 4 * (10 - e) / 10 + 1 <= 4 from e = 2.5 s:
  // 5 s to the edge plus 2.5 s.
  CHECK(d.retry_after == absl::Milliseconds(7500));
  clock.Advance(absl::Milliseconds(7500));
  CHECK(sw->Acquire("k").allowed);
  CHECK_FALSE(sw->Acquire("k").allowed);
}

TEST_CASE("sliding window counter config validation") {
  CHECK_FALSE(SlidingWindowCounterConfig{.limit = 0}.Validate().ok());
  CHECK_FALSE(SlidingWindowCounterConfig{.limit = uint64_t{1} << 21}.Validate().ok());
  CHECK(SlidingWindowCounterConfig{.limit = 1000, .window = absl::Minutes(1)}.Validate().ok());
}

}  // namespace
}  // namespace gateway
