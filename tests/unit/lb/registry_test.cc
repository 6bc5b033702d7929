// LoadBalancerRegistry: the built-ins are reached by name through it, and a
// user's balancer registered there is what MakeLoadBalancerFactory returns.
#include <catch2/catch.hpp>

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config_node.h"
#include "gateway/load_balancer.h"
#include "gateway/upstream.h"
#include "lb_test_util.h"

namespace gateway {
namespace {

class FirstHost final : public LoadBalancer {
 public:
  explicit FirstHost(std::shared_ptr<const HostSet> hosts) : hosts_(std::move(hosts)) {}
  HostPtr Pick(const LbContext&) override { return hosts_->hosts().front(); }

 private:
  std::shared_ptr<const HostSet> hosts_;
};

class FirstHostFactory final : public LoadBalancerFactory {
 public:
  std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const override {
    return std::make_unique<FirstHost>(std::move(hosts));
  }
};

TEST_CASE("every built-in policy is registered under its YAML name") {
  std::vector<std::string> names = LoadBalancerRegistry::Global().names();
  for (LbPolicy policy : lb_test::kAllPolicies) {
    INFO(LbPolicyName(policy));
    CHECK(std::find(names.begin(), names.end(), std::string(LbPolicyName(policy))) != names.end());
  }
}

TEST_CASE("each built-in policy has one YAML name in LbPolicyNames and it round-trips") {
  REQUIRE(LbPolicyNames().size() == std::size(lb_test::kAllPolicies));
  for (LbPolicy policy : lb_test::kAllPolicies) {
    std::string_view name = LbPolicyName(policy);
    INFO(std::string(name));
    REQUIRE_FALSE(name.empty());
    int found = 0;
    for (const auto& [n, p] : LbPolicyNames()) {
      if (n == name) {
        ++found;
        CHECK(p == policy);
      }
    }
    CHECK(found == 1);
  }
}

TEST_CASE("MakeLoadBalancerFactory goes through the registry for built-in policies") {
  LbOptions options{.policy = LbPolicy::kMaglev};
  auto before = MakeLoadBalancerFactory(options);
  REQUIRE(before.ok());
  // Replacing the registered "maglev" changes what the built-in policy makes.
  auto replaced = std::make_shared<const FirstHostFactory>();
  LoadBalancerRegistry::Global().Register(
      "maglev",
      [replaced](const LbMakeContext&)
          -> absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> { return replaced; });
  auto after = MakeLoadBalancerFactory(options);
  RegisterBuiltinBalancers(LoadBalancerRegistry::Global());  // put the built-in back
  REQUIRE(after.ok());
  CHECK(*after == replaced);
  auto restored = MakeLoadBalancerFactory(options);
  REQUIRE(restored.ok());
  CHECK(*restored != replaced);
}

TEST_CASE("a registered balancer is made by name with its options and config") {
  const LbOptions* seen = nullptr;
  LoadBalancerRegistry::Global().Register(
      "first_host",
      [&seen](const LbMakeContext& context)
          -> absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> {
        seen = &context.options;
        if (!context.config.IsMap()) return absl::InvalidArgumentError("config: expected a map");
        return std::make_shared<const FirstHostFactory>();
      });
  LbOptions options{.name = "first_host"};
  options.config = ConfigNode(ConfigNode::Kind::kMap, "", {});
  auto factory = MakeLoadBalancerFactory(options);
  REQUIRE(factory.ok());
  CHECK(seen == &options);
  auto hosts = lb_test::MakeHosts(3);
  auto lb = (*factory)->Create(std::make_shared<const HostSet>(hosts));
  for (int i = 0; i < 5; ++i) CHECK(lb->Pick({}) == hosts.front());

  options.config = ConfigNode();
  auto rejected = MakeLoadBalancerFactory(options);
  CHECK(rejected.status().message() == "config: expected a map");
}

TEST_CASE("an unregistered balancer name is NotFound") {
  auto factory = MakeLoadBalancerFactory({.name = "no_such_balancer"});
  REQUIRE_FALSE(factory.ok());
  CHECK(factory.status().code() == absl::StatusCode::kNotFound);
  CHECK_FALSE(LoadBalancerRegistry::Global().Contains("no_such_balancer"));
}

TEST_CASE("a built-in policy given a config is rejected") {
  LbOptions options{.policy = LbPolicy::kRoundRobin};
  options.config = ConfigNode(ConfigNode::Kind::kMap, "", {});
  auto factory = MakeLoadBalancerFactory(options);
  REQUIRE_FALSE(factory.ok());
  CHECK(factory.status().message() == "lb policy round_robin takes no config");
}

TEST_CASE("a maker that returns no factory is an error, not a null balancer") {
  LoadBalancerRegistry registry;
  registry.Register(
      "null",
      [](const LbMakeContext&) -> absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> {
        return std::shared_ptr<const LoadBalancerFactory>();
      });
  LbOptions options;
  ConfigNode none;
  auto factory = registry.Make("null", {.options = options, .config = none});
  CHECK_FALSE(factory.ok());
}

}  // namespace
}  // namespace gateway
