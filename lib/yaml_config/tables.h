// Readers shared between the loader's files (loader.cc: document, server,
// clusters; route_config.cc: routes and hash policies).
#ifndef GATEWAY_LIB_YAML_CONFIG_TABLES_H_
#define GATEWAY_LIB_YAML_CONFIG_TABLES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gateway/config_fields.h"
#include "gateway/config_node.h"
#include "gateway/yaml_config.h"

namespace gateway::internal {

// Counts and thresholds held in uint32_t fields.
inline constexpr config::Int kCount32{.min = 0, .max = UINT32_MAX};

// `{name: value, ...}` in document order, appended to *out.
absl::Status ReadPairs(const ConfigNode& node,
                       std::vector<std::pair<std::string, std::string>>* out);
// A `circuit_breaker:` mapping; only a route's (`route`) has its own
// failure_classifier.
absl::Status ReadBreaker(const ConfigNode& node, bool route, BreakerConfig* out);
// A `hash_policy:` list, each entry validated.
absl::Status ReadHashPolicies(const ConfigNode& node, std::vector<HashPolicy>* out);
// `routes:`, checked against config->clusters.
absl::Status ReadRoutes(const ConfigNode& node, GatewayConfig* config);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_YAML_CONFIG_TABLES_H_
