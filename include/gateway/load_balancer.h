// Load balancing: choosing the upstream host for one request attempt.
//
// A `LoadBalancerFactory` is configuration, shared by all workers. For every
// host-set snapshot, each worker asks it for a `LoadBalancer` and uses that
// instance alone, on its own loop thread: `Pick` needs no locks. Immutable
// tables derived from a snapshot (hash rings, Maglev tables) may be shared
// between workers' balancers of the same snapshot.
//
// Factories are made by name through a `LoadBalancerRegistry`: the built-in
// policies are registered in `LoadBalancerRegistry::Global()` under their
// YAML names, and a user's balancer registered there can be named from YAML
// (`lb: {policy: <name>, config: {...}}`) exactly like them. An embedder may
// also hand a factory to a cluster directly (`ClusterSpec::load_balancer`).
#ifndef GATEWAY_LOAD_BALANCER_H_
#define GATEWAY_LOAD_BALANCER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config_node.h"
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
  // A balancer registered in LoadBalancerRegistry::Global() under this name,
  // used instead of `policy` (which the YAML loader leaves at its default for
  // such names). Empty: the built-in `policy`.
  std::string name;
  // The registered balancer's own settings (YAML `lb.config`); a null node
  // when none were given. The built-in policies take none.
  ConfigNode config;
};

class LoadBalancerFactory {
 public:
  virtual ~LoadBalancerFactory() = default;
  // A balancer over `hosts` for one worker. Thread-safe.
  virtual std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const = 0;
};

// What a registered balancer's maker gets; valid during the call.
struct LbMakeContext {
  // The cluster's `lb` options (`name` is the name being made).
  const LbOptions& options;
  // `options.config`: errors made with `config.Error(...)` or returned by its
  // accessors name file, line and key.
  const ConfigNode& config;
};

// Balancer factories by name. Makers run at configuration time (cluster
// manager creation: start and every reload), never on a request path. All
// methods are thread-safe.
class LoadBalancerRegistry {
 public:
  // Builds a factory from the cluster's options; an error fails the cluster
  // (and so the start or reload) with its message.
  using Maker = std::function<absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>>(
      const LbMakeContext& context)>;

  LoadBalancerRegistry() = default;  // empty; see RegisterBuiltinBalancers
  LoadBalancerRegistry(const LoadBalancerRegistry&) = delete;
  LoadBalancerRegistry& operator=(const LoadBalancerRegistry&) = delete;

  // The process's registry: the built-in policies, and whatever the program
  // registered. `MakeLoadBalancerFactory` and the YAML loader look names up
  // here, so register a balancer before loading the config that names it.
  static LoadBalancerRegistry& Global();

  // Adds or replaces `name`.
  void Register(std::string name, Maker maker);
  bool Contains(std::string_view name) const;
  // NotFound if `name` is not registered; otherwise the maker's result.
  absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> Make(
      std::string_view name, const LbMakeContext& context) const;
  std::vector<std::string> names() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, Maker, std::less<>> makers_;  // guarded by mu_
};

// Registers the built-in policies under their YAML names: "round_robin",
// "weighted_round_robin", "random", "least_request", "least_connections",
// "ring_hash", "maglev" and "ip_hash". Each takes no `config`.
void RegisterBuiltinBalancers(LoadBalancerRegistry& registry);

// Every built-in policy with its YAML name, in declaration order: the one
// table the registry, the YAML loader and messages use.
std::span<const std::pair<std::string_view, LbPolicy>> LbPolicyNames();

// The YAML name of a built-in policy ("" for a value outside the enum).
std::string_view LbPolicyName(LbPolicy policy);

// The factory `options` name, made through LoadBalancerRegistry::Global():
// `options.name` if set, else the built-in policy's name. Fails if the name
// is not registered or its maker rejects the options (built-ins: out of range).
absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> MakeLoadBalancerFactory(
    const LbOptions& options);

// Stable 64-bit hash for hash keys (xxHash-style quality; same on every run
// and platform, so rings agree between processes).
uint64_t HashKey(std::string_view data);

}  // namespace gateway

#endif  // GATEWAY_LOAD_BALANCER_H_
