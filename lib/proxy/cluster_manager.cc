#include "gateway/cluster.h"

#include <netdb.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/ip_literal.h"
#include "gateway/config_node.h"
#include "gateway/http.h"

namespace gateway {
namespace {

using internal::IsIpLiteral;

class SystemResolver final : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view name) override {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* result = nullptr;
    std::string host(name);
    if (int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result); rc != 0) {
      return absl::UnavailableError(absl::StrCat("resolving '", host, "': ", gai_strerror(rc)));
    }
    std::set<std::string> seen;
    std::vector<std::string> out;
    for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {0};
      if (ai->ai_family == AF_INET) {
        uv_ip4_name(reinterpret_cast<sockaddr_in*>(ai->ai_addr), buf, sizeof(buf));
      } else if (ai->ai_family == AF_INET6) {
        uv_ip6_name(reinterpret_cast<sockaddr_in6*>(ai->ai_addr), buf, sizeof(buf));
      } else {
        continue;
      }
      if (seen.insert(buf).second) out.emplace_back(buf);
    }
    freeaddrinfo(result);
    return out;
  }
};

// A resolver's answer as the manager keeps it: literals only, each once, in
// order; empty for a failed lookup. Hosts are built from these strings, so a
// name must never get through.
std::vector<std::string> Addresses(absl::StatusOr<std::vector<std::string>> answer) {
  std::vector<std::string> out;
  if (!answer.ok()) return out;
  std::set<std::string> seen;
  for (std::string& address : *answer) {
    if (IsIpLiteral(address) && seen.insert(address).second) out.push_back(std::move(address));
  }
  return out;
}

struct ClusterEntry {
  ClusterSpec spec;
  std::shared_ptr<const LoadBalancerFactory> balancer;
  std::atomic<uint64_t> version{0};
  bool has_dns = false;

  mutable absl::Mutex mu;
  std::shared_ptr<const HostSet> hosts ABSL_GUARDED_BY(mu);
  // Addresses per endpoint (index into spec.endpoints).
  std::vector<std::vector<std::string>> resolved ABSL_GUARDED_BY(mu);
  // Host objects by name, reused across snapshots so their counters survive.
  absl::flat_hash_map<std::string, HostPtr> cache ABSL_GUARDED_BY(mu);
  std::set<std::string, std::less<>> unhealthy ABSL_GUARDED_BY(mu);
  // Hosts outlier detection has ejected: a second flag beside `unhealthy`.
  std::set<std::string, std::less<>> ejected ABSL_GUARDED_BY(mu);
  // Built once in Init; the objects themselves are thread-safe.
  ClusterResilience resilience;

  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<HostPtr> list;
    std::vector<bool> healthy;
    absl::flat_hash_map<std::string, HostPtr> next_cache;
    for (size_t i = 0; i < spec.endpoints.size(); ++i) {
      const EndpointSpec& ep = spec.endpoints[i];
      for (const std::string& addr : resolved[i]) {
        auto host = std::make_shared<const Host>(addr, ep.port, ep.weight,
                                                 IsIpLiteral(ep.address) ? "" : ep.address);
        auto it = cache.find(host->name());
        if (it != cache.end() && it->second->weight() == ep.weight) host = it->second;
        if (next_cache.contains(host->name())) continue;  // same address twice
        next_cache[host->name()] = host;
        healthy.push_back(!unhealthy.contains(host->name()) && !ejected.contains(host->name()));
        list.push_back(std::move(host));
      }
    }
    cache = std::move(next_cache);
    uint64_t v = version.load(std::memory_order_relaxed) + 1;
    hosts = std::make_shared<const HostSet>(std::move(list), std::move(healthy), v);
    version.store(v, std::memory_order_release);
  }
};

// Applies ejections to the host snapshots, then passes every event on to the
// application's observer.
class EjectionApplier final : public ResilienceObserver {
 public:
  EjectionApplier(ClusterEntry* entry, std::shared_ptr<ResilienceObserver> next)
      : entry_(entry), next_(std::move(next)) {}

  void OnBreakerTransition(const BreakerTransition& event) override {
    if (next_ != nullptr) next_->OnBreakerTransition(event);
  }

  // Runs under the detector's lock, then takes the entry's: nothing takes
  // them the other way round (workers call Hosts() and Track() one after the
  // other, never nested).
  void OnHostEjection(const HostEjectionEvent& event) override {
    {
      absl::MutexLock lock(&entry_->mu);
      bool changed;
      if (event.ejected) {
        changed = entry_->ejected.emplace(event.host).second;
      } else {
        auto it = entry_->ejected.find(event.host);
        changed = it != entry_->ejected.end();
        if (changed) entry_->ejected.erase(it);
      }
      if (changed) entry_->Publish();
    }
    if (next_ != nullptr) next_->OnHostEjection(event);
  }

