// Signals for operators from the resilience components: counters and gauges
// (snapshots a metrics exporter reads) and events (breaker transitions, host
// ejections) delivered to a `ResilienceObserver`, once per event.
//
// Stats snapshots are read with relaxed atomic loads: each field is exact on
// its own, but fields of one snapshot may be a few calls apart under load.
// Counters only grow; gauges go up and down.
#ifndef GATEWAY_RESILIENCE_STATS_H_
#define GATEWAY_RESILIENCE_STATS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"

namespace gateway {

enum class BreakerState : uint8_t {
  kClosed,    // calls flow; results are judged
  kOpen,      // calls are refused until the open duration has passed
  kHalfOpen,  // a limited number of probe calls decide between closed and open
};

// "closed", "open", "half_open": for logs and metric labels.
std::string_view BreakerStateName(BreakerState state);

struct BreakerStats {
  BreakerState state = BreakerState::kClosed;  // gauge
  uint64_t rejected = 0;                       // counter: TryAcquire refused
  uint64_t opened = 0;                         // counter: transitions to open
  uint64_t half_opened = 0;                    // counter: transitions to half-open
  uint64_t closed = 0;                         // counter: transitions to closed
  // Sliding-window breaker, gauges over the current window while closed:
  // judged calls, and failure / slow-call rates in percent (-1 when the window
  // holds fewer than the minimum number of calls). Always 0 / -1 otherwise.
  uint64_t window_calls = 0;
  double failure_rate_percent = -1;
  double slow_call_rate_percent = -1;
};

struct LimitStats {
  // Gauges: in use now.
  uint32_t active_connections = 0;
  uint32_t pending_requests = 0;
  uint32_t active_requests = 0;
  uint32_t active_retries = 0;
  // Counters: TryAcquire refused because the limit was reached.
  uint64_t connections_overflow = 0;
  uint64_t pending_overflow = 0;
  uint64_t requests_overflow = 0;
  uint64_t retries_overflow = 0;
};

struct OutlierStats {
  uint32_t hosts = 0;    // gauge: hosts tracked (the cluster's current members)
  uint32_t ejected = 0;  // gauge: hosts ejected now
  // Counters.
  uint64_t ejections_consecutive_5xx = 0;
  uint64_t ejections_consecutive_gateway_failure = 0;
  uint64_t ejections_overflow = 0;  // an ejection was due but max_ejection_percent forbade it
  uint64_t returned_expired = 0;    // back after the ejection time
  uint64_t returned_active_check = 0;
};

// A breaker changed state.
struct BreakerTransition {
  std::string_view breaker;  // the breaker's configured name
  BreakerState from = BreakerState::kClosed;
  BreakerState to = BreakerState::kClosed;
  // 1 for the breaker's first transition, then 2, 3, ...: orders events that
  // different threads delivered out of order.
  uint64_t sequence = 0;
  // With `to == kOpen`: how long the breaker refuses calls.
  absl::Duration open_for = absl::ZeroDuration();
  // Why, for humans: "5 consecutive failures", "failure rate 60% >= 50% over 20 calls",
  // "open for 30s elapsed", "3 successful probes".
  std::string_view reason;
};

enum class EjectionReason : uint8_t {
  kConsecutive5xx,             // ejected: consecutive failures per the classifier
  kConsecutiveGatewayFailure,  // ejected: consecutive gateway failures
  kExpired,                    // returned: the ejection time passed
  kActiveCheck,                // returned early: an active health check passed
  kRemoved,                    // returned: the host left the cluster while ejected
};

// "consecutive_5xx", "consecutive_gateway_failure", "expired", "active_check", "removed".
std::string_view EjectionReasonName(EjectionReason reason);

// A host was ejected from its cluster, or returned to it.
struct HostEjectionEvent {
  std::string_view cluster;
  std::string_view host;  // Host::name(), "10.0.0.1:8080"
  bool ejected = false;   // true: taken out of balancing; false: back in
  EjectionReason reason = EjectionReason::kConsecutive5xx;
  uint32_t times_ejected = 0;  // the host's ejection count, including this ejection
  absl::Duration duration = absl::ZeroDuration();  // ejected: for how long
};

// Receives events. Each event is delivered exactly once, synchronously, on the
// thread whose call caused it (a worker's loop thread, or whoever called the
// component). Implementations must be thread-safe and quick: they run on the
// request path of whichever request tipped the state.
class ResilienceObserver {
 public:
  virtual ~ResilienceObserver() = default;

  // After the new state is visible to every thread. Transitions of one breaker
  // caused by different threads at nearly the same moment may arrive out of
  // order; `sequence` orders them. May call the breaker's const methods.
  virtual void OnBreakerTransition(const BreakerTransition& event) {}

  // In order for one detector (delivered under its lock): must not call back
  // into that detector. The string views are valid during the call.
  virtual void OnHostEjection(const HostEjectionEvent& event) {}
};

// One line per event, e.g.
//   circuit breaker 'users': closed -> open (5 consecutive failures; open for 30s)
//   outlier detection 'users': host 10.0.0.1:8080 ejected for 30s (consecutive_5xx, 1 time)
std::string FormatEvent(const BreakerTransition& event);
std::string FormatEvent(const HostEjectionEvent& event);

// An observer that writes `FormatEvent(event)` through `log`, once per event.
// `log` is called from any thread, possibly concurrently: it must be thread-safe.
std::shared_ptr<ResilienceObserver> MakeLoggingObserver(
    absl::AnyInvocable<void(std::string_view line) const> log);

}  // namespace gateway

#endif  // GATEWAY_RESILIENCE_STATS_H_
