// Config -> running gateway: filter registry, StartFromConfig.
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/filters/request_id.h"
#include "gateway/health_check.h"
#include "gateway/resilience_stats.h"
#include "gateway/runtime.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

// BuildPipeline, with `observer` (may be null) receiving the transitions of
// the route breakers.
absl::StatusOr<std::shared_ptr<const Pipeline>> BuildObservedPipeline(
    const GatewayConfig& config, const FilterRegistry& registry,
    std::shared_ptr<ClusterManager> clusters, std::shared_ptr<ResilienceObserver> observer) {
  auto router = Router::Build(config.routes);
  if (!router.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(config.filename, ": ", router.status().message()));
  }
  PipelineBuilder builder;
  builder.Routes(*router).Proxy(config.proxy).RouteBreakerObserver(std::move(observer));
  if (clusters) builder.Clusters(std::move(clusters));
  for (size_t i = 0; i < config.filters.size(); ++i) {
    const FilterSpec& spec = config.filters[i];
    auto factory = registry.Make(spec, config);
    if (!factory.ok()) {
      absl::string_view message = factory.status().message();
      // Errors from ConfigNode already say "<file>:<line>: <key>: ...".
      if (!config.filename.empty() && absl::StartsWith(message, config.filename + ":")) {
        return absl::InvalidArgumentError(message);
      }
      std::string where =
          spec.line > 0 ? absl::StrCat(config.filename, ":", spec.line) : config.filename;
      return absl::InvalidArgumentError(absl::StrCat(where, ": filters[", i, "]: ", message));
    }
    builder.Add(*factory);
  }
  return builder.Build();
}

class ConfiguredGatewayImpl final : public ConfiguredGateway {
 public:
  void Drain(absl::Duration deadline) override {
    if (runtime_) runtime_->Drain(deadline);
  }
  void Wait() override {
    if (runtime_) runtime_->Wait();
  }
  Runtime& runtime() override { return *runtime_; }
  std::vector<uint16_t> ports() const override { return runtime_->ports(); }
  ~ConfiguredGatewayImpl() override {
    if (health_ != nullptr) control_->Run([this](Dispatcher&) { health_.reset(); });
    runtime_.reset();  // the last references to the cluster manager
    control_.reset();  // after everything on its loop
  }

  absl::Status Reload(const GatewayConfig& config, const FilterRegistry& registry) override;

  // Clusters and pipeline of `config`, with endpoint ports remapped, and the
  // health checker of those clusters (null if none has a health check). The
  // clusters' DNS lookups and the checker run on the control thread,
  // started with the first clusters.
  absl::StatusOr<std::shared_ptr<const Pipeline>> Assemble(const GatewayConfig& config,
                                                           const FilterRegistry& registry,
                                                           std::unique_ptr<HealthChecker>* health) {
    std::vector<ClusterSpec> clusters = config.clusters;
    for (ClusterSpec& c : clusters) {
      for (EndpointSpec& e : c.endpoints) {
        if (e.address != "127.0.0.1" && e.address != "localhost") continue;
        auto it = port_map.find(e.port);
        if (it != port_map.end()) e.port = it->second;
      }
    }
    // Breaker transitions (cluster and route breakers) and host ejections,
    // one line each, like the health transitions below.
    std::shared_ptr<ResilienceObserver> log = MakeLoggingObserver(
        [](std::string_view line) { fmt::print(stderr, "gatewayd: {}\n", line); });
    std::shared_ptr<ClusterManager> manager;
    if (!clusters.empty()) {
      if (control_ == nullptr) control_ = ControlThread::Start();
      absl::StatusOr<std::shared_ptr<ClusterManager>> m;
      control_->Run([&](Dispatcher& d) {
        m = ClusterManager::Create(std::move(clusters), {.loop = d.loop(), .observer = log});
      });
      if (!m.ok()) return m.status();
      manager = std::move(*m);
    }
    auto pipeline = BuildObservedPipeline(config, registry, manager, log);
    if (!pipeline.ok()) return pipeline.status();
    bool checked = false;
    for (const ClusterSpec& c : config.clusters) checked |= c.health_check.has_value();
    if (checked) {
      // One checker per process; transitions are logged once each.
      control_->Run([&](Dispatcher& d) {
        *health = HealthChecker::Create(
            d, manager, {.on_change = [](const HealthEvent& e) {
              fmt::print(stderr, "gatewayd: cluster {}: host {} is {}{}{}\n", e.cluster, e.host,
                         e.healthy ? "healthy" : "unhealthy", e.reason.empty() ? "" : ": ",
                         e.reason);
            }});
      });
    }
    return pipeline;
  }