 private:
  ClusterEntry* entry_;
  std::shared_ptr<ResilienceObserver> next_;
};

using ClusterTable = absl::flat_hash_map<std::string, std::unique_ptr<ClusterEntry>>;

// What the manager and its DNS driver share across threads: requests from the
// manager (any thread) to the driver (its loop), and the async handle that
// wakes the loop for them, cleared once the driver closed it.
struct DnsControl {
  std::mutex mu;
  bool refresh = false;
  bool stop = false;
  uv_async_t* wakeup = nullptr;

  void Signal(bool stopping) {
    std::lock_guard<std::mutex> lock(mu);
    (stopping ? stop : refresh) = true;
    if (wakeup != nullptr) uv_async_send(wakeup);
  }
};

// Resolves the table's DNS names on `loop`: one Resolver call at a time, each
// on libuv's thread pool (uv_queue_work), so a slow answer blocks a pool
// thread, never the loop and never a thread of our own. A round looks up
// every name once and then publishes the clusters whose answers changed; the
// next round starts `refresh` later, or at once after RefreshDns.
//
// Lives on the loop's thread and frees itself there, once stopped, its
// handles closed and its lookup (if any) returned: the table and the
// resolver it uses are shared with the manager, so an answer arriving after
// the manager is gone touches nothing freed. Its handles are unreferenced:
// DNS refreshes alone do not keep the application's loop running.
class DnsDriver {
 public:
  static void Start(uv_loop_t* loop, std::shared_ptr<ClusterTable> table,
                    std::shared_ptr<Resolver> resolver, std::shared_ptr<DnsControl> control,
                    absl::Duration refresh) {
    auto* d =
        new DnsDriver(loop, std::move(table), std::move(resolver), std::move(control), refresh);
    d->StartRound();
  }

  // On the loop's thread (the manager's destructor there): stops now.
  static void StopOnLoop(DnsControl& control) {
    uv_async_t* wakeup;
    {
      std::lock_guard<std::mutex> lock(control.mu);
      control.stop = true;
      wakeup = control.wakeup;
    }
    if (wakeup != nullptr) static_cast<DnsDriver*>(wakeup->data)->Stop();
  }

 private:
  struct Lookup {
    ClusterEntry* entry;
    size_t endpoint;
  };

