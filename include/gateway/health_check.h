// Active health checks: periodic HTTP or TCP probes of every host of a
// cluster, with thresholds, that mark hosts healthy or unhealthy in the
// `ClusterManager`, so every worker's balancer sees the change in its next
// host snapshot.
//
// Checks run once per process, not once per worker: one `HealthChecker` per
// `ClusterManager`, on one loop that the caller gives it and runs: the
// application's own loop when embedded, the control thread's loop in
// `gatewayd` (see `ControlThread` in gateway/runtime.h). The checker starts
// no thread (see docs/architecture.md#threads). A cluster is checked when its
// `ClusterSpec::health_check` is set. Hosts start healthy; a host becomes
// unhealthy after `unhealthy_threshold` consecutive failed probes and healthy
// again after `healthy_threshold` consecutive passed ones. Hosts that appear
// or leave with DNS changes are picked up within a second.
#ifndef GATEWAY_HEALTH_CHECK_H_
#define GATEWAY_HEALTH_CHECK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/dispatcher.h"

namespace gateway {

class ClusterManager;

struct HealthCheckSpec {
  enum class Type {
    kHttp,  // GET `path`: passes on an expected status
    kTcp,   // passes when a connection is accepted
  };
  Type type = Type::kHttp;
  std::string path = "/health";
  // Host header of HTTP probes; empty: the endpoint's DNS name, or its
  // address, with the port.
  std::string host;
  // Inclusive status ranges that pass.
  std::vector<std::pair<int, int>> expected_statuses = {{200, 299}};
  absl::Duration interval = absl::Seconds(5);
  // Between probes of a host that is unhealthy; zero: `interval`.
  absl::Duration unhealthy_interval = absl::ZeroDuration();
  // Up to this much, at random, is added to every interval so that probes
  // of many hosts (and many gateways) do not arrive in lockstep.
  absl::Duration jitter = absl::Milliseconds(500);
  // A probe without an answer (connect, or the response head) in this time fails.
  absl::Duration timeout = absl::Seconds(1);
  uint32_t healthy_threshold = 2;
  uint32_t unhealthy_threshold = 3;

  absl::Status Validate() const;
};

// The threshold logic of one host, separate from any I/O.
class HealthState {
 public:
  enum class Transition { kNone, kBecameHealthy, kBecameUnhealthy };

  HealthState(uint32_t healthy_threshold, uint32_t unhealthy_threshold, bool healthy = true)
      : healthy_threshold_(healthy_threshold),
        unhealthy_threshold_(unhealthy_threshold),
        healthy_(healthy) {}

  // Records one probe result; says whether the host's state changed.
  Transition Record(bool passed);
  bool healthy() const { return healthy_; }
  // Consecutive passed (healthy) or failed (unhealthy) probes that did not
  // change the state yet.
  uint32_t streak() const { return streak_; }

 private:
  uint32_t healthy_threshold_;
  uint32_t unhealthy_threshold_;
  bool healthy_;
  uint32_t streak_ = 0;
};

// Reported once per transition, on the checker's loop.
struct HealthEvent {
  std::string cluster;
  std::string host;  // Host::name(), e.g. "10.0.0.1:8080"
  bool healthy = true;
  std::string reason;  // of the probe that caused the change, e.g. "status 500"
};

class HealthChecker {
 public:
  struct Options {
    // Called on the checker's loop for every transition. Default: none.
    absl::AnyInvocable<void(const HealthEvent&)> on_change;
  };

  struct HostStatus {
    std::string cluster;
    std::string host;
    bool healthy = true;
    uint64_t probes = 0;
    uint64_t failures = 0;
    std::string last_failure;  // reason of the most recent failed probe
  };

  // Starts probing every cluster of `clusters` that has a health check, on
  // `dispatcher`'s loop; the first probes go out on a later loop turn.
  // Create and destroy the checker on that loop's thread; destroying it
  // stops it at once and closes its connections.
  static std::unique_ptr<HealthChecker> Create(Dispatcher& dispatcher,
                                               std::shared_ptr<ClusterManager> clusters,
                                               Options options = {});

  virtual ~HealthChecker() = default;

  // Every probed host. Thread-safe.
  virtual std::vector<HostStatus> Status() const = 0;
};

}  // namespace gateway

#endif  // GATEWAY_HEALTH_CHECK_H_
