// Behaviour of the unhashed policies, and rules every policy shares.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/load_balancer.h"
#include "gateway/upstream.h"
#include "lb_test_util.h"

namespace gateway {
namespace {

using lb_test::CountPicks;
using lb_test::kAllPolicies;
using lb_test::MakeHosts;
using lb_test::MakeLb;

// ------------------------------------------------------------- round robin

TEST_CASE("round robin spreads 10000 picks over 3 hosts within 2 percent") {
  auto hosts = MakeHosts(3);
  auto lb = MakeLb(LbPolicy::kRoundRobin, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 10000);
  for (const HostPtr& h : hosts) {
    CHECK(counts[h.get()] >= 10000 / 3 * 0.98);
    CHECK(counts[h.get()] <= 10000 / 3 * 1.02);
  }
}

TEST_CASE("round robin cycles through the hosts in order") {
  auto hosts = MakeHosts(4);
  auto lb = MakeLb(LbPolicy::kRoundRobin, std::make_shared<const HostSet>(hosts));
  HostPtr first = lb->Pick({});
  size_t start = 0;
  while (hosts[start] != first) ++start;
  for (size_t i = 1; i < 12; ++i) REQUIRE(lb->Pick({}) == hosts[(start + i) % 4]);
}

TEST_CASE("round robin ignores weights") {
  auto hosts = MakeHosts({5, 1, 1});
  auto lb = MakeLb(LbPolicy::kRoundRobin, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 300);
  for (const HostPtr& h : hosts) REQUIRE(counts[h.get()] == 100);
}

TEST_CASE("round robin continues after a host skipped for a retry") {
  auto hosts = MakeHosts(3);
  auto lb = MakeLb(LbPolicy::kRoundRobin, std::make_shared<const HostSet>(hosts));
  HostPtr first = lb->Pick({});
  size_t at = 0;
  while (hosts[at] != first) ++at;
  // The next in line has been tried: the one after it is chosen, and the
  // cursor moves past that one, so it is not chosen twice in a row.
  const Host* tried[] = {hosts[(at + 1) % 3].get()};
  REQUIRE(lb->Pick({.attempted = tried}) == hosts[(at + 2) % 3]);
  REQUIRE(lb->Pick({}) == hosts[at]);
}

// -------------------------------------------------- smooth weighted round robin

TEST_CASE("smooth weighted round robin with weights 5,1,1 gives nginx's a a b a c a a") {
  auto hosts = MakeHosts({5, 1, 1});
  auto lb = MakeLb(LbPolicy::kWeightedRoundRobin, std::make_shared<const HostSet>(hosts));
  const HostPtr& a = hosts[0];
  const HostPtr& b = hosts[1];
  const HostPtr& c = hosts[2];
  const std::vector<HostPtr> cycle{a, a, b, a, c, a, a};
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < cycle.size(); ++i) {
      INFO("round " << round << " pick " << i);
      REQUIRE(lb->Pick({}) == cycle[i]);
    }
  }
}

TEST_CASE("smooth weighted round robin gives exact proportions over whole cycles") {
  auto hosts = MakeHosts({5, 3, 2, 1});
  auto lb = MakeLb(LbPolicy::kWeightedRoundRobin, std::make_shared<const HostSet>(hosts));
  for (int cycle = 0; cycle < 50; ++cycle) {
    std::map<const Host*, int> counts;
    for (int i = 0; i < 11; ++i) ++counts[lb->Pick({}).get()];
    REQUIRE(counts[hosts[0].get()] == 5);
    REQUIRE(counts[hosts[1].get()] == 3);
    REQUIRE(counts[hosts[2].get()] == 2);
    REQUIRE(counts[hosts[3].get()] == 1);
  }
}

TEST_CASE("smooth weighted round robin interleaves weights 4,2,1 as a b a c a b a") {
  auto hosts = MakeHosts({4, 2, 1});
  auto lb = MakeLb(LbPolicy::kWeightedRoundRobin, std::make_shared<const HostSet>(hosts));
  const std::vector<size_t> cycle{0, 1, 0, 2, 0, 1, 0};
  for (int round = 0; round < 3; ++round) {
    for (size_t i : cycle) REQUIRE(lb->Pick({}) == hosts[i]);
  }
}

