// Circuit breakers: stop sending calls to an upstream that keeps failing, then
// probe it with a few calls before letting traffic back.
//
//            failures reach the threshold
//   closed ------------------------------> open
//     ^                                     |  open duration passed
//     |   probes succeed                    v  (at the next TryAcquire)
//     +------------------------------- half-open
//                                           |  probes fail
//                                           +-----------------> open
//
// Usage, once per upstream attempt:
//
//   std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
//   if (!permit) return Reply(503, kCircuitOpenFlag);   // refused at once
//   ... make the call ...
//   permit->Record({.result = CallResult::kResponse, .status = 200});
//
// A breaker is one state shared by every worker thread (per cluster, or per
// route): all methods are thread-safe and lock-free (a CAS state machine on
// atomics); none blocks or allocates on the hot path. Time comes from the
// `Clock` given at creation, so tests drive every transition with
// `testing::ManualClock`. The open -> half-open transition is lazy: it happens
// at the first TryAcquire after the open duration, so an idle breaker reports
// kOpen until someone asks again.
//
// Lifetime: the breaker must outlive its permits, and its clock the breaker.
#ifndef GATEWAY_CIRCUIT_BREAKER_H_
#define GATEWAY_CIRCUIT_BREAKER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/call_outcome.h"
#include "gateway/clock.h"
#include "gateway/resilience_stats.h"
#include "gateway/response_flag.h"

namespace gateway {

// The response flag of a call refused by a breaker (answered 503).
inline constexpr std::string_view kCircuitOpenFlag = ResponseFlagName(ResponseFlag::kCircuitOpen);

class CircuitBreaker {
 public:
  // The right to make one call. Move-only. Give it the call's result with
  // `Record`; the result is judged in the state the permit was issued in (a
  // result that arrives after the breaker moved on is not counted).
  //
  // A permit destroyed without `Record` counts as `CallResult::kCancelled`:
  // ignored, neither success nor failure. A half-open probe slot it held is
  // returned, so another call can probe. Cancelling is never evidence about
  // the upstream (the client went away, a local limit refused the request),
  // so it must not open or close a breaker.
  class Permit {
   public:
    Permit(Permit&& other) noexcept;
    // The permit being replaced, if still active, is cancelled first.
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit();

    // Reports the call's result. The first call counts; later calls, and
    // calls on a moved-from permit, do nothing. Any thread. A transition it
    // causes is announced to the breaker's observer before it returns.
    void Record(const CallOutcome& outcome);
    // True until Record (or a move away).
    bool active() const { return breaker_ != nullptr; }

   private:
    friend class CircuitBreaker;
    Permit(CircuitBreaker* breaker, uint64_t token, absl::Duration started)
        : breaker_(breaker), token_(token), started_(started) {}

    CircuitBreaker* breaker_;
    uint64_t token_;
    absl::Duration started_;
  };

  virtual ~CircuitBreaker() = default;

  // A permit for one call, or nullopt when the breaker refuses it (open, or
  // half-open with every probe slot taken). Never blocks. Any thread. The
  // open -> half-open transition happens here and is announced before it
  // returns.
  [[nodiscard]] virtual std::optional<Permit> TryAcquire() = 0;

  // The current state (a transition in progress shows as its target). Any thread.
  virtual BreakerState state() const = 0;
  // Counters and gauges; see BreakerStats. Any thread.
  virtual BreakerStats stats() const = 0;
  // The configured name; valid as long as the breaker.
  virtual std::string_view name() const = 0;

 protected:
  // For implementations: a permit that reports back through OnPermitDone with
  // the same `token` and `started` (the monotonic time it was issued, or any
  // value the implementation finds useful).
  Permit MakePermit(uint64_t token, absl::Duration started) { return Permit(this, token, started); }
  // Called exactly once per permit: from Permit::Record, or with a kCancelled
  // outcome from the destructor of a permit that recorded nothing. Any thread,
  // concurrently.
  virtual void OnPermitDone(uint64_t token, absl::Duration started, const CallOutcome& outcome) = 0;
};

// Opens after `failure_threshold` consecutive failures; after `open_timeout`
// lets up to `half_open_max_calls` probes run at a time; closes after
// `success_threshold` consecutive successful probes, and opens again at the
// first failed probe. Slow calls are not judged. Under concurrency
// "consecutive" means in the order results are recorded.
struct ConsecutiveFailureBreakerConfig {
  std::string name;                                 // for logs and metrics, e.g. the cluster name
  uint32_t failure_threshold = 5;                   // 1 to 2^31
  uint32_t success_threshold = 1;                   // 1 to 65535
  uint32_t half_open_max_calls = 1;                 // probes in flight at once, 1 to 65535
  absl::Duration open_timeout = absl::Seconds(30);  // at least 1ms
  FailureClassifier classifier;

