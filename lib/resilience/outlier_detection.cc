#include "gateway/outlier_detection.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"

namespace gateway {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

struct OutlierDetector::State {
  // A std::mutex rather than absl::Mutex: the system Abseil is not built for
  // ThreadSanitizer, which then cannot see absl::Mutex ordering anything.
  mutable std::mutex mu;
  // Everything down to the counters is guarded by `mu`.
  // The cluster's members by Host::name().
  absl::flat_hash_map<std::string, std::shared_ptr<HostMonitor>> members;
  uint32_t ejected = 0;
  bool have_version = false;
  uint64_t version = 0;
  // The set built for the newest snapshot, so that every worker that sees
  // that snapshot shares one set.
  std::weak_ptr<const HostSet> cached_hosts;
  std::shared_ptr<const MonitorSet> cached_set;

  std::atomic<uint64_t> ejections_5xx{0};
  std::atomic<uint64_t> ejections_gateway{0};
  std::atomic<uint64_t> overflow{0};
  std::atomic<uint64_t> returned_expired{0};
  std::atomic<uint64_t> returned_active_check{0};
};

OutlierDetector::HostMonitor* OutlierDetector::MonitorSet::Find(const Host& host) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), &host,
                             [](const auto& entry, const Host* key) {
                               return std::less<const Host*>()(entry.first, key);
                             });
  return it != entries_.end() && it->first == &host ? it->second.get() : nullptr;
}

void OutlierDetector::HostMonitor::Report(const CallOutcome& outcome) {
  // An ejected host only sees stray calls (in flight when it was ejected, or
  // panic routing); they say nothing new, and it starts clean when it returns.
  if (outcome.result == CallResult::kCancelled || ejected()) return;
  const OutlierDetectionConfig& config = detector_->config_;
  bool gateway_due = false;
  bool failure_due = false;
  // Loads before stores keep a healthy host's counters read-only: every worker
  // reports to the same monitor, so needless writes would bounce its cache line.
  if (config.consecutive_gateway_failure > 0) {
    if (outcome.IsGatewayFailure()) {
      uint32_t n = consecutive_gateway_.fetch_add(1, std::memory_order_relaxed) + 1;
      gateway_due = n % config.consecutive_gateway_failure == 0;
    } else if (consecutive_gateway_.load(std::memory_order_relaxed) != 0) {
      consecutive_gateway_.store(0, std::memory_order_relaxed);
    }
  }
  if (config.consecutive_5xx > 0) {
    switch (config.classifier.Verdict(outcome)) {
      case CallVerdict::kFailure: {
        uint32_t n = consecutive_5xx_.fetch_add(1, std::memory_order_relaxed) + 1;
        failure_due = n % config.consecutive_5xx == 0;
        break;
      }
      case CallVerdict::kSuccess:
        if (consecutive_5xx_.load(std::memory_order_relaxed) != 0) {
          consecutive_5xx_.store(0, std::memory_order_relaxed);
        }
        break;
      case CallVerdict::kIgnored:
        break;
    }
  }
  // Due at every multiple of the threshold, so a host that max_ejection_percent
  // kept in is tried again after as many further failures, not on each one.
  if (gateway_due) {
    detector_->MaybeEject(*this, EjectionReason::kConsecutiveGatewayFailure);
  } else if (failure_due) {
    detector_->MaybeEject(*this, EjectionReason::kConsecutive5xx);
  }
}

