// The example configs of examples/gatewayd as gatewayd runs them, for tests
// that drive them through StartFromConfig: loaded with gatewayd's claimed
// sections, their demo upstreams started on free ports (pass
// `demos->port_map()` as StartOverrides::endpoint_ports).
//
// Header-only because the integration glob compiles only *_test.cc files.
#ifndef GATEWAY_TESTS_INTEGRATION_GATEWAYD_EXAMPLES_H_
#define GATEWAY_TESTS_INTEGRATION_GATEWAYD_EXAMPLES_H_

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "gateway/yaml_config.h"
#include "gatewayd/demo_upstreams.h"

namespace gateway::itest {

// examples/gatewayd/<name>, loaded as gatewayd loads it.
inline absl::StatusOr<GatewayConfig> LoadExample(const std::string& name) {
  return LoadConfigFile(std::string(GATEWAY_SOURCE_DIR) + "/examples/gatewayd/" + name,
                        {.sections = {gatewayd::kDemoUpstreamsSection}});
}

// The demo upstreams of `config`, each on a free port; fails the test if
// they do not parse or start.
inline std::unique_ptr<gatewayd::DemoUpstreams> StartDemos(const GatewayConfig& config) {
  auto specs = gatewayd::ParseDemoUpstreams(config);
  INFO(specs.status().message());
  REQUIRE(specs.ok());
  auto demos = gatewayd::DemoUpstreams::Start(*std::move(specs), /*ephemeral_ports=*/true);
  INFO(demos.status().message());
  REQUIRE(demos.ok());
  return *std::move(demos);
}

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_GATEWAYD_EXAMPLES_H_
