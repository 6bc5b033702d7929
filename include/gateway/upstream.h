// Upstream hosts and host sets: the endpoints of a cluster as load balancers,
// health checks and connection pools see them.
//
// A `HostSet` is an immutable snapshot, shared by every worker as
// `std::shared_ptr<const HostSet>` and replaced whole when membership, weights
// or health change. `Host` objects are shared between successive snapshots
// while their address stays the same, so per-host counters (active requests,
// connections) survive updates. Those counters are atomics: any thread may
// read or update them without locks.
#ifndef GATEWAY_UPSTREAM_H_
#define GATEWAY_UPSTREAM_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace gateway {

class Host {
 public:
  // `address` is an IP literal (IPv4 or IPv6, no brackets); `hostname` is the
  // DNS name it came from, or empty.
  Host(std::string address, uint16_t port, uint32_t weight = 1, std::string hostname = "");

  const std::string& address() const { return address_; }
  uint16_t port() const { return port_; }
  uint32_t weight() const { return weight_; }
  const std::string& hostname() const { return hostname_; }
  // "10.0.0.1:8080" or "[::1]:8080": for logs, metrics and hashing.
  const std::string& name() const { return name_; }

  // Requests currently in flight to this host, across all workers.
  uint32_t active_requests() const { return active_requests_.load(std::memory_order_relaxed); }
  void AddActiveRequests(int32_t delta) const {
    active_requests_.fetch_add(static_cast<uint32_t>(delta), std::memory_order_relaxed);
  }
  // Open upstream connections to this host, across all workers.
  uint32_t active_connections() const {
    return active_connections_.load(std::memory_order_relaxed);
  }
  void AddActiveConnections(int32_t delta) const {
    active_connections_.fetch_add(static_cast<uint32_t>(delta), std::memory_order_relaxed);
  }

 private:
  std::string address_;
  uint16_t port_;
  uint32_t weight_;
  std::string hostname_;
  std::string name_;
  mutable std::atomic<uint32_t> active_requests_{0};
  mutable std::atomic<uint32_t> active_connections_{0};
};

using HostPtr = std::shared_ptr<const Host>;

// An immutable snapshot of a cluster's hosts and their health.
class HostSet {
 public:
  HostSet(std::vector<HostPtr> hosts, std::vector<bool> healthy, uint64_t version = 0);
  // All hosts healthy.
  explicit HostSet(std::vector<HostPtr> hosts, uint64_t version = 0);

  const std::vector<HostPtr>& hosts() const { return hosts_; }
  // Healthy hosts, in the order of hosts().
  const std::vector<HostPtr>& healthy_hosts() const { return healthy_hosts_; }
  bool IsHealthy(size_t index) const { return healthy_[index]; }
  // Increases with every snapshot of the same cluster.
  uint64_t version() const { return version_; }

 private:
  std::vector<HostPtr> hosts_;
  std::vector<bool> healthy_;
  std::vector<HostPtr> healthy_hosts_;
  uint64_t version_;
};

}  // namespace gateway

#endif  // GATEWAY_UPSTREAM_H_
