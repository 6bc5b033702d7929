#include "proxy/proxy_worker.h"

namespace gateway::internal {

ProxyWorker::ProxyWorker(Dispatcher& dispatcher, std::shared_ptr<ClusterManager> clusters,
                         ProxyOptions options)
    : dispatcher_(dispatcher),
      clusters_(std::move(clusters)),
      options_(std::move(options)),
      rng_(std::random_device{}()) {
  // Options were validated when the pipeline was built.
  auto trusted = AddressRanges::Parse(options_.trusted_proxies);
  if (trusted.ok()) trusted_ = *std::move(trusted);
}

ProxyWorker::~ProxyWorker() = default;

ProxyWorker::ClusterLocal* ProxyWorker::Get(std::string_view cluster) {
  auto it = locals_.find(absl::string_view(cluster.data(), cluster.size()));
  ClusterLocal* local;
  if (it == locals_.end()) {
    const ClusterSpec* spec = clusters_->Find(cluster);
    if (spec == nullptr) return nullptr;
    auto owned = std::make_unique<ClusterLocal>();
    owned->spec = spec;
    owned->resilience = clusters_->Resilience(cluster);
    // The built-in pool goes through the same door as a user's.
    const std::shared_ptr<const UpstreamPoolFactory>& factory =
        spec->pool_factory != nullptr ? spec->pool_factory : TcpPoolFactory();
    owned->pool = factory->Create({.dispatcher = dispatcher_,
                                   .cluster = spec->name,
                                   .options = spec->pool,
                                   .limits = owned->resilience->limits});
    local = owned.get();
    locals_.emplace(std::string(cluster), std::move(owned));
  } else {
    local = it->second.get();
  }
  // Due returns of ejected hosts happen here, before the pick that would
  // miss them: one clock read and one atomic load when nothing is due.
  if (local->resilience->outlier_detector != nullptr) local->resilience->outlier_detector->Sweep();
  // One relaxed load per request; the lock inside Hosts() only on change.
  uint64_t version = clusters_->Version(cluster);
  if (local->balancer == nullptr || version != local->version) {
    local->hosts = clusters_->Hosts(cluster);
    local->version = local->hosts != nullptr ? local->hosts->version() : version;
    auto factory = clusters_->Balancer(cluster);
    local->balancer =
        factory != nullptr && local->hosts != nullptr ? factory->Create(local->hosts) : nullptr;
    if (local->resilience->outlier_detector != nullptr) {
      local->monitors = local->resilience->outlier_detector->Track(local->hosts);
    }
  }
  return local;
}

void ProxyWorker::CloseIdle() {
  for (auto& [name, local] : locals_) local->pool->CloseIdle();
}

}  // namespace gateway::internal
