#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "gateway/cluster.h"

namespace gateway {
namespace {

ClusterSpec Static(std::string name, std::vector<EndpointSpec> endpoints) {
  ClusterSpec spec;
  spec.name = std::move(name);
  spec.endpoints = std::move(endpoints);
  return spec;
}

TEST_CASE("cluster manager publishes static endpoints as one snapshot") {
  auto cm = ClusterManager::Create(
      {Static("users", {{"127.0.0.1", 9001}, {"127.0.0.1", 9002, 3}, {"::1", 9003}})});
  REQUIRE(cm.ok());
  auto hosts = (*cm)->Hosts("users");
  REQUIRE(hosts != nullptr);
  REQUIRE(hosts->hosts().size() == 3);
  REQUIRE(hosts->healthy_hosts().size() == 3);
  REQUIRE(hosts->hosts()[1]->name() == "127.0.0.1:9002");
  REQUIRE(hosts->hosts()[1]->weight() == 3);
  REQUIRE(hosts->hosts()[2]->name() == "[::1]:9003");
  REQUIRE((*cm)->Version("users") == hosts->version());
  REQUIRE((*cm)->Hosts("missing") == nullptr);
  REQUIRE((*cm)->Version("missing") == 0);
  REQUIRE((*cm)->Balancer("users") != nullptr);
}

TEST_CASE("marking a host unhealthy publishes a new snapshot that keeps the same host objects") {
  auto cm = ClusterManager::Create({Static("a", {{"127.0.0.1", 1}, {"127.0.0.1", 2}})});
  REQUIRE(cm.ok());
  auto before = (*cm)->Hosts("a");
  before->hosts()[0]->AddActiveRequests(2);
  (*cm)->SetHealthy("a", "127.0.0.1:1", false);
  auto after = (*cm)->Hosts("a");
  REQUIRE(after->version() > before->version());
  REQUIRE(after->healthy_hosts().size() == 1);
  REQUIRE(after->healthy_hosts()[0]->name() == "127.0.0.1:2");
  // Same Host object: in-flight counts survive the update.
  REQUIRE(after->hosts()[0].get() == before->hosts()[0].get());
  REQUIRE(after->hosts()[0]->active_requests() == 2);
  before->hosts()[0]->AddActiveRequests(-2);
}

TEST_CASE("setting the health a host already has publishes nothing") {
  auto cm = ClusterManager::Create({Static("a", {{"127.0.0.1", 1}})});
  REQUIRE(cm.ok());
  uint64_t v = (*cm)->Version("a");
  (*cm)->SetHealthy("a", "127.0.0.1:1", true);
  REQUIRE((*cm)->Version("a") == v);
}

TEST_CASE("invalid cluster specs are rejected naming the cluster and field") {
  auto dup =
      ClusterManager::Create({Static("a", {{"127.0.0.1", 1}}), Static("a", {{"127.0.0.1", 2}})});
  REQUIRE_FALSE(dup.ok());
  REQUIRE(std::string(dup.status().message()).find("'a'") != std::string::npos);
  auto empty = ClusterManager::Create({Static("b", {})});
  REQUIRE_FALSE(empty.ok());
  REQUIRE(std::string(empty.status().message()).find("no endpoints") != std::string::npos);
  auto port = ClusterManager::Create({Static("c", {{"127.0.0.1", 0}})});
  REQUIRE_FALSE(port.ok());
  REQUIRE(std::string(port.status().message()).find("endpoints[0].port") != std::string::npos);
}

TEST_CASE("a DNS endpoint has no hosts until the resolver thread answers") {
  // "localhost" resolves from /etc/hosts without network access.
  auto cm = ClusterManager::Create({Static("dns", {{"localhost", 8080}})});
  REQUIRE(cm.ok());
  std::shared_ptr<const HostSet> hosts;
  for (int i = 0; i < 500; ++i) {  // bounded: up to ~5 s
    hosts = (*cm)->Hosts("dns");
    if (!hosts->hosts().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE_FALSE(hosts->hosts().empty());
  REQUIRE(hosts->hosts()[0]->hostname() == "localhost");
  REQUIRE(hosts->hosts()[0]->port() == 8080);
}

}  // namespace
}  // namespace gateway
