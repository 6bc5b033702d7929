// RouteSpec validation, Route and RouteMatch. Validation *is* compilation
// (CompileRoute), so what Validate accepts is exactly what Router::Build can use.
#include <algorithm>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"
#include "router/compiled_route.h"

namespace gateway {
namespace internal {
namespace {

bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

absl::Status CheckRedirect(const Redirect& r) {
  if (r.status != 301 && r.status != 302 && r.status != 303 && r.status != 307 && r.status != 308) {
    return absl::InvalidArgumentError(
        absl::StrCat("redirect.status: ", r.status, " is not one of 301, 302, 303, 307, 308"));
  }
  if (!r.scheme.empty()) {
    const bool ok = absl::ascii_isalpha(static_cast<unsigned char>(r.scheme[0])) &&
                    std::all_of(r.scheme.begin(), r.scheme.end(), [](char c) {
                      return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
                             c == '-' || c == '.';
                    });
    if (!ok)
      return absl::InvalidArgumentError(
          absl::StrCat("redirect.scheme: '", r.scheme, "' is not a URI scheme"));
  }
  if (!r.host.empty() &&
      (HasControlOrSpace(r.host) || r.host.find_first_of("/?#@\\") != std::string::npos)) {
    return absl::InvalidArgumentError(
        absl::StrCat("redirect.host: '", r.host, "' is not a host[:port]"));
  }
  if (!r.path.empty() && (r.path[0] != '/' || HasControlOrSpace(r.path))) {
    return absl::InvalidArgumentError(
        "redirect.path: must start with '/' and contain no spaces or control characters");
  }
  return absl::OkStatus();
}

absl::Status CheckDirectResponse(const DirectResponse& d) {
  // A 1xx is not a final answer: the client would keep waiting (or, for 101,
  // switch protocols), so a direct response must be 200-599.
  if (d.status < 200 || d.status > 599) {
    return absl::InvalidArgumentError(
        absl::StrCat("direct_response.status: ", d.status, " is not in 200-599"));
  }
  if (!IsValidHeaderValue(d.content_type)) {
    return absl::InvalidArgumentError("direct_response.content_type: not a valid header value");
  }
  size_t i = 0;
  for (const HeaderMap::Field& f : d.headers) {
    if (!IsValidHeaderName(f.name) || !IsValidHeaderValue(f.value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("direct_response.headers[", i, "]: invalid header '", f.name, "'"));
    }
    ++i;
  }
  return absl::OkStatus();
}

// HeaderMatcher::Kind and QueryMatcher::Kind have the same enumerators.
template <typename Kind>
FieldCondition::Kind FieldKind(Kind k) {
  switch (k) {
    case Kind::kExact:
      return FieldCondition::Kind::kExact;
    case Kind::kPrefix:
      return FieldCondition::Kind::kPrefix;
    case Kind::kRegex:
      return FieldCondition::Kind::kRegex;
    case Kind::kPresent:
      return FieldCondition::Kind::kPresent;
    case Kind::kAbsent:
      return FieldCondition::Kind::kAbsent;
  }
  return FieldCondition::Kind::kExact;
}

absl::StatusOr<CompiledRoute> CompileRouteFields(const RouteSpec& spec) {
  if (!spec.cluster.empty() && !spec.cluster_from_capture.empty()) {
    return absl::InvalidArgumentError(
        "cluster_from_capture: set either cluster or cluster_from_capture, not both");
  }
  const bool to_cluster = !spec.cluster.empty() || !spec.cluster_from_capture.empty();
  const int actions =
      (to_cluster ? 1 : 0) + (spec.direct_response ? 1 : 0) + (spec.redirect ? 1 : 0);
  if (actions == 0) {
    return absl::InvalidArgumentError(
        "action: no action; set one of cluster, cluster_from_capture, direct_response or "
        "redirect");
  }
  if (actions > 1) {
    return absl::InvalidArgumentError(
        "action: more than one of cluster, direct_response and redirect is set");
  }
  if (spec.direct_response) {
    if (absl::Status s = CheckDirectResponse(*spec.direct_response); !s.ok()) return s;
  }
  if (spec.redirect) {
    if (absl::Status s = CheckRedirect(*spec.redirect); !s.ok()) return s;
  }
  if (spec.timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout: must not be negative");
  }

  CompiledRoute c;
  auto path = PathCondition::Compile(spec.path);
  if (!path.ok()) return path.status();
  c.path = *std::move(path);
  auto hosts = HostCondition::Compile(spec.hosts);
  if (!hosts.ok()) return hosts.status();
  c.hosts = *std::move(hosts);
  auto methods = MethodCondition::Compile(spec.methods);
  if (!methods.ok()) return methods.status();
  c.methods = *std::move(methods);

  for (size_t i = 0; i < spec.headers.size(); ++i) {
    const HeaderMatcher& m = spec.headers[i];
    if (!IsValidHeaderName(m.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("headers[", i, "].name: '", m.name, "' is not a header name"));
    }
    auto f = FieldCondition::Compile(m.name, FieldKind(m.kind), m.value);
    if (!f.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("headers[", i, "].value: ", f.status().message()));
    }
    c.headers.push_back(*std::move(f));
  }
  for (size_t i = 0; i < spec.query.size(); ++i) {
    const QueryMatcher& m = spec.query[i];
    if (m.name.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("query[", i, "].name: must not be empty"));
    }
    auto f = FieldCondition::Compile(m.name, FieldKind(m.kind), m.value);
    if (!f.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query[", i, "].value: ", f.status().message()));
    }
    c.query.push_back(*std::move(f));
  }

