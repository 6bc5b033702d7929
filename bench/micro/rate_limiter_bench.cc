// RateLimiter::Acquire for every built-in algorithm: one hot key, 10 000 keys
// that all fit the table, and a stream of new keys that evicts on every call;
// on 1 and 4 threads sharing one limiter (as Runtime workers do).
//
// Limits are set high enough that the measured calls are admissions (a
// refusal skips the CAS and would look cheaper than it is). Time comes from
// SystemClock, so every call includes one monotonic clock read, measured on its
// own by BM_SystemClockMonotonic. Reported times are CPU time per call; with
// 4 threads they include the cost of contention on a shared key.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "gateway/rate_limiter.h"

namespace gateway {
namespace {

enum class Keys { kOne, kTenThousand, kChurn };

std::atomic<RateLimiter*> shared_limiter{nullptr};

std::unique_ptr<RateLimiter> Make(const RateLimitAlgorithm& algorithm) {
  auto limiter = MakeRateLimiter(algorithm);
  return limiter.ok() ? *std::move(limiter) : nullptr;
}

void BM_Acquire(benchmark::State& state, RateLimitAlgorithm algorithm, Keys keys) {
  // Thread 0 builds the limiter; the other threads wait at the start of the
  // timed loop (Google Benchmark starts all threads together).
  std::unique_ptr<RateLimiter> owned;
  if (state.thread_index() == 0) {
    owned = Make(algorithm);
    shared_limiter.store(owned.get());
  }
  // Each thread has its own key list, so 4 threads on "many keys" spread
  // over 4x the keys; one key is the same key for every thread.
  std::vector<std::string> names;
  size_t count = keys == Keys::kOne ? 1 : keys == Keys::kTenThousand ? 10'000 : 1'000'000;
  names.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    names.push_back(keys == Keys::kOne ? std::string("203.0.113.7")
                                       : absl::StrCat(state.thread_index(), ".", i / 256 % 256, ".",
                                                      i % 256, ".", i / 65536));
  }
  size_t next = 0;
  int64_t refused = 0;
  bool counts_in_flight = false;
  for (auto _ : state) {
    RateLimiter* limiter = shared_limiter.load(std::memory_order_relaxed);
    if (limiter == nullptr) {
      state.SkipWithError("limiter config rejected");
      break;
    }
    const std::string& key = names[next];
    if (++next == names.size()) next = 0;
    RateDecision d = limiter->Acquire(key);
    refused += !d.allowed;
    benchmark::DoNotOptimize(d);
    counts_in_flight = limiter->counts_in_flight();
    if (counts_in_flight) limiter->Release(key);
  }
  state.SetItemsProcessed(state.iterations());
  // Should stay 0: a refusal skips the state update and is cheaper.
  state.counters["refused"] =
      benchmark::Counter(static_cast<double>(refused), benchmark::Counter::kAvgIterations);
  if (state.thread_index() == 0) {
    // Other threads have left the loop: the end of the timed region is a
    // barrier too.
    shared_limiter.store(nullptr);
  }
}

void BM_SystemClockMonotonic(benchmark::State& state) {
  const Clock& clock = SystemClock();
  for (auto _ : state) benchmark::DoNotOptimize(clock.Monotonic());
}
BENCHMARK(BM_SystemClockMonotonic);

// Quotas far above what a benchmark run can spend.
const RateLimitAlgorithm kTokenBucket =
    TokenBucketConfig{.rate = 1'000'000'000, .per = absl::Seconds(1), .burst = 1'000'000'000};
const RateLimitAlgorithm kGcra =
    GcraConfig{.limit = 1'000'000'000, .period = absl::Seconds(1), .burst = 1'000'000'000};
const RateLimitAlgorithm kFixedWindow =
    FixedWindowConfig{.limit = 16'000'000, .window = absl::Milliseconds(100)};
const RateLimitAlgorithm kSlidingWindow =
    SlidingWindowCounterConfig{.limit = 1'000'000, .window = absl::Milliseconds(10)};
// The log keeps every admission for a window, `limit` entries per key: one
// hot key gets a large log, many keys a small one.
const RateLimitAlgorithm kSlidingLogOneKey =
    SlidingWindowLogConfig{.limit = 100'000, .window = absl::Milliseconds(1), .max_keys = 256};
const RateLimitAlgorithm kSlidingLogManyKeys =
    SlidingWindowLogConfig{.limit = 16, .window = absl::Milliseconds(1), .max_keys = 65536};
const RateLimitAlgorithm kConcurrency = ConcurrencyConfig{.max_in_flight = 1'000'000};

#define GATEWAY_RATE_BENCH(name, one_key, many_keys)                                         \
  BENCHMARK_CAPTURE(BM_Acquire, name##_OneKey, one_key, Keys::kOne)->Threads(1)->Threads(4); \
  BENCHMARK_CAPTURE(BM_Acquire, name##_10kKeys, many_keys, Keys::kTenThousand)               \
      ->Threads(1)                                                                           \
      ->Threads(4);                                                                          \
  BENCHMARK_CAPTURE(BM_Acquire, name##_NewKeys, many_keys, Keys::kChurn)->Threads(1)->Threads(4)

GATEWAY_RATE_BENCH(TokenBucket, kTokenBucket, kTokenBucket);
GATEWAY_RATE_BENCH(Gcra, kGcra, kGcra);
GATEWAY_RATE_BENCH(FixedWindow, kFixedWindow, kFixedWindow);
GATEWAY_RATE_BENCH(SlidingWindow, kSlidingWindow, kSlidingWindow);
GATEWAY_RATE_BENCH(SlidingLog, kSlidingLogOneKey, kSlidingLogManyKeys);
GATEWAY_RATE_BENCH(Concurrency, kConcurrency, kConcurrency);

}  // namespace
}  // namespace gateway
