// LoadBalancer::Pick for every built-in policy on 10 and 100 hosts.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "gateway/load_balancer.h"
#include "gateway/upstream.h"

namespace gateway {
namespace {

std::shared_ptr<const HostSet> MakeHosts(int count) {
  std::vector<HostPtr> hosts;
  hosts.reserve(count);
  for (int i = 0; i < count; ++i) {
    // Mixed weights so the weighted policies have work to do.
    hosts.push_back(std::make_shared<Host>(absl::StrCat("10.0.", i / 250, ".", i % 250 + 1), 8080,
                                           static_cast<uint32_t>(1 + i % 4)));
  }
  return std::make_shared<HostSet>(std::move(hosts));
}

void BM_LbPick(benchmark::State& state, LbPolicy policy, bool hashed) {
  LbOptions options;
  options.policy = policy;
  options.seed = 42;
  auto factory = MakeLoadBalancerFactory(options);
  if (!factory.ok()) {
    state.SkipWithError("MakeLoadBalancerFactory failed");
    return;
  }
  std::unique_ptr<LoadBalancer> lb =
      (*factory)->Create(MakeHosts(static_cast<int>(state.range(0))));
  // Distinct request keys (client addresses, header values), hashed up front.
  std::vector<uint64_t> keys;
  keys.reserve(1024);
  for (int i = 0; i < 1024; ++i) keys.push_back(HashKey(absl::StrCat("192.168.", i, ".7")));
  size_t next = 0;
  for (auto _ : state) {
    LbContext context;
    if (hashed) context.hash_key = keys[next++ & 1023];
    HostPtr host = lb->Pick(context);
    if (host == nullptr) {
      state.SkipWithError("Pick returned no host");
      break;
    }
    benchmark::DoNotOptimize(host.get());
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_LbPick, RoundRobin, LbPolicy::kRoundRobin, false)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, WeightedRoundRobin, LbPolicy::kWeightedRoundRobin, false)
    ->Arg(10)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, Random, LbPolicy::kRandom, false)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, LeastRequest, LbPolicy::kLeastRequest, false)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, LeastConnections, LbPolicy::kLeastConnections, false)
    ->Arg(10)
    ->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, RingHash, LbPolicy::kRingHash, true)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, Maglev, LbPolicy::kMaglev, true)->Arg(10)->Arg(100);
BENCHMARK_CAPTURE(BM_LbPick, IpHash, LbPolicy::kIpHash, true)->Arg(10)->Arg(100);

}  // namespace
}  // namespace gateway