TEST_CASE("smooth weighted round robin leaves attempted hosts out of the round") {
  auto hosts = MakeHosts({5, 1, 1});
  auto lb = MakeLb(LbPolicy::kWeightedRoundRobin, std::make_shared<const HostSet>(hosts));
  const Host* tried[] = {hosts[0].get()};
  // With a out, b and c alternate; a's current weight is untouched, so the
  // plain sequence afterwards starts exactly as from a fresh balancer.
  REQUIRE(lb->Pick({.attempted = tried}) == hosts[1]);
  REQUIRE(lb->Pick({.attempted = tried}) == hosts[2]);
  REQUIRE(lb->Pick({.attempted = tried}) == hosts[1]);
  REQUIRE(lb->Pick({.attempted = tried}) == hosts[2]);
  for (size_t i : {0, 0, 1, 0, 2, 0, 0}) REQUIRE(lb->Pick({}) == hosts[i]);
}

// ---------------------------------------------------------- weighted random

TEST_CASE("weighted random follows the weights") {
  auto hosts = MakeHosts({1, 3});
  auto lb = MakeLb(LbPolicy::kRandom, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 40000);
  CHECK(counts[hosts[0].get()] == Approx(10000).epsilon(0.05));
  CHECK(counts[hosts[1].get()] == Approx(30000).epsilon(0.05));
}

TEST_CASE("weighted random is reproducible with a fixed seed") {
  auto set = std::make_shared<const HostSet>(MakeHosts(8));
  auto lb1 = MakeLb(LbOptions{.policy = LbPolicy::kRandom, .seed = 99}, set);
  auto lb2 = MakeLb(LbOptions{.policy = LbPolicy::kRandom, .seed = 99}, set);
  for (int i = 0; i < 100; ++i) REQUIRE(lb1->Pick({}) == lb2->Pick({}));
}

// ------------------------------------------------------------ least request

TEST_CASE("least request never picks the busiest of two hosts") {
  auto hosts = MakeHosts(2);
  hosts[0]->AddActiveRequests(10);
  auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 1000);
  REQUIRE(counts[hosts[1].get()] == 1000);
}

TEST_CASE("least request prefers the idle host among busy ones") {
  auto hosts = MakeHosts(4);
  for (int i = 0; i < 3; ++i) hosts[i]->AddActiveRequests(5 + i);
  auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 6000);
  // The idle host wins every draw it is part of: half of all draws of 2 of 4.
  CHECK(counts[hosts[3].get()] == Approx(3000).epsilon(0.06));
  // The busiest host loses every draw.
  CHECK(counts[hosts[2].get()] == 0);
}

TEST_CASE("least request spreads picks evenly when every host is idle") {
  auto hosts = MakeHosts(3);
  auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 9000);
  for (const HostPtr& h : hosts) CHECK(counts[h.get()] == Approx(3000).epsilon(0.05));
}

TEST_CASE("least request compares active requests per unit of weight") {
  auto hosts = MakeHosts({4, 1});
  SECTION("the heavy host has the lower ratio") {
    hosts[0]->AddActiveRequests(3);  // 0.75 per unit
    hosts[1]->AddActiveRequests(1);  // 1 per unit
    auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
    REQUIRE(CountPicks(*lb, 500)[hosts[0].get()] == 500);
  }
  SECTION("the light host has the lower ratio") {
    hosts[0]->AddActiveRequests(5);  // 1.25 per unit
    hosts[1]->AddActiveRequests(1);  // 1 per unit
    auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
    REQUIRE(CountPicks(*lb, 500)[hosts[1].get()] == 500);
  }
}

TEST_CASE("least request splits an idle cluster by weight") {
  auto hosts = MakeHosts({3, 1});
  auto lb = MakeLb(LbPolicy::kLeastRequest, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 8000);
  CHECK(counts[hosts[0].get()] == Approx(6000).epsilon(0.05));
}

