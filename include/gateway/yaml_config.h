// YAML configuration for a standalone gateway (see docs/config.md).
//
// `LoadConfigFile` / `LoadConfigString` parse a YAML document into plain
// structs (mostly the library's own option structs) and validate them. Every
// error names the file, the line and the key path, e.g.
//   gateway.yaml:12: routes[2].match.path: expected a string
// Unknown keys are errors. The loader never throws.
//
// `StartFromConfig` assembles a running gateway from a config: the demo
// upstreams, the cluster manager, the router, the pipeline (filters by name
// from a `FilterRegistry`) and a multi-worker `Runtime`.
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
#include "gateway/filter.h"
#include "gateway/pipeline.h"
#include "gateway/proxy.h"
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

struct GatewayConfig {
  std::string filename;  // as given to the loader, for messages
  int workers = 0;       // 0: one per core
  ServerOptions server;  // listeners, limits, timeouts, connection caps
  ProxyOptions proxy;
  std::vector<std::string> filters;  // pipeline filters, by registry name, in order
  std::vector<ClusterSpec> clusters;
  std::vector<RouteSpec> routes;
  std::vector<DemoUpstream> demo_upstreams;
};

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);
absl::StatusOr<GatewayConfig> LoadConfigString(const std::string& text,
                                               const std::string& filename);

// Named filter factories. A maker runs once per pipeline build.
class FilterRegistry {
 public:
  using Maker = std::function<absl::StatusOr<std::shared_ptr<const FilterFactory>>()>;

  // A registry holding the built-in filters:
  //   "request_id": sets X-Request-Id on the request and the response if absent.
  static FilterRegistry WithBuiltins();

  // Adds or replaces `name`.
  void Register(std::string name, Maker maker);
  // The factory for `name`; NotFound if it is not registered.
  absl::StatusOr<std::shared_ptr<const FilterFactory>> Make(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, Maker> makers_;
};

// The "request_id" filter on its own.
std::shared_ptr<const FilterFactory> MakeRequestIdFilter();

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
