// YAML -> GatewayConfig. The text becomes a ConfigNode tree once
// (yaml_tree.cc); the tables below bind its keys to the option structs with
// the shared readers of gateway/config_fields.h. A new key is one table line.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gateway/config_fields.h"
#include "gateway/load_balancer.h"
#include "gateway/yaml_config.h"
#include "tables.h"
#include "yaml_tree.h"

namespace gateway {
namespace {

using config::Bool;
using config::Duration;
using config::Emplace;
using config::Enum;
using config::Field;
using config::FieldTable;
using config::Int;
using config::List;
using config::Number;
using config::String;
using config::StringList;
using config::Uint;
using internal::kCount32;

constexpr Int kPort{.min = 0, .max = 65535};
constexpr Int kStatus{.min = 100, .max = 599};

// The keys of `node` among `keys` that the file sets.
int CountSet(const ConfigNode& node, std::initializer_list<std::string_view> keys) {
  int n = 0;
  for (std::string_view k : keys) n += node.Find(k) != nullptr;
  return n;
}

// ---- server, proxy ----

const FieldTable<ListenerOptions> kListener{
    Field("address", &ListenerOptions::address, String{}),
    Field("port", &ListenerOptions::port, kPort).Required(),
    Field("backlog", &ListenerOptions::backlog, Int{.min = 1, .max = 1 << 20}),
};

const FieldTable<CodecLimits> kCodecLimits{
    Field("max_uri_bytes", &CodecLimits::max_uri_bytes, Uint{}),
    Field("max_header_bytes", &CodecLimits::max_header_bytes, Uint{}),
    Field("max_header_count", &CodecLimits::max_header_count, Uint{}),
    Field("max_body_bytes", &CodecLimits::max_body_bytes, Uint{}),
    Field("max_chunk_line_bytes", &CodecLimits::max_chunk_line_bytes, Uint{.positive = true}),
};

constexpr std::pair<std::string_view, HeadersWithUnderscores> kUnderscoreActions[] = {
    {"allow", HeadersWithUnderscores::kAllow},
    {"drop", HeadersWithUnderscores::kDrop},
    {"reject", HeadersWithUnderscores::kReject},
};

const FieldTable<ServerTimeouts> kServerTimeouts{
    Field("header", &ServerTimeouts::header, Duration{}),
    Field("body_idle", &ServerTimeouts::body_idle, Duration{}),
    Field("keepalive_idle", &ServerTimeouts::keepalive_idle, Duration{}),
    Field("request", &ServerTimeouts::request, Duration{}),
    Field("send", &ServerTimeouts::send, Duration{}),
};

const FieldTable<ServerOptions> kServer{
    Field("max_connections", &ServerOptions::max_connections, Uint{}),
    Field("max_requests_per_connection", &ServerOptions::max_requests_per_connection, Uint{}),
    Field("limits", &ServerOptions::limits, kCodecLimits.reader()),
    Field("timeouts", &ServerOptions::timeouts, kServerTimeouts.reader()),
    Field<ServerOptions>("headers_with_underscores",
                         [](const ConfigNode& n, ServerOptions* o) {
                           return Enum<HeadersWithUnderscores>{
                               kUnderscoreActions,
                               [](std::string_view got, std::string_view expected) {
                                 return "unknown action \"" + std::string(got) + "\" (expected " +
                                        std::string(expected) + ")";
                               }}(n, &o->limits.headers_with_underscores);
                         }),
    // Belongs to the process, not to ServerOptions: the document reads it.
    Field<ServerOptions>("drain_timeout", nullptr),
};

const FieldTable<ProxyOptions> kProxy{
    Field("trusted_proxies", &ProxyOptions::trusted_proxies, StringList{}),
    Field("forwarded_headers", &ProxyOptions::forwarded_headers, Bool{}),
    Field("via", &ProxyOptions::via, String{}),
};

// ---- clusters ----

const FieldTable<EndpointSpec> kEndpoint{
    Field("address", &EndpointSpec::address, String{}).Required(),
    Field("port", &EndpointSpec::port, Int{.min = 1, .max = 65535}).Required(),
    Field("weight", &EndpointSpec::weight, kCount32),
};

const Enum<LbPolicy> kLbPolicy{LbPolicyNames(), [](std::string_view got, std::string_view) {
                                 return "unknown load balancing policy \"" + std::string(got) +
                                        "\"";
                               }};

// A built-in policy, or a balancer the program registered under that name
// (LoadBalancerRegistry::Global(), gateway/load_balancer.h).
absl::Status ReadLbPolicy(const ConfigNode& n, LbOptions* out) {
  absl::Status builtin = kLbPolicy(n, &out->policy);
  if (builtin.ok() || !n.IsScalar()) return builtin;
  if (!LoadBalancerRegistry::Global().Contains(n.scalar())) return builtin;
  out->name = n.scalar();
  return absl::OkStatus();
}

const FieldTable<LbOptions> kLb{
    Field<LbOptions>("policy", ReadLbPolicy),
    Field("panic_threshold_percent", &LbOptions::panic_threshold_percent, Number{}),
    Field("ring_vnodes_per_weight", &LbOptions::ring_vnodes_per_weight,
          Int{.min = 1, .max = UINT32_MAX}),
    Field("maglev_table_size", &LbOptions::maglev_table_size, Int{.min = 1, .max = UINT32_MAX}),
    Field("seed", &LbOptions::seed, Uint{}),
    // A registered balancer's own settings, read by its maker.
    Field<LbOptions>("config",
                     [](const ConfigNode& n, LbOptions* o) {
                       o->config = n;
                       return absl::OkStatus();
                     }),
};

// `lb: maglev` or `lb: {policy: maglev, ...}`.
absl::Status ReadLb(const ConfigNode& n, LbOptions* out) {
  if (n.IsScalar()) return ReadLbPolicy(n, out);
  return kLb.Read(n, out);
}

const FieldTable<PoolOptions> kPool{
    Field("max_connections_per_host", &PoolOptions::max_connections_per_host, Uint{}),
    Field("max_idle_per_host", &PoolOptions::max_idle_per_host, Uint{}),
    Field("idle_timeout", &PoolOptions::idle_timeout, Duration{}),
    Field("max_requests_per_connection", &PoolOptions::max_requests_per_connection, Uint{}),
    Field("connect_timeout", &PoolOptions::connect_timeout, Duration{}),
    Field("write_high_watermark", &PoolOptions::write_high_watermark, Uint{}),
    Field("write_low_watermark", &PoolOptions::write_low_watermark, Uint{}),
};

// Each entry is a status (200) or an inclusive range ("200-399").
absl::Status ReadStatusRange(const ConfigNode& n, std::pair<int, int>* out) {
  std::string item = n.IsScalar() ? n.scalar() : "";
  std::pair<std::string, std::string> parts = absl::StrSplit(item, absl::MaxSplits('-', 1));
  int lo = 0, hi = 0;
  if (!absl::SimpleAtoi(parts.first, &lo) ||
      !absl::SimpleAtoi(parts.second.empty() ? parts.first : parts.second, &hi) || lo < 100 ||
      hi > 599 || lo > hi) {
    return n.Error("expected a status or a range like 200-399");
  }
  *out = {lo, hi};
  return absl::OkStatus();
}

constexpr std::pair<std::string_view, HealthCheckSpec::Type> kHealthTypes[] = {
    {"http", HealthCheckSpec::Type::kHttp}, {"tcp", HealthCheckSpec::Type::kTcp}};
constexpr Int kThreshold{.min = 1, .max = 1000};

const FieldTable<HealthCheckSpec> kHealthCheck{
    Field("type", &HealthCheckSpec::type, Enum<HealthCheckSpec::Type>{kHealthTypes}),
    Field("path", &HealthCheckSpec::path, String{}),
    Field("host", &HealthCheckSpec::host, String{}),
    Field(
        "expected_statuses", &HealthCheckSpec::expected_statuses,
        List<decltype(&ReadStatusRange)>{ReadStatusRange, "expected a list of statuses or ranges"}),
    Field("interval", &HealthCheckSpec::interval, Duration{}),
    Field("unhealthy_interval", &HealthCheckSpec::unhealthy_interval, Duration{}),
    Field("jitter", &HealthCheckSpec::jitter, Duration{}),
    Field("timeout", &HealthCheckSpec::timeout, Duration{}),
    Field("healthy_threshold", &HealthCheckSpec::healthy_threshold, kThreshold),
    Field("unhealthy_threshold", &HealthCheckSpec::unhealthy_threshold, kThreshold),
};

constexpr List<Int> kStatusList{kStatus, "expected a list of statuses"};

const FieldTable<FailureClassifier> kClassifier{
    Field("server_errors", &FailureClassifier::server_errors, Bool{}),
    Field("failure_statuses", &FailureClassifier::failure_statuses, kStatusList),
    Field("success_statuses", &FailureClassifier::success_statuses, kStatusList),
    Field("connect_failures", &FailureClassifier::connect_failures, Bool{}),
    Field("resets", &FailureClassifier::resets, Bool{}),
    Field("timeouts", &FailureClassifier::timeouts, Bool{}),
    Field("protocol_errors", &FailureClassifier::protocol_errors, Bool{}),
    Field("slow_call_duration", &FailureClassifier::slow_call_duration, Duration{}),
};

// `type` is read first, to choose the table. The classifier key comes last
// and only a route's breaker has it (a cluster's takes the cluster's).
const FieldTable<ConsecutiveFailureBreakerConfig> kConsecutive{
    Field<ConsecutiveFailureBreakerConfig>("type", nullptr),
    Field("failure_threshold", &ConsecutiveFailureBreakerConfig::failure_threshold, kCount32),
    Field("success_threshold", &ConsecutiveFailureBreakerConfig::success_threshold, kCount32),
    Field("half_open_max_calls", &ConsecutiveFailureBreakerConfig::half_open_max_calls, kCount32),
    Field("open_timeout", &ConsecutiveFailureBreakerConfig::open_timeout, Duration{}),
    Field("failure_classifier", &ConsecutiveFailureBreakerConfig::classifier,
          kClassifier.valid_reader()),
};

using Sliding = SlidingWindowBreakerConfig;
constexpr std::pair<std::string_view, Sliding::Window> kWindows[] = {
    {"count", Sliding::Window::kCount}, {"time", Sliding::Window::kTime}};

const FieldTable<Sliding> kSlidingWindow{
    Field<Sliding>("type", nullptr),
    Field("window", &Sliding::window, Enum<Sliding::Window>{kWindows}),
    Field("window_size", &Sliding::window_size, kCount32),
    Field("window_duration", &Sliding::window_duration, Duration{}),
    Field("window_buckets", &Sliding::window_buckets, kCount32),
    Field("minimum_calls", &Sliding::minimum_calls, kCount32),
    Field("failure_rate_threshold", &Sliding::failure_rate_threshold, Number{}),
    Field("slow_call_rate_threshold", &Sliding::slow_call_rate_threshold, Number{}),
    Field("half_open_calls", &Sliding::half_open_calls, kCount32),
    Field("open_duration", &Sliding::open_duration, Duration{}),
    Field("open_backoff_multiplier", &Sliding::open_backoff_multiplier, Number{}),
    Field("max_open_duration", &Sliding::max_open_duration, Duration{}),
    Field("failure_classifier", &Sliding::classifier, kClassifier.valid_reader()),
};

template <typename C>
absl::Status ReadBreakerOf(const ConfigNode& n, const FieldTable<C>& table, BreakerConfig* out) {
  C c;
  if (auto s = table.ReadValid(n, &c); !s.ok()) return s;
  *out = std::move(c);
  return absl::OkStatus();
}

}  // namespace

absl::Status internal::ReadBreaker(const ConfigNode& n, bool route, BreakerConfig* out) {
  static const auto kClusterConsecutive = kConsecutive.Without("failure_classifier");
  static const auto kClusterSliding = kSlidingWindow.Without("failure_classifier");
  if (!n.IsMap()) return n.Error("expected a mapping");
  const ConfigNode* type = n.Find("type");
  if (type == nullptr) return n.ErrorAt("type", "missing (consecutive or sliding_window)");
  auto name = type->AsString();
  if (!name.ok()) return name.status();
  if (*name == "consecutive") {
    return ReadBreakerOf(n, route ? kConsecutive : kClusterConsecutive, out);
  }
  if (*name == "sliding_window") {
    return ReadBreakerOf(n, route ? kSlidingWindow : kClusterSliding, out);
  }
  return type->Error(absl::StrCat("expected consecutive or sliding_window, not \"", *name, "\""));
}

namespace {

const FieldTable<ConcurrencyLimitsConfig> kLimits{
    Field("max_connections", &ConcurrencyLimitsConfig::max_connections, kCount32),
    Field("max_pending_requests", &ConcurrencyLimitsConfig::max_pending_requests, kCount32),
    Field("max_requests", &ConcurrencyLimitsConfig::max_requests, kCount32),
    Field("max_retries", &ConcurrencyLimitsConfig::max_retries, kCount32),
};

const FieldTable<OutlierDetectionConfig> kOutlierDetection{
    Field("consecutive_5xx", &OutlierDetectionConfig::consecutive_5xx, kCount32),
    Field("consecutive_gateway_failure", &OutlierDetectionConfig::consecutive_gateway_failure,
          kCount32),
    Field("base_ejection_time", &OutlierDetectionConfig::base_ejection_time, Duration{}),
    Field("max_ejection_time", &OutlierDetectionConfig::max_ejection_time, Duration{}),
    Field("ejection_count_decay", &OutlierDetectionConfig::ejection_count_decay, Duration{}),
    Field("max_ejection_percent", &OutlierDetectionConfig::max_ejection_percent, Number{}),
    Field("return_on_active_check", &OutlierDetectionConfig::return_on_active_check, Bool{}),
};

const FieldTable<FallbackSpec> kFallback{
    Field("on", &FallbackSpec::on, StringList{}),
    Field("cluster", &FallbackSpec::cluster, String{}),
    Field("status", &FallbackSpec::status, kStatus),
    Field("headers", &FallbackSpec::headers, internal::ReadPairs),
    Field("body", &FallbackSpec::body, String{}),
};

absl::Status ReadFallback(const ConfigNode& n, FallbackSpec* out) {
  if (auto s = kFallback.Read(n, out); !s.ok()) return s;
  if (!out->cluster.empty() && CountSet(n, {"status", "headers", "body"}) > 0) {
    return n.Error("cluster and a reply (status, headers, body) exclude each other");
  }
  return n.Invalid(out->Validate());
}

absl::Status ReadClusterHashPolicy(const ConfigNode& n, ClusterSpec* out) {
  if (auto s = internal::ReadHashPolicies(n, &out->hash_policy); !s.ok()) return s;
  for (size_t i = 0; i < out->hash_policy.size(); ++i) {
    if (out->hash_policy[i].kind == HashPolicy::Kind::kRouteCapture) {
      return n.children()[i]
          .Find("route_capture")
          ->Error("captures differ between routes; set it in the route's hash_policy");
    }
  }
  if (!UsesHashKey(out->lb.policy)) {
    return n.Error("needs an lb policy that hashes (ip_hash, ring_hash or maglev)");
  }
  return absl::OkStatus();
}

using Resilience = ClusterResilienceSpec;
template <typename M, typename R>
Field<ClusterSpec> ResilienceField(std::string_view key, M Resilience::*member, R reader) {
  return Field<ClusterSpec>(key, [member, reader](const ConfigNode& n, ClusterSpec* c) {
    return reader(n, &(c->resilience.*member));
  });
}

const FieldTable<ClusterSpec> kCluster{
    Field("name", &ClusterSpec::name, String{}).Required(),
    Field("endpoints", &ClusterSpec::endpoints,
          List{kEndpoint.reader(), "expected a list of endpoints"})
        .Required(),
    Field("lb", &ClusterSpec::lb, ReadLb),
    Field<ClusterSpec>("hash_policy", ReadClusterHashPolicy),
    Field("pool", &ClusterSpec::pool, kPool.reader()),
    Field("dns_refresh", &ClusterSpec::dns_refresh, Duration{}),
    Field("health_check", &ClusterSpec::health_check, Emplace{kHealthCheck.valid_reader()}),
    ResilienceField("failure_classifier", &Resilience::classifier, kClassifier.valid_reader()),
    ResilienceField("circuit_breaker", &Resilience::breaker,
                    [](const ConfigNode& n, BreakerConfig* b) {
                      return internal::ReadBreaker(n, /*route=*/false, b);
                    }),
    ResilienceField("limits", &Resilience::limits, kLimits.valid_reader()),
    ResilienceField("outlier_detection", &Resilience::outlier_detection,
                    Emplace{kOutlierDetection.valid_reader()}),
    Field("fallback", &ClusterSpec::fallback, Emplace{ReadFallback}),
};

absl::Status ReadClusters(const ConfigNode& n, GatewayConfig* config) {
  if (!n.IsSequence()) return n.Error("expected a list of clusters");
  std::set<std::string> names;
  for (const ConfigNode& c : n.children()) {
    ClusterSpec spec;
    if (auto s = kCluster.Read(c, &spec); !s.ok()) return s;
    if (!names.insert(spec.name).second) {
      return c.ErrorAt("name", absl::StrCat("duplicate cluster \"", spec.name, "\""));
    }
    if (auto s = spec.Validate(); !s.ok()) return c.Error(std::string(s.message()));
    config->clusters.push_back(std::move(spec));
  }
  // A fallback may name a cluster defined further down.
  for (size_t i = 0; i < config->clusters.size(); ++i) {
    const ClusterSpec& c = config->clusters[i];
    if (!c.fallback.has_value() || c.fallback->cluster.empty()) continue;
    const std::string& to = c.fallback->cluster;
    if (to == c.name || !names.count(to)) {
      return n.children()[i]
          .Resolve("fallback.cluster")
          ->Error(to == c.name ? "names the cluster itself"
                               : absl::StrCat("unknown cluster \"", to, "\""));
    }
  }
  return absl::OkStatus();
}

// One `filters:` entry: a bare name, {<name>: <config>} or {name: ..., config: ...}.
absl::Status ReadFilter(const ConfigNode& e, FilterSpec* spec) {
  spec->line = e.line();
  if (e.IsScalar()) {
    spec->name = e.scalar();
    // No config, but a place: a filter that needs one can say so there.
    spec->config = ConfigNode(ConfigNode::Kind::kNull, "",
                              {e.where().file, e.line(), absl::StrCat(e.path(), ".", e.scalar())});
  } else if (e.IsMap() && e.Find("name") != nullptr) {
    static const FieldTable<FilterSpec> kNamed{
        Field("name", &FilterSpec::name, String{}),
        Field<FilterSpec>("config",
                          [](const ConfigNode& n, FilterSpec* f) {
                            f->config = n;
                            return absl::OkStatus();
                          }),
    };
    spec->config = ConfigNode(ConfigNode::Kind::kNull, "",
                              {e.where().file, e.line(), absl::StrCat(e.path(), ".config")});
    if (auto s = kNamed.Read(e, spec); !s.ok()) return s;
  } else if (e.IsMap() && e.size() == 1) {
    spec->name = e.children()[0].key();
    spec->config = e.children()[0];
  } else {
    return e.Error("expected a filter name, {<name>: <config>} or {name: ..., config: ...}");
  }
  if (spec->name.empty()) return e.Error("empty filter name");
  return absl::OkStatus();
}

const FieldTable<GatewayConfig> kDocument{
    Field<GatewayConfig>(
        "listeners",
        [](const ConfigNode& n, GatewayConfig* c) {
          return List{kListener.reader(), "expected a list of listeners"}(n, &c->server.listeners);
        }),
    Field("workers", &GatewayConfig::workers, Int{.min = 0, .max = 1024}),
    Field<GatewayConfig>("server",
                         [](const ConfigNode& n, GatewayConfig* c) {
                           if (auto s = kServer.Read(n, &c->server); !s.ok()) return s;
                           const ConfigNode* d = n.Find("drain_timeout");
                           if (d == nullptr) return absl::OkStatus();
                           return Duration{.max = absl::Hours(1)}(*d, &c->drain_timeout);
                         }),
    Field("proxy", &GatewayConfig::proxy, kProxy.valid_reader()),
    Field("filters", &GatewayConfig::filters, List{ReadFilter, "expected a list of filters"}),
    Field<GatewayConfig>("clusters", ReadClusters),
    Field<GatewayConfig>("routes", internal::ReadRoutes),
};

absl::Status ReadDocument(const ConfigNode& root, const LoadOptions& options,
                          GatewayConfig* config) {
  if (root.IsNull()) {
    return absl::InvalidArgumentError(absl::StrCat(config->filename, ": empty configuration"));
  }
  // The program's sections join the table, so a key neither reads is still
  // reported as unknown, listing both.
  FieldTable<GatewayConfig> document = kDocument;
  for (const std::string& name : options.sections) {
    if (kDocument.Has(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("LoadOptions::sections: \"", name, "\" is read by the gateway"));
    }
    document =
        document.With(Field<GatewayConfig>(name, [&name](const ConfigNode& n, GatewayConfig* c) {
          c->sections.insert_or_assign(name, n);
          return absl::OkStatus();
        }));
  }
  if (auto s = document.Read(root, config); !s.ok()) return s;
  if (root.Find("listeners") == nullptr) config->server.listeners.push_back(ListenerOptions{});
  if (auto s = config->server.Validate(); !s.ok()) {
    // Listeners and server settings are checked together; point at whichever the file sets.
    const ConfigNode* at = root.Find("server");
    if (at == nullptr) at = root.Find("listeners");
    std::string message(s.message());
    return at != nullptr ? at->Error(message) : root.ErrorAt("listeners", message);
  }
  return absl::OkStatus();
}

}  // namespace

const ConfigNode& GatewayConfig::section(std::string_view name) const {
  static const ConfigNode kAbsent;
  auto it = sections.find(name);
  return it != sections.end() ? it->second : kAbsent;
}

absl::StatusOr<GatewayConfig> LoadConfigString(const std::string& text, const std::string& filename,
                                               const LoadOptions& options) {
  auto root = internal::ParseYamlTree(text, filename, "", internal::ProcessEnv);
  if (!root.ok()) return root.status();
  GatewayConfig config;
  config.filename = filename;
  if (auto s = ReadDocument(*root, options, &config); !s.ok()) return s;
  return config;
}

absl::StatusOr<ConfigNode> ParseConfigNode(const std::string& yaml, const std::string& filename,
                                           const std::string& path) {
  return internal::ParseYamlTree(yaml, filename, path, internal::ProcessEnv);
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path, const LoadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return LoadConfigString(text.str(), path, options);
}

}  // namespace gateway