  DnsDriver(uv_loop_t* loop, std::shared_ptr<ClusterTable> table,
            std::shared_ptr<Resolver> resolver, std::shared_ptr<DnsControl> control,
            absl::Duration refresh)
      : table_(std::move(table)),
        resolver_(std::move(resolver)),
        control_(std::move(control)),
        refresh_ms_(static_cast<uint64_t>(absl::ToInt64Milliseconds(refresh))) {
    for (auto& [name, entry] : *table_) {
      for (size_t i = 0; i < entry->spec.endpoints.size(); ++i) {
        if (!IsIpLiteral(entry->spec.endpoints[i].address)) {
          lookups_.push_back({entry.get(), i});
        }
      }
    }
    uv_timer_init(loop, &timer_);
    uv_async_init(loop, &wakeup_, [](uv_async_t* a) { static_cast<DnsDriver*>(a->data)->Wake(); });
    timer_.data = this;
    wakeup_.data = this;
    work_.data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(&timer_));
    uv_unref(reinterpret_cast<uv_handle_t*>(&wakeup_));
    std::lock_guard<std::mutex> lock(control_->mu);
    control_->wakeup = &wakeup_;
  }

  void Wake() {
    bool stop, refresh;
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      stop = control_->stop;
      refresh = control_->refresh;
      control_->refresh = false;
    }
    if (stop) return Stop();
    if (!refresh) return;
    if (in_round_) {
      refresh_pending_ = true;  // runs after the current round
    } else {
      uv_timer_stop(&timer_);
      StartRound();
    }
  }

  void StartRound() {
    in_round_ = true;
    next_ = 0;
    fresh_.clear();
    Next();
  }

  void Next() {
    if (next_ < lookups_.size()) {
      const Lookup& l = lookups_[next_];
      name_ = l.entry->spec.endpoints[l.endpoint].address;
      answer_ = absl::UnknownError("lookup not run");
      in_flight_ = true;
      int rc = uv_queue_work(timer_.loop, &work_, &ResolveOnPool, &OnResolved);
      if (rc != 0) {
        in_flight_ = false;
        answer_ = absl::UnavailableError(uv_strerror(rc));
        Resolved();
      }
      return;
    }
    Publish();
    in_round_ = false;
    if (refresh_pending_) {
      refresh_pending_ = false;
      StartRound();
      return;
    }
    uv_timer_start(
        &timer_, [](uv_timer_t* t) { static_cast<DnsDriver*>(t->data)->StartRound(); }, refresh_ms_,
        0);
  }

  // On a pool thread. Touches only the request's name, answer and resolver,
  // which nothing on the loop changes while the request is queued.
  static void ResolveOnPool(uv_work_t* req) {
    auto* d = static_cast<DnsDriver*>(req->data);
    d->answer_ = d->resolver_->Resolve(d->name_);
  }

  static void OnResolved(uv_work_t* req, int status) {
    auto* d = static_cast<DnsDriver*>(req->data);
    d->in_flight_ = false;
    if (d->stopping_) return d->MaybeFree();
    if (status != 0) d->answer_ = absl::CancelledError("lookup cancelled");
    d->Resolved();
  }

  void Resolved() {
    const Lookup& l = lookups_[next_];
    fresh_[l.entry].resize(l.entry->spec.endpoints.size());
    fresh_[l.entry][l.endpoint] = Addresses(std::move(answer_));
    ++next_;
    Next();
  }

  void Publish() {
    for (auto& [entry, fresh] : fresh_) {
      absl::MutexLock lock(&entry->mu);
      for (size_t i = 0; i < fresh.size(); ++i) {
        if (IsIpLiteral(entry->spec.endpoints[i].address)) {
          fresh[i] = {entry->spec.endpoints[i].address};
        } else if (fresh[i].empty() && !entry->resolved[i].empty()) {
          // A failed lookup keeps the last good answer: DNS hiccups must not
          // empty a cluster that was serving.
          fresh[i] = entry->resolved[i];
        }
      }
      if (fresh != entry->resolved) {
        entry->resolved = std::move(fresh);
        entry->Publish();
      }
    }
    fresh_.clear();
  }

  void Stop() {
    if (stopping_) return;
    stopping_ = true;
    {
      std::lock_guard<std::mutex> lock(control_->mu);
      control_->wakeup = nullptr;  // no Signal reaches the handle from now on
    }
    // A lookup not yet picked up by a pool thread never runs; one that is
    // running returns to OnResolved, which frees the driver last.
    if (in_flight_) uv_cancel(reinterpret_cast<uv_req_t*>(&work_));
    auto closed = [](uv_handle_t* h) {
      auto* d = static_cast<DnsDriver*>(h->data);
      --d->open_handles_;
      d->MaybeFree();
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&wakeup_), closed);
  }

  void MaybeFree() {
    if (open_handles_ == 0 && !in_flight_) delete this;
  }

  std::shared_ptr<ClusterTable> table_;  // keeps the entries of lookups_ alive
  std::shared_ptr<Resolver> resolver_;
  std::shared_ptr<DnsControl> control_;
  uint64_t refresh_ms_;
  std::vector<Lookup> lookups_;
  uv_timer_t timer_;
  uv_async_t wakeup_;
  uv_work_t work_;
  int open_handles_ = 2;
  // The lookup in flight: written on the loop before it is queued and read
  // after it returned; the pool thread writes `answer_` in between.
  std::string name_;
  absl::StatusOr<std::vector<std::string>> answer_;
  bool in_flight_ = false;
  bool in_round_ = false;
  bool refresh_pending_ = false;
  bool stopping_ = false;
  size_t next_ = 0;
  // This round's answers per cluster and endpoint.
  absl::flat_hash_map<ClusterEntry*, std::vector<std::vector<std::string>>> fresh_;
};

class ClusterManagerImpl final : public ClusterManager {
 public:
  ClusterManagerImpl(std::shared_ptr<Resolver> resolver,
                     std::shared_ptr<ResilienceObserver> observer, const Clock& clock,
                     uv_loop_t* loop)
      : resolver_(std::move(resolver)),
        observer_(std::move(observer)),
        clock_(clock),
        loop_(loop),
        clusters_(std::make_shared<ClusterTable>()) {}

  ~ClusterManagerImpl() override {
    if (dns_ == nullptr) return;
    if (std::this_thread::get_id() == loop_thread_) {
      DnsDriver::StopOnLoop(*dns_);  // the loop may not run again before it closes
    } else {
      dns_->Signal(/*stopping=*/true);
    }
  }

