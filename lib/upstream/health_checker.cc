#include <uv.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gateway/cluster.h"
#include "gateway/codec.h"
#include "gateway/health_check.h"
#include "gateway/upstream_pool.h"

namespace gateway {

absl::Status HealthCheckSpec::Validate() const {
  if (type == Type::kHttp) {
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError("health_check.path: must start with '/'");
    }
    for (char c : path) {
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
        return absl::InvalidArgumentError("health_check.path: must not contain spaces or controls");
      }
    }
    if (!host.empty() && !IsValidHeaderValue(host)) {
      return absl::InvalidArgumentError("health_check.host: not a valid header value");
    }
    if (expected_statuses.empty()) {
      return absl::InvalidArgumentError("health_check.expected_statuses: empty");
    }
    for (const auto& [lo, hi] : expected_statuses) {
      if (lo < 100 || hi > 599 || lo > hi) {
        return absl::InvalidArgumentError(
            absl::StrCat("health_check.expected_statuses: bad range ", lo, "-", hi));
      }
    }
  }
  if (interval < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError("health_check.interval: must be at least 10ms");
  }
  if (unhealthy_interval != absl::ZeroDuration() && unhealthy_interval < absl::Milliseconds(10)) {
    return absl::InvalidArgumentError(
        "health_check.unhealthy_interval: must be 0 or at least 10ms");
  }
  if (jitter < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("health_check.jitter: must not be negative");
  }
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("health_check.timeout: must be positive");
  }
  if (healthy_threshold == 0 || unhealthy_threshold == 0) {
    return absl::InvalidArgumentError("health_check thresholds: must be at least 1");
  }
  return absl::OkStatus();
}

HealthState::Transition HealthState::Record(bool passed) {
  if (passed == healthy_) {
    streak_ = 0;  // a streak must be consecutive
    return Transition::kNone;
  }
  ++streak_;
  if (streak_ < (healthy_ ? unhealthy_threshold_ : healthy_threshold_)) return Transition::kNone;
  healthy_ = !healthy_;
  streak_ = 0;
  return healthy_ ? Transition::kBecameHealthy : Transition::kBecameUnhealthy;
}

namespace {

class HealthCheckerImpl;
struct ClusterProbes;

// Probes one host, one probe at a time, each on a fresh connection: reusing
// one would keep passing for a host that no longer accepts connections.
class HostProbe final : public UpstreamConnectionCallbacks, public CodecSink {
 public:
  HostProbe(HealthCheckerImpl& owner, ClusterProbes& cluster, HostPtr host);
  ~HostProbe() override;

  void Schedule(absl::Duration delay) { timer_->Enable(delay); }
  const HostPtr& host() const { return host_; }
  const HealthState& state() const { return state_; }
  uint64_t probes() const { return probes_; }
  uint64_t failures() const { return failures_; }
  const std::string& last_failure() const { return last_failure_; }

  // UpstreamConnectionCallbacks.
  void OnUpstreamData(std::string_view data) override;
  void OnUpstreamClosed(bool reset) override;

  // CodecSink.
  void OnResponseHead(ResponseHead&& head) override;
  void OnBody(std::string_view) override {}
  void OnMessageComplete() override {}
  void OnError(const CodecError& error) override;

 private:
  void Run();
  void OnReady(PoolResult result);
  // Records a result once per probe and schedules the next one. Callbacks
  // only note a verdict; it is acted on after the codec returns.
  void Finish(bool passed, const std::string& reason);
  void Verdict(bool passed, std::string reason) {
    if (!verdict_) verdict_ = std::make_pair(passed, std::move(reason));
  }

