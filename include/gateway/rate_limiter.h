// Rate limiters: how many requests (or units of cost) a key may spend.
//
// `RateLimiter` is the synchronous interface of local limiters. One limiter is
// shared by every worker thread: `Acquire` is thread-safe, never blocks on I/O
// and decides in O(1) (the exact sliding log is O(1) amortised). The built-in
// limiters keep per-key state in a fixed-size table sized by `max_keys`: its
// memory is allocated once, and a new key displaces an idle one, so any number
// of distinct keys costs the same memory.
//
//   auto login = MakeSlidingWindowCounter({.limit = 5, .window = absl::Minutes(1)});
//   RateDecision d = (*login)->Acquire(client_ip);
//   if (!d.allowed) { /* 429, Retry-After: d.retry_after */ }
//
// `AsyncRateLimiter` is the interface of limiters that ask a remote store (for
// example Redis): one instance per loop, created by an `AsyncRateLimiterFactory`,
// answering through a callback on a later loop turn. The rate-limit filter
// (gateway/rate_limit_filter.h) pauses the request while it waits.
//
// Time comes from the `Clock` given to the factory functions (monotonic time),
// so tests drive limiters with `testing::ManualClock`. The clock must outlive
// the limiter.
#ifndef GATEWAY_RATE_LIMITER_H_
#define GATEWAY_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <variant>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/clock.h"
#include "gateway/dispatcher.h"

namespace gateway {

// The answer to one Acquire.
struct RateDecision {
  bool allowed = true;
  // The quota of the policy (requests or cost units), e.g. 100 for
  // "100 per minute" or the bucket size of a token bucket.
  uint64_t limit = 0;
  // Units left after this call (0 when denied for lack of units).
  uint64_t remaining = 0;
  // Time until the quota is fully available again (the window ends, the
  // bucket is full). Zero when nothing is used.
  absl::Duration reset = absl::ZeroDuration();
  // When denied: time until a request of the same cost can succeed;
  // `absl::InfiniteDuration()` if the cost exceeds the limit. Zero when allowed.
  absl::Duration retry_after = absl::ZeroDuration();
  // The time window the quota applies to (the `w` of RateLimit-Policy). Zero
  // for limits that are not a quota over time (concurrency).
  absl::Duration window = absl::ZeroDuration();
};

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;

  // Spends `cost` units of `key`'s quota if they are available. A denied call
  // spends nothing. A cost of 0 only reports the current state (always
  // allowed). Thread-safe; `key` is only read during the call.
  [[nodiscard]] virtual RateDecision Acquire(std::string_view key, uint64_t cost = 1) = 0;

  // What Acquire(key, cost) would decide now, without spending anything (a
  // request another rule refuses is still told every rule's wait). The
  // built-ins answer exactly; the default only reports the state through
  // Acquire(key, 0) and always allows.
  [[nodiscard]] virtual RateDecision Check(std::string_view key, uint64_t cost = 1) {
    return Acquire(key, 0);
  }

  // Gives back units that stay taken while a request is in flight
  // (concurrency limits; see `counts_in_flight`). Others ignore it. Giving back
  // more than was taken, or for an unknown key, does nothing harmful.
  virtual void Release(std::string_view key, uint64_t cost = 1) {}

  // True if allowed units stay taken until `Release` (concurrency limits).
  virtual bool counts_in_flight() const { return false; }

  // Keys currently tracked, and the most that will ever be tracked.
  virtual size_t keys() const { return 0; }
  virtual size_t max_keys() const { return 0; }
};

// Per-key state of the built-in limiters lives in a table of `max_keys`
// entries (rounded down to a multiple of 8, at least 8), allocated up front.
// About 24 bytes per entry; the sliding log adds 8 bytes per logged unit.
inline constexpr size_t kDefaultMaxKeys = 65536;

// Token bucket: `rate` tokens per `per` flow into a bucket of `burst` tokens;
// a request takes `cost` tokens. Refill is continuous (nanosecond resolution),
// not stepwise. Decisions report limit = burst, window = time to refill an
// empty bucket.
struct TokenBucketConfig {
  uint64_t rate = 0;
  absl::Duration per = absl::Seconds(1);
  uint64_t burst = 0;  // 0: same as rate
  size_t max_keys = kDefaultMaxKeys;

  absl::Status Validate() const;
};

// Fixed window: at most `limit` units per window; windows are aligned to the
// limiter's creation and counters restart at each window edge (so up to twice
// the limit can pass around an edge).
struct FixedWindowConfig {
  uint64_t limit = 0;
  absl::Duration window = absl::Seconds(1);
  size_t max_keys = kDefaultMaxKeys;

  absl::Status Validate() const;
};

