// YAML -> GatewayConfig. yaml-cpp throws; every call into it stays inside the
// try block of LoadConfigString and errors become absl::Status.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

class Parser {
 public:
  explicit Parser(std::string filename) : filename_(std::move(filename)) {}

  absl::Status Error(const YAML::Node& node, const std::string& path, const std::string& what) {
    int line = node.IsDefined() ? node.Mark().line + 1 : 0;
    return ErrorAt(line, path, what);
  }
  absl::Status ErrorAt(int line, const std::string& path, const std::string& what) {
    std::string where = line > 0 ? absl::StrCat(filename_, ":", line) : filename_;
    if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", path, ": ", what));
  }

  absl::Status ExpectMap(const YAML::Node& node, const std::string& path,
                         absl::Span<const char* const> keys) {
    if (!node.IsMap()) return Error(node, path, "expected a mapping");
    std::set<std::string> allowed(keys.begin(), keys.end());
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) return Error(kv.first, path, "expected a string key");
      std::string key = kv.first.Scalar();
      if (!allowed.count(key)) {
        return Error(
            kv.first, Join(path, key),
            absl::StrCat("unknown key (expected one of: ", absl::StrJoin(keys, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  // A `Validate()` failure of the struct parsed from `node`. The structs name
  // the offending field by its C++ name, which is also its key here, so the
  // error points at the first key named in the message that the file sets;
  // otherwise at `node` itself (the field kept its default).
  absl::Status Invalid(const YAML::Node& node, const std::string& path,
                       const absl::Status& status) {
    std::string message(status.message());
    if (node.IsMap()) {
      // Keys are words of [a-z0-9_]; '-' is part of a word so that
      // "sliding-window" does not read as the key "window".
      for (absl::string_view word :
           absl::StrSplit(message, absl::ByAnyChar(" :,;()'\"[]"), absl::SkipEmpty())) {
        std::string key(word);
        if (const YAML::Node& at = node[key]) return Error(at, Join(path, key), message);
      }
    }
    return Error(node, path, message);
  }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : absl::StrCat(path, ".", key);
  }
  static std::string Index(const std::string& path, size_t i) {
    return absl::StrCat(path, "[", i, "]");
  }

  absl::Status String(const YAML::Node& node, const std::string& path, std::string* out) {
    if (!node.IsScalar()) return Error(node, path, "expected a string");
    *out = node.Scalar();
    return absl::OkStatus();
  }
  template <typename T>
  absl::Status Int(const YAML::Node& node, const std::string& path, T* out, int64_t min,
                   int64_t max) {
    int64_t v = 0;
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), &v)) {
      return Error(node, path, "expected an integer");
    }
    if (v < min || v > max) {
      return Error(node, path, absl::StrCat("out of range [", min, ", ", max, "]"));
    }
    *out = static_cast<T>(v);
    return absl::OkStatus();
  }
  absl::Status Uint64(const YAML::Node& node, const std::string& path, uint64_t* out) {
    if (!node.IsScalar() || !absl::SimpleAtoi(node.Scalar(), out)) {
      return Error(node, path, "expected a non-negative integer");
    }
    return absl::OkStatus();
  }
  absl::Status Size(const YAML::Node& node, const std::string& path, size_t* out) {
    uint64_t v = 0;
    if (auto s = Uint64(node, path, &v); !s.ok()) return s;
    *out = static_cast<size_t>(v);
    return absl::OkStatus();
  }
  absl::Status Double(const YAML::Node& node, const std::string& path, double* out) {
    if (!node.IsScalar() || !absl::SimpleAtod(node.Scalar(), out)) {
      return Error(node, path, "expected a number");
    }
    return absl::OkStatus();
  }
  absl::Status Bool(const YAML::Node& node, const std::string& path, bool* out) {
    if (node.IsScalar()) {
      const std::string& s = node.Scalar();
      if (s == "true" || s == "yes" || s == "on") return *out = true, absl::OkStatus();
      if (s == "false" || s == "no" || s == "off") return *out = false, absl::OkStatus();
    }
    return Error(node, path, "expected true or false");
  }
  absl::Status Duration(const YAML::Node& node, const std::string& path, absl::Duration* out) {
    if (!node.IsScalar()) return Error(node, path, "expected a duration such as \"250ms\"");
    const std::string& s = node.Scalar();
    absl::Duration d;
    if (s == "0") {
      d = absl::ZeroDuration();
    } else if (!absl::ParseDuration(s, &d) || d < absl::ZeroDuration() ||
               d == absl::InfiniteDuration()) {
      return Error(node, path,
                   absl::StrCat("invalid duration \"", s, "\" (expected e.g. 250ms, 5s, 1m)"));
    }
    *out = d;
    return absl::OkStatus();
  }
  absl::Status StringList(const YAML::Node& node, const std::string& path,
                          std::vector<std::string>* out) {
    if (!node.IsSequence()) return Error(node, path, "expected a list of strings");
    out->clear();
    for (size_t i = 0; i < node.size(); ++i) {
      std::string s;
      if (auto st = String(node[i], Index(path, i), &s); !st.ok()) return st;
      out->push_back(std::move(s));
    }
    return absl::OkStatus();
  }

  absl::Status Document(const YAML::Node& root, GatewayConfig* config);

  // A YAML subtree as a ConfigNode, for configurable filters.
  absl::Status Convert(const YAML::Node& node, const std::string& path, ConfigNode* out) {
    ConfigNode::Location where{filename_, node.IsDefined() ? node.Mark().line + 1 : 0, path};
    if (!node.IsDefined() || node.IsNull()) {
      *out = ConfigNode(ConfigNode::Kind::kNull, "", std::move(where));
    } else if (node.IsScalar()) {
      *out = ConfigNode(ConfigNode::Kind::kScalar, node.Scalar(), std::move(where));
    } else if (node.IsSequence()) {
      *out = ConfigNode(ConfigNode::Kind::kSequence, "", std::move(where));
      for (size_t i = 0; i < node.size(); ++i) {
        ConfigNode child;
        if (auto st = Convert(node[i], Index(path, i), &child); !st.ok()) return st;
        out->AddChild("", std::move(child));
      }
    } else if (node.IsMap()) {
      *out = ConfigNode(ConfigNode::Kind::kMap, "", std::move(where));
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return Error(kv.first, path, "expected a string key");
        std::string key = kv.first.Scalar();
        if (!seen.insert(key).second) return Error(kv.first, Join(path, key), "duplicate key");
        ConfigNode child;
        if (auto st = Convert(kv.second, Join(path, key), &child); !st.ok()) return st;
        out->AddChild(std::move(key), std::move(child));
      }
    } else {
      return Error(node, path, "unsupported YAML node");
    }
    return absl::OkStatus();
  }

  absl::Status Filters(const YAML::Node& node, std::vector<FilterSpec>* out);

 private:
  absl::Status Listeners(const YAML::Node& node, const std::string& path, ServerOptions* out);
  absl::Status Server(const YAML::Node& node, const std::string& path, ServerOptions* out);
  absl::Status Proxy(const YAML::Node& node, const std::string& path, ProxyOptions* out);
  absl::Status HealthCheck(const YAML::Node& node, const std::string& path, HealthCheckSpec* out);
  absl::Status Cluster(const YAML::Node& node, const std::string& path, ClusterSpec* out);
  absl::Status Classifier(const YAML::Node& node, const std::string& path, FailureClassifier* out);
  // `route`: a route's breaker, which judges calls with its own
  // failure_classifier (a cluster's breaker takes the cluster's).
  absl::Status Breaker(const YAML::Node& node, const std::string& path, bool route,
                       BreakerConfig* out);
  absl::Status Limits(const YAML::Node& node, const std::string& path,
                      ConcurrencyLimitsConfig* out);
  absl::Status OutlierDetection(const YAML::Node& node, const std::string& path,
                                OutlierDetectionConfig* out);
  absl::Status Fallback(const YAML::Node& node, const std::string& path, FallbackSpec* out);
  absl::Status Route(const YAML::Node& node, const std::string& path, RouteSpec* out);
  absl::Status HashPolicies(const YAML::Node& node, const std::string& path,
                            std::vector<HashPolicy>* out);
  absl::Status Match(const YAML::Node& node, const std::string& path, RouteSpec* out);
  absl::Status Mutations(const YAML::Node& node, const std::string& path, HeaderMutations* out);
  absl::Status Pairs(const YAML::Node& node, const std::string& path,
                     std::vector<std::pair<std::string, std::string>>* out);
  absl::Status Retry(const YAML::Node& node, const std::string& path, RetryPolicy* out);
  template <typename M>
  absl::Status Matchers(const YAML::Node& node, const std::string& path, std::vector<M>* out);

  std::string filename_;
};