  HealthCheckerImpl& owner_;
  ClusterProbes& cluster_;
  HostPtr host_;
  HealthState state_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<Timer> timeout_;
  CancelHandle pending_;
  PoolLease lease_;
  std::unique_ptr<Codec> codec_;
  std::string request_;
  bool running_ = false;
  std::optional<std::pair<bool, std::string>> verdict_;
  uint64_t probes_ = 0;
  uint64_t failures_ = 0;
  std::string last_failure_;
};

struct ClusterProbes {
  std::string name;
  HealthCheckSpec spec;
  std::unique_ptr<UpstreamPool> pool;
  uint64_t version = 0;
  absl::flat_hash_map<std::string, std::unique_ptr<HostProbe>> hosts;
};

class HealthCheckerImpl final : public HealthChecker {
 public:
  HealthCheckerImpl(Dispatcher& dispatcher, std::shared_ptr<ClusterManager> clusters,
                    Options options)
      : dispatcher_(dispatcher),
        clusters_(std::move(clusters)),
        options_(std::move(options)),
        random_(std::random_device{}()) {
    for (const std::string& name : clusters_->names()) {
      const ClusterSpec* spec = clusters_->Find(name);
      if (spec == nullptr || !spec->health_check.has_value()) continue;
      auto c = std::make_unique<ClusterProbes>();
      c->name = name;
      c->spec = *spec->health_check;
      PoolOptions pool;
      pool.connect_timeout = c->spec.timeout;
      pool.max_idle_per_host = 0;
      c->pool = MakeTcpPool(dispatcher_, pool);
      clusters_probed_.push_back(std::move(c));
    }
    // Host sets change with DNS answers; the check is one atomic load per cluster.
    sync_timer_ = dispatcher_.CreateTimer([this] {
      Sync();
      sync_timer_->Enable(absl::Seconds(1));
    });
    if (!clusters_probed_.empty()) sync_timer_->Enable(absl::ZeroDuration());
  }

  ~HealthCheckerImpl() override {
    for (auto& c : clusters_probed_) c->hosts.clear();  // before their pools
  }

  std::vector<HostStatus> Status() const override {
    absl::MutexLock lock(&status_mu_);
    return status_;
  }

  Dispatcher& dispatcher() { return dispatcher_; }

  absl::Duration Interval(const HealthCheckSpec& spec, bool healthy) {
    absl::Duration base = !healthy && spec.unhealthy_interval > absl::ZeroDuration()
                              ? spec.unhealthy_interval
                              : spec.interval;
    return base + Jitter(spec.jitter);
  }

  // A random delay in [0, max).
  absl::Duration Jitter(absl::Duration max) {
    if (max <= absl::ZeroDuration()) return absl::ZeroDuration();
    std::uniform_real_distribution<double> d(0.0, 1.0);
    return d(random_) * max;
  }

  void Report(ClusterProbes& cluster, HostProbe& probe, bool passed, HealthState::Transition t,
              const std::string& reason) {
    if (passed) {
      // A passing probe may return a host that outlier detection ejected.
      const ClusterResilience* r = clusters_->Resilience(cluster.name);
      if (r != nullptr && r->outlier_detector != nullptr) {
        r->outlier_detector->OnActiveCheckPassed(probe.host()->name());
      }
    }
    if (t != HealthState::Transition::kNone) {
      bool healthy = t == HealthState::Transition::kBecameHealthy;
      clusters_->SetHealthy(cluster.name, probe.host()->name(), healthy);
      if (options_.on_change) {
        options_.on_change(HealthEvent{.cluster = cluster.name,
                                       .host = probe.host()->name(),
                                       .healthy = healthy,
                                       .reason = reason});
      }
    }
    PublishStatus();
  }

 private:
  void Sync() {
    bool changed = false;
    for (auto& c : clusters_probed_) {
      uint64_t v = clusters_->Version(c->name);
      if (v == c->version) continue;
      c->version = v;
      std::shared_ptr<const HostSet> set = clusters_->Hosts(c->name);
      if (set == nullptr) continue;
      absl::flat_hash_map<std::string, std::unique_ptr<HostProbe>> next;
      for (const HostPtr& h : set->hosts()) {
        auto it = c->hosts.find(h->name());
        if (it != c->hosts.end()) {
          next.emplace(h->name(), std::move(it->second));
          continue;
        }
        auto probe = std::make_unique<HostProbe>(*this, *c, h);
        // New hosts are probed soon, spread over the jitter.
        probe->Schedule(Jitter(std::min(c->spec.jitter, c->spec.interval)));
        next.emplace(h->name(), std::move(probe));
        changed = true;
      }
      changed |= next.size() != c->hosts.size();
      // Departed hosts' probes stop here; their connections close.
      c->hosts = std::move(next);
    }
    if (changed) PublishStatus();
  }

  void PublishStatus() {
    std::vector<HostStatus> all;
    for (const auto& c : clusters_probed_) {
      for (const auto& [name, probe] : c->hosts) {
        all.push_back(HostStatus{.cluster = c->name,
                                 .host = name,
                                 .healthy = probe->state().healthy(),
                                 .probes = probe->probes(),
                                 .failures = probe->failures(),
                                 .last_failure = probe->last_failure()});
      }
    }
    absl::MutexLock lock(&status_mu_);
    status_ = std::move(all);
  }