  if (!spec.cluster_from_capture.empty()) {
    const auto& names = c.path.capture_names();
    if (std::find(names.begin(), names.end(), spec.cluster_from_capture) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cluster_from_capture: the path has no capture '", spec.cluster_from_capture, "'"));
    }
  }
  if (!spec.hash_policy.empty() && !to_cluster) {
    return FieldError("hash_policy", "only a cluster route balances");
  }
  for (size_t i = 0; i < spec.hash_policy.size(); ++i) {
    const HashPolicy& h = spec.hash_policy[i];
    if (absl::Status s = h.Validate(); !s.ok()) {
      return NestFieldError(s, absl::StrCat("hash_policy[", i, "]"),
                            absl::StrCat("hash_policy[", i, "]."));
    }
    const auto& names = c.path.capture_names();
    if (h.kind == HashPolicy::Kind::kRouteCapture &&
        std::find(names.begin(), names.end(), h.name) == names.end()) {
      return FieldError(absl::StrCat("hash_policy[", i, "].route_capture"),
                        absl::StrCat("the path has no capture '", h.name, "'"));
    }
  }
  if (absl::Status s = spec.retry.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("retry.", s.message()));
  }
  if (spec.upstream_timeouts.response_headers < absl::ZeroDuration() ||
      spec.upstream_timeouts.idle < absl::ZeroDuration() ||
      spec.upstream_timeouts.per_try < absl::ZeroDuration() ||
      spec.upstream_timeouts.tunnel_idle < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("upstream_timeouts: must not be negative");
  }
  for (const std::string& u : spec.upgrades) {
    if (u.empty() || !IsValidHeaderName(u)) {
      return absl::InvalidArgumentError(absl::StrCat("upgrades: '", u, "' is not a token"));
    }
    if (absl::EqualsIgnoreCase(u, "h2c")) {
      return absl::InvalidArgumentError("upgrades: h2c is never forwarded");
    }
  }
  if (spec.host_rewrite.kind == HostRewrite::Kind::kLiteral &&
      (spec.host_rewrite.value.empty() || !IsValidHeaderValue(spec.host_rewrite.value))) {
    return absl::InvalidArgumentError("host_rewrite.value: must be a non-empty header value");
  }
  if (absl::Status s = spec.request_headers.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request_headers.", s.message()));
  }
  if (absl::Status s = spec.response_headers.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("response_headers.", s.message()));
  }

  auto rewrite = RewriteRule::Compile(spec.rewrite, c.path);
  if (!rewrite.ok()) return rewrite.status();
  c.rewrite = *std::move(rewrite);

  absl::flat_hash_set<std::string_view> filters;
  absl::Status breaker = std::visit(
      [](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<T, UserBreaker>) {
          return b != nullptr ? absl::OkStatus()
                              : absl::InvalidArgumentError("the user breaker is null");
        } else {
          return b.Validate();
        }
      },
      spec.breaker);
  if (!breaker.ok())
    return absl::InvalidArgumentError(absl::StrCat("breaker: ", breaker.message()));
  for (size_t i = 0; i < spec.filter_configs.size(); ++i) {
    const auto& [name, config] = spec.filter_configs[i];
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter_configs[", i, "]: filter name must not be empty"));
    }
    if (config == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter_configs[", i, "]: config for '", name, "' is null"));
    }
    if (!filters.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter_configs[", i, "]: second config for filter '", name, "'"));
    }
  }
  return c;
}

}  // namespace

absl::StatusOr<CompiledRoute> CompileRoute(const RouteSpec& spec) {
  auto c = CompileRouteFields(spec);
  if (!c.ok()) {
    const std::string who = spec.name.empty() ? "(unnamed)" : absl::StrCat("'", spec.name, "'");
    return NestFieldError(c.status(), "", absl::StrCat("route ", who, ": "));
  }
  return c;
}

}  // namespace internal

absl::Status RouteSpec::Validate() const { return internal::CompileRoute(*this).status(); }

namespace {
Route::Action ActionOf(const RouteSpec& spec) {
  if (spec.direct_response) return Route::Action::kDirectResponse;
  if (spec.redirect) return Route::Action::kRedirect;
  return Route::Action::kCluster;
}

}  // namespace

Route::Route(RouteSpec spec, size_t index)
    : spec_(std::move(spec)), action_(ActionOf(spec_)), index_(index) {}

const RouteFilterConfig* Route::FindFilterConfig(std::string_view filter_name) const {
  for (const auto& [name, config] : spec_.filter_configs) {
    if (name == filter_name) return config.get();
  }
  return nullptr;
}

std::optional<std::string_view> RouteMatch::Capture(std::string_view name) const {
  for (const auto& [n, v] : captures) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view RouteMatch::cluster() const {
  if (route == nullptr || route->action() != Route::Action::kCluster) return {};
  const std::string& from = route->spec().cluster_from_capture;
  if (from.empty()) return route->cluster();
  return Capture(from).value_or(std::string_view());
}

}  // namespace gateway