// -------------------------------------------------------- least connections

TEST_CASE("least connections picks the host with the fewest connections") {
  auto hosts = MakeHosts(3);
  hosts[0]->AddActiveConnections(5);
  hosts[1]->AddActiveConnections(2);
  hosts[2]->AddActiveConnections(7);
  auto lb = MakeLb(LbPolicy::kLeastConnections, std::make_shared<const HostSet>(hosts));
  REQUIRE(CountPicks(*lb, 100)[hosts[1].get()] == 100);
}

TEST_CASE("least connections follows connection counts as they change") {
  auto hosts = MakeHosts(3);
  auto lb = MakeLb(LbPolicy::kLeastConnections, std::make_shared<const HostSet>(hosts));
  // Each pick opens a connection to the chosen host: picks stay balanced.
  for (int i = 0; i < 300; ++i) lb->Pick({})->AddActiveConnections(1);
  for (const HostPtr& h : hosts) REQUIRE(h->active_connections() == 100);
}

TEST_CASE("least connections divides connections by weight") {
  auto hosts = MakeHosts({3, 1});
  hosts[0]->AddActiveConnections(3);  // 1 per unit
  hosts[1]->AddActiveConnections(2);  // 2 per unit
  auto lb = MakeLb(LbPolicy::kLeastConnections, std::make_shared<const HostSet>(hosts));
  REQUIRE(lb->Pick({}) == hosts[0]);
}

TEST_CASE("least connections breaks ties round robin") {
  auto hosts = MakeHosts(4);
  hosts[3]->AddActiveConnections(1);
  auto lb = MakeLb(LbPolicy::kLeastConnections, std::make_shared<const HostSet>(hosts));
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 3; ++i) REQUIRE(lb->Pick({}) == hosts[i]);
  }
}

TEST_CASE("least connections breaks ties between unequal weights by weight") {
  auto hosts = MakeHosts({2, 1});
  auto lb = MakeLb(LbPolicy::kLeastConnections, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 300);
  REQUIRE(counts[hosts[0].get()] == 200);
  REQUIRE(counts[hosts[1].get()] == 100);
}

// ------------------------------------------------------- shared across policies

TEST_CASE("a weight-0 host is never picked under any policy") {
  auto hosts = MakeHosts({1, 0, 2});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, std::make_shared<const HostSet>(hosts));
    REQUIRE(CountPicks(*lb, 2000)[hosts[1].get()] == 0);
    // Not even when every other host was attempted.
    const Host* tried[] = {hosts[0].get(), hosts[2].get()};
    REQUIRE(CountPicks(*lb, 200, tried)[hosts[1].get()] == 0);
  }
}

TEST_CASE("only weight-0 hosts means no host under any policy") {
  auto set = std::make_shared<const HostSet>(MakeHosts({0, 0}));
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, set);
    REQUIRE(lb->Pick({}) == nullptr);
    REQUIRE(lb->Pick({.hash_key = 7}) == nullptr);
  }
}

TEST_CASE("an empty or missing host set means no host under any policy") {
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    REQUIRE(MakeLb(policy, std::make_shared<const HostSet>(std::vector<HostPtr>{}))->Pick({}) ==
            nullptr);
    REQUIRE(MakeLb(policy, nullptr)->Pick({.hash_key = 1}) == nullptr);
  }
}

TEST_CASE("unhealthy hosts are skipped under every policy") {
  auto hosts = MakeHosts(5);
  auto set =
      std::make_shared<const HostSet>(hosts, std::vector<bool>{true, false, true, true, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 3000);
    REQUIRE(counts[hosts[1].get()] == 0);
    REQUIRE(counts[hosts[4].get()] == 0);
    REQUIRE(counts[hosts[0].get()] > 0);
    REQUIRE(counts[hosts[2].get()] > 0);
    REQUIRE(counts[hosts[3].get()] > 0);
  }
}

TEST_CASE("below the panic threshold every policy balances over all hosts") {
  auto hosts = MakeHosts(4);
  // 1 of 4 healthy: 25% < 50%.
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{false, true, false, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 4000);
    for (const HostPtr& h : hosts) REQUIRE(counts[h.get()] > 0);
  }
}

