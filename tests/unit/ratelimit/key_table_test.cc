// Bounded keyed state: the table never grows past max_keys, and eviction
// prefers keys that have the least to lose.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/rate_limiter.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::ManualClock;

TEST_CASE("a million distinct keys keep the table at its cap") {
  ManualClock clock;
  auto tb = *MakeTokenBucket({.rate = 10, .burst = 10, .max_keys = 4096}, clock);
  CHECK(tb->max_keys() == 4096);
  std::string key;
  for (int i = 0; i < 1'000'000; ++i) {
    key = absl::StrCat("client-", i);
    REQUIRE(tb->Acquire(key).allowed);
  }
  CHECK(tb->keys() == tb->max_keys());
}

TEST_CASE("every algorithm keeps its table bounded under a flood of new keys") {
  ManualClock clock;
  const size_t cap = 256;
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(*MakeFixedWindow({.limit = 5, .max_keys = cap}, clock));
  limiters.push_back(*MakeSlidingWindowLog({.limit = 5, .max_keys = cap}, clock));
  limiters.push_back(*MakeSlidingWindowCounter({.limit = 5, .max_keys = cap}, clock));
  limiters.push_back(*MakeGcra({.limit = 5, .max_keys = cap}, clock));
  limiters.push_back(*MakeConcurrencyLimiter({.max_in_flight = 5, .max_keys = cap}, clock));
  for (auto& limiter : limiters) {
    for (int i = 0; i < 100'000; ++i) {
      std::string key = absl::StrCat("k", i);
      RateDecision d = limiter->Acquire(key);
      REQUIRE(d.allowed);
      limiter->Release(key);
    }
    CHECK(limiter->keys() <= cap);
    CHECK(limiter->max_keys() == cap);
  }
}

TEST_CASE("max_keys is rounded down to whole sets of eight") {
  ManualClock clock;
  CHECK((*MakeFixedWindow({.limit = 1, .max_keys = 1001}, clock))->max_keys() == 1000);
  CHECK((*MakeFixedWindow({.limit = 1, .max_keys = 3}, clock))->max_keys() == 8);
}

TEST_CASE("an exhausted key survives a flood of one-off keys") {
  ManualClock clock;
  // A tiny table, so the flood passes through the victim's set many times.
  auto tb =
      *MakeTokenBucket({.rate = 1, .per = absl::Minutes(1), .burst = 5, .max_keys = 64}, clock);
  for (int i = 0; i < 5; ++i) REQUIRE(tb->Acquire("attacker").allowed);
  REQUIRE_FALSE(tb->Acquire("attacker").allowed);
  for (int i = 0; i < 100'000; ++i) (void)tb->Acquire(absl::StrCat("spoofed-", i));
  // Had it been evicted, it would have a fresh bucket now.
  CHECK_FALSE(tb->Acquire("attacker").allowed);
}

TEST_CASE("an exhausted key survives a flood of one-off keys in every algorithm") {
  ManualClock clock;
  const size_t cap = 64;
  struct Named {
    const char* name;
    std::unique_ptr<RateLimiter> limiter;
  };
  std::vector<Named> limiters;
  limiters.push_back({"fixed_window", *MakeFixedWindow({.limit = 5, .max_keys = cap}, clock)});
  limiters.push_back(
      {"sliding_window_log", *MakeSlidingWindowLog({.limit = 5, .max_keys = cap}, clock)});
  limiters.push_back(
      {"sliding_window", *MakeSlidingWindowCounter({.limit = 5, .max_keys = cap}, clock)});
  limiters.push_back({"gcra", *MakeGcra({.limit = 5, .burst = 5, .max_keys = cap}, clock)});
  for (auto& [name, limiter] : limiters) {
    INFO(name);
    for (int i = 0; i < 5; ++i) REQUIRE(limiter->Acquire("attacker").allowed);
    REQUIRE_FALSE(limiter->Acquire("attacker").allowed);
    for (int i = 0; i < 100'000; ++i) (void)limiter->Acquire(absl::StrCat("spoofed-", i));
    CHECK_FALSE(limiter->Acquire("attacker").allowed);
    CHECK(limiter->keys() <= cap);
  }
}

TEST_CASE("a sliding-window-log set evicts the key with the fewest logged entries first") {
  ManualClock clock;
  auto log = *MakeSlidingWindowLog({.limit = 2, .window = absl::Seconds(10), .max_keys = 8}, clock);
  // One set of eight: seven keys at their limit, one that logged a single entry.
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 2; ++j) REQUIRE(log->Acquire(absl::StrCat("busy-", i)).allowed);
  }
  REQUIRE(log->Acquire("light").allowed);
  // A newcomer takes the light key's slot, not a busy one.
  REQUIRE(log->Acquire("newcomer").allowed);
  for (int i = 0; i < 7; ++i) CHECK_FALSE(log->Acquire(absl::StrCat("busy-", i)).allowed);
  clock.Advance(absl::Seconds(10));
  // Everything expired: the set is at rest again and every key gets its limit back.
  for (int i = 0; i < 7; ++i) CHECK(log->Acquire(absl::StrCat("busy-", i)).allowed);
}

TEST_CASE("an idle key gives way before a busy one") {
  ManualClock clock;
  auto fw = *MakeFixedWindow({.limit = 3, .window = absl::Seconds(10), .max_keys = 8}, clock);
  // One set of eight: seven busy keys and one that went idle.
  for (int i = 0; i < 7; ++i) {
    for (int j = 0; j < 3; ++j) REQUIRE(fw->Acquire(absl::StrCat("busy-", i)).allowed);
  }
  REQUIRE(fw->Acquire("idle").allowed);
  clock.Advance(absl::Seconds(10));  // a new window: every key is at rest again
  for (int i = 0; i < 7; ++i) REQUIRE(fw->Acquire(absl::StrCat("busy-", i)).allowed);
  REQUIRE(fw->Acquire("newcomer").allowed);  // takes the idle key's slot
  // The busy keys kept their counts: two more each, then refused.
  for (int i = 0; i < 7; ++i) {
    std::string key = absl::StrCat("busy-", i);
    CHECK(fw->Acquire(key).allowed);
    CHECK(fw->Acquire(key).allowed);
    CHECK_FALSE(fw->Acquire(key).allowed);
  }
}

TEST_CASE("keys with requests in flight are never evicted, and a set full of them refuses") {
  ManualClock clock;
  auto c = *MakeConcurrencyLimiter({.max_in_flight = 1, .max_keys = 8}, clock);
  for (int i = 0; i < 8; ++i) REQUIRE(c->Acquire(absl::StrCat("k", i)).allowed);
  CHECK_FALSE(c->Acquire("ninth").allowed);
  c->Release("k3");
  CHECK(c->Acquire("ninth").allowed);
  // k3's slot went to "ninth"; the others still hold their unit.
  for (int i = 0; i < 8; ++i) {
    if (i != 3) CHECK_FALSE(c->Acquire(absl::StrCat("k", i)).allowed);
  }
}

}  // namespace
}  // namespace gateway
