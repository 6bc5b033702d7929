// Call outcomes and failure classification: how the result of one upstream
// attempt is judged by circuit breakers and outlier detection.
//
// The proxy describes each attempt as a `CallOutcome` (a response status, or
// the way the attempt failed without one). A `FailureClassifier` turns that
// into a verdict (success, failure, or not counted) and says whether the call
// was slow. One classifier value is meant to be configured per cluster and
// handed to both the cluster's breaker and its outlier detector, so that
// "failure" means the same thing to both.
//
// Everything here is a plain value: immutable after construction and safe to
// use from any thread.
#ifndef GATEWAY_CALL_OUTCOME_H_
#define GATEWAY_CALL_OUTCOME_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gateway {

// How an upstream attempt ended.
enum class CallResult : uint8_t {
  kResponse,        // a final response head arrived; `CallOutcome::status` says which
  kConnectFailure,  // refused, unreachable, reset or timed out while connecting
  kReset,           // connection closed or reset before a complete response head
  kTimeout,         // no response (head) in time: response, per-try or idle timeout
  kProtocolError,   // the upstream sent an invalid response
  kCancelled,       // abandoned for a reason that is not the upstream's (client gone,
                    // local limit, shutdown); never judged
};

struct CallOutcome {
  CallResult result = CallResult::kResponse;
  int status = 0;  // with kResponse: the status code (100-599)

  // A failure of the upstream "as a gateway sees it": connect failure, reset,
  // timeout, protocol error, or a 502, 503 or 504 response. Fixed, independent
  // of any classifier (outlier detection's consecutive-gateway-failure rule).
  bool IsGatewayFailure() const;
  // A 5xx response or any failure without a response (cancelled excluded).
  bool IsServerError() const;
};

enum class CallVerdict : uint8_t {
  kSuccess,
  kFailure,
  kIgnored,  // says nothing about the upstream: neither success nor failure
};

struct Classification {
  CallVerdict verdict = CallVerdict::kSuccess;
  // The call took at least `FailureClassifier::slow_call_duration`. Slowness is
  // judged independently of the verdict (a slow failure is both); ignored calls
  // are never slow.
  bool slow = false;
};

// Which outcomes count as failures. The defaults match what classic gateway
// breakers and Envoy's outlier detection count: every 5xx and every failure
// to get a response.
struct FailureClassifier {
  // Every 5xx response is a failure.
  bool server_errors = true;
  // More statuses that count as failures, e.g. {429}. 100-599.
  std::vector<int> failure_statuses;
  // Statuses that never count as failures, even with `server_errors`, e.g.
  // {501}. Wins over the two fields above.
  std::vector<int> success_statuses;
  // Failures without a response. A kind switched off here is ignored (neither
  // success nor failure), not counted as a success: a reset says nothing good
  // about an upstream.
  bool connect_failures = true;
  bool resets = true;
  bool timeouts = true;
  bool protocol_errors = true;
  // A call that takes at least this long (from permit to result) is slow.
  // Zero: slowness is not judged. Only the sliding-window breaker uses it.
  absl::Duration slow_call_duration = absl::ZeroDuration();

  absl::Status Validate() const;

  // `elapsed` is the call's duration; it only matters for `slow`.
  Classification Classify(const CallOutcome& outcome,
                          absl::Duration elapsed = absl::ZeroDuration()) const;
  CallVerdict Verdict(const CallOutcome& outcome) const;
};

}  // namespace gateway

#endif  // GATEWAY_CALL_OUTCOME_H_