  absl::Status Init(std::vector<ClusterSpec> specs) {
    for (ClusterSpec& spec : specs) {
      if (absl::Status s = spec.Validate(); !s.ok()) return s;
      if (clusters_->contains(spec.name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster '", spec.name, "': defined more than once"));
      }
      auto balancer =
          spec.load_balancer != nullptr
              ? absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>>(spec.load_balancer)
              : MakeLoadBalancerFactory(spec.lb);
      if (!balancer.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster '", spec.name, "': lb: ", balancer.status().message()));
      }
      auto entry = std::make_unique<ClusterEntry>();
      entry->balancer = *balancer;
      auto resilience =
          BuildClusterResilience(spec.name, spec.resilience, clock_,
                                 std::make_shared<EjectionApplier>(entry.get(), observer_));
      if (!resilience.ok()) return resilience.status();
      entry->resilience = *std::move(resilience);
      absl::MutexLock lock(&entry->mu);
      entry->resolved.resize(spec.endpoints.size());
      for (size_t i = 0; i < spec.endpoints.size(); ++i) {
        if (IsIpLiteral(spec.endpoints[i].address)) {
          entry->resolved[i] = {spec.endpoints[i].address};
        } else {
          entry->has_dns = true;
        }
      }
      if (entry->has_dns && loop_ == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster '", spec.name,
                         "': has DNS names but the cluster manager has no loop to resolve them on "
                         "(ClusterManagerOptions::loop)"));
      }
      min_refresh_ = std::min(min_refresh_, spec.dns_refresh);
      names_.push_back(spec.name);
      entry->spec = std::move(spec);
      entry->Publish();
      any_dns_ |= entry->has_dns;
      std::string name = entry->spec.name;
      clusters_->emplace(std::move(name), std::move(entry));
    }
    for (const auto& [name, entry] : *clusters_) {
      if (!entry->spec.fallback.has_value() || entry->spec.fallback->cluster.empty()) continue;
      const std::string& to = entry->spec.fallback->cluster;
      if (to == name || !clusters_->contains(to)) {
        return absl::InvalidArgumentError(
            absl::StrCat("cluster '", name, "': fallback.cluster '", to, "' ",
                         to == name ? "is the cluster itself" : "is not a defined cluster"));
      }
    }
    if (any_dns_) {
      loop_thread_ = std::this_thread::get_id();
      dns_ = std::make_shared<DnsControl>();
      DnsDriver::Start(loop_, clusters_, resolver_, dns_, min_refresh_);
    }
    return absl::OkStatus();
  }

  const ClusterSpec* Find(std::string_view name) const override {
    const ClusterEntry* e = Get(name);
    return e != nullptr ? &e->spec : nullptr;
  }
  std::shared_ptr<const HostSet> Hosts(std::string_view name) const override {
    const ClusterEntry* e = Get(name);
    if (e == nullptr) return nullptr;
    absl::MutexLock lock(&e->mu);
    return e->hosts;
  }
  uint64_t Version(std::string_view name) const override {
    const ClusterEntry* e = Get(name);
    return e != nullptr ? e->version.load(std::memory_order_acquire) : 0;
  }
  std::shared_ptr<const LoadBalancerFactory> Balancer(std::string_view name) const override {
    const ClusterEntry* e = Get(name);
    return e != nullptr ? e->balancer : nullptr;
  }

  void SetHealthy(std::string_view cluster, std::string_view host, bool healthy) override {
    ClusterEntry* e = Get(cluster);
    if (e == nullptr) return;
    absl::MutexLock lock(&e->mu);
    auto it = e->unhealthy.find(host);
    bool currently_healthy = it == e->unhealthy.end();
    if (currently_healthy == healthy) return;
    if (healthy) {
      e->unhealthy.erase(it);
    } else {
      e->unhealthy.emplace(host);
    }
    e->Publish();
  }

  void RefreshDns() override {
    if (dns_ != nullptr) dns_->Signal(/*stopping=*/false);
  }

  const ClusterResilience* Resilience(std::string_view name) const override {
    const ClusterEntry* e = Get(name);
    return e != nullptr ? &e->resilience : nullptr;
  }

  std::vector<std::string> names() const override { return names_; }

 private:
  ClusterEntry* Get(std::string_view name) const {
    auto it = clusters_->find(absl::string_view(name.data(), name.size()));
    return it == clusters_->end() ? nullptr : it->second.get();
  }

  std::shared_ptr<Resolver> resolver_;
  std::shared_ptr<ResilienceObserver> observer_;
  const Clock& clock_;
  uv_loop_t* loop_;
  // Built once in Init, read-only afterwards: lookups need no lock. Shared
  // with the DNS driver, which publishes into the entries.
  std::shared_ptr<ClusterTable> clusters_;
  std::vector<std::string> names_;
  bool any_dns_ = false;
  absl::Duration min_refresh_ = absl::Hours(1);
  std::shared_ptr<DnsControl> dns_;  // null without DNS names
  std::thread::id loop_thread_;      // the thread that created the manager
};

}  // namespace