  Dispatcher& dispatcher_;
  std::shared_ptr<ClusterManager> clusters_;
  Options options_;
  std::mt19937_64 random_;
  std::vector<std::unique_ptr<ClusterProbes>> clusters_probed_;
  std::unique_ptr<Timer> sync_timer_;
  mutable absl::Mutex status_mu_;
  std::vector<HostStatus> status_ ABSL_GUARDED_BY(status_mu_);
};

HostProbe::HostProbe(HealthCheckerImpl& owner, ClusterProbes& cluster, HostPtr host)
    : owner_(owner),
      cluster_(cluster),
      host_(std::move(host)),
      state_(cluster.spec.healthy_threshold, cluster.spec.unhealthy_threshold) {
  timer_ = owner_.dispatcher().CreateTimer([this] { Run(); });
  timeout_ = owner_.dispatcher().CreateTimer([this] { Finish(false, "timeout"); });
  const HealthCheckSpec& spec = cluster_.spec;
  if (spec.type == HealthCheckSpec::Type::kHttp) {
    std::string authority = spec.host;
    if (authority.empty()) {
      const std::string& name = host_->hostname().empty() ? host_->address() : host_->hostname();
      bool v6 = name.find(':') != std::string::npos;
      authority = absl::StrCat(v6 ? "[" : "", name, v6 ? "]" : "", ":", host_->port());
    }
    request_ = absl::StrCat("GET ", spec.path, " HTTP/1.1\r\nHost: ", authority,
                            "\r\nUser-Agent: gateway-health-check\r\nConnection: close\r\n\r\n");
  }
}

HostProbe::~HostProbe() {
  if (lease_) lease_->SetCallbacks(nullptr);
}

void HostProbe::Run() {
  running_ = true;
  verdict_.reset();
  ++probes_;
  timeout_->Enable(cluster_.spec.timeout);
  pending_ = cluster_.pool->Acquire(host_, [this](PoolResult r) { OnReady(std::move(r)); });
}

void HostProbe::OnReady(PoolResult result) {
  pending_.Detach();
  if (!running_) return;
  if (!result.ok()) {
    Finish(false, result.failure == PoolFailure::kConnectTimeout ? "timeout" : "connect failed");
    return;
  }
  if (cluster_.spec.type == HealthCheckSpec::Type::kTcp) {
    result.lease = PoolLease();  // accepted: that is all a TCP check asks
    Finish(true, {});
    return;
  }
  lease_ = std::move(result.lease);
  CodecLimits limits;
  limits.max_header_bytes = 16 * 1024;
  codec_ = MakeHttp1Codec(CodecMode::kClient, limits, *this);
  codec_->ExpectResponseTo("GET");
  lease_->SetCallbacks(this);
  lease_->Write(request_);
}

void HostProbe::OnUpstreamData(std::string_view data) {
  if (!running_ || codec_ == nullptr) return;
  codec_->Feed(data);
  if (verdict_) {
    auto v = std::move(*verdict_);
    Finish(v.first, v.second);
  }
}

void HostProbe::OnUpstreamClosed(bool reset) {
  if (!running_) return;
  Finish(false, reset ? "connection reset" : "closed before a response");
}

void HostProbe::OnResponseHead(ResponseHead&& head) {
  if (head.status < 200) return;  // interim
  for (const auto& [lo, hi] : cluster_.spec.expected_statuses) {
    if (head.status >= lo && head.status <= hi) return Verdict(true, {});
  }
  Verdict(false, absl::StrCat("status ", head.status));
}

void HostProbe::OnError(const CodecError& error) { Verdict(false, "invalid response"); }

void HostProbe::Finish(bool passed, const std::string& reason) {
  if (!running_) return;
  running_ = false;
  timeout_->Disable();
  pending_.Cancel();
  if (lease_) {
    lease_->SetCallbacks(nullptr);
    lease_ = PoolLease();
  }
  // Never inside the codec's own Feed: its callbacks only note a verdict.
  codec_.reset();
  if (!passed) {
    ++failures_;
    last_failure_ = reason;
  }
  HealthState::Transition t = state_.Record(passed);
  Schedule(owner_.Interval(cluster_.spec, state_.healthy()));
  owner_.Report(cluster_, *this, passed, t, reason);
}

}  // namespace

std::unique_ptr<HealthChecker> HealthChecker::Create(Dispatcher& dispatcher,
                                                     std::shared_ptr<ClusterManager> clusters,
                                                     Options options) {
  return std::make_unique<HealthCheckerImpl>(dispatcher, std::move(clusters), std::move(options));
}

}  // namespace gateway
