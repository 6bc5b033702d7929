#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "gateway/upstream.h"

namespace gateway {
namespace {

TEST_CASE("host name joins an IPv4 address and port") {
  Host h("10.0.0.1", 8080, 3, "api.internal");
  REQUIRE(h.name() == "10.0.0.1:8080");
  REQUIRE(h.address() == "10.0.0.1");
  REQUIRE(h.port() == 8080);
  REQUIRE(h.weight() == 3);
  REQUIRE(h.hostname() == "api.internal");
}

TEST_CASE("host name brackets IPv6 addresses") {
  REQUIRE(Host("::1", 80).name() == "[::1]:80");
  REQUIRE(Host("fe80::1:2", 443).name() == "[fe80::1:2]:443");
  REQUIRE(Host("::1", 80).weight() == 1);
}

TEST_CASE("host counters go up and down") {
  Host h("10.0.0.1", 80);
  h.AddActiveRequests(3);
  h.AddActiveRequests(-1);
  h.AddActiveConnections(2);
  REQUIRE(h.active_requests() == 2);
  REQUIRE(h.active_connections() == 2);
  h.AddActiveRequests(-2);
  h.AddActiveConnections(-2);
  REQUIRE(h.active_requests() == 0);
  REQUIRE(h.active_connections() == 0);
}

TEST_CASE("healthy_hosts keeps the order of hosts and drops unhealthy ones") {
  std::vector<HostPtr> hosts;
  for (int i = 1; i <= 5; ++i) {
    hosts.push_back(std::make_shared<const Host>("10.0.0." + std::to_string(i), 80));
  }
  HostSet set(hosts, {true, false, true, false, true}, 7);
  REQUIRE(set.version() == 7);
  REQUIRE(set.hosts() == hosts);
  REQUIRE(set.healthy_hosts() == std::vector<HostPtr>{hosts[0], hosts[2], hosts[4]});
  REQUIRE(set.IsHealthy(0));
  REQUIRE_FALSE(set.IsHealthy(1));
}

TEST_CASE("a host set without health flags has every host healthy") {
  std::vector<HostPtr> hosts{std::make_shared<const Host>("10.0.0.1", 80),
                             std::make_shared<const Host>("10.0.0.2", 80)};
  HostSet set(hosts, 3);
  REQUIRE(set.healthy_hosts() == hosts);
  REQUIRE(set.version() == 3);
}

TEST_CASE("a short health vector counts the missing hosts as healthy") {
  std::vector<HostPtr> hosts{std::make_shared<const Host>("10.0.0.1", 80),
                             std::make_shared<const Host>("10.0.0.2", 80),
                             std::make_shared<const Host>("10.0.0.3", 80)};
  HostSet set(hosts, std::vector<bool>{false});
  REQUIRE_FALSE(set.IsHealthy(0));
  REQUIRE(set.IsHealthy(1));
  REQUIRE(set.IsHealthy(2));
  REQUIRE(set.healthy_hosts().size() == 2);
}

TEST_CASE("null hosts are dropped from a host set together with their health flag") {
  auto a = std::make_shared<const Host>("10.0.0.1", 80);
  auto b = std::make_shared<const Host>("10.0.0.2", 80);
  HostSet set({a, nullptr, b}, {true, true, false});
  REQUIRE(set.hosts() == std::vector<HostPtr>{a, b});
  REQUIRE(set.IsHealthy(0));
  REQUIRE_FALSE(set.IsHealthy(1));
  REQUIRE(set.healthy_hosts() == std::vector<HostPtr>{a});
}

TEST_CASE("active counters are shared by snapshots holding the same host") {
  auto a = std::make_shared<const Host>("10.0.0.1", 80);
  auto b = std::make_shared<const Host>("10.0.0.2", 80);
  auto old_set = std::make_shared<const HostSet>(std::vector<HostPtr>{a, b}, 1);
  auto new_set = std::make_shared<const HostSet>(std::vector<HostPtr>{a}, 2);
  old_set->hosts()[0]->AddActiveRequests(4);
  old_set->hosts()[0]->AddActiveConnections(2);
  REQUIRE(new_set->hosts()[0]->active_requests() == 4);
  REQUIRE(new_set->hosts()[0]->active_connections() == 2);
  new_set->hosts()[0]->AddActiveRequests(-4);
  REQUIRE(old_set->hosts()[0]->active_requests() == 0);
}

}  // namespace
}  // namespace gateway