  absl::Status Validate() const;
};

// Judges failure and slow-call rates over a sliding window, as resilience4j
// does. While closed, each judged call enters the window; once the window
// holds at least `minimum_calls`, a failure rate or slow-call rate at or above
// its threshold opens the breaker. Rates are judged as calls are recorded: a
// count window judges every call until it is full, then failing and slow
// calls; a time window judges failing and slow calls (a fast success cannot
// raise a rate, and summing the buckets on every call would cost too much). Half-open lets exactly
// `half_open_calls` probes through (cancelled probes give their slot back) and, once all have
// reported, judges them by the same two rates: below both thresholds closes
// (with an empty window), otherwise opens again.
//
// The open duration grows with each consecutive trip without closing in
// between: open_duration × open_backoff_multiplier^(trips - 1), capped at
// max_open_duration. Closing resets it.
struct SlidingWindowBreakerConfig {
  std::string name;
  enum class Window : uint8_t {
    kCount,  // the last `window_size` judged calls
    kTime,   // the calls of the last `window_duration`, in `window_buckets` steps
  };
  Window window = Window::kCount;
  uint32_t window_size = 100;  // kCount: 1 to 10000
  // kTime: a call leaves the window between window_duration - bucket and
  // window_duration after it was recorded, bucket = window_duration / window_buckets
  // (at least 1ms).
  absl::Duration window_duration = absl::Seconds(60);
  uint32_t window_buckets = 60;  // kTime: 1 to 3600
  // Fewer judged calls than this in the window: rates are not judged. For
  // kCount at most window_size.
  uint32_t minimum_calls = 20;
  double failure_rate_threshold = 50.0;  // percent, (0, 100]
  double slow_call_rate_threshold =
      100.0;                      // percent, (0, 100]; needs classifier.slow_call_duration
  uint32_t half_open_calls = 10;  // 1 to 255
  absl::Duration open_duration = absl::Seconds(30);     // at least 1ms
  double open_backoff_multiplier = 2.0;                 // 1 (no backoff) to 100
  absl::Duration max_open_duration = absl::Minutes(5);  // at least open_duration
  FailureClassifier classifier;

  absl::Status Validate() const;
};

// A breaker of the program's own, given to a cluster or route as is instead
// of a built-in config. It must honour the contract above (thread-safe, never
// blocking). The same instance serves every worker and, unlike a built-in, it
// is not started afresh on reload: whoever made it decides its lifetime. The
// cluster's `FailureClassifier` and the resilience observer do not apply to
// it; the breaker classifies the outcomes it is given itself.
using UserBreaker = std::shared_ptr<CircuitBreaker>;

// A breaker choice for configuration structs: none, one of the built-ins, or
// a user's breaker (never null when chosen).
using BreakerConfig = std::variant<std::monostate, ConsecutiveFailureBreakerConfig,
                                   SlidingWindowBreakerConfig, UserBreaker>;

// The built-in breakers. Fail with InvalidArgument if the config does not
// validate. `clock` must outlive the breaker; `observer` may be null.
absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeConsecutiveFailureBreaker(
    ConsecutiveFailureBreakerConfig config, const Clock& clock = SystemClock(),
    std::shared_ptr<ResilienceObserver> observer = nullptr);
absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeSlidingWindowBreaker(
    SlidingWindowBreakerConfig config, const Clock& clock = SystemClock(),
    std::shared_ptr<ResilienceObserver> observer = nullptr);
// The breaker `config` chooses; nullptr for std::monostate. A UserBreaker is
// returned as is (InvalidArgument if null). Clusters and routes build their
// breakers through this, built-in and user breakers alike.
absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeCircuitBreaker(
    BreakerConfig config, const Clock& clock = SystemClock(),
    std::shared_ptr<ResilienceObserver> observer = nullptr);

}  // namespace gateway

#endif  // GATEWAY_CIRCUIT_BREAKER_H_
