// YAML text -> ConfigNode tree, the one place the YAML library is used.
#ifndef GATEWAY_LIB_YAML_CONFIG_YAML_TREE_H_
#define GATEWAY_LIB_YAML_CONFIG_YAML_TREE_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "gateway/config_node.h"

namespace gateway::internal {

// The value of an environment variable, nullopt if unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// `text` with "${NAME}" and "${NAME:-default}" replaced from `env`, and "$${"
// turned into a literal "${". The error message says which variable is unset
// or which reference is malformed; the caller adds file, line and key.
absl::StatusOr<std::string> SubstituteVariables(std::string_view text, const EnvLookup& env);

// Parses `text` into a tree whose paths start at `path`, substituting
// variables in scalar values. Never throws.
absl::StatusOr<ConfigNode> ParseYamlTree(const std::string& text, const std::string& filename,
                                         const std::string& path, const EnvLookup& env);

// The process environment.
std::optional<std::string> ProcessEnv(std::string_view name);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_YAML_CONFIG_YAML_TREE_H_
