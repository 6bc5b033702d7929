// YAML configuration for a standalone gateway (see docs/config.md).
//
// `LoadConfigFile` / `LoadConfigString` parse a YAML document into plain
// structs (mostly the library's own option structs) and validate them. Every
// error names the file, the line and the key path, e.g.
//   gateway.yaml:12: routes[2].match.path: expected a string
// Unknown keys are errors. The loader never throws. `${VAR}` and
// `${VAR:-default}` in scalar values are replaced from the process environment
// (`$${` is a literal `${`); an unset variable without a default is an error
// at its key. Keys are bound by the tables of gateway/config_fields.h.
//
// The program embedding the gateway may add top-level sections of its own
// (`LoadOptions::sections`): the loader keeps them unparsed in
// `GatewayConfig::sections` and the program reads them with the same
// `ConfigNode` accessors or `config::FieldTable`s, so their errors read the
// same. gatewayd's `demo_upstreams` is one (examples/gatewayd).
//
// `StartFromConfig` assembles a running gateway from a config: the cluster
// manager, the router, the pipeline (filters by name from a `FilterRegistry`,
// each given its own `config` subtree) and a multi-worker `Runtime`.
#ifndef GATEWAY_YAML_CONFIG_H_
#define GATEWAY_YAML_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/cluster.h"
#include "gateway/config_node.h"
#include "gateway/filter.h"
#include "gateway/filters/request_id.h"  // the "request_id" filter
#include "gateway/pipeline.h"
#include "gateway/proxy.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/router.h"
#include "gateway/runtime.h"
#include "gateway/server.h"

namespace gateway {

// One entry of `filters:`. In YAML either a bare name, `{<name>: <config>}`
// or `{name: <name>, config: <config>}`.
struct FilterSpec {
  FilterSpec() = default;
  // A bare name (no config), as in `filters: [request_id]`.
  FilterSpec(std::string spec_name) : name(std::move(spec_name)) {}  // NOLINT: implicit on purpose
  FilterSpec(const char* spec_name) : name(spec_name) {}             // NOLINT: implicit on purpose

  std::string name;
  ConfigNode config;  // null when the entry has no config
  int line = 0;       // of the entry, for messages (0: not from a file)
};

struct GatewayConfig {
  std::string filename;  // as given to the loader, for messages
  int workers = 0;       // 0: one per core
  ServerOptions server;  // listeners, limits, timeouts, connection caps
  // `server.drain_timeout`: on a stop signal, how long gatewayd lets in-flight
  // requests finish before it closes their connections and exits. Zero closes
  // them at once.
  absl::Duration drain_timeout = absl::Seconds(5);
  ProxyOptions proxy;
  std::vector<FilterSpec> filters;  // pipeline filters, by registry name, in order
  std::vector<ClusterSpec> clusters;
  std::vector<RouteSpec> routes;
  // The program's own top-level sections (LoadOptions::sections) that the
  // file sets, by name, unparsed (`${VAR}` already replaced). Their key paths
  // start at the section name, e.g. "demo_upstreams[1].port". The gateway
  // itself never reads them.
  std::map<std::string, ConfigNode, std::less<>> sections;

  // The section `name`, or a null node if the file does not set it.
  const ConfigNode& section(std::string_view name) const;
};

struct LoadOptions {
  // Top-level keys the program reads itself. Each one the file sets is kept
  // in GatewayConfig::sections; any other key the loader does not know is
  // still an error. Claiming a key the loader reads itself ("routes") is an
  // error.
  std::vector<std::string> sections;
};

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path,
                                             const LoadOptions& options = {});
absl::StatusOr<GatewayConfig> LoadConfigString(const std::string& text, const std::string& filename,
                                               const LoadOptions& options = {});

// What a configurable filter's maker gets.
struct FilterMakeContext {
  // The entry's config; a null node if the entry has none. Errors made with
  // `config.Error(...)` (or returned by its accessors) name file, line and key.
  const ConfigNode& config;
  // The whole configuration, for gateway-wide settings (e.g. the rate-limit
  // filter defaults its trusted proxies to `proxy.trusted_proxies`).
  const GatewayConfig& gateway;
};

// Named filter factories. A maker runs once per pipeline build (so once per
// start and per reload); filters that keep state (counters, caches) start
// afresh with each build.
class FilterRegistry {
 public:
  // A filter that takes no config; an entry that gives one is an error.
  using Maker = std::function<absl::StatusOr<std::shared_ptr<const FilterFactory>>()>;
  // A filter configured from its entry's `config`.
  using ConfigMaker =
      std::function<absl::StatusOr<std::shared_ptr<const FilterFactory>>(const FilterMakeContext&)>;

  // A registry holding the built-in filters:
  //   "request_id": sets X-Request-Id on the request and the response if absent.
  //   "rate_limit": MakeRateLimitFilter from ParseRateLimitFilterConfig.
  static FilterRegistry WithBuiltins();

  // Adds or replaces `name`.
  void Register(std::string name, Maker maker);
  void Register(std::string name, ConfigMaker maker);
  // The factory for `name` without config; NotFound if it is not registered.
  absl::StatusOr<std::shared_ptr<const FilterFactory>> Make(const std::string& name) const;
  // The factory for one `filters:` entry of `gateway`.
  absl::StatusOr<std::shared_ptr<const FilterFactory>> Make(const FilterSpec& spec,
                                                            const GatewayConfig& gateway) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ConfigMaker> makers_;
};

// The `rate_limit` filter's config from YAML (see docs/rate-limiting.md).
// `trusted_proxies` defaults to `gateway.proxy.trusted_proxies`. Errors name
// file, line and key.
absl::StatusOr<RateLimitFilterConfig> ParseRateLimitFilterConfig(const ConfigNode& config,
                                                                 const GatewayConfig& gateway);

struct StartOverrides {
  // Listeners bind port 0 (free ports); `ports()` tells which they got.
  bool ephemeral_ports = false;
  int workers = -1;  // >= 0 replaces `workers`
  // Configured port -> port to connect to, for cluster endpoints whose
  // address is 127.0.0.1 or localhost (other endpoints are left alone), at
  // start and on every Reload. For upstreams the program runs itself on
  // ports it learns only once they are bound (tests, demos).
  std::map<uint16_t, uint16_t> endpoint_ports;
};

// A running gateway.
class ConfiguredGateway {
 public:
  virtual ~ConfiguredGateway() = default;
  // Starts a graceful drain.
  virtual void Drain(absl::Duration deadline) = 0;
  // Blocks until everything has drained.
  virtual void Wait() = 0;
  virtual Runtime& runtime() = 0;
  // Bound ports of the listeners, in config order.
  virtual std::vector<uint16_t> ports() const = 0;
  // Applies the clusters, routes, filters and proxy options of `config` (new
  // requests only; in-flight ones finish on the old pipeline). Listeners,
  // server options, workers and the start's `endpoint_ports` keep their
  // started values. On error nothing changes.
  virtual absl::Status Reload(const GatewayConfig& config, const FilterRegistry& registry) = 0;
};

// Builds the pipeline of `config` (no sockets); checks filter names.
absl::StatusOr<std::shared_ptr<const Pipeline>> BuildPipeline(
    const GatewayConfig& config, const FilterRegistry& registry,
    std::shared_ptr<ClusterManager> clusters);

absl::StatusOr<std::unique_ptr<ConfiguredGateway>> StartFromConfig(
    const GatewayConfig& config, const FilterRegistry& registry,
    const StartOverrides& overrides = {});

}  // namespace gateway

#endif  // GATEWAY_YAML_CONFIG_H_
