// Helpers shared by the load balancer tests.
#ifndef GATEWAY_TESTS_UNIT_LB_LB_TEST_UTIL_H_
#define GATEWAY_TESTS_UNIT_LB_LB_TEST_UTIL_H_

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/load_balancer.h"
#include "gateway/upstream.h"

namespace gateway::lb_test {

inline constexpr LbPolicy kAllPolicies[] = {
    LbPolicy::kRoundRobin,       LbPolicy::kWeightedRoundRobin,
    LbPolicy::kRandom,           LbPolicy::kLeastRequest,
    LbPolicy::kLeastConnections, LbPolicy::kRingHash,
    LbPolicy::kMaglev,           LbPolicy::kIpHash,
};

inline bool IsHashPolicy(LbPolicy p) {
  return p == LbPolicy::kRingHash || p == LbPolicy::kMaglev || p == LbPolicy::kIpHash;
}

// Hosts 10.0.<i/250>.<i%250+1>:8080 with the given weights.
inline std::vector<HostPtr> MakeHosts(const std::vector<uint32_t>& weights) {
  std::vector<HostPtr> hosts;
  for (size_t i = 0; i < weights.size(); ++i) {
    hosts.push_back(std::make_shared<const Host>(
        "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 8080, weights[i]));
  }
  return hosts;
}

inline std::vector<HostPtr> MakeHosts(size_t n) { return MakeHosts(std::vector<uint32_t>(n, 1)); }

inline std::shared_ptr<const LoadBalancerFactory> MakeFactory(LbOptions options) {
  if (options.seed == 0) options.seed = 12345;
  auto factory = MakeLoadBalancerFactory(options);
  REQUIRE(factory.ok());
  return *std::move(factory);
}

inline std::unique_ptr<LoadBalancer> MakeLb(LbOptions options, std::shared_ptr<const HostSet> set) {
  return MakeFactory(options)->Create(std::move(set));
}

inline std::unique_ptr<LoadBalancer> MakeLb(LbPolicy policy, std::shared_ptr<const HostSet> set) {
  return MakeLb(LbOptions{.policy = policy}, std::move(set));
}

// Hash keys for tests: varied, deterministic.
inline uint64_t TestKey(uint64_t i) { return HashKey("client-" + std::to_string(i)); }

// Counts picks per host over `picks` requests (hash keys vary per request).
inline std::map<const Host*, int> CountPicks(LoadBalancer& lb, int picks,
                                             std::span<const Host* const> attempted = {}) {
  std::map<const Host*, int> counts;
  for (int i = 0; i < picks; ++i) {
    LbContext ctx{.hash_key = TestKey(static_cast<uint64_t>(i)), .attempted = attempted};
    HostPtr h = lb.Pick(ctx);
    REQUIRE(h != nullptr);
    ++counts[h.get()];
  }
  return counts;
}

}  // namespace gateway::lb_test

#endif  // GATEWAY_TESTS_UNIT_LB_LB_TEST_UTIL_H_