absl::Status Parser::Listeners(const YAML::Node& node, const std::string& path,
                               ServerOptions* out) {
  if (!node.IsSequence()) return Error(node, path, "expected a list of listeners");
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& l = node[i];
    std::string p = Index(path, i);
    if (auto s = ExpectMap(l, p, {"address", "port", "backlog"}); !s.ok()) return s;
    ListenerOptions listener;
    if (l["address"]) {
      if (auto s = String(l["address"], Join(p, "address"), &listener.address); !s.ok()) return s;
    }
    if (!l["port"]) return Error(l, Join(p, "port"), "missing");
    if (auto s = Int(l["port"], Join(p, "port"), &listener.port, 0, 65535); !s.ok()) return s;
    if (l["backlog"]) {
      if (auto s = Int(l["backlog"], Join(p, "backlog"), &listener.backlog, 1, 1 << 20); !s.ok())
        return s;
    }
    out->listeners.push_back(std::move(listener));
  }
  return absl::OkStatus();
}

absl::Status Parser::Server(const YAML::Node& node, const std::string& path, ServerOptions* out) {
  // drain_timeout belongs to the process, not to ServerOptions: Document reads it.
  if (auto s = ExpectMap(node, path,
                         {"max_connections", "max_requests_per_connection", "limits", "timeouts",
                          "headers_with_underscores", "drain_timeout"});
      !s.ok())
    return s;
  if (node["max_connections"]) {
    if (auto s =
            Size(node["max_connections"], Join(path, "max_connections"), &out->max_connections);
        !s.ok())
      return s;
  }
  if (node["max_requests_per_connection"]) {
    if (auto s = Size(node["max_requests_per_connection"],
                      Join(path, "max_requests_per_connection"), &out->max_requests_per_connection);
        !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["limits"]) {
    std::string p = Join(path, "limits");
    if (auto s = ExpectMap(n, p,
                           {"max_uri_bytes", "max_header_bytes", "max_header_count",
                            "max_body_bytes", "max_chunk_line_bytes"});
        !s.ok())
      return s;
    CodecLimits& l = out->limits;
    if (n["max_uri_bytes"]) {
      if (auto s = Size(n["max_uri_bytes"], Join(p, "max_uri_bytes"), &l.max_uri_bytes); !s.ok())
        return s;
    }
    if (n["max_header_bytes"]) {
      if (auto s = Size(n["max_header_bytes"], Join(p, "max_header_bytes"), &l.max_header_bytes);
          !s.ok())
        return s;
    }
    if (n["max_header_count"]) {
      if (auto s = Size(n["max_header_count"], Join(p, "max_header_count"), &l.max_header_count);
          !s.ok())
        return s;
    }
    if (n["max_body_bytes"]) {
      if (auto s = Uint64(n["max_body_bytes"], Join(p, "max_body_bytes"), &l.max_body_bytes);
          !s.ok())
        return s;
    }
    if (const YAML::Node& m = n["max_chunk_line_bytes"]) {
      std::string key = Join(p, "max_chunk_line_bytes");
      if (auto s = Size(m, key, &l.max_chunk_line_bytes); !s.ok()) return s;
      if (l.max_chunk_line_bytes == 0) return Error(m, key, "must be > 0");
    }
  }
  if (const YAML::Node& n = node["headers_with_underscores"]) {
    std::string p = Join(path, "headers_with_underscores");
    static const std::pair<const char*, HeadersWithUnderscores> kActions[] = {
        {"allow", HeadersWithUnderscores::kAllow},
        {"drop", HeadersWithUnderscores::kDrop},
        {"reject", HeadersWithUnderscores::kReject},
    };
    std::string action;
    if (auto s = String(n, p, &action); !s.ok()) return s;
    bool known = false;
    for (const auto& [name, value] : kActions) {
      if (action == name) {
        out->limits.headers_with_underscores = value;
        known = true;
      }
    }
    if (!known) {
      return Error(
          n, p, absl::StrCat("unknown action \"", action, "\" (expected allow, drop or reject)"));
    }
  }
  if (const YAML::Node& n = node["timeouts"]) {
    std::string p = Join(path, "timeouts");
    if (auto s = ExpectMap(n, p, {"header", "body_idle", "keepalive_idle", "request", "send"});
        !s.ok())
      return s;
    ServerTimeouts& t = out->timeouts;
    std::pair<const char*, absl::Duration*> fields[] = {{"header", &t.header},
                                                        {"body_idle", &t.body_idle},
                                                        {"keepalive_idle", &t.keepalive_idle},
                                                        {"request", &t.request},
                                                        {"send", &t.send}};
    for (auto& [key, dst] : fields) {
      if (n[key]) {
        if (auto s = Duration(n[key], Join(p, key), dst); !s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Parser::Proxy(const YAML::Node& node, const std::string& path, ProxyOptions* out) {
  if (auto s = ExpectMap(node, path, {"trusted_proxies", "forwarded_headers", "via"}); !s.ok())
    return s;
  if (node["trusted_proxies"]) {
    if (auto s = StringList(node["trusted_proxies"], Join(path, "trusted_proxies"),
                            &out->trusted_proxies);
        !s.ok())
      return s;
  }
  if (node["forwarded_headers"]) {
    if (auto s = Bool(node["forwarded_headers"], Join(path, "forwarded_headers"),
                      &out->forwarded_headers);
        !s.ok())
      return s;
  }
  if (node["via"]) {
    if (auto s = String(node["via"], Join(path, "via"), &out->via); !s.ok()) return s;
  }
  if (auto s = out->Validate(); !s.ok()) return Error(node, path, std::string(s.message()));
  return absl::OkStatus();
}

bool ParseLbPolicy(const std::string& name, LbOptions* out) {
  static const std::pair<const char*, LbPolicy> kPolicies[] = {
      {"round_robin", LbPolicy::kRoundRobin},
      {"weighted_round_robin", LbPolicy::kWeightedRoundRobin},
      {"random", LbPolicy::kRandom},
      {"least_request", LbPolicy::kLeastRequest},
      {"least_connections", LbPolicy::kLeastConnections},
      {"ring_hash", LbPolicy::kRingHash},
      {"maglev", LbPolicy::kMaglev},
      {"ip_hash", LbPolicy::kIpHash},
  };
  for (const auto& [n, p] : kPolicies) {
    if (name == n) {
      out->policy = p;
      return true;
    }
  }
  // A balancer the program registered (gateway/load_balancer.h).
  if (!LoadBalancerRegistry::Global().Contains(name)) return false;
  out->name = name;
  return true;
}

absl::Status Parser::Cluster(const YAML::Node& node, const std::string& path, ClusterSpec* out) {
  if (auto s = ExpectMap(
          node, path,
          {"name", "endpoints", "lb", "hash_policy", "pool", "dns_refresh", "health_check",
           "failure_classifier", "circuit_breaker", "limits", "outlier_detection", "fallback"});
      !s.ok())
    return s;
  if (!node["name"]) return Error(node, Join(path, "name"), "missing");
  if (auto s = String(node["name"], Join(path, "name"), &out->name); !s.ok()) return s;
  if (!node["endpoints"]) return Error(node, Join(path, "endpoints"), "missing");
  const YAML::Node& eps = node["endpoints"];
  std::string ep_path = Join(path, "endpoints");
  if (!eps.IsSequence()) return Error(eps, ep_path, "expected a list of endpoints");
  for (size_t i = 0; i < eps.size(); ++i) {
    const YAML::Node& e = eps[i];
    std::string p = Index(ep_path, i);
    if (auto s = ExpectMap(e, p, {"address", "port", "weight"}); !s.ok()) return s;
    EndpointSpec ep;
    if (!e["address"]) return Error(e, Join(p, "address"), "missing");
    if (auto s = String(e["address"], Join(p, "address"), &ep.address); !s.ok()) return s;
    if (!e["port"]) return Error(e, Join(p, "port"), "missing");
    if (auto s = Int(e["port"], Join(p, "port"), &ep.port, 1, 65535); !s.ok()) return s;
    if (e["weight"]) {
      if (auto s = Int(e["weight"], Join(p, "weight"), &ep.weight, 0, UINT32_MAX); !s.ok())
        return s;
    }
    out->endpoints.push_back(std::move(ep));
  }
  if (const YAML::Node& n = node["lb"]) {
    std::string p = Join(path, "lb");
    if (n.IsScalar()) {
      if (!ParseLbPolicy(n.Scalar(), &out->lb)) {
        return Error(n, p, absl::StrCat("unknown load balancing policy \"", n.Scalar(), "\""));
      }
    } else {
      if (auto s = ExpectMap(n, p,
                             {"policy", "panic_threshold_percent", "ring_vnodes_per_weight",
                              "maglev_table_size", "seed", "config"});
          !s.ok())
        return s;
      if (n["policy"]) {
        std::string name;
        if (auto s = String(n["policy"], Join(p, "policy"), &name); !s.ok()) return s;
        if (!ParseLbPolicy(name, &out->lb)) {
          return Error(n["policy"], Join(p, "policy"),
                       absl::StrCat("unknown load balancing policy \"", name, "\""));
        }
      }
      if (n["panic_threshold_percent"]) {
        if (auto s = Double(n["panic_threshold_percent"], Join(p, "panic_threshold_percent"),
                            &out->lb.panic_threshold_percent);
            !s.ok())
          return s;
      }
      if (n["ring_vnodes_per_weight"]) {
        if (auto s = Int(n["ring_vnodes_per_weight"], Join(p, "ring_vnodes_per_weight"),
                         &out->lb.ring_vnodes_per_weight, 1, UINT32_MAX);
            !s.ok())
          return s;
      }
      if (n["maglev_table_size"]) {
        if (auto s = Int(n["maglev_table_size"], Join(p, "maglev_table_size"),
                         &out->lb.maglev_table_size, 1, UINT32_MAX);
            !s.ok())
          return s;
      }
      if (n["seed"]) {
        if (auto s = Uint64(n["seed"], Join(p, "seed"), &out->lb.seed); !s.ok()) return s;
      }
      if (n["config"]) {
        if (auto s = Convert(n["config"], Join(p, "config"), &out->lb.config); !s.ok()) return s;
      }
    }
  }
  if (const YAML::Node& n = node["hash_policy"]) {
    std::string p = Join(path, "hash_policy");
    if (auto s = HashPolicies(n, p, &out->hash_policy); !s.ok()) return s;
    for (size_t i = 0; i < out->hash_policy.size(); ++i) {
      if (out->hash_policy[i].kind == HashPolicy::Kind::kRouteCapture) {
        return Error(n[i]["route_capture"], Join(Index(p, i), "route_capture"),
                     "captures differ between routes; set it in the route's hash_policy");
      }
    }
    if (!UsesHashKey(out->lb.policy)) {
      return Error(n, p, "needs an lb policy that hashes (ip_hash, ring_hash or maglev)");
    }
  }
  if (const YAML::Node& n = node["pool"]) {
    std::string p = Join(path, "pool");
    if (auto s = ExpectMap(n, p,
                           {"max_connections_per_host", "max_idle_per_host", "idle_timeout",
                            "max_requests_per_connection", "connect_timeout",
                            "write_high_watermark", "write_low_watermark"});
        !s.ok())
      return s;
    PoolOptions& o = out->pool;
    std::pair<const char*, size_t*> sizes[] = {
        {"max_connections_per_host", &o.max_connections_per_host},
        {"max_idle_per_host", &o.max_idle_per_host},
        {"max_requests_per_connection", &o.max_requests_per_connection},
        {"write_high_watermark", &o.write_high_watermark},
        {"write_low_watermark", &o.write_low_watermark}};
    for (auto& [key, dst] : sizes) {
      if (n[key]) {
        if (auto s = Size(n[key], Join(p, key), dst); !s.ok()) return s;
      }
    }
    if (n["idle_timeout"]) {
      if (auto s = Duration(n["idle_timeout"], Join(p, "idle_timeout"), &o.idle_timeout); !s.ok())
        return s;
    }
    if (n["connect_timeout"]) {
      if (auto s = Duration(n["connect_timeout"], Join(p, "connect_timeout"), &o.connect_timeout);
          !s.ok())
        return s;
    }
  }
  if (node["dns_refresh"]) {
    if (auto s = Duration(node["dns_refresh"], Join(path, "dns_refresh"), &out->dns_refresh);
        !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["health_check"]) {
    out->health_check.emplace();
    if (auto s = HealthCheck(n, Join(path, "health_check"), &*out->health_check); !s.ok()) return s;
  }
  ClusterResilienceSpec& r = out->resilience;
  if (const YAML::Node& n = node["failure_classifier"]) {
    if (auto s = Classifier(n, Join(path, "failure_classifier"), &r.classifier); !s.ok()) return s;
  }
  if (const YAML::Node& n = node["circuit_breaker"]) {
    if (auto s = Breaker(n, Join(path, "circuit_breaker"), /*route=*/false, &r.breaker); !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["limits"]) {
    if (auto s = Limits(n, Join(path, "limits"), &r.limits); !s.ok()) return s;
  }
  if (const YAML::Node& n = node["outlier_detection"]) {
    r.outlier_detection.emplace();
    if (auto s = OutlierDetection(n, Join(path, "outlier_detection"), &*r.outlier_detection);
        !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["fallback"]) {
    out->fallback.emplace();
    if (auto s = Fallback(n, Join(path, "fallback"), &*out->fallback); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::Classifier(const YAML::Node& node, const std::string& path,
                                FailureClassifier* out) {
  if (auto s =
          ExpectMap(node, path,
                    {"server_errors", "failure_statuses", "success_statuses", "connect_failures",
                     "resets", "timeouts", "protocol_errors", "slow_call_duration"});
      !s.ok())
    return s;
  std::pair<const char*, bool*> bools[] = {{"server_errors", &out->server_errors},
                                           {"connect_failures", &out->connect_failures},
                                           {"resets", &out->resets},
                                           {"timeouts", &out->timeouts},
                                           {"protocol_errors", &out->protocol_errors}};
  for (auto& [key, dst] : bools) {
    if (node[key]) {
      if (auto s = Bool(node[key], Join(path, key), dst); !s.ok()) return s;
    }
  }
  std::pair<const char*, std::vector<int>*> lists[] = {
      {"failure_statuses", &out->failure_statuses}, {"success_statuses", &out->success_statuses}};
  for (auto& [key, dst] : lists) {
    if (const YAML::Node& n = node[key]) {
      std::string p = Join(path, key);
      if (!n.IsSequence()) return Error(n, p, "expected a list of statuses");
      dst->clear();
      for (size_t i = 0; i < n.size(); ++i) {
        int status = 0;
        if (auto s = Int(n[i], Index(p, i), &status, 100, 599); !s.ok()) return s;
        dst->push_back(status);
      }
    }
  }
  if (node["slow_call_duration"]) {
    if (auto s = Duration(node["slow_call_duration"], Join(path, "slow_call_duration"),
                          &out->slow_call_duration);
        !s.ok())
      return s;
  }
  if (auto s = out->Validate(); !s.ok()) return Invalid(node, path, s);
  return absl::OkStatus();
}

absl::Status Parser::Breaker(const YAML::Node& node, const std::string& path, bool route,
                             BreakerConfig* out) {
  if (!node.IsMap()) return Error(node, path, "expected a mapping");
  const YAML::Node& type_node = node["type"];
  if (!type_node) return Error(node, Join(path, "type"), "missing (consecutive or sliding_window)");
  std::string type;
  if (auto s = String(type_node, Join(path, "type"), &type); !s.ok()) return s;
  // The classifier key comes last in both lists and is dropped for clusters.
  static constexpr const char* kConsecutiveKeys[] = {
      "type",         "failure_threshold", "success_threshold", "half_open_max_calls",
      "open_timeout", "failure_classifier"};
  static constexpr const char* kSlidingWindowKeys[] = {"type",
                                                       "window",
                                                       "window_size",
                                                       "window_duration",
                                                       "window_buckets",
                                                       "minimum_calls",
                                                       "failure_rate_threshold",
                                                       "slow_call_rate_threshold",
                                                       "half_open_calls",
                                                       "open_duration",
                                                       "open_backoff_multiplier",
                                                       "max_open_duration",
                                                       "failure_classifier"};
  auto keys = [route](absl::Span<const char* const> all) {
    return route ? all : all.first(all.size() - 1);
  };
  auto classifier = [&](FailureClassifier* dst) -> absl::Status {
    const YAML::Node& n = node["failure_classifier"];
    if (!n) return absl::OkStatus();
    return Classifier(n, Join(path, "failure_classifier"), dst);
  };
  if (type == "consecutive") {
    if (auto s = ExpectMap(node, path, keys(kConsecutiveKeys)); !s.ok()) return s;
    ConsecutiveFailureBreakerConfig c;
    std::pair<const char*, uint32_t*> counts[] = {{"failure_threshold", &c.failure_threshold},
                                                  {"success_threshold", &c.success_threshold},
                                                  {"half_open_max_calls", &c.half_open_max_calls}};
    for (auto& [key, dst] : counts) {
      if (node[key]) {
        if (auto s = Int(node[key], Join(path, key), dst, 0, UINT32_MAX); !s.ok()) return s;
      }
    }
    if (node["open_timeout"]) {
      if (auto s = Duration(node["open_timeout"], Join(path, "open_timeout"), &c.open_timeout);
          !s.ok())
        return s;
    }
    if (auto s = classifier(&c.classifier); !s.ok()) return s;
    if (auto s = c.Validate(); !s.ok()) return Invalid(node, path, s);
    *out = std::move(c);
  } else if (type == "sliding_window") {
    if (auto s = ExpectMap(node, path, keys(kSlidingWindowKeys)); !s.ok()) return s;
    SlidingWindowBreakerConfig c;
    if (const YAML::Node& n = node["window"]) {
      std::string window;
      if (auto s = String(n, Join(path, "window"), &window); !s.ok()) return s;
      if (window == "count") {
        c.window = SlidingWindowBreakerConfig::Window::kCount;
      } else if (window == "time") {
        c.window = SlidingWindowBreakerConfig::Window::kTime;
      } else {
        return Error(n, Join(path, "window"),
                     absl::StrCat("expected count or time, not \"", window, "\""));
      }
    }
    std::pair<const char*, uint32_t*> counts[] = {{"window_size", &c.window_size},
                                                  {"window_buckets", &c.window_buckets},
                                                  {"minimum_calls", &c.minimum_calls},
                                                  {"half_open_calls", &c.half_open_calls}};
    for (auto& [key, dst] : counts) {
      if (node[key]) {
        if (auto s = Int(node[key], Join(path, key), dst, 0, UINT32_MAX); !s.ok()) return s;
      }
    }
    std::pair<const char*, absl::Duration*> durations[] = {
        {"window_duration", &c.window_duration},
        {"open_duration", &c.open_duration},
        {"max_open_duration", &c.max_open_duration}};
    for (auto& [key, dst] : durations) {
      if (node[key]) {
        if (auto s = Duration(node[key], Join(path, key), dst); !s.ok()) return s;
      }
    }
    std::pair<const char*, double*> numbers[] = {
        {"failure_rate_threshold", &c.failure_rate_threshold},
        {"slow_call_rate_threshold", &c.slow_call_rate_threshold},
        {"open_backoff_multiplier", &c.open_backoff_multiplier}};
    for (auto& [key, dst] : numbers) {
      if (node[key]) {
        if (auto s = Double(node[key], Join(path, key), dst); !s.ok()) return s;
      }
    }
    if (auto s = classifier(&c.classifier); !s.ok()) return s;
    if (auto s = c.Validate(); !s.ok()) return Invalid(node, path, s);
    *out = std::move(c);
  } else {
    return Error(type_node, Join(path, "type"),
                 absl::StrCat("expected consecutive or sliding_window, not \"", type, "\""));
  }
  return absl::OkStatus();
}

absl::Status Parser::Limits(const YAML::Node& node, const std::string& path,
                            ConcurrencyLimitsConfig* out) {
  if (auto s = ExpectMap(
          node, path, {"max_connections", "max_pending_requests", "max_requests", "max_retries"});
      !s.ok())
    return s;
  std::pair<const char*, uint32_t*> counts[] = {
      {"max_connections", &out->max_connections},
      {"max_pending_requests", &out->max_pending_requests},
      {"max_requests", &out->max_requests},
      {"max_retries", &out->max_retries}};
  for (auto& [key, dst] : counts) {
    if (node[key]) {
      if (auto s = Int(node[key], Join(path, key), dst, 0, UINT32_MAX); !s.ok()) return s;
    }
  }
  if (auto s = out->Validate(); !s.ok()) return Invalid(node, path, s);
  return absl::OkStatus();
}

absl::Status Parser::OutlierDetection(const YAML::Node& node, const std::string& path,
                                      OutlierDetectionConfig* out) {
  if (auto s = ExpectMap(node, path,
                         {"consecutive_5xx", "consecutive_gateway_failure", "base_ejection_time",
                          "max_ejection_time", "ejection_count_decay", "max_ejection_percent",
                          "return_on_active_check"});
      !s.ok())
    return s;
  std::pair<const char*, uint32_t*> counts[] = {
      {"consecutive_5xx", &out->consecutive_5xx},
      {"consecutive_gateway_failure", &out->consecutive_gateway_failure}};
  for (auto& [key, dst] : counts) {
    if (node[key]) {
      if (auto s = Int(node[key], Join(path, key), dst, 0, UINT32_MAX); !s.ok()) return s;
    }
  }
  std::pair<const char*, absl::Duration*> durations[] = {
      {"base_ejection_time", &out->base_ejection_time},
      {"max_ejection_time", &out->max_ejection_time},
      {"ejection_count_decay", &out->ejection_count_decay}};
  for (auto& [key, dst] : durations) {
    if (node[key]) {
      if (auto s = Duration(node[key], Join(path, key), dst); !s.ok()) return s;
    }
  }
  if (node["max_ejection_percent"]) {
    if (auto s = Double(node["max_ejection_percent"], Join(path, "max_ejection_percent"),
                        &out->max_ejection_percent);
        !s.ok())
      return s;
  }
  if (node["return_on_active_check"]) {
    if (auto s = Bool(node["return_on_active_check"], Join(path, "return_on_active_check"),
                      &out->return_on_active_check);
        !s.ok())
      return s;
  }
  if (auto s = out->Validate(); !s.ok()) return Invalid(node, path, s);
  return absl::OkStatus();
}

absl::Status Parser::Fallback(const YAML::Node& node, const std::string& path, FallbackSpec* out) {
  if (auto s = ExpectMap(node, path, {"on", "cluster", "status", "headers", "body"}); !s.ok())
    return s;
  if (node["on"]) {
    if (auto s = StringList(node["on"], Join(path, "on"), &out->on); !s.ok()) return s;
  }
  if (node["cluster"]) {
    if (auto s = String(node["cluster"], Join(path, "cluster"), &out->cluster); !s.ok()) return s;
  }
  if (node["status"]) {
    if (auto s = Int(node["status"], Join(path, "status"), &out->status, 100, 599); !s.ok())
      return s;
  }
  if (node["headers"]) {
    if (auto s = Pairs(node["headers"], Join(path, "headers"), &out->headers); !s.ok()) return s;
  }
  if (node["body"]) {
    if (auto s = String(node["body"], Join(path, "body"), &out->body); !s.ok()) return s;
  }
  if (!out->cluster.empty() && (node["status"] || node["headers"] || node["body"])) {
    return Error(node, path, "cluster and a reply (status, headers, body) exclude each other");
  }
  if (auto s = out->Validate(); !s.ok()) return Invalid(node, path, s);
  return absl::OkStatus();
}

absl::Status Parser::HealthCheck(const YAML::Node& node, const std::string& path,
                                 HealthCheckSpec* out) {
  if (auto s =
          ExpectMap(node, path,
                    {"type", "path", "host", "expected_statuses", "interval", "unhealthy_interval",
                     "jitter", "timeout", "healthy_threshold", "unhealthy_threshold"});
      !s.ok())
    return s;
  if (const YAML::Node& n = node["type"]) {
    std::string type;
    if (auto s = String(n, Join(path, "type"), &type); !s.ok()) return s;
    if (type == "http") {
      out->type = HealthCheckSpec::Type::kHttp;
    } else if (type == "tcp") {
      out->type = HealthCheckSpec::Type::kTcp;
    } else {
      return Error(n, Join(path, "type"), absl::StrCat("expected http or tcp, not \"", type, "\""));
    }
  }
  if (node["path"]) {
    if (auto s = String(node["path"], Join(path, "path"), &out->path); !s.ok()) return s;
  }
  if (node["host"]) {
    if (auto s = String(node["host"], Join(path, "host"), &out->host); !s.ok()) return s;
  }
  if (const YAML::Node& n = node["expected_statuses"]) {
    // Each entry is a status (200) or an inclusive range ("200-399").
    std::string p = Join(path, "expected_statuses");
    if (!n.IsSequence()) return Error(n, p, "expected a list of statuses or ranges");
    out->expected_statuses.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      std::string item = n[i].IsScalar() ? n[i].Scalar() : "";
      std::pair<std::string, std::string> parts = absl::StrSplit(item, absl::MaxSplits('-', 1));
      int lo = 0, hi = 0;
      if (!absl::SimpleAtoi(parts.first, &lo) ||
          !absl::SimpleAtoi(parts.second.empty() ? parts.first : parts.second, &hi) || lo < 100 ||
          hi > 599 || lo > hi) {
        return Error(n[i], Index(p, i), "expected a status or a range like 200-399");
      }
      out->expected_statuses.emplace_back(lo, hi);
    }
  }
  std::pair<const char*, absl::Duration*> durations[] = {
      {"interval", &out->interval},
      {"unhealthy_interval", &out->unhealthy_interval},
      {"jitter", &out->jitter},
      {"timeout", &out->timeout}};
  for (auto& [key, dst] : durations) {
    if (node[key]) {
      if (auto s = Duration(node[key], Join(path, key), dst); !s.ok()) return s;
    }
  }
  std::pair<const char*, uint32_t*> thresholds[] = {
      {"healthy_threshold", &out->healthy_threshold},
      {"unhealthy_threshold", &out->unhealthy_threshold}};
  for (auto& [key, dst] : thresholds) {
    if (node[key]) {
      if (auto s = Int(node[key], Join(path, key), dst, 1, 1000); !s.ok()) return s;
    }
  }
  if (auto s = out->Validate(); !s.ok()) return Error(node, path, std::string(s.message()));
  return absl::OkStatus();
}

template <typename M>
absl::Status Parser::Matchers(const YAML::Node& node, const std::string& path,
                              std::vector<M>* out) {
  if (!node.IsSequence()) return Error(node, path, "expected a list");
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& m = node[i];
    std::string p = Index(path, i);
    if (auto s = ExpectMap(m, p, {"name", "exact", "prefix", "regex", "present", "absent"});
        !s.ok())
      return s;
    M matcher;
    if (!m["name"]) return Error(m, Join(p, "name"), "missing");
    if (auto s = String(m["name"], Join(p, "name"), &matcher.name); !s.ok()) return s;
    int kinds = 0;
    std::pair<const char*, typename M::Kind> values[] = {
        {"exact", M::Kind::kExact}, {"prefix", M::Kind::kPrefix}, {"regex", M::Kind::kRegex}};
    for (auto& [key, kind] : values) {
      if (m[key]) {
        ++kinds;
        matcher.kind = kind;
        if (auto s = String(m[key], Join(p, key), &matcher.value); !s.ok()) return s;
      }
    }
    std::pair<const char*, typename M::Kind> flags[] = {{"present", M::Kind::kPresent},
                                                        {"absent", M::Kind::kAbsent}};
    for (auto& [key, kind] : flags) {
      if (m[key]) {
        ++kinds;
        bool b = false;
        if (auto s = Bool(m[key], Join(p, key), &b); !s.ok()) return s;
        if (!b) return Error(m[key], Join(p, key), "only \"true\" is meaningful");
        matcher.kind = kind;
      }
    }
    if (kinds != 1) {
      return Error(m, p, "expected exactly one of exact, prefix, regex, present, absent");
    }
    out->push_back(std::move(matcher));
  }
  return absl::OkStatus();
}

absl::Status Parser::Match(const YAML::Node& node, const std::string& path, RouteSpec* out) {
  if (auto s = ExpectMap(
          node, path,
          {"hosts", "path", "prefix", "template", "regex", "methods", "headers", "query"});
      !s.ok())
    return s;
  if (node["hosts"]) {
    if (auto s = StringList(node["hosts"], Join(path, "hosts"), &out->hosts); !s.ok()) return s;
  }
  int kinds = 0;
  std::pair<const char*, PathMatch::Kind> paths[] = {{"path", PathMatch::Kind::kExact},
                                                     {"prefix", PathMatch::Kind::kPrefix},
                                                     {"template", PathMatch::Kind::kTemplate},
                                                     {"regex", PathMatch::Kind::kRegex}};
  for (auto& [key, kind] : paths) {
    if (node[key]) {
      ++kinds;
      out->path.kind = kind;
      if (auto s = String(node[key], Join(path, key), &out->path.value); !s.ok()) return s;
    }
  }
  if (kinds > 1) return Error(node, path, "at most one of path, prefix, template, regex");
  if (node["methods"]) {
    if (auto s = StringList(node["methods"], Join(path, "methods"), &out->methods); !s.ok())
      return s;
  }
  if (node["headers"]) {
    if (auto s = Matchers(node["headers"], Join(path, "headers"), &out->headers); !s.ok()) return s;
  }
  if (node["query"]) {
    if (auto s = Matchers(node["query"], Join(path, "query"), &out->query); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::Pairs(const YAML::Node& node, const std::string& path,
                           std::vector<std::pair<std::string, std::string>>* out) {
  if (!node.IsMap()) return Error(node, path, "expected a mapping of header names to values");
  for (const auto& kv : node) {
    std::string name, value;
    if (auto s = String(kv.first, path, &name); !s.ok()) return s;
    if (auto s = String(kv.second, Join(path, name), &value); !s.ok()) return s;
    out->emplace_back(std::move(name), std::move(value));
  }
  return absl::OkStatus();
}

absl::Status Parser::Mutations(const YAML::Node& node, const std::string& path,
                               HeaderMutations* out) {
  if (auto s = ExpectMap(node, path, {"add", "set", "remove"}); !s.ok()) return s;
  if (node["add"]) {
    if (auto s = Pairs(node["add"], Join(path, "add"), &out->add); !s.ok()) return s;
  }
  if (node["set"]) {
    if (auto s = Pairs(node["set"], Join(path, "set"), &out->set); !s.ok()) return s;
  }
  if (node["remove"]) {
    if (auto s = StringList(node["remove"], Join(path, "remove"), &out->remove); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::Retry(const YAML::Node& node, const std::string& path, RetryPolicy* out) {
  if (auto s =
          ExpectMap(node, path,
                    {"on_connect_failure", "on_reset", "on_5xx", "on_gateway_error", "on_statuses",
                     "max_retries", "allow_non_idempotent", "backoff_base", "backoff_max",
                     "replay_buffer_bytes", "budget_percent", "budget_min_retries"});
      !s.ok())
    return s;
  std::pair<const char*, bool*> bools[] = {{"on_connect_failure", &out->on_connect_failure},
                                           {"on_reset", &out->on_reset},
                                           {"on_5xx", &out->on_5xx},
                                           {"on_gateway_error", &out->on_gateway_error},
                                           {"allow_non_idempotent", &out->allow_non_idempotent}};
  for (auto& [key, dst] : bools) {
    if (node[key]) {
      if (auto s = Bool(node[key], Join(path, key), dst); !s.ok()) return s;
    }
  }
  if (const YAML::Node& n = node["on_statuses"]) {
    std::string p = Join(path, "on_statuses");
    if (!n.IsSequence()) return Error(n, p, "expected a list of statuses");
    for (size_t i = 0; i < n.size(); ++i) {
      int status = 0;
      if (auto s = Int(n[i], Index(p, i), &status, 100, 599); !s.ok()) return s;
      out->on_statuses.push_back(status);
    }
  }
  if (node["max_retries"]) {
    if (auto s =
            Int(node["max_retries"], Join(path, "max_retries"), &out->max_retries, 0, UINT32_MAX);
        !s.ok())
      return s;
  }
  if (node["backoff_base"]) {
    if (auto s = Duration(node["backoff_base"], Join(path, "backoff_base"), &out->backoff_base);
        !s.ok())
      return s;
  }
  if (node["backoff_max"]) {
    if (auto s = Duration(node["backoff_max"], Join(path, "backoff_max"), &out->backoff_max);
        !s.ok())
      return s;
  }
  if (node["replay_buffer_bytes"]) {
    if (auto s = Uint64(node["replay_buffer_bytes"], Join(path, "replay_buffer_bytes"),
                        &out->replay_buffer_bytes);
        !s.ok())
      return s;
  }
  if (node["budget_percent"]) {
    if (auto s = Double(node["budget_percent"], Join(path, "budget_percent"), &out->budget_percent);
        !s.ok())
      return s;
  }
  if (node["budget_min_retries"]) {
    if (auto s = Int(node["budget_min_retries"], Join(path, "budget_min_retries"),
                     &out->budget_min_retries, 0, UINT32_MAX);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

absl::Status Parser::Route(const YAML::Node& node, const std::string& path, RouteSpec* out) {
  if (auto s = ExpectMap(
          node, path,
          {"name", "priority", "match", "cluster", "cluster_from_capture", "direct_response",
           "redirect", "rewrite", "timeout", "retry", "upstream_timeouts", "host_rewrite",
           "request_headers", "response_headers", "upgrades", "circuit_breaker", "hash_policy"});
      !s.ok())
    return s;
  if (node["name"]) {
    if (auto s = String(node["name"], Join(path, "name"), &out->name); !s.ok()) return s;
  }
  if (node["priority"]) {
    if (auto s =
            Int(node["priority"], Join(path, "priority"), &out->priority, INT32_MIN, INT32_MAX);
        !s.ok())
      return s;
  }
  if (node["match"]) {
    if (auto s = Match(node["match"], Join(path, "match"), out); !s.ok()) return s;
  }
  if (node["cluster"]) {
    if (auto s = String(node["cluster"], Join(path, "cluster"), &out->cluster); !s.ok()) return s;
  }
  if (node["cluster_from_capture"]) {
    if (auto s = String(node["cluster_from_capture"], Join(path, "cluster_from_capture"),
                        &out->cluster_from_capture);
        !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["direct_response"]) {
    std::string p = Join(path, "direct_response");
    if (auto s = ExpectMap(n, p, {"status", "body", "content_type", "headers"}); !s.ok()) return s;
    DirectResponse d;
    if (n["status"]) {
      if (auto s = Int(n["status"], Join(p, "status"), &d.status, 100, 599); !s.ok()) return s;
    }
    if (n["body"]) {
      if (auto s = String(n["body"], Join(p, "body"), &d.body); !s.ok()) return s;
    }
    if (n["content_type"]) {
      if (auto s = String(n["content_type"], Join(p, "content_type"), &d.content_type); !s.ok())
        return s;
    }
    if (n["headers"]) {
      std::vector<std::pair<std::string, std::string>> headers;
      if (auto s = Pairs(n["headers"], Join(p, "headers"), &headers); !s.ok()) return s;
      for (auto& [k, v] : headers) d.headers.Add(k, v);
    }
    out->direct_response = std::move(d);
  }
  if (const YAML::Node& n = node["redirect"]) {
    std::string p = Join(path, "redirect");
    if (auto s = ExpectMap(n, p, {"status", "scheme", "host", "path", "strip_query"}); !s.ok())
      return s;
    gateway::Redirect r;
    if (n["status"]) {
      if (auto s = Int(n["status"], Join(p, "status"), &r.status, 300, 399); !s.ok()) return s;
    }
    std::pair<const char*, std::string*> strs[] = {
        {"scheme", &r.scheme}, {"host", &r.host}, {"path", &r.path}};
    for (auto& [key, dst] : strs) {
      if (n[key]) {
        if (auto s = String(n[key], Join(p, key), dst); !s.ok()) return s;
      }
    }
    if (n["strip_query"]) {
      if (auto s = Bool(n["strip_query"], Join(p, "strip_query"), &r.strip_query); !s.ok())
        return s;
    }
    out->redirect = std::move(r);
  }
  if (const YAML::Node& n = node["rewrite"]) {
    std::string p = Join(path, "rewrite");
    if (auto s = ExpectMap(n, p, {"prefix", "template", "regex", "replacement"}); !s.ok()) return s;
    int kinds = 0;
    if (n["prefix"]) {
      ++kinds;
      out->rewrite.kind = PathRewrite::Kind::kReplacePrefix;
      if (auto s = String(n["prefix"], Join(p, "prefix"), &out->rewrite.value); !s.ok()) return s;
    }
    if (n["template"]) {
      ++kinds;
      out->rewrite.kind = PathRewrite::Kind::kTemplate;
      if (auto s = String(n["template"], Join(p, "template"), &out->rewrite.value); !s.ok())
        return s;
    }
    if (n["regex"]) {
      ++kinds;
      out->rewrite.kind = PathRewrite::Kind::kRegex;
      if (auto s = String(n["regex"], Join(p, "regex"), &out->rewrite.pattern); !s.ok()) return s;
      if (!n["replacement"]) return Error(n, Join(p, "replacement"), "missing (regex rewrite)");
      if (auto s = String(n["replacement"], Join(p, "replacement"), &out->rewrite.value); !s.ok())
        return s;
    } else if (n["replacement"]) {
      return Error(n["replacement"], Join(p, "replacement"), "only with regex");
    }
    if (kinds != 1) return Error(n, p, "expected exactly one of prefix, template, regex");
  }
  if (node["timeout"]) {
    if (auto s = Duration(node["timeout"], Join(path, "timeout"), &out->timeout); !s.ok()) return s;
  }
  if (node["retry"]) {
    if (auto s = Retry(node["retry"], Join(path, "retry"), &out->retry); !s.ok()) return s;
  }
  if (const YAML::Node& n = node["upstream_timeouts"]) {
    std::string p = Join(path, "upstream_timeouts");
    if (auto s = ExpectMap(n, p, {"response_headers", "idle", "per_try", "tunnel_idle"}); !s.ok())
      return s;
    UpstreamTimeouts& t = out->upstream_timeouts;
    std::pair<const char*, absl::Duration*> fields[] = {{"response_headers", &t.response_headers},
                                                        {"idle", &t.idle},
                                                        {"per_try", &t.per_try},
                                                        {"tunnel_idle", &t.tunnel_idle}};
    for (auto& [key, dst] : fields) {
      if (n[key]) {
        if (auto s = Duration(n[key], Join(p, key), dst); !s.ok()) return s;
      }
    }
  }
  if (const YAML::Node& n = node["circuit_breaker"]) {
    if (auto s = Breaker(n, Join(path, "circuit_breaker"), /*route=*/true, &out->breaker); !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["hash_policy"]) {
    if (auto s = HashPolicies(n, Join(path, "hash_policy"), &out->hash_policy); !s.ok()) return s;
  }
  if (node["upgrades"]) {
    out->upgrades.clear();
    if (auto s = StringList(node["upgrades"], Join(path, "upgrades"), &out->upgrades); !s.ok())
      return s;
  }
  if (const YAML::Node& n = node["host_rewrite"]) {
    std::string p = Join(path, "host_rewrite");
    if (n.IsScalar() && n.Scalar() == "pass_through") {
      out->host_rewrite.kind = HostRewrite::Kind::kPassThrough;
    } else if (n.IsScalar() && n.Scalar() == "endpoint") {
      out->host_rewrite.kind = HostRewrite::Kind::kEndpoint;
    } else if (n.IsMap()) {
      if (auto s = ExpectMap(n, p, {"literal"}); !s.ok()) return s;
      if (!n["literal"]) return Error(n, Join(p, "literal"), "missing");
      out->host_rewrite.kind = HostRewrite::Kind::kLiteral;
      if (auto s = String(n["literal"], Join(p, "literal"), &out->host_rewrite.value); !s.ok())
        return s;
    } else {
      return Error(n, p, "expected pass_through, endpoint or {literal: <host>}");
    }
  }
  if (node["request_headers"]) {
    if (auto s = Mutations(node["request_headers"], Join(path, "request_headers"),
                           &out->request_headers);
        !s.ok())
      return s;
  }
  if (node["response_headers"]) {
    if (auto s = Mutations(node["response_headers"], Join(path, "response_headers"),
                           &out->response_headers);
        !s.ok())
      return s;
  }
  return absl::OkStatus();
}

// - client_ip: true
// - header: x-user-id
// - cookie: session        (ttl: 1h and path: / make the gateway set it)
// - query_parameter: user
// - route_capture: id
absl::Status Parser::HashPolicies(const YAML::Node& node, const std::string& path,
                                  std::vector<HashPolicy>* out) {
  if (!node.IsSequence()) return Error(node, path, "expected a list of hash policies");
  static constexpr std::pair<const char*, HashPolicy::Kind> kKinds[] = {
      {"client_ip", HashPolicy::Kind::kClientIp},
      {"header", HashPolicy::Kind::kHeader},
      {"cookie", HashPolicy::Kind::kCookie},
      {"query_parameter", HashPolicy::Kind::kQueryParameter},
      {"route_capture", HashPolicy::Kind::kRouteCapture}};
  out->clear();
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& e = node[i];
    std::string p = Index(path, i);
    if (auto s = ExpectMap(
            e, p,
            {"client_ip", "header", "cookie", "query_parameter", "route_capture", "ttl", "path"});
        !s.ok())
      return s;
    HashPolicy policy;
    const char* kind_key = nullptr;
    for (const auto& [key, kind] : kKinds) {
      if (!e[key]) continue;
      if (kind_key != nullptr) {
        return Error(e[key], Join(p, key),
                     absl::StrCat("one policy per entry; ", kind_key, " is already set"));
      }
      kind_key = key;
      policy.kind = kind;
      if (kind == HashPolicy::Kind::kClientIp) {
        bool on = false;
        if (auto s = Bool(e[key], Join(p, key), &on); !s.ok()) return s;
        if (!on) return Error(e[key], Join(p, key), "only \"true\" is meaningful");
      } else {
        if (auto s = String(e[key], Join(p, key), &policy.name); !s.ok()) return s;
        if (policy.name.empty()) return Error(e[key], Join(p, key), "the name must not be empty");
      }
    }
    if (kind_key == nullptr) {
      return Error(e, p,
                   "expected one of client_ip, header, cookie, query_parameter, route_capture");
    }
    for (const char* key : {"ttl", "path"}) {
      if (e[key] && policy.kind != HashPolicy::Kind::kCookie) {
        return Error(e[key], Join(p, key), absl::StrCat("only a cookie policy has a ", key));
      }
    }
    if (e["ttl"]) {
      policy.cookie_ttl.emplace();
      if (auto s = Duration(e["ttl"], Join(p, "ttl"), &*policy.cookie_ttl); !s.ok()) return s;
    }
    if (e["path"]) {
      if (!e["ttl"]) {
        return Error(e["path"], Join(p, "path"),
                     "only a cookie the gateway sets (with a ttl) has a path");
      }
      if (auto s = String(e["path"], Join(p, "path"), &policy.cookie_path); !s.ok()) return s;
    }
    if (auto s = policy.Validate(); !s.ok()) {
      // Validate names "ttl", "path" or the kind, which are this entry's keys.
      std::string message(s.message());
      for (const char* key : {"ttl", "path", kind_key}) {
        if (absl::StartsWith(message, absl::StrCat(key, ":")) && e[key]) {
          return Error(e[key], Join(p, key), message.substr(std::strlen(key) + 2));
        }
      }
      return Error(e, p, message);
    }
    out->push_back(std::move(policy));
  }
  return absl::OkStatus();
}

absl::Status Parser::Filters(const YAML::Node& node, std::vector<FilterSpec>* out) {
  if (!node.IsSequence()) return Error(node, "filters", "expected a list of filters");
  out->clear();
  for (size_t i = 0; i < node.size(); ++i) {
    const YAML::Node& e = node[i];
    std::string p = Index("filters", i);
    FilterSpec spec;
    spec.line = e.Mark().line + 1;
    if (e.IsScalar()) {
      spec.name = e.Scalar();
      // No config, but a place: a filter that needs one can say so there.
      spec.config =
          ConfigNode(ConfigNode::Kind::kNull, "", {filename_, spec.line, Join(p, spec.name)});
    } else if (e.IsMap() && e["name"]) {
      // {name: <filter>, config: {...}}
      if (auto s = ExpectMap(e, p, {"name", "config"}); !s.ok()) return s;
      if (auto s = String(e["name"], Join(p, "name"), &spec.name); !s.ok()) return s;
      if (auto s = Convert(e["config"], Join(p, "config"), &spec.config); !s.ok()) return s;
      if (!e["config"])
        spec.config =
            ConfigNode(ConfigNode::Kind::kNull, "", {filename_, spec.line, Join(p, "config")});
    } else if (e.IsMap() && e.size() == 1) {
      // {<filter>: {...}}
      auto kv = e.begin();
      if (!kv->first.IsScalar()) return Error(kv->first, p, "expected a filter name");
      spec.name = kv->first.Scalar();
      if (auto s = Convert(kv->second, Join(p, spec.name), &spec.config); !s.ok()) return s;
    } else {
      return Error(e, p, "expected a filter name, {<name>: <config>} or {name: ..., config: ...}");
    }
    if (spec.name.empty()) return Error(e, p, "empty filter name");
    out->push_back(std::move(spec));
  }
  return absl::OkStatus();
}

absl::Status Parser::Document(const YAML::Node& root, GatewayConfig* config) {
  if (!root.IsDefined() || root.IsNull()) return ErrorAt(0, "", "empty configuration");
  if (auto s = ExpectMap(root, "",
                         {"listeners", "workers", "server", "proxy", "filters", "clusters",
                          "routes", "demo_upstreams"});
      !s.ok())
    return s;
  if (root["listeners"]) {
    if (auto s = Listeners(root["listeners"], "listeners", &config->server); !s.ok()) return s;
  } else {
    config->server.listeners.push_back(ListenerOptions{});
  }
  if (root["workers"]) {
    if (auto s = Int(root["workers"], "workers", &config->workers, 0, 1024); !s.ok()) return s;
  }
  if (root["server"]) {
    if (auto s = Server(root["server"], "server", &config->server); !s.ok()) return s;
    if (const YAML::Node& n = root["server"]["drain_timeout"]) {
      if (auto s = Duration(n, "server.drain_timeout", &config->drain_timeout); !s.ok()) return s;
      if (config->drain_timeout > absl::Hours(1)) {
        return Error(n, "server.drain_timeout", "must be at most 1h");
      }
    }
  }
  if (auto s = config->server.Validate(); !s.ok()) {
    const YAML::Node& at = root["server"] ? root["server"] : root["listeners"];
    return Error(at.IsDefined() ? at : root, root["server"] ? "server" : "listeners",
                 std::string(s.message()));
  }
  if (root["proxy"]) {
    if (auto s = Proxy(root["proxy"], "proxy", &config->proxy); !s.ok()) return s;
  }
  if (root["filters"]) {
    if (auto s = Filters(root["filters"], &config->filters); !s.ok()) return s;
  }
  if (const YAML::Node& n = root["clusters"]) {
    if (!n.IsSequence()) return Error(n, "clusters", "expected a list of clusters");
    std::set<std::string> names;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = Index("clusters", i);
      ClusterSpec spec;
      if (auto s = Cluster(n[i], p, &spec); !s.ok()) return s;
      if (!names.insert(spec.name).second) {
        return Error(n[i], Join(p, "name"), absl::StrCat("duplicate cluster \"", spec.name, "\""));
      }
      if (auto s = spec.Validate(); !s.ok()) return Error(n[i], p, std::string(s.message()));
      config->clusters.push_back(std::move(spec));
    }
    // A fallback may name a cluster defined further down.
    for (size_t i = 0; i < config->clusters.size(); ++i) {
      const ClusterSpec& c = config->clusters[i];
      if (!c.fallback.has_value() || c.fallback->cluster.empty()) continue;
      const std::string& to = c.fallback->cluster;
      if (to == c.name || !names.count(to)) {
        return Error(n[i]["fallback"]["cluster"], Join(Index("clusters", i), "fallback.cluster"),
                     to == c.name ? "names the cluster itself"
                                  : absl::StrCat("unknown cluster \"", to, "\""));
      }
    }
  }
  if (const YAML::Node& n = root["routes"]) {
    if (!n.IsSequence()) return Error(n, "routes", "expected a list of routes");
    std::set<std::string> names;
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = Index("routes", i);
      RouteSpec spec;
      if (auto s = Route(n[i], p, &spec); !s.ok()) return s;
      if (spec.name.empty()) spec.name = absl::StrCat("route-", i);
      if (!names.insert(spec.name).second) {
        return Error(n[i], Join(p, "name"), absl::StrCat("duplicate route \"", spec.name, "\""));
      }
      if (auto s = spec.Validate(); !s.ok()) {
        // "route 'r': hash_policy[2].route_capture: ..." points at that key.
        std::string message(s.message());
        if (const YAML::Node& h = n[i]["hash_policy"];
            h && h.IsSequence() && message.find(": hash_policy") != std::string::npos) {
          std::string rest = message.substr(message.find(": hash_policy") + 2);
          const size_t colon = rest.find(": ");
          std::string key = rest.substr(0, colon);  // hash_policy[2].route_capture
          // Nodes are references: assigning one would write into the tree.
          auto at = [&]() -> YAML::Node {
            size_t index = 0;
            if (std::sscanf(key.c_str(), "hash_policy[%zu]", &index) != 1 || index >= h.size()) {
              return h;
            }
            YAML::Node entry = h[index];
            const size_t dot = key.find("].");
            if (dot == std::string::npos || !entry.IsMap()) return entry;
            YAML::Node field = entry[key.substr(dot + 2)];
            return field ? field : entry;
          };
          return Error(at(), Join(p, key), rest.substr(colon + 2));
        }
        return Error(n[i], p, message);
      }
      if (!spec.cluster.empty()) {
        const ClusterSpec* cluster = nullptr;
        for (const auto& c : config->clusters) {
          if (c.name == spec.cluster) cluster = &c;
        }
        if (cluster == nullptr) {
          return Error(n[i]["cluster"], Join(p, "cluster"),
                       absl::StrCat("unknown cluster \"", spec.cluster, "\""));
        }
        if (!spec.hash_policy.empty() && !UsesHashKey(cluster->lb.policy)) {
          return Error(n[i]["hash_policy"], Join(p, "hash_policy"),
                       absl::StrCat("cluster \"", spec.cluster,
                                    "\" does not balance by hash (use ip_hash, ring_hash or "
                                    "maglev), so no key would be used"));
        }
      }
      config->routes.push_back(std::move(spec));
    }
  }
  if (const YAML::Node& n = root["demo_upstreams"]) {
    if (!n.IsSequence()) return Error(n, "demo_upstreams", "expected a list");
    for (size_t i = 0; i < n.size(); ++i) {
      std::string p = Index("demo_upstreams", i);
      if (auto s = ExpectMap(n[i], p, {"name", "port", "service"}); !s.ok()) return s;
      DemoUpstream d;
      if (!n[i]["name"]) return Error(n[i], Join(p, "name"), "missing");
      if (auto s = String(n[i]["name"], Join(p, "name"), &d.name); !s.ok()) return s;
      if (!n[i]["port"]) return Error(n[i], Join(p, "port"), "missing");
      if (auto s = Int(n[i]["port"], Join(p, "port"), &d.port, 1, 65535); !s.ok()) return s;
      d.service = d.name;
      if (n[i]["service"]) {
        if (auto s = String(n[i]["service"], Join(p, "service"), &d.service); !s.ok()) return s;
      }
      config->demo_upstreams.push_back(std::move(d));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatewayConfig> LoadConfigString(const std::string& text,
                                               const std::string& filename) {
  GatewayConfig config;
  config.filename = filename;
  Parser parser(filename);
  try {
    YAML::Node root = YAML::Load(text);
    if (auto s = parser.Document(root, &config); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return parser.ErrorAt(e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  } catch (const std::exception& e) {
    return parser.ErrorAt(0, "", e.what());
  }
  return config;
}

absl::StatusOr<ConfigNode> ParseConfigNode(const std::string& yaml, const std::string& filename,
                                           const std::string& path) {
  Parser parser(filename);
  ConfigNode out;
  try {
    YAML::Node root = YAML::Load(yaml);
    if (auto s = parser.Convert(root, path, &out); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return parser.ErrorAt(e.mark.is_null() ? 0 : e.mark.line + 1, "", e.msg);
  } catch (const std::exception& e) {
    return parser.ErrorAt(0, "", e.what());
  }
  return out;
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open file"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return LoadConfigString(text.str(), path);
}

}  // namespace gateway
