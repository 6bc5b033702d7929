// The YAML config loader on arbitrary text: it must return a config or an
// InvalidArgument error that names the file, never crash, hang or grow
// without bound (aliases, deep nesting, ${VAR} references). Each accepted
// config must also be accepted again: loading is deterministic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "gateway/yaml_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto config = gateway::LoadConfigString(text, "fuzz.yaml");
  if (!config.ok()) {
    if (config.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    if (!absl::StartsWith(config.status().message(), "fuzz.yaml")) std::abort();
    return 0;
  }
  if (config->server.listeners.empty()) std::abort();
  if (!gateway::LoadConfigString(text, "fuzz.yaml").ok()) std::abort();
  // A filter's config subtree is what user filters read.
  for (const gateway::FilterSpec& f : config->filters) {
    if (!f.config.IsNull() && f.config.where().file != "fuzz.yaml") std::abort();
  }
  return 0;
}
