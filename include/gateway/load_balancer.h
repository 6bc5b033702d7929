// Load balancing: choosing the upstream host for one request attempt.
//
// A `LoadBalancerFactory` is configuration, shared by all workers. For every
// host-set snapshot, each worker asks it for a `LoadBalancer` and uses that
// instance alone, on its own loop thread: `Pick` needs no locks. Immutable
// tables derived from a snapshot (hash rings, Maglev tables) may be shared
// between workers' balancers of the same snapshot.
#ifndef GATEWAY_LOAD_BALANCER_H_
#define GATEWAY_LOAD_BALANCER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/upstream.h"

namespace gateway {

struct LbContext {
  // Key for hashing balancers (consistent hash, Maglev, IP hash). Balancers
  // that need one fall back to their unhashed behaviour (a random pick)
  // without it. The proxy always sets it for them: from the hash policy
  // (gateway/hash_policy.h), else from the client address.
  std::optional<uint64_t> hash_key;
  // Hosts already tried for this request; avoided while another choice exists.
  std::span<const Host* const> attempted;
};

class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  // The host for the next attempt, or nullptr if the set has no usable host.
  // Unhealthy hosts are skipped unless the healthy share is below the panic
  // threshold, in which case all hosts are candidates. Weight-0 hosts are never picked.
  virtual HostPtr Pick(const LbContext& context) = 0;
};

enum class LbPolicy {
  kRoundRobin,          // weights ignored
  kWeightedRoundRobin,  // smooth weighted round robin
  kRandom,              // weighted random
  kLeastRequest,        // two random choices, fewer active requests wins (weighted)
  kLeastConnections,    // fewest active connections (ties: round robin)
  kRingHash,            // ketama-style consistent hash ring
  kMaglev,              // Maglev lookup table
  kIpHash,              // hash of the client address (key supplied by the caller)
};

// True for the policies that pick by `LbContext::hash_key`: kRingHash,
// kMaglev and kIpHash.
bool UsesHashKey(LbPolicy policy);

struct LbOptions {
  LbPolicy policy = LbPolicy::kRoundRobin;
  // Below this percentage of healthy hosts, balance over all hosts (0 disables).
  double panic_threshold_percent = 50.0;
  // Ring hash: virtual nodes per unit of weight.
  uint32_t ring_vnodes_per_weight = 160;
  // Maglev: table size, a prime well above the number of hosts.
  uint32_t maglev_table_size = 65537;
  // Seed for random choices (tests pass a fixed one); 0 seeds from the system.
  uint64_t seed = 0;
};

class LoadBalancerFactory {
 public:
  virtual ~LoadBalancerFactory() = default;
  // A balancer over `hosts` for one worker. Thread-safe.
  virtual std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const = 0;
};

// Built-in balancers. Fails if `options` are out of range.
absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> MakeLoadBalancerFactory(
    const LbOptions& options);

// Stable 64-bit hash for hash keys (xxHash-style quality; same on every run
// and platform, so rings agree between processes).
uint64_t HashKey(std::string_view data);

}  // namespace gateway

#endif  // GATEWAY_LOAD_BALANCER_H_