absl::Status ClusterSpec::Validate() const {
  if (name.empty()) return absl::InvalidArgumentError("cluster: name is empty");
  if (endpoints.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster '", name, "': no endpoints"));
  }
  if (codec == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cluster '", name, "': codec factory is null"));
  }
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const EndpointSpec& ep = endpoints[i];
    if (ep.address.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", name, "': endpoints[", i, "].address is empty"));
    }
    if (ep.port == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", name, "': endpoints[", i, "].port must be 1-65535"));
    }
  }
  if (dns_refresh < absl::Seconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cluster '", name, "': dns_refresh must be at least 1s"));
  }
  if (!hash_policy.empty() && !UsesHashKey(lb.policy)) {
    // Accepted, it would look like affinity and do nothing.
    return absl::InvalidArgumentError(
        absl::StrCat("cluster '", name,
                     "': hash_policy needs a balancer that hashes (ip_hash, ring_hash or maglev)"));
  }
  for (size_t i = 0; i < hash_policy.size(); ++i) {
    if (hash_policy[i].kind == HashPolicy::Kind::kRouteCapture) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", name, "': hash_policy[", i,
                       "].route_capture: captures differ between routes; set it on the route"));
    }
    if (absl::Status s = hash_policy[i].Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", name, "': hash_policy[", i, "].", s.message()));
    }
  }
  if (absl::Status s = pool.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster '", name, "': pool: ", s.message()));
  }
  if (health_check.has_value()) {
    if (absl::Status s = health_check->Validate(); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("cluster '", name, "': ", s.message()));
    }
  }
  if (absl::Status s = resilience.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("cluster '", name, "': ", s.message()));
  }
  if (fallback.has_value()) {
    if (absl::Status s = fallback->Validate(); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cluster '", name, "': fallback: ", s.message()));
    }
  }
  return absl::OkStatus();
}

absl::Status FallbackSpec::Validate() const {
  static constexpr ResponseFlag kFlags[] = {
      ResponseFlag::kCircuitOpen, ResponseFlag::kNoHealthyUpstream, ResponseFlag::kUpstreamOverflow,
      ResponseFlag::kUpstreamConnectFailed, ResponseFlag::kUpstreamConnectTimeout};
  for (const std::string& flag : on) {
    std::optional<ResponseFlag> parsed = ParseResponseFlag(flag);
    if (!parsed || std::find(std::begin(kFlags), std::end(kFlags), *parsed) == std::end(kFlags)) {
      return FieldsError(
          {"on"},
          absl::StrCat("on: unknown flag '", flag,
                       "' (expected one of: circuit_open, no_healthy_upstream, upstream_overflow, "
                       "upstream_connect_failed, upstream_connect_timeout)"));
    }
  }
  if (on.empty()) return FieldsError({"on"}, "on: names no flag");
  if (cluster.empty() && (status < 200 || status > 599)) {
    return FieldsError({"status"}, absl::StrCat("status must be 200-599, got ", status));
  }
  for (const auto& [name, value] : headers) {
    if (!IsValidHeaderName(name) || !IsValidHeaderValue(value)) {
      return FieldsError({"headers"}, absl::StrCat("headers: invalid header '", name, "'"));
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<Resolver> MakeSystemResolver() { return std::make_shared<SystemResolver>(); }

absl::StatusOr<std::shared_ptr<ClusterManager>> ClusterManager::Create(
    std::vector<ClusterSpec> clusters) {
  return Create(std::move(clusters), ClusterManagerOptions{});
}

absl::StatusOr<std::shared_ptr<ClusterManager>> ClusterManager::Create(
    std::vector<ClusterSpec> clusters, ClusterManagerOptions options) {
  std::shared_ptr<Resolver> resolver =
      options.resolver != nullptr ? std::move(options.resolver) : MakeSystemResolver();
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock();
  auto manager = std::make_shared<ClusterManagerImpl>(
      std::move(resolver), std::move(options.observer), clock, options.loop);
  if (absl::Status s = manager->Init(std::move(clusters)); !s.ok()) return s;
  return std::shared_ptr<ClusterManager>(std::move(manager));
}

}  // namespace gateway
