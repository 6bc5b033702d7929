// Per-loop proxy state: one connection pool and one balancer per cluster, the
// trusted-proxy set, and the retry budget counters. Single-threaded.
#ifndef GATEWAY_LIB_PROXY_PROXY_WORKER_H_
#define GATEWAY_LIB_PROXY_PROXY_WORKER_H_

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "gateway/client_address.h"
#include "gateway/cluster.h"
#include "gateway/dispatcher.h"
#include "gateway/load_balancer.h"
#include "gateway/proxy.h"
#include "gateway/upstream_pool.h"
#include "proxy/forwarding.h"

namespace gateway::internal {

class ProxyWorker {
 public:
  ProxyWorker(Dispatcher& dispatcher, std::shared_ptr<ClusterManager> clusters,
              ProxyOptions options);
  ~ProxyWorker();

  struct ClusterLocal {
    const ClusterSpec* spec = nullptr;
    std::unique_ptr<UpstreamPool> pool;
    std::unique_ptr<LoadBalancer> balancer;
    std::shared_ptr<const HostSet> hosts;
    uint64_t version = 0;
    // The cluster's breaker, limits and detector (shared by every worker).
    const ClusterResilience* resilience = nullptr;
    // Outlier monitors of `hosts`; null without outlier detection.
    std::shared_ptr<const OutlierDetector::MonitorSet> monitors;
  };
  // The worker's view of `cluster` (balancer refreshed if the host set
  // changed), or nullptr for an unknown cluster.
  ClusterLocal* Get(std::string_view cluster);

  Dispatcher& dispatcher() { return dispatcher_; }
  const ProxyOptions& options() const { return options_; }
  bool IsTrusted(std::string_view peer) const { return trusted_.Contains(peer); }
  const AddressRanges& trusted_proxies() const { return trusted_; }
  const ClusterManager& clusters() const { return *clusters_; }

  // Retry budget: requests and retries in flight on this worker.
  uint64_t active_requests = 0;
  uint64_t active_retries = 0;

  // Uniform in [0, 1).
  double Random() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  uint64_t RandomBits() { return rng_(); }

  void CloseIdle();

 private:
  Dispatcher& dispatcher_;
  std::shared_ptr<ClusterManager> clusters_;
  ProxyOptions options_;
  AddressRanges trusted_;
  absl::flat_hash_map<std::string, std::unique_ptr<ClusterLocal>> locals_;
  std::mt19937_64 rng_;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_PROXY_PROXY_WORKER_H_
