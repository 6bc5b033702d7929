// Passive outlier detection for one cluster: hosts whose calls keep failing
// are ejected (taken out of balancing) for a while, without waiting for an
// active health check to notice.
//
// A host is ejected after `consecutive_5xx` consecutive failures (as the
// cluster's `FailureClassifier` judges them: every 5xx and every failure to get
// a response, by default) or `consecutive_gateway_failure` consecutive gateway
// failures (connect failure, reset, timeout, protocol error, 502/503/504). It
// stays out for base_ejection_time × times ejected, capped at
// max_ejection_time, then returns on the next `Sweep`. A passing active health
// check can return it early. At most `max_ejection_percent` of the cluster's
// hosts are out at once (at least one, unless the percentage is 0).
//
// Output: `HostEjectionEvent`s to the observer, in order, exactly once per
// ejection and return, and the queries `IsEjected` / `EjectedHosts`. The
// detector does not change host health itself: whoever owns the cluster's host
// snapshots applies the events (for example with `ClusterManager::SetHealthy`).
//
// Threads: one detector per cluster, shared by every worker. `Track` builds,
// once per host-set snapshot, an immutable `MonitorSet` that workers keep with
// their snapshot; `HostMonitor::Report` is the per-call hot path and is
// lock-free (relaxed atomics) except for the rare call that makes an ejection
// due. Everything else takes the detector's lock and is meant for cold paths.
//
// Lifetime: the detector must outlive its monitor sets; its clock, the detector.
#ifndef GATEWAY_OUTLIER_DETECTION_H_
#define GATEWAY_OUTLIER_DETECTION_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/call_outcome.h"
#include "gateway/clock.h"
#include "gateway/resilience_stats.h"
#include "gateway/upstream.h"

namespace gateway {

// Defaults follow Envoy's outlier detection.
struct OutlierDetectionConfig {
  // Consecutive failures (per `classifier`) that eject a host; 0 disables.
  uint32_t consecutive_5xx = 5;
  // Consecutive gateway failures (`CallOutcome::IsGatewayFailure`) that eject
  // a host; 0 disables. When both rules fire on the same call, this one is
  // named as the reason.
  uint32_t consecutive_gateway_failure = 5;
  // Ejection time: base × times ejected, at most max. base at least 1ms.
  absl::Duration base_ejection_time = absl::Seconds(30);
  absl::Duration max_ejection_time = absl::Seconds(300);
  // Each interval a host spends in service takes one off its ejection count,
  // so a host that recovered for good starts again from base_ejection_time.
  // Zero: the count never decreases.
  absl::Duration ejection_count_decay = absl::Seconds(30);
  // Percent of the cluster's hosts that may be ejected at once, 0 to 100. At
  // least one host may be, unless this is 0 (which disables ejection).
  double max_ejection_percent = 10.0;
  // A passing active health check returns an ejected host at once.
  bool return_on_active_check = true;
  FailureClassifier classifier;

  absl::Status Validate() const;
};

class OutlierDetector {
 public:
  // One host's counters. Obtained from a MonitorSet.
  class HostMonitor {
   public:
    HostMonitor(const HostMonitor&) = delete;
    HostMonitor& operator=(const HostMonitor&) = delete;

    // Records the outcome of one call to this host. Any thread. Outcomes
    // reported while the host is ejected are not counted (its counters start
    // from zero when it returns); cancelled ones never are. An ejection it
    // causes is announced before it returns.
    void Report(const CallOutcome& outcome);
    bool ejected() const { return ejected_.load(std::memory_order_relaxed); }
    const std::string& host() const { return host_; }

   private:
    friend class OutlierDetector;
    HostMonitor(OutlierDetector* detector, std::string host)
        : detector_(detector), host_(std::move(host)) {}

    OutlierDetector* detector_;
    std::string host_;
    std::atomic<uint32_t> consecutive_5xx_{0};
    std::atomic<uint32_t> consecutive_gateway_{0};
    std::atomic<bool> ejected_{false};
    // Guarded by the detector's lock.
    uint32_t times_ejected_ = 0;
    absl::Duration ejected_until_ = absl::ZeroDuration();
    absl::Duration returned_at_ = absl::ZeroDuration();
    bool retired_ = false;  // no longer a member of the cluster
  };

  // The monitors of one host-set snapshot. Immutable; lookups take no lock.
  class MonitorSet {
   public:
    // The monitor of `host` (compared by identity), or nullptr if `host` is
    // not in the snapshot this set was made for.
    HostMonitor* Find(const Host& host) const;
    size_t size() const { return entries_.size(); }

   private:
    friend class OutlierDetector;
    std::shared_ptr<const HostSet> hosts_;  // keeps the keys below alive
    std::vector<std::pair<const Host*, std::shared_ptr<HostMonitor>>> entries_;  // by key
  };

  // Fails with InvalidArgument if `config` does not validate.
  static absl::StatusOr<std::shared_ptr<OutlierDetector>> Create(
      std::string cluster, OutlierDetectionConfig config, const Clock& clock = SystemClock(),
      std::shared_ptr<ResilienceObserver> observer = nullptr);
  OutlierDetector(std::string cluster, OutlierDetectionConfig config, const Clock& clock,
                  std::shared_ptr<ResilienceObserver> observer);  // config must validate
  ~OutlierDetector();
  OutlierDetector(const OutlierDetector&) = delete;
  OutlierDetector& operator=(const OutlierDetector&) = delete;

  // The monitors of `hosts`, the cluster's current snapshot. A snapshot whose
  // version is not older than any seen before also becomes the cluster's
  // membership: hosts that left it are forgotten (returned with reason
  // kRemoved if they were ejected), new ones start with clean counters. Built
  // once per snapshot and shared by every worker that asks for it.
  std::shared_ptr<const MonitorSet> Track(const std::shared_ptr<const HostSet>& hosts);

  // Returns hosts whose ejection time has passed. Cheap when none is due (one
  // clock read and one atomic load), so it can run before every host pick;
  // run it from a timer too (see `next_expiry`), or an ejected host of an idle
  // cluster stays out until the next call.
  void Sweep();
  // Monotonic time of the next due return, or absl::InfiniteDuration().
  absl::Duration next_expiry() const;

  // An active health check of `host` (Host::name()) passed: returns it now if
  // it is ejected and `return_on_active_check` is set.
  void OnActiveCheckPassed(std::string_view host);

  bool IsEjected(std::string_view host) const;
  std::vector<std::string> EjectedHosts() const;  // sorted
  OutlierStats stats() const;
  const std::string& cluster() const { return cluster_; }
  const OutlierDetectionConfig& config() const { return config_; }

 private:
  struct State;
  // Called by a monitor whose counter reached a multiple of its threshold.
  void MaybeEject(HostMonitor& monitor, EjectionReason reason);
  // With the lock held: puts an ejected host back and announces it.
  void Return(HostMonitor& monitor, EjectionReason reason, absl::Duration now);

  std::string cluster_;
  OutlierDetectionConfig config_;
  const Clock& clock_;
  std::shared_ptr<ResilienceObserver> observer_;
  // Nanoseconds of monotonic time; int64 max when nothing is ejected.
  std::atomic<int64_t> next_expiry_ns_;
  std::unique_ptr<State> state_;
};

}  // namespace gateway

#endif  // GATEWAY_OUTLIER_DETECTION_H_