absl::Status OutlierDetectionConfig::Validate() const {
  if (base_ejection_time < absl::Milliseconds(1) ||
      base_ejection_time == absl::InfiniteDuration()) {
    return FieldsError(
        {"base_ejection_time"},
        absl::StrCat("outlier detection base_ejection_time must be in [1ms, infinity), got ",
                     absl::FormatDuration(base_ejection_time)));
  }
  if (max_ejection_time < base_ejection_time || max_ejection_time == absl::InfiniteDuration()) {
    return FieldsError(
        {"max_ejection_time", "base_ejection_time"},
        absl::StrCat("outlier detection max_ejection_time must be finite and at least "
                     "base_ejection_time, got ",
                     absl::FormatDuration(max_ejection_time)));
  }
  if (ejection_count_decay < absl::ZeroDuration() ||
      ejection_count_decay == absl::InfiniteDuration()) {
    return FieldsError(
        {"ejection_count_decay"},
        absl::StrCat("outlier detection ejection_count_decay must be finite and >= 0, got ",
                     absl::FormatDuration(ejection_count_decay)));
  }
  if (!(max_ejection_percent >= 0.0 && max_ejection_percent <= 100.0)) {  // NaN fails
    return FieldsError({"max_ejection_percent"},
                       absl::StrCat("outlier detection max_ejection_percent must be in [0, 100], "
                                    "got ",
                                    max_ejection_percent));
  }
  if (absl::Status s = classifier.Validate(); !s.ok()) {
    return NestFieldError(s, "failure_classifier", "outlier detection ");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<OutlierDetector>> OutlierDetector::Create(
    std::string cluster, OutlierDetectionConfig config, const Clock& clock,
    std::shared_ptr<ResilienceObserver> observer) {
  if (absl::Status s = config.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster '", cluster, "': ", s.message()));
  }
  return std::make_shared<OutlierDetector>(std::move(cluster), std::move(config), clock,
                                           std::move(observer));
}

OutlierDetector::OutlierDetector(std::string cluster, OutlierDetectionConfig config,
                                 const Clock& clock, std::shared_ptr<ResilienceObserver> observer)
    : cluster_(std::move(cluster)),
      config_(std::move(config)),
      clock_(clock),
      observer_(std::move(observer)),
      next_expiry_ns_(kNever),
      state_(std::make_unique<State>()) {}

OutlierDetector::~OutlierDetector() = default;

std::shared_ptr<const OutlierDetector::MonitorSet> OutlierDetector::Track(
    const std::shared_ptr<const HostSet>& hosts) {
  auto set = std::make_shared<MonitorSet>();
  if (hosts == nullptr) return set;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.cached_set != nullptr && s.cached_hosts.lock() == hosts) return s.cached_set;
  set->hosts_ = hosts;
  const bool newest = !s.have_version || hosts->version() >= s.version;
  if (newest) {
    s.have_version = true;
    s.version = hosts->version();
    absl::flat_hash_map<std::string, std::shared_ptr<HostMonitor>> members;
    for (const HostPtr& host : hosts->hosts()) {
      auto it = s.members.find(host->name());
      members[host->name()] =
          it != s.members.end() ? it->second
                                : std::shared_ptr<HostMonitor>(new HostMonitor(this, host->name()));
    }
    const absl::Duration now = clock_.Monotonic();
    for (auto& [name, monitor] : s.members) {
      if (members.contains(name)) continue;
      monitor->retired_ = true;
      if (monitor->ejected()) Return(*monitor, EjectionReason::kRemoved, now);
    }
    s.members = std::move(members);
  }
  for (const HostPtr& host : hosts->hosts()) {
    // Hosts of an older snapshot that have left the cluster get no monitor.
    auto it = s.members.find(host->name());
    if (it != s.members.end()) set->entries_.emplace_back(host.get(), it->second);
  }
  std::sort(set->entries_.begin(), set->entries_.end(), [](const auto& a, const auto& b) {
    return std::less<const Host*>()(a.first, b.first);
  });
  if (newest) {
    s.cached_hosts = hosts;
    s.cached_set = set;
  }
  return set;
}

void OutlierDetector::MaybeEject(HostMonitor& monitor, EjectionReason reason) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  if (monitor.retired_ || monitor.ejected()) return;
  const size_t hosts = s.members.size();
  // At least one host may be out whatever the percentage (as in Envoy), so
  // small clusters can eject at all. The epsilon keeps 3 × 33.333...% at 1.
  uint32_t allowed = 0;
  if (config_.max_ejection_percent > 0.0) {
    allowed = std::max<uint32_t>(
        1, static_cast<uint32_t>(std::floor(
               static_cast<double>(hosts) * config_.max_ejection_percent / 100.0 + 1e-9)));
  }
  if (s.ejected >= allowed) {
    s.overflow.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const absl::Duration now = clock_.Monotonic();
  uint32_t times = monitor.times_ejected_;
  if (times > 0 && config_.ejection_count_decay > absl::ZeroDuration()) {
    absl::Duration remainder;  // IDivDuration writes it unconditionally
    const int64_t spent =
        absl::IDivDuration(now - monitor.returned_at_, config_.ejection_count_decay, &remainder);
    times = spent >= times ? 0 : times - static_cast<uint32_t>(spent);
  }
  if (times < std::numeric_limits<uint32_t>::max()) ++times;
  const absl::Duration duration =
      std::min(config_.base_ejection_time * static_cast<int64_t>(times), config_.max_ejection_time);
  monitor.times_ejected_ = times;
  monitor.ejected_until_ = now + duration;
  monitor.consecutive_5xx_.store(0, std::memory_order_relaxed);
  monitor.consecutive_gateway_.store(0, std::memory_order_relaxed);
  monitor.ejected_.store(true, std::memory_order_relaxed);
  ++s.ejected;
  (reason == EjectionReason::kConsecutive5xx ? s.ejections_5xx : s.ejections_gateway)
      .fetch_add(1, std::memory_order_relaxed);
  const int64_t until = absl::ToInt64Nanoseconds(monitor.ejected_until_);
  if (until < next_expiry_ns_.load(std::memory_order_relaxed)) {
    next_expiry_ns_.store(until, std::memory_order_release);
  }
  if (observer_ != nullptr) {
    HostEjectionEvent event;
    event.cluster = cluster_;
    event.host = monitor.host_;
    event.ejected = true;
    event.reason = reason;
    event.times_ejected = times;
    event.duration = duration;
    observer_->OnHostEjection(event);
  }
}

void OutlierDetector::Return(HostMonitor& monitor, EjectionReason reason, absl::Duration now) {
  State& s = *state_;
  monitor.ejected_.store(false, std::memory_order_relaxed);
  monitor.returned_at_ = now;
  monitor.consecutive_5xx_.store(0, std::memory_order_relaxed);
  monitor.consecutive_gateway_.store(0, std::memory_order_relaxed);
  --s.ejected;
  if (reason == EjectionReason::kExpired) {
    s.returned_expired.fetch_add(1, std::memory_order_relaxed);
  } else if (reason == EjectionReason::kActiveCheck) {
    s.returned_active_check.fetch_add(1, std::memory_order_relaxed);
  }
  if (observer_ != nullptr) {
    HostEjectionEvent event;
    event.cluster = cluster_;
    event.host = monitor.host_;
    event.ejected = false;
    event.reason = reason;
    event.times_ejected = monitor.times_ejected_;
    observer_->OnHostEjection(event);
  }
}

void OutlierDetector::Sweep() {
  const absl::Duration now = clock_.Monotonic();
  if (absl::ToInt64Nanoseconds(now) < next_expiry_ns_.load(std::memory_order_acquire)) return;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  int64_t next = kNever;
  for (auto& [name, monitor] : s.members) {
    if (!monitor->ejected()) continue;
    if (monitor->ejected_until_ <= now) {
      Return(*monitor, EjectionReason::kExpired, now);
    } else {
      next = std::min(next, absl::ToInt64Nanoseconds(monitor->ejected_until_));
    }
  }
  next_expiry_ns_.store(next, std::memory_order_release);
}

absl::Duration OutlierDetector::next_expiry() const {
  const int64_t ns = next_expiry_ns_.load(std::memory_order_acquire);
  return ns == kNever ? absl::InfiniteDuration() : absl::Nanoseconds(ns);
}

void OutlierDetector::OnActiveCheckPassed(std::string_view host) {
  if (!config_.return_on_active_check) return;
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  auto it = s.members.find(AV(host));
  if (it == s.members.end() || !it->second->ejected()) return;
  // next_expiry_ns_ may now be early; the next Sweep finds nothing due and
  // sets it right.
  Return(*it->second, EjectionReason::kActiveCheck, clock_.Monotonic());
}

bool OutlierDetector::IsEjected(std::string_view host) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->members.find(AV(host));
  return it != state_->members.end() && it->second->ejected();
}

std::vector<std::string> OutlierDetector::EjectedHosts() const {
  std::vector<std::string> out;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (const auto& [name, monitor] : state_->members) {
      if (monitor->ejected()) out.push_back(name);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

OutlierStats OutlierDetector::stats() const {
  const State& s = *state_;
  OutlierStats stats;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    stats.hosts = static_cast<uint32_t>(s.members.size());
    stats.ejected = s.ejected;
  }
  stats.ejections_consecutive_5xx = s.ejections_5xx.load(std::memory_order_relaxed);
  stats.ejections_consecutive_gateway_failure = s.ejections_gateway.load(std::memory_order_relaxed);
  stats.ejections_overflow = s.overflow.load(std::memory_order_relaxed);
  stats.returned_expired = s.returned_expired.load(std::memory_order_relaxed);
  stats.returned_active_check = s.returned_active_check.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace gateway