TEST_CASE("at exactly the panic threshold unhealthy hosts are still skipped") {
  auto hosts = MakeHosts(4);
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{true, false, true, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 2000);
    REQUIRE(counts[hosts[1].get()] == 0);
    REQUIRE(counts[hosts[3].get()] == 0);
  }
}

TEST_CASE("panic threshold 0 never panics: no healthy host means no host") {
  auto set = std::make_shared<const HostSet>(MakeHosts(3), std::vector<bool>{false, false, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(LbOptions{.policy = policy, .panic_threshold_percent = 0}, set);
    REQUIRE(lb->Pick({.hash_key = 3}) == nullptr);
  }
}

TEST_CASE("with every host unhealthy the default threshold balances over all of them") {
  auto hosts = MakeHosts(3);
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{false, false, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 3000);
    for (const HostPtr& h : hosts) REQUIRE(counts[h.get()] > 0);
  }
}

TEST_CASE("weight-0 hosts do not count towards the healthy share") {
  // Two usable hosts, one healthy: 50%, not in panic, although 3 of 4 hosts
  // are unhealthy or drained.
  auto hosts = MakeHosts({1, 1, 0, 0});
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{true, false, false, false});
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 500);
    REQUIRE(counts[hosts[0].get()] == 500);
  }
}

TEST_CASE("attempted hosts are avoided under every policy while another host is left") {
  auto hosts = MakeHosts({1, 2, 1, 3});
  auto set = std::make_shared<const HostSet>(hosts);
  const Host* tried[] = {hosts[0].get(), hosts[1].get(), hosts[3].get()};
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, set);
    REQUIRE(CountPicks(*lb, 1000, tried)[hosts[2].get()] == 1000);
    // Without a hash key too.
    for (int i = 0; i < 100; ++i) REQUIRE(lb->Pick({.attempted = tried}) == hosts[2]);
  }
}

TEST_CASE("after one attempt every policy spreads retries over the other hosts") {
  auto hosts = MakeHosts(4);
  auto set = std::make_shared<const HostSet>(hosts);
  const Host* tried[] = {hosts[1].get()};
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 3000, tried);
    REQUIRE(counts[hosts[1].get()] == 0);
    REQUIRE(counts[hosts[0].get()] > 0);
    REQUIRE(counts[hosts[2].get()] > 0);
    REQUIRE(counts[hosts[3].get()] > 0);
  }
}

TEST_CASE("attempted hosts are picked again when they are the only candidates") {
  auto hosts = MakeHosts(3);
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{true, true, false});
  // The unhealthy host is not a candidate, even though it was never tried.
  const Host* tried[] = {hosts[0].get(), hosts[1].get()};
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 500, tried);
    REQUIRE(counts[hosts[0].get()] + counts[hosts[1].get()] == 500);
  }
}

TEST_CASE("attempted hosts outside the snapshot do not disturb picking") {
  auto hosts = MakeHosts(2);
  auto stranger = std::make_shared<const Host>("192.168.1.1", 80);
  const Host* tried[] = {stranger.get(), stranger.get(), stranger.get()};
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, std::make_shared<const HostSet>(hosts)), 400, tried);
    REQUIRE(counts[hosts[0].get()] + counts[hosts[1].get()] == 400);
  }
}

TEST_CASE("a balancer keeps its hosts alive after the snapshot is released") {
  for (LbPolicy policy : kAllPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto set = std::make_shared<const HostSet>(MakeHosts(3));
    std::weak_ptr<const Host> host = set->hosts()[0];
    auto lb = MakeLb(policy, std::move(set));
    REQUIRE_FALSE(host.expired());
    for (int i = 0; i < 10; ++i) {
      HostPtr h = lb->Pick({.hash_key = static_cast<uint64_t>(i)});
      REQUIRE(h != nullptr);
      REQUIRE(h->port() == 8080);
    }
    lb.reset();
    REQUIRE(host.expired());
  }
}

}  // namespace
}  // namespace gateway