// Exact sliding window: at most `limit` units in any period of length
// `window`, from a log of admission times per key. Exact, but memory is
// O(limit) per key: meant for small limits (a login route's 5 per minute).
struct SlidingWindowLogConfig {
  uint64_t limit = 0;
  absl::Duration window = absl::Seconds(1);
  size_t max_keys = 16384;

  absl::Status Validate() const;
};

// Sliding window counter: the previous window's count, weighted by how much
// of it still overlaps the sliding window, plus the current window's count.
// O(1) memory per key; approximates the exact log (assumes the previous
// window's requests were spread evenly).
struct SlidingWindowCounterConfig {
  uint64_t limit = 0;
  absl::Duration window = absl::Seconds(1);
  size_t max_keys = kDefaultMaxKeys;

  absl::Status Validate() const;
};

// GCRA (generic cell rate algorithm): requests are spaced by period / limit
// on average, and up to `burst` may arrive back to back. With the default
// burst of 1 traffic is smoothed completely. Decisions report limit = limit,
// window = period.
struct GcraConfig {
  uint64_t limit = 0;
  absl::Duration period = absl::Seconds(1);
  uint64_t burst = 1;
  size_t max_keys = kDefaultMaxKeys;

  absl::Status Validate() const;
};

// Concurrency: at most `max_in_flight` units taken at once per key; each
// allowed Acquire holds its units until Release. A denied decision carries
// `retry_after` as a hint (the limiter cannot know when a request ends).
struct ConcurrencyConfig {
  uint64_t max_in_flight = 0;
  absl::Duration retry_after = absl::Seconds(1);
  size_t max_keys = kDefaultMaxKeys;

  absl::Status Validate() const;
};

using RateLimitAlgorithm =
    std::variant<TokenBucketConfig, FixedWindowConfig, SlidingWindowLogConfig,
                 SlidingWindowCounterConfig, GcraConfig, ConcurrencyConfig>;

// The built-in local limiters. Each validates its config first.
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeTokenBucket(const TokenBucketConfig& config,
                                                             const Clock& clock = SystemClock());
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeFixedWindow(const FixedWindowConfig& config,
                                                             const Clock& clock = SystemClock());
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeSlidingWindowLog(
    const SlidingWindowLogConfig& config, const Clock& clock = SystemClock());
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeSlidingWindowCounter(
    const SlidingWindowCounterConfig& config, const Clock& clock = SystemClock());
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeGcra(const GcraConfig& config,
                                                      const Clock& clock = SystemClock());
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeConcurrencyLimiter(
    const ConcurrencyConfig& config, const Clock& clock = SystemClock());
// Whichever of the above `algorithm` holds.
absl::StatusOr<std::unique_ptr<RateLimiter>> MakeRateLimiter(const RateLimitAlgorithm& algorithm,
                                                             const Clock& clock = SystemClock());
absl::Status ValidateRateLimitAlgorithm(const RateLimitAlgorithm& algorithm);

// A limiter that asks a remote store. One instance per loop: it is created,
// used and destroyed on that loop's thread only.
class AsyncRateLimiter {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<RateDecision>)>;

  virtual ~AsyncRateLimiter() = default;

  // Starts deciding whether `key` may spend `cost` units. `done` runs exactly
  // once, on this limiter's loop, on a later loop turn (never inside this
  // call), with the decision or an error (store unreachable, timed out, bad
  // reply); the caller then fails open or closed as it is configured to.
  // Cancelling or destroying the returned handle before `done` ran means `done`
  // never runs. `key` is only read during the call. Implementations bound
  // their own wait (a per-call timeout) and the number of calls pending.
  [[nodiscard]] virtual CancelHandle Acquire(std::string_view key, uint64_t cost,
                                             Callback done) = 0;

  // As RateLimiter::Release, for stores that count requests in flight.
  virtual void Release(std::string_view key, uint64_t cost) {}
  virtual bool counts_in_flight() const { return false; }
};

// Creates the per-loop instances of an async limiter. Shared by every worker:
// `Create` may run on several loop threads at once.
class AsyncRateLimiterFactory {
 public:
  virtual ~AsyncRateLimiterFactory() = default;

  // The limiter for `dispatcher`'s loop. Called on that loop's thread, the
  // first time a request there needs it; the instance is then reused for every
  // request on that loop and destroyed on that thread (at the latest when the
  // dispatcher is destroyed). It must not refer to this factory, which may be
  // destroyed first (after a reload). nullptr counts as a failed call.
  virtual std::unique_ptr<AsyncRateLimiter> Create(Dispatcher& dispatcher) const = 0;
};

}  // namespace gateway

#endif  // GATEWAY_RATE_LIMITER_H_
