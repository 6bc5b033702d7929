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
// `StartFromConfig` assembles a running gateway from a config: the demo
// upstreams, the cluster manager, the router, the pipeline (filters by name
// from a `FilterRegistry`, each given its own `config` subtree) and a
// multi-worker `Runtime`.
#ifndef GATEWAY_YAML_CONFIG_H_
#define GATEWAY_YAML_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
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

// An in-process HTTP server answering every GET with
// {"service":"<service>","instance":"<name>","path":"<path>"}; for demos.
struct DemoUpstream {
  std::string name;
  uint16_t port = 0;
  std::string service;
};

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
  std::vector<DemoUpstream> demo_upstreams;
};

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);
absl::StatusOr<GatewayConfig> LoadConfigString(const std::string& text,
                                               const std::string& filename);

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
  // Listeners and demo upstreams bind port 0 (free ports); cluster endpoints
  // on 127.0.0.1/localhost that named a demo upstream's port follow it.
  bool ephemeral_ports = false;
  int workers = -1;  // >= 0 replaces `workers`
};

// A running gateway and its demo upstreams.
class ConfiguredGateway {
 public:
  virtual ~ConfiguredGateway() = default;
  // Starts a graceful drain of the gateway and the demo upstreams.
  virtual void Drain(absl::Duration deadline) = 0;
  // Blocks until everything has drained.
  virtual void Wait() = 0;
  virtual Runtime& runtime() = 0;
  // Bound ports of the listeners, in config order.
  virtual std::vector<uint16_t> ports() const = 0;
  // Bound port of each demo upstream, in config order.
  virtual std::vector<uint16_t> demo_ports() const = 0;
  // Applies the clusters, routes, filters and proxy options of `config` (new
  // requests only; in-flight ones finish on the old pipeline). Listeners,
  // server options, workers and demo upstreams keep their started values.
  // On error nothing changes.
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
