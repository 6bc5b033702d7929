// A cluster's resilience as one configuration value and one built bundle:
// circuit breaker, concurrency limits and outlier detection, judging calls
// with one shared `FailureClassifier`.
//
//   ClusterResilienceSpec spec{
//       .classifier = {.failure_statuses = {429}},
//       .breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 5},
//       .outlier_detection = OutlierDetectionConfig{}};
//   absl::StatusOr<ClusterResilience> built = BuildClusterResilience("users", spec);
//
// The bundle's objects are shared by every worker (see their headers for the
// threading contracts); build it once per cluster, not per worker.
#ifndef GATEWAY_CLUSTER_RESILIENCE_H_
#define GATEWAY_CLUSTER_RESILIENCE_H_

#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/call_outcome.h"
#include "gateway/circuit_breaker.h"
#include "gateway/clock.h"
#include "gateway/concurrency_limit.h"
#include "gateway/outlier_detection.h"
#include "gateway/resilience_stats.h"

namespace gateway {

struct ClusterResilienceSpec {
  // What counts as a failure, for the breaker and outlier detection alike. It
  // replaces the `classifier` of the configs below, so one cluster has one
  // notion of failure.
  FailureClassifier classifier;
  BreakerConfig breaker;           // none by default; a UserBreaker is used as is
  ConcurrencyLimitsConfig limits;  // Envoy's defaults: 1024 / 1024 / 1024 / 3
  std::optional<OutlierDetectionConfig> outlier_detection;  // off by default

  // Errors name the part: "breaker: ...", "limits: ...", "outlier_detection: ...".
  absl::Status Validate() const;
};

struct ClusterResilience {
  std::shared_ptr<CircuitBreaker> breaker;            // null: no breaker
  std::shared_ptr<ConcurrencyLimits> limits;          // never null once built
  std::shared_ptr<OutlierDetector> outlier_detector;  // null: no outlier detection
};

// Builds the objects of `spec` for `cluster` (which names them in stats and
// logs). Fails with InvalidArgument, naming the cluster, if the spec does not
// validate. `clock` must outlive the objects; `observer` may be null.
absl::StatusOr<ClusterResilience> BuildClusterResilience(
    std::string_view cluster, const ClusterResilienceSpec& spec, const Clock& clock = SystemClock(),
    std::shared_ptr<ResilienceObserver> observer = nullptr);

}  // namespace gateway

#endif  // GATEWAY_CLUSTER_RESILIENCE_H_
