// Ring hash, Maglev and IP hash: key affinity, disruption on membership and
// health changes, spread and weights.
#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "gateway/load_balancer.h"
#include "gateway/upstream.h"
#include "lb_test_util.h"

namespace gateway {
namespace {

using lb_test::CountPicks;
using lb_test::MakeFactory;
using lb_test::MakeHosts;
using lb_test::MakeLb;
using lb_test::TestKey;

constexpr LbPolicy kConsistentPolicies[] = {LbPolicy::kRingHash, LbPolicy::kMaglev};
constexpr LbPolicy kHashPolicies[] = {LbPolicy::kRingHash, LbPolicy::kMaglev, LbPolicy::kIpHash};
constexpr int kKeys = 10000;

std::vector<HostPtr> PickAll(LoadBalancer& lb) {
  std::vector<HostPtr> picks;
  picks.reserve(kKeys);
  for (int i = 0; i < kKeys; ++i) picks.push_back(lb.Pick({.hash_key = TestKey(i)}));
  return picks;
}

TEST_CASE("hash policies send a key to the same host from every balancer and snapshot") {
  auto hosts = MakeHosts(10);
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto set = std::make_shared<const HostSet>(hosts, 1);
    auto lb1 = MakeLb(LbOptions{.policy = policy, .seed = 1}, set);
    auto lb2 = MakeLb(LbOptions{.policy = policy, .seed = 2}, set);
    // A later snapshot of equal, but freshly constructed, hosts.
    auto lb3 = MakeLb(LbOptions{.policy = policy, .seed = 3},
                      std::make_shared<const HostSet>(MakeHosts(10), 2));
    for (int i = 0; i < 2000; ++i) {
      const uint64_t key = TestKey(i);
      HostPtr h = lb1->Pick({.hash_key = key});
      REQUIRE(lb1->Pick({.hash_key = key}) == h);
      REQUIRE(lb2->Pick({.hash_key = key}) == h);
      REQUIRE(lb3->Pick({.hash_key = key})->name() == h->name());
    }
  }
}

TEST_CASE("ring hash and maglev move about 1/N of keys when one of N=10 hosts leaves") {
  auto hosts = MakeHosts(10);
  std::vector<HostPtr> remaining = hosts;
  const HostPtr gone = hosts[3];
  remaining.erase(remaining.begin() + 3);
  for (LbPolicy policy : kConsistentPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto before = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(hosts)));
    auto after = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(remaining)));
    int moved = 0;
    int stayed_elsewhere = 0;
    int on_remaining = 0;
    for (int i = 0; i < kKeys; ++i) {
      REQUIRE(after[i] != gone);
      if (before[i] != after[i]) ++moved;
      if (before[i] != gone) {
        ++on_remaining;
        if (before[i] == after[i]) ++stayed_elsewhere;
      }
    }
    const double moved_fraction = static_cast<double>(moved) / kKeys;
    INFO("moved " << moved_fraction);
    CHECK(moved_fraction < 1.0 / 10 * 1.5);
    const double stayed_fraction = static_cast<double>(stayed_elsewhere) / on_remaining;
    INFO("stayed " << stayed_fraction);
    if (policy == LbPolicy::kRingHash) {
      // A host's points never depend on the others: no other key moves.
      CHECK(stayed_elsewhere == on_remaining);
    } else {
      CHECK(stayed_fraction > 0.97);
    }
  }
}

TEST_CASE("ring hash and maglev move only about 1/N of keys to a host that joins") {
  auto hosts = MakeHosts(11);
  std::vector<HostPtr> first_ten(hosts.begin(), hosts.begin() + 10);
  for (LbPolicy policy : kConsistentPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto before = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(first_ten)));
    auto after = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(hosts)));
    int moved = 0;
    int moved_elsewhere = 0;
    for (int i = 0; i < kKeys; ++i) {
      if (before[i] == after[i]) continue;
      ++moved;
      if (after[i] != hosts[10]) ++moved_elsewhere;
    }
    INFO("moved " << moved << " of which not to the new host " << moved_elsewhere);
    CHECK(moved < kKeys / 11 * 1.5);
    CHECK(moved_elsewhere < kKeys * 0.03);
  }
}

