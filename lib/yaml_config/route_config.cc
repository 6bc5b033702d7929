// `routes:` and `hash_policy:` tables (see docs/config.md, "routes").
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/config_fields.h"
#include "gateway/yaml_config.h"
#include "tables.h"

namespace gateway {
namespace {

using config::Bool;
using config::Duration;
using config::Emplace;
using config::Field;
using config::FieldTable;
using config::Int;
using config::List;
using config::String;
using config::StringList;
using config::Uint;
using internal::kCount32;

// - client_ip: true
// - header: x-user-id
// - cookie: session        (ttl: 1h and path: / make the gateway set it)
// - query_parameter: user
// - route_capture: id
constexpr std::pair<std::string_view, HashPolicy::Kind> kHashKinds[] = {
    {"client_ip", HashPolicy::Kind::kClientIp},
    {"header", HashPolicy::Kind::kHeader},
    {"cookie", HashPolicy::Kind::kCookie},
    {"query_parameter", HashPolicy::Kind::kQueryParameter},
    {"route_capture", HashPolicy::Kind::kRouteCapture}};

absl::Status ReadHashKind(const ConfigNode& e, HashPolicy* policy) {
  std::string kind_key;
  for (const auto& [key, kind] : kHashKinds) {
    const ConfigNode* n = e.Find(key);
    if (n == nullptr) continue;
    if (!kind_key.empty()) {
      return n->Error(absl::StrCat("one policy per entry; ", kind_key, " is already set"));
    }
    kind_key = key;
    policy->kind = kind;
    if (kind == HashPolicy::Kind::kClientIp) {
      auto on = n->AsBool();
      if (!on.ok()) return on.status();
      if (!*on) return n->Error("only \"true\" is meaningful");
    } else {
      if (auto s = String{}(*n, &policy->name); !s.ok()) return s;
      if (policy->name.empty()) return n->Error("the name must not be empty");
    }
  }
  if (kind_key.empty()) {
    return e.Error("expected one of client_ip, header, cookie, query_parameter, route_capture");
  }
  return absl::OkStatus();
}

absl::Status ReadHashPolicy(const ConfigNode& e, HashPolicy* policy) {
  if (auto s = e.ExpectMap(
          {"client_ip", "header", "cookie", "query_parameter", "route_capture", "ttl", "path"});
      !s.ok())
    return s;
  if (auto s = ReadHashKind(e, policy); !s.ok()) return s;
  for (const char* key : {"ttl", "path"}) {
    const ConfigNode* n = e.Find(key);
    if (n != nullptr && policy->kind != HashPolicy::Kind::kCookie) {
      return n->Error(absl::StrCat("only a cookie policy has a ", key));
    }
  }
  if (const ConfigNode* ttl = e.Find("ttl")) {
    if (auto s = Emplace<Duration>{}(*ttl, &policy->cookie_ttl); !s.ok()) return s;
  }
  if (const ConfigNode* path = e.Find("path")) {
    if (!policy->cookie_ttl.has_value()) {
      return path->Error("only a cookie the gateway sets (with a ttl) has a path");
    }
    if (auto s = String{}(*path, &policy->cookie_path); !s.ok()) return s;
  }
  return e.Invalid(policy->Validate());
}

// A header or query matcher: a name and exactly one of exact, prefix, regex,
// present: true, absent: true.
template <typename M>
absl::Status ReadMatcher(const ConfigNode& m, M* out) {
  auto value = [](typename M::Kind kind) {
    return [kind](const ConfigNode& n, M* o) {
      o->kind = kind;
      return String{}(n, &o->value);
    };
  };
  auto flag = [](typename M::Kind kind) {
    return [kind](const ConfigNode& n, M* o) {
      auto on = n.AsBool();
      if (!on.ok()) return on.status();
      if (!*on) return n.Error("only \"true\" is meaningful");
      o->kind = kind;
      return absl::OkStatus();
    };
  };
  static const FieldTable<M> kTable{
      Field("name", &M::name, String{}).Required(), Field<M>("exact", value(M::Kind::kExact)),
      Field<M>("prefix", value(M::Kind::kPrefix)),  Field<M>("regex", value(M::Kind::kRegex)),
      Field<M>("present", flag(M::Kind::kPresent)), Field<M>("absent", flag(M::Kind::kAbsent)),
  };
  if (auto s = kTable.Read(m, out); !s.ok()) return s;
  if (m.size() != 2) {
    return m.Error("expected exactly one of exact, prefix, regex, present, absent");
  }
  return absl::OkStatus();
}

// `match:` fills the route itself.
absl::Status ReadMatch(const ConfigNode& n, RouteSpec* out) {
  auto path = [](PathMatch::Kind kind) {
    return [kind](const ConfigNode& v, RouteSpec* r) {
      r->path.kind = kind;
      return String{}(v, &r->path.value);
    };
  };
  static const FieldTable<RouteSpec> kMatch{
      Field("hosts", &RouteSpec::hosts, StringList{}),
      Field<RouteSpec>("path", path(PathMatch::Kind::kExact)),
      Field<RouteSpec>("prefix", path(PathMatch::Kind::kPrefix)),
      Field<RouteSpec>("template", path(PathMatch::Kind::kTemplate)),
      Field<RouteSpec>("regex", path(PathMatch::Kind::kRegex)),
      Field("methods", &RouteSpec::methods, StringList{}),
      Field("headers", &RouteSpec::headers, List{ReadMatcher<HeaderMatcher>}),
      Field("query", &RouteSpec::query, List{ReadMatcher<QueryMatcher>}),
  };
  if (auto s = kMatch.Read(n, out); !s.ok()) return s;
  int kinds = 0;
  for (const char* key : {"path", "prefix", "template", "regex"}) kinds += n.Find(key) != nullptr;
  if (kinds > 1) return n.Error("at most one of path, prefix, template, regex");
  return absl::OkStatus();
}

absl::Status ReadRewrite(const ConfigNode& n, PathRewrite* out) {
  auto kind = [](PathRewrite::Kind k, std::string PathRewrite::*dst) {
    return [k, dst](const ConfigNode& v, PathRewrite* r) {
      r->kind = k;
      return String{}(v, &(r->*dst));
    };
  };
  static const FieldTable<PathRewrite> kRewrite{
      Field<PathRewrite>("prefix", kind(PathRewrite::Kind::kReplacePrefix, &PathRewrite::value)),
      Field<PathRewrite>("template", kind(PathRewrite::Kind::kTemplate, &PathRewrite::value)),
      Field<PathRewrite>("regex", kind(PathRewrite::Kind::kRegex, &PathRewrite::pattern)),
      Field("replacement", &PathRewrite::value, String{}),
  };
  if (n.IsMap() && n.Find("regex") != nullptr && n.Find("replacement") == nullptr) {
    if (auto s = n.ExpectMap({"prefix", "template", "regex", "replacement"}); !s.ok()) return s;
    return n.ErrorAt("replacement", "missing (regex rewrite)");
  }
  if (auto s = kRewrite.Read(n, out); !s.ok()) return s;
  if (const ConfigNode* r = n.Find("replacement"); r != nullptr && n.Find("regex") == nullptr) {
    return r->Error("only with regex");
  }
  int kinds = 0;
  for (const char* key : {"prefix", "template", "regex"}) kinds += n.Find(key) != nullptr;
  if (kinds != 1) return n.Error("expected exactly one of prefix, template, regex");
  return absl::OkStatus();
}

// pass_through, endpoint or {literal: <host>}.
absl::Status ReadHostRewrite(const ConfigNode& n, HostRewrite* out) {
  if (n.IsScalar() && n.scalar() == "pass_through") {
    out->kind = HostRewrite::Kind::kPassThrough;
  } else if (n.IsScalar() && n.scalar() == "endpoint") {
    out->kind = HostRewrite::Kind::kEndpoint;
  } else if (n.IsMap()) {
    static const FieldTable<HostRewrite> kLiteral{
        Field("literal", &HostRewrite::value, String{}).Required(),
    };
    out->kind = HostRewrite::Kind::kLiteral;
    return kLiteral.Read(n, out);
  } else {
    return n.Error("expected pass_through, endpoint or {literal: <host>}");
  }
  return absl::OkStatus();
}

const FieldTable<DirectResponse> kDirectResponse{
    Field("status", &DirectResponse::status, Int{.min = 100, .max = 599}),
    Field("body", &DirectResponse::body, String{}),
    Field("content_type", &DirectResponse::content_type, String{}),
    Field<DirectResponse>("headers",
                          [](const ConfigNode& n, DirectResponse* d) {
                            std::vector<std::pair<std::string, std::string>> headers;
                            if (auto s = internal::ReadPairs(n, &headers); !s.ok()) return s;
                            for (auto& [k, v] : headers) d->headers.Add(k, v);
                            return absl::OkStatus();
                          }),
};

const FieldTable<Redirect> kRedirect{
    Field("status", &Redirect::status, Int{.min = 300, .max = 399}),
    Field("scheme", &Redirect::scheme, String{}),
    Field("host", &Redirect::host, String{}),
    Field("path", &Redirect::path, String{}),
    Field("strip_query", &Redirect::strip_query, Bool{}),
};

const FieldTable<RetryPolicy> kRetry{
    Field("on_connect_failure", &RetryPolicy::on_connect_failure, Bool{}),
    Field("on_reset", &RetryPolicy::on_reset, Bool{}),
    Field("on_5xx", &RetryPolicy::on_5xx, Bool{}),
    Field("on_gateway_error", &RetryPolicy::on_gateway_error, Bool{}),
    Field("on_statuses", &RetryPolicy::on_statuses,
          List{Int{.min = 100, .max = 599}, "expected a list of statuses"}),
    Field("max_retries", &RetryPolicy::max_retries, kCount32),
    Field("allow_non_idempotent", &RetryPolicy::allow_non_idempotent, Bool{}),
    Field("backoff_base", &RetryPolicy::backoff_base, Duration{}),
    Field("backoff_max", &RetryPolicy::backoff_max, Duration{}),
    Field("replay_buffer_bytes", &RetryPolicy::replay_buffer_bytes, Uint{}),
    Field("budget_percent", &RetryPolicy::budget_percent, config::Number{}),
    Field("budget_min_retries", &RetryPolicy::budget_min_retries, kCount32),
};

const FieldTable<UpstreamTimeouts> kUpstreamTimeouts{
    Field("response_headers", &UpstreamTimeouts::response_headers, Duration{}),
    Field("idle", &UpstreamTimeouts::idle, Duration{}),
    Field("per_try", &UpstreamTimeouts::per_try, Duration{}),
    Field("tunnel_idle", &UpstreamTimeouts::tunnel_idle, Duration{}),
};

const FieldTable<HeaderMutations> kMutations{
    Field("add", &HeaderMutations::add, internal::ReadPairs),
    Field("set", &HeaderMutations::set, internal::ReadPairs),
    Field("remove", &HeaderMutations::remove, StringList{}),
};

const FieldTable<RouteSpec> kRoute{
    Field("name", &RouteSpec::name, String{}),
    Field("priority", &RouteSpec::priority, Int{.min = INT32_MIN, .max = INT32_MAX}),
    Field<RouteSpec>("match", ReadMatch),
    Field("cluster", &RouteSpec::cluster, String{}),
    Field("cluster_from_capture", &RouteSpec::cluster_from_capture, String{}),
    Field("direct_response", &RouteSpec::direct_response, Emplace{kDirectResponse.reader()}),
    Field("redirect", &RouteSpec::redirect, Emplace{kRedirect.reader()}),
    Field("rewrite", &RouteSpec::rewrite, ReadRewrite),
    Field("timeout", &RouteSpec::timeout, Duration{}),
    Field("retry", &RouteSpec::retry, kRetry.reader()),
    Field("upstream_timeouts", &RouteSpec::upstream_timeouts, kUpstreamTimeouts.reader()),
    Field("host_rewrite", &RouteSpec::host_rewrite, ReadHostRewrite),
    Field("request_headers", &RouteSpec::request_headers, kMutations.reader()),
    Field("response_headers", &RouteSpec::response_headers, kMutations.reader()),
    Field("upgrades", &RouteSpec::upgrades, StringList{}),
    Field<RouteSpec>("circuit_breaker",
                     [](const ConfigNode& n, RouteSpec* r) {
                       return internal::ReadBreaker(n, /*route=*/true, &r->breaker);
                     }),
    Field("hash_policy", &RouteSpec::hash_policy, internal::ReadHashPolicies),
};

// The cluster a route names exists, and balances by hash if the route
// gives a hash policy.
absl::Status CheckCluster(const ConfigNode& n, const RouteSpec& spec,
                          const std::vector<ClusterSpec>& clusters) {
  if (spec.cluster.empty()) return absl::OkStatus();
  const ClusterSpec* cluster = nullptr;
  for (const auto& c : clusters) {
    if (c.name == spec.cluster) cluster = &c;
  }
  if (cluster == nullptr) {
    return n.Find("cluster")->Error(absl::StrCat("unknown cluster \"", spec.cluster, "\""));
  }
  if (!spec.hash_policy.empty() && !UsesHashKey(cluster->lb.policy)) {
    return n.Find("hash_policy")
        ->Error(absl::StrCat("cluster \"", spec.cluster,
                             "\" does not balance by hash (use ip_hash, ring_hash or maglev), so "
                             "no key would be used"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status internal::ReadPairs(const ConfigNode& node,
                                 std::vector<std::pair<std::string, std::string>>* out) {
  if (!node.IsMap()) return node.Error("expected a mapping of header names to values");
  for (const ConfigNode& field : node.children()) {
    auto value = field.AsString();
    if (!value.ok()) return value.status();
    out->emplace_back(field.key(), *std::move(value));
  }
  return absl::OkStatus();
}

absl::Status internal::ReadHashPolicies(const ConfigNode& node, std::vector<HashPolicy>* out) {
  return List{ReadHashPolicy, "expected a list of hash policies"}(node, out);
}

absl::Status internal::ReadRoutes(const ConfigNode& n, GatewayConfig* config) {
  if (!n.IsSequence()) return n.Error("expected a list of routes");
  std::set<std::string> names;
  for (size_t i = 0; i < n.size(); ++i) {
    const ConfigNode& r = n.children()[i];
    RouteSpec spec;
    if (auto s = kRoute.Read(r, &spec); !s.ok()) return s;
    if (spec.name.empty()) spec.name = absl::StrCat("route-", i);
    if (!names.insert(spec.name).second) {
      return r.ErrorAt("name", absl::StrCat("duplicate route \"", spec.name, "\""));
    }
    // "route 'r': hash_policy[2].route_capture: ..." points at that key.
    if (auto s = r.Invalid(spec.Validate()); !s.ok()) return s;
    if (auto s = CheckCluster(r, spec, config->clusters); !s.ok()) return s;
    config->routes.push_back(std::move(spec));
  }
  return absl::OkStatus();
}

}  // namespace gateway