  std::map<uint16_t, uint16_t> port_map;  // StartOverrides::endpoint_ports
  std::unique_ptr<Runtime> runtime_;
  // DNS lookups and health checks; null while no config had clusters.
  std::unique_ptr<ControlThread> control_;
  std::unique_ptr<HealthChecker> health_;  // on control_'s loop
};

absl::Status ConfiguredGatewayImpl::Reload(const GatewayConfig& config,
                                           const FilterRegistry& registry) {
  std::unique_ptr<HealthChecker> health;
  auto pipeline = Assemble(config, registry, &health);
  if (!pipeline.ok()) return pipeline.status();
  runtime_->SetPipeline(*std::move(pipeline));
  // The old clusters are no longer checked; checkers live on the control loop.
  if (control_ != nullptr) control_->Run([&](Dispatcher&) { health_ = std::move(health); });
  return absl::OkStatus();
}

}  // namespace

FilterRegistry FilterRegistry::WithBuiltins() {
  FilterRegistry r;
  r.Register("request_id", []() -> absl::StatusOr<std::shared_ptr<const FilterFactory>> {
    return MakeRequestIdFilter();
  });
  r.Register(
      "rate_limit",
      [](const FilterMakeContext& ctx) -> absl::StatusOr<std::shared_ptr<const FilterFactory>> {
        auto config = ParseRateLimitFilterConfig(ctx.config, ctx.gateway);
        if (!config.ok()) return config.status();
        auto factory = MakeRateLimitFilter(*std::move(config));
        // The parser validated each rule where it was written; what is
        // left (e.g. a bad status) belongs to the config as a whole.
        if (!factory.ok()) {
          absl::string_view m = factory.status().message();
          return ctx.config.Error(std::string_view(m.data(), m.size()));
        }
        return factory;
      });
  return r;
}

void FilterRegistry::Register(std::string name, Maker maker) {
  makers_[std::move(name)] =
      [maker = std::move(maker)](
          const FilterMakeContext& ctx) -> absl::StatusOr<std::shared_ptr<const FilterFactory>> {
    if (!ctx.config.IsNull()) return ctx.config.Error("this filter takes no config");
    return maker();
  };
}

void FilterRegistry::Register(std::string name, ConfigMaker maker) {
  makers_[std::move(name)] = std::move(maker);
}

absl::StatusOr<std::shared_ptr<const FilterFactory>> FilterRegistry::Make(
    const std::string& name) const {
  static const GatewayConfig kEmpty;
  return Make(FilterSpec(name), kEmpty);
}

absl::StatusOr<std::shared_ptr<const FilterFactory>> FilterRegistry::Make(
    const FilterSpec& spec, const GatewayConfig& gateway) const {
  auto it = makers_.find(spec.name);
  if (it == makers_.end()) {
    std::string known;
    for (const auto& [n, m] : makers_) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
    return absl::NotFoundError(
        absl::StrCat("unknown filter \"", spec.name, "\" (registered: ", known, ")"));
  }
  auto factory = it->second(FilterMakeContext{spec.config, gateway});
  if (factory.ok() && *factory == nullptr) {
    return absl::InternalError(absl::StrCat("filter \"", spec.name, "\": maker returned null"));
  }
  return factory;
}

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [n, m] : makers_) out.push_back(n);
  return out;
}

absl::StatusOr<std::shared_ptr<const Pipeline>> BuildPipeline(
    const GatewayConfig& config, const FilterRegistry& registry,
    std::shared_ptr<ClusterManager> clusters) {
  return BuildObservedPipeline(config, registry, std::move(clusters), nullptr);
}

absl::StatusOr<std::unique_ptr<ConfiguredGateway>> StartFromConfig(
    const GatewayConfig& config, const FilterRegistry& registry, const StartOverrides& overrides) {
  auto out = std::make_unique<ConfiguredGatewayImpl>();

  out->port_map = overrides.endpoint_ports;

  auto pipeline = out->Assemble(config, registry, &out->health_);
  if (!pipeline.ok()) return pipeline.status();

  RuntimeOptions options;
  options.workers = overrides.workers >= 0 ? overrides.workers : config.workers;
  options.server = config.server;
  if (overrides.ephemeral_ports) {
    for (ListenerOptions& l : options.server.listeners) l.port = 0;
  }
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  if (!runtime.ok()) return runtime.status();
  out->runtime_ = std::move(*runtime);
  return out;
}

}  // namespace gateway