TEST_CASE("ring hash and maglev keep other keys in place when a host turns unhealthy") {
  auto hosts = MakeHosts(10);
  std::vector<bool> health(10, true);
  health[6] = false;
  for (LbPolicy policy : kConsistentPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto before = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(hosts)));
    auto after = PickAll(*MakeLb(policy, std::make_shared<const HostSet>(hosts, health)));
    int moved_elsewhere = 0;
    for (int i = 0; i < kKeys; ++i) {
      REQUIRE(after[i] != hosts[6]);
      if (before[i] != hosts[6] && before[i] != after[i]) ++moved_elsewhere;
    }
    CHECK(moved_elsewhere < kKeys * 0.03);
  }
}

TEST_CASE("ring hash spreads 10000 keys over 10 hosts within 30 percent of even") {
  auto hosts = MakeHosts(10);
  auto counts =
      CountPicks(*MakeLb(LbPolicy::kRingHash, std::make_shared<const HostSet>(hosts)), kKeys);
  for (const HostPtr& h : hosts) {
    INFO(h->name() << " " << counts[h.get()]);
    CHECK(counts[h.get()] > 700);
    CHECK(counts[h.get()] < 1300);
  }
}

TEST_CASE("maglev spreads 10000 keys over 10 hosts within 10 percent of even") {
  auto hosts = MakeHosts(10);
  auto counts =
      CountPicks(*MakeLb(LbPolicy::kMaglev, std::make_shared<const HostSet>(hosts)), kKeys);
  for (const HostPtr& h : hosts) {
    INFO(h->name() << " " << counts[h.get()]);
    CHECK(counts[h.get()] > 900);
    CHECK(counts[h.get()] < 1100);
  }
}

TEST_CASE("ip hash spreads 10000 keys over 10 hosts within 10 percent of even") {
  auto hosts = MakeHosts(10);
  auto counts =
      CountPicks(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(hosts)), kKeys);
  for (const HostPtr& h : hosts) {
    INFO(h->name() << " " << counts[h.get()]);
    CHECK(counts[h.get()] > 900);
    CHECK(counts[h.get()] < 1100);
  }
}

TEST_CASE("hash policies spread small integer keys as well as hashed ones") {
  auto hosts = MakeHosts(4);
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, std::make_shared<const HostSet>(hosts));
    std::map<const Host*, int> counts;
    for (uint64_t key = 0; key < 8000; ++key) ++counts[lb->Pick({.hash_key = key}).get()];
    for (const HostPtr& h : hosts) CHECK(counts[h.get()] == Approx(2000).epsilon(0.3));
  }
}

TEST_CASE("hash policies give keys to hosts in proportion to weight") {
  auto hosts = MakeHosts({1, 2, 1, 4});
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, std::make_shared<const HostSet>(hosts)), 16000);
    const double tolerance = policy == LbPolicy::kRingHash ? 0.15 : 0.06;
    CHECK(counts[hosts[0].get()] == Approx(2000).epsilon(tolerance));
    CHECK(counts[hosts[1].get()] == Approx(4000).epsilon(tolerance));
    CHECK(counts[hosts[2].get()] == Approx(2000).epsilon(tolerance));
    CHECK(counts[hosts[3].get()] == Approx(8000).epsilon(tolerance));
  }
}

TEST_CASE("hash policies without a hash key pick at random over all hosts") {
  auto hosts = MakeHosts(5);
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, std::make_shared<const HostSet>(hosts));
    std::map<const Host*, int> counts;
    for (int i = 0; i < 5000; ++i) ++counts[lb->Pick({}).get()];
    for (const HostPtr& h : hosts) CHECK(counts[h.get()] == Approx(1000).epsilon(0.35));
  }
}

