// MakeLoadBalancerFactory validation, concurrent Create, and Pick's cost.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "gateway/load_balancer.h"
#include "gateway/upstream.h"
#include "lb_test_util.h"

// Counts allocations made by this thread while armed, to check that Pick does
// not allocate. Replacing the global operator new is allowed in a program and
// affects only this test binary.
namespace {
thread_local bool g_counting = false;
thread_local long g_allocations = 0;
}  // namespace

// Every unaligned form is replaced so that allocation and release always pair
// up (sanitizers check that); aligned forms keep the library's own pair.
namespace {
void* CountedAlloc(std::size_t size) noexcept {
  if (g_counting) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = CountedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = CountedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return CountedAlloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return CountedAlloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace gateway {
namespace {

using lb_test::kAllPolicies;
using lb_test::MakeHosts;
using lb_test::MakeLb;

absl::Status Status(LbOptions options) { return MakeLoadBalancerFactory(options).status(); }

TEST_CASE("default options are valid for every policy") {
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    REQUIRE(Status(LbOptions{.policy = policy}).ok());
  }
}

TEST_CASE("panic threshold outside [0, 100] is rejected") {
  REQUIRE(Status({.panic_threshold_percent = 0}).ok());
  REQUIRE(Status({.panic_threshold_percent = 100}).ok());
  for (double bad : {-0.5, 100.5, std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::infinity()}) {
    absl::Status s = Status({.panic_threshold_percent = bad});
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find("panic_threshold_percent") != absl::string_view::npos);
  }
}

TEST_CASE("zero virtual nodes per weight is rejected") {
  absl::Status s = Status({.policy = LbPolicy::kRingHash, .ring_vnodes_per_weight = 0});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(s.message().find("ring_vnodes_per_weight") != absl::string_view::npos);
  REQUIRE(Status({.policy = LbPolicy::kRingHash, .ring_vnodes_per_weight = 1}).ok());
}

TEST_CASE("maglev table size must be a prime within bounds") {
  for (uint32_t bad : {0u, 1u, 4u, 9u, 65536u, 65535u, 16777259u}) {
    INFO(bad);
    absl::Status s = Status({.policy = LbPolicy::kMaglev, .maglev_table_size = bad});
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(s.message().find("maglev_table_size") != absl::string_view::npos);
  }
  for (uint32_t good : {2u, 3u, 251u, 65537u, 16777213u}) {
    INFO(good);
    REQUIRE(Status({.policy = LbPolicy::kMaglev, .maglev_table_size = good}).ok());
  }
}

TEST_CASE("an unknown policy value is rejected") {
  absl::Status s = Status({.policy = static_cast<LbPolicy>(99)});
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("without a fixed seed each balancer makes its own random choices") {
  auto set = std::make_shared<const HostSet>(MakeHosts(8));
  auto factory = MakeLoadBalancerFactory({.policy = LbPolicy::kRandom, .seed = 0});
  REQUIRE(factory.ok());
  auto lb1 = (*factory)->Create(set);
  auto lb2 = (*factory)->Create(set);
  int same = 0;
  for (int i = 0; i < 64; ++i) same += lb1->Pick({}) == lb2->Pick({});
  // Independent streams agree on about 1 pick in 8.
  REQUIRE(same < 32);
}

TEST_CASE("balancers created concurrently on several threads agree on every key") {
  auto set = std::make_shared<const HostSet>(MakeHosts(20));
  for (LbPolicy policy : {LbPolicy::kRingHash, LbPolicy::kMaglev, LbPolicy::kIpHash}) {
    INFO(std::string(LbPolicyName(policy)));
    auto factory = lb_test::MakeFactory({.policy = policy});
    constexpr int kThreads = 8;
    std::vector<std::vector<const Host*>> picks(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < 5; ++round) {
          auto lb = factory->Create(set);
          picks[t].clear();
          for (int i = 0; i < 500; ++i) {
            picks[t].push_back(lb->Pick({.hash_key = static_cast<uint64_t>(i)}).get());
          }
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 1; t < kThreads; ++t) REQUIRE(picks[t] == picks[0]);
  }
}

TEST_CASE("a factory serves snapshots of several versions side by side") {
  auto factory = lb_test::MakeFactory({.policy = LbPolicy::kRingHash});
  auto hosts = MakeHosts(3);
  auto v1 = std::make_shared<const HostSet>(hosts, 1);
  auto v2 = std::make_shared<const HostSet>(std::vector<HostPtr>{hosts[0]}, 2);
  auto lb1 = factory->Create(v1);
  auto lb2 = factory->Create(v2);
  auto lb1_again = factory->Create(v1);
  std::map<const Host*, int> counts;
  for (int i = 0; i < 300; ++i) {
    const uint64_t key = lb_test::TestKey(i);
    REQUIRE(lb2->Pick({.hash_key = key}) == hosts[0]);
    HostPtr h = lb1->Pick({.hash_key = key});
    REQUIRE(lb1_again->Pick({.hash_key = key}) == h);
    ++counts[h.get()];
  }
  REQUIRE(counts.size() == 3);
}

TEST_CASE("Pick allocates nothing under every policy") {
  auto hosts = MakeHosts({3, 1, 2, 1});
  auto set = std::make_shared<const HostSet>(hosts);
  const Host* tried[] = {hosts[0].get()};
  // The counter does see allocations: Create allocates the balancer.
  g_allocations = 0;
  g_counting = true;
  auto probe = lb_test::MakeFactory({})->Create(set);
  g_counting = false;
  REQUIRE(g_allocations > 0);
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, set);
    g_allocations = 0;
    g_counting = true;
    for (int i = 0; i < 1000; ++i) {
      HostPtr h = lb->Pick({.hash_key = static_cast<uint64_t>(i)});
      HostPtr retry = lb->Pick({.hash_key = static_cast<uint64_t>(i), .attempted = tried});
      HostPtr keyless = lb->Pick({});
    }
    g_counting = false;
    REQUIRE(g_allocations == 0);
  }
}

}  // namespace
}  // namespace gateway
