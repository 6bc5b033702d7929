// Four workers hammering one key never get more than the limit: the built-in
// limiters are shared by every worker thread of a Runtime.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "gateway/rate_limiter.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

constexpr int kWorkers = 4;

// Runs `body(worker)` on kWorkers threads released at the same moment.
template <typename Body>
void Hammer(Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      ready.fetch_add(1);
      while (ready.load() < kWorkers) {
      }
      body(w);
    });
  }
  for (auto& t : threads) t.join();
}

// Admissions of `attempts` calls per worker on one key, time standing still.
int AdmittedOnOneKey(RateLimiter& limiter, int attempts) {
  std::atomic<int> admitted{0};
  Hammer([&](int) {
    for (int i = 0; i < attempts; ++i) {
      if (limiter.Acquire("shared-key").allowed) admitted.fetch_add(1);
    }
  });
  return admitted.load();
}

TEST_CASE("four workers hammering one key never admit more than the limit") {
  testing::ManualClock clock;
  struct Case {
    const char* name;
    RateLimitAlgorithm config;
    int limit;
  };
  Case cases[] = {
      {"token bucket", TokenBucketConfig{.rate = 1, .per = absl::Hours(1), .burst = 1000}, 1000},
      {"fixed window", FixedWindowConfig{.limit = 1000, .window = absl::Hours(1)}, 1000},
      {"sliding log", SlidingWindowLogConfig{.limit = 1000, .window = absl::Hours(1)}, 1000},
      {"sliding counter", SlidingWindowCounterConfig{.limit = 1000, .window = absl::Hours(1)},
       1000},
      {"gcra", GcraConfig{.limit = 1, .period = absl::Hours(1), .burst = 1000}, 1000},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    auto limiter = MakeRateLimiter(c.config, clock);
    REQUIRE(limiter.ok());
    // Every worker alone could take the whole limit: 4x oversubscribed.
    CHECK(AdmittedOnOneKey(**limiter, 1000) == c.limit);
  }
}

TEST_CASE("four workers with a moving clock stay within burst plus refill") {
  testing::ManualClock clock;
  auto tb = *MakeTokenBucket({.rate = 1000, .per = absl::Seconds(1), .burst = 100}, clock);
  std::atomic<int> admitted{0};
  std::atomic<bool> stop{false};
  std::atomic<int> started{0};
  std::thread ticker([&] {
    while (started.load() < kWorkers) std::this_thread::yield();
    for (int i = 0; i < 100; ++i) {
      clock.Advance(absl::Milliseconds(1));
      std::this_thread::yield();
    }
    stop.store(true);
  });
  Hammer([&](int) {
    started.fetch_add(1);
    while (!stop.load()) {
      if (tb->Acquire("k").allowed) admitted.fetch_add(1);
    }
  });
  ticker.join();
  // 100 at once plus one per millisecond over 100 ms.
  CHECK(admitted.load() <= 100 + 100);
  CHECK(admitted.load() >= 100);
}

TEST_CASE("four workers never hold more than max_in_flight units at once") {
  testing::ManualClock clock;
  auto c = *MakeConcurrencyLimiter({.max_in_flight = 3}, clock);
  std::atomic<int> inside{0};
  std::atomic<int> peak{0};
  std::atomic<int> admitted{0};
  Hammer([&](int) {
    for (int i = 0; i < 20000; ++i) {
      if (!c->Acquire("k").allowed) continue;
      int now = inside.fetch_add(1) + 1;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      admitted.fetch_add(1);
      inside.fetch_sub(1);
      c->Release("k");
    }
  });
  CHECK(peak.load() <= 3);
  CHECK(admitted.load() > 0);
  CHECK(c->Acquire("k", 0).remaining == 3);  // everything given back
}

TEST_CASE("four workers inserting new keys at once never lose or duplicate a key") {
  testing::ManualClock clock;
  // Room for every key (no eviction), but workers insert into the same sets
  // concurrently.
  auto fw = *MakeFixedWindow({.limit = 2, .window = absl::Hours(1), .max_keys = 4096}, clock);
  constexpr int kKeys = 50;
  std::vector<std::vector<int>> admitted(kWorkers, std::vector<int>(kKeys, 0));
  Hammer([&](int w) {
    for (int i = 0; i < 2000; ++i) {
      // Workers interleave over the same keys in different orders.
      int k = (i * (w + 1)) % kKeys;
      if (fw->Acquire(absl::StrCat("key-", k)).allowed) ++admitted[w][k];
    }
  });
  for (int k = 0; k < kKeys; ++k) {
    int total = 0;
    for (int w = 0; w < kWorkers; ++w) total += admitted[w][k];
    INFO("key " << k);
    CHECK(total == 2);
  }
  CHECK(fw->keys() == kKeys);
}

}  // namespace
}  // namespace gateway