TEST_CASE("hash policies send a retried key to one other host, the same every time") {
  auto hosts = MakeHosts(6);
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto lb = MakeLb(policy, std::make_shared<const HostSet>(hosts));
    std::set<const Host*> second_choices;
    for (int i = 0; i < 600; ++i) {
      const uint64_t key = TestKey(i);
      HostPtr first = lb->Pick({.hash_key = key});
      const Host* tried[] = {first.get()};
      HostPtr second = lb->Pick({.hash_key = key, .attempted = tried});
      REQUIRE(second != first);
      REQUIRE(lb->Pick({.hash_key = key, .attempted = tried}) == second);
      const Host* tried_twice[] = {first.get(), second.get()};
      HostPtr third = lb->Pick({.hash_key = key, .attempted = tried_twice});
      REQUIRE(third != first);
      REQUIRE(third != second);
      second_choices.insert(second.get());
    }
    // Retries of different keys do not all pile onto one neighbour.
    REQUIRE(second_choices.size() == hosts.size());
  }
}

TEST_CASE("ip hash maps keys the same whatever order the hosts are listed in") {
  auto hosts = MakeHosts(7);
  std::vector<HostPtr> reversed(hosts.rbegin(), hosts.rend());
  auto a = PickAll(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(hosts)));
  auto b = PickAll(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(reversed)));
  REQUIRE(a == b);
}

TEST_CASE("ip hash keeps every other key in place when a host turns unhealthy") {
  auto hosts = MakeHosts(5);
  auto before = PickAll(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(hosts)));
  auto after = PickAll(*MakeLb(
      LbPolicy::kIpHash,
      std::make_shared<const HostSet>(hosts, std::vector<bool>{true, true, false, true, true})));
  std::set<const Host*> new_homes;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == hosts[2]) {
      new_homes.insert(after[i].get());
    } else {
      REQUIRE(after[i] == before[i]);
    }
  }
  // The unhealthy host's keys are spread, not dumped on one neighbour.
  REQUIRE(new_homes.size() == 4);
  REQUIRE_FALSE(new_homes.contains(hosts[2].get()));
}

TEST_CASE("ip hash remaps most keys when a host leaves the set (documented)") {
  auto hosts = MakeHosts(10);
  std::vector<HostPtr> remaining = hosts;
  remaining.erase(remaining.begin() + 3);
  auto before = PickAll(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(hosts)));
  auto after = PickAll(*MakeLb(LbPolicy::kIpHash, std::make_shared<const HostSet>(remaining)));
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) moved += before[i] != after[i];
  CHECK(moved > kKeys / 2);
}

TEST_CASE("hash tables are built in panic mode over all hosts") {
  auto hosts = MakeHosts(4);
  auto set = std::make_shared<const HostSet>(hosts, std::vector<bool>{false, false, false, true});
  for (LbPolicy policy : kHashPolicies) {
    INFO(std::string(LbPolicyName(policy)));
    auto counts = CountPicks(*MakeLb(policy, set), 4000);
    for (const HostPtr& h : hosts) CHECK(counts[h.get()] > 500);
  }
}

TEST_CASE("maglev with a small prime table still covers every host") {
  auto hosts = MakeHosts(5);
  auto lb = MakeLb(LbOptions{.policy = LbPolicy::kMaglev, .maglev_table_size = 7},
                   std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 1000);
  for (const HostPtr& h : hosts) CHECK(counts[h.get()] > 0);
}

TEST_CASE("ring hash with one virtual node per weight still serves every host") {
  auto hosts = MakeHosts(5);
  auto lb = MakeLb(LbOptions{.policy = LbPolicy::kRingHash, .ring_vnodes_per_weight = 1},
                   std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 5000);
  for (const HostPtr& h : hosts) CHECK(counts[h.get()] > 0);
}

TEST_CASE("ring hash caps huge weights and keeps them proportional") {
  // 2 * (2^31 + 2^30) * 160 points would not fit in memory: the ring is scaled.
  auto hosts = MakeHosts({1u << 31, 1u << 30});
  auto lb = MakeLb(LbPolicy::kRingHash, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 9000);
  CHECK(counts[hosts[0].get()] == Approx(6000).epsilon(0.05));
}

TEST_CASE("maglev handles extreme weight ratios") {
  auto hosts = MakeHosts({4000000000u, 1, 1});
  auto lb = MakeLb(LbPolicy::kMaglev, std::make_shared<const HostSet>(hosts));
  auto counts = CountPicks(*lb, 1000);
  CHECK(counts[hosts[0].get()] == 1000);
}

}  // namespace
}  // namespace gateway
