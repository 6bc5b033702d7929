// Routing: which route a request takes, and what that route does.
//
// Routes are described by `RouteSpec` values (built directly with designated
// initializers or with the fluent `RouteBuilder`), compiled once by
// `Router::Build` into an immutable `Router`, and shared by every worker as a
// `std::shared_ptr<const Router>`. `Match` is const, allocation-light and safe
// to call concurrently from any number of threads.
//
// Matching order: routes are tried by descending `priority`; among equal
// priorities, in the order they were given. The first route whose host, path,
// method, header and query conditions all hold wins. If no route matches but
// some route matches everything except the method, the result is
// "method not allowed" (405) with the union of those routes' methods.
//
// Paths: every request path is normalised once (see `PathPolicy`) before
// matching; the same normalised path is what filters see and what is forwarded,
// so routing and authorisation never disagree about a path.
//
// The router is a pure matcher: it compiles and matches specs and holds no
// state that changes while requests run. Per-route runtime state (the route
// breakers of `RouteSpec::breaker`) belongs to the `Pipeline` built on the
// router (gateway/pipeline.h), kept in step with `routes()` by `Route::index`.
#ifndef GATEWAY_ROUTER_H_
#define GATEWAY_ROUTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/circuit_breaker.h"
#include "gateway/hash_policy.h"
#include "gateway/http.h"
#include "gateway/route_policy.h"

namespace gateway {

// How request paths are normalised before routing.
struct PathPolicy {
  // "/a//b" is treated as "/a/b".
  bool merge_slashes = true;
  enum class DotSegments {
    kResolve,  // "/a/./b/../c" becomes "/a/c" (RFC 3986 5.2.4); above the root is 400
    kReject,   // any "." or ".." segment is 400
  };
  DotSegments dot_segments = DotSegments::kResolve;
  enum class EncodedSlash {
    kReject,  // "%2F" or "%5C" in the path is 400
    kKeep,    // kept encoded: "/a%2Fb" is one segment
    kDecode,  // decoded to '/' before matching (and forwarded decoded)
  };
  EncodedSlash encoded_slash = EncodedSlash::kReject;
};

// Normalises the path part of a request target (no query). Percent-encoded
// unreserved characters are decoded, other escapes are kept with upper-case hex,
// dot segments and slashes follow `policy`. Errors (InvalidArgument) mean the
// request is answered with 400: not starting with '/', "%00", bad escapes,
// control bytes, a ".." above the root, or a policy rejection.
absl::StatusOr<std::string> NormalizePath(std::string_view path, const PathPolicy& policy);

// Per-route configuration for a filter. Derive your config type from this and
// attach it to a route under the filter's name; the filter reads it back with
// `Route::FilterConfig<T>(name)`.
class RouteFilterConfig {
 public:
  virtual ~RouteFilterConfig() = default;
};

struct HeaderMatcher {
  enum class Kind { kExact, kPrefix, kRegex, kPresent, kAbsent };
  std::string name;
  Kind kind = Kind::kExact;
  std::string value;  // exact/prefix text or an RE2 pattern (full match)
};

struct QueryMatcher {
  enum class Kind { kExact, kPrefix, kRegex, kPresent, kAbsent };
  std::string name;  // compared after percent-decoding
  Kind kind = Kind::kExact;
  std::string value;
};

struct PathMatch {
  enum class Kind {
    kAny,       // every path
    kExact,     // "/healthz"
    kPrefix,    // "/api/" matches "/api/x"; "/api" matches "/api" and "/api/x", not "/apix"
    kTemplate,  // "/users/{id}", "/api/{service}/**", "/files/{rest=**}", "*" one segment
    kRegex,     // RE2, full match on the normalised path; named groups are captures
  };
  Kind kind = Kind::kAny;
  std::string value;
};

struct PathRewrite {
  enum class Kind {
    kNone,
    kReplacePrefix,  // prefix routes: the matched prefix becomes `value` ("" strips it)
    kTemplate,       // "{name}" and "{**}" substituted from template captures
    kRegex,          // RE2 `pattern` replaced by `value` ("\1" groups)
  };
  Kind kind = Kind::kNone;
  std::string value;
  std::string pattern;
};

struct DirectResponse {
  int status = 200;
  std::string body;
  std::string content_type = "text/plain";
  HeaderMap headers;
};

// A redirect answer. Empty fields keep the request's own value.
struct Redirect {
  int status = 301;  // 301, 302, 303, 307 or 308
  std::string scheme;
  std::string host;  // may include ":port"
  std::string path;  // replaces the whole path (after `rewrite`, if any)
  bool strip_query = false;
};

struct RouteSpec {
  std::string name;  // for logs and metrics; defaults to "route-<index>"
  int priority = 0;  // higher wins; ties keep definition order

  // Conditions. Empty lists match everything.
  std::vector<std::string> hosts;  // "api.example.com", "*.example.com", "api.*", "*"
  PathMatch path;
  std::vector<std::string> methods;  // upper-case, e.g. {"GET", "HEAD"}
  std::vector<HeaderMatcher> headers;
  std::vector<QueryMatcher> query;

  // Action: exactly one of cluster (or cluster_from_capture), direct_response
  // and redirect.
  std::string cluster;
  // Cluster routes may take the cluster name from a path capture instead, e.g.
  // "service" for "/api/{service}/**": "/api/users/1" goes to cluster "users".
  std::string cluster_from_capture;
  std::optional<DirectResponse> direct_response;
  std::optional<Redirect> redirect;

  PathRewrite rewrite;
  // Total time allowed for the request, retries included. Zero: server default.
  absl::Duration timeout = absl::ZeroDuration();

  std::vector<std::pair<std::string, std::shared_ptr<const RouteFilterConfig>>> filter_configs;

  // Proxy policy for cluster routes.
  RetryPolicy retry;
  UpstreamTimeouts upstream_timeouts;
  HostRewrite host_rewrite;
  HeaderMutations request_headers;   // applied to the upstream request
  HeaderMutations response_headers;  // applied to the response sent downstream
  // Protocols a client may upgrade to through this route (`Upgrade` tokens,
  // case-insensitive, e.g. "websocket"). Only these are forwarded; only a
  // 101 from the upstream naming one of them turns the connection into a
  // byte tunnel. "h2c" is never allowed. Empty: no upgrades.
  std::vector<std::string> upgrades = {"websocket"};
  // A circuit breaker for this route alone, asked before the cluster's (see
  // gateway/circuit_breaker.h); none by default. Validated with the route;
  // built by `PipelineBuilder::Build`, once per pipeline, and shared by every
  // worker. A reload installs a new pipeline, so the breaker starts afresh,
  // closed (even if the new pipeline reuses the same `Router`). Its name
  // defaults to the route's. A `UserBreaker` is used as is (and kept across
  // reloads by whoever holds it).
  BreakerConfig breaker;
  // What the hashing balancers (ip_hash, ring_hash, maglev) key this route's
  // requests by, tried in order (gateway/hash_policy.h); empty: the cluster's
  // `hash_policy`. Only for cluster routes; a kRouteCapture must name a
  // capture of `path`. A cluster whose balancer does not hash ignores it.
  std::vector<HashPolicy> hash_policy;

  // Checks the spec on its own (patterns compile, one action, valid statuses).
  absl::Status Validate() const;
};

// A compiled route. Owned by its `Router`; valid as long as the router is.
class Route {
 public:
  enum class Action { kCluster, kDirectResponse, kRedirect };

  const std::string& name() const { return spec_.name; }
  Action action() const { return action_; }
  // The configured cluster; empty when it comes from a capture (see
  // RouteSpec::cluster_from_capture and RouteMatch::cluster()).
  const std::string& cluster() const { return spec_.cluster; }
  const RouteSpec& spec() const { return spec_; }

  // The config attached for `filter_name`, if it is a `T`; nullptr otherwise.
  template <typename T>
  const T* FilterConfig(std::string_view filter_name) const {
    return dynamic_cast<const T*>(FindFilterConfig(filter_name));
  }
  const RouteFilterConfig* FindFilterConfig(std::string_view filter_name) const;
  // The route's position in its router's `routes()` (definition order). State
  // kept per route outside the router (the pipeline's route breakers) is
  // indexed by it, so the request path finds it without a lookup by name.
  size_t index() const { return index_; }

  explicit Route(RouteSpec spec, size_t index = 0);

 private:
  RouteSpec spec_;
  Action action_;
  size_t index_;
};

// What `Router::Match` found. Owns its captures and rewritten path, so it can
// outlive the request head it was computed from.
struct RouteMatch {
  enum class Result { kMatched, kNotFound, kMethodNotAllowed };
  Result result = Result::kNotFound;
  const Route* route = nullptr;  // set when kMatched
  std::string allow;             // kMethodNotAllowed: e.g. "GET, HEAD"
  // Template and named regex captures, in pattern order. "**" for an unnamed tail.
  std::vector<std::pair<std::string, std::string>> captures;
  // The path to forward: the normalised path after the route's rewrite.
  std::string rewritten_path;

  std::optional<std::string_view> Capture(std::string_view name) const;
  // The cluster this request goes to: the route's cluster, or the value of
  // its `cluster_from_capture` capture. Empty for other actions.
  std::string_view cluster() const;
};

class Router {
 public:
  // Compiles `routes`. Fails (InvalidArgument naming the route) if any spec is
  // invalid or two routes share a name.
  // Builds no breaker: see RouteSpec::breaker.
  static absl::StatusOr<std::shared_ptr<const Router>> Build(std::vector<RouteSpec> routes);

  // Matches a request whose `path` is already normalised. Host comparisons are
  // case-insensitive and ignore a ":port" suffix.
  RouteMatch Match(const RequestHead& head) const;

  // The Location header value of a redirect route for this request.
  std::string RedirectLocation(const Route& route, const RequestHead& head,
                               const RouteMatch& match) const;

  const std::vector<std::unique_ptr<Route>>& routes() const { return routes_; }

  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  struct Compiled;  // private to the implementation

 private:
  Router();
  std::vector<std::unique_ptr<Route>> routes_;  // definition order
  std::unique_ptr<Compiled> compiled_;
};

// Fluent construction of a RouteSpec:
//   RouteBuilder("users").Prefix("/api/users").Methods({"GET"}).ToCluster("users").Build()
class RouteBuilder {
 public:
  explicit RouteBuilder(std::string name = "") { spec_.name = std::move(name); }

  RouteBuilder& Priority(int p) {
    spec_.priority = p;
    return *this;
  }
  RouteBuilder& Host(std::string host) {
    spec_.hosts.push_back(std::move(host));
    return *this;
  }
  RouteBuilder& Exact(std::string path) { return Path(PathMatch::Kind::kExact, std::move(path)); }
  RouteBuilder& Prefix(std::string path) { return Path(PathMatch::Kind::kPrefix, std::move(path)); }
  RouteBuilder& Template(std::string t) { return Path(PathMatch::Kind::kTemplate, std::move(t)); }
  RouteBuilder& Regex(std::string re) { return Path(PathMatch::Kind::kRegex, std::move(re)); }
  RouteBuilder& Methods(std::vector<std::string> m) {
    spec_.methods = std::move(m);
    return *this;
  }
  RouteBuilder& Header(HeaderMatcher m) {
    spec_.headers.push_back(std::move(m));
    return *this;
  }
  RouteBuilder& Query(QueryMatcher m) {
    spec_.query.push_back(std::move(m));
    return *this;
  }
  RouteBuilder& ToCluster(std::string c) {
    spec_.cluster = std::move(c);
    return *this;
  }
  RouteBuilder& ToClusterFromCapture(std::string capture) {
    spec_.cluster_from_capture = std::move(capture);
    return *this;
  }
  RouteBuilder& Retry(RetryPolicy r) {
    spec_.retry = std::move(r);
    return *this;
  }
  RouteBuilder& UpstreamTimeout(UpstreamTimeouts t) {
    spec_.upstream_timeouts = t;
    return *this;
  }
  // Appends a hash policy (RouteSpec::hash_policy).
  RouteBuilder& Hash(HashPolicy h) {
    spec_.hash_policy.push_back(std::move(h));
    return *this;
  }
  RouteBuilder& Breaker(BreakerConfig b) {
    spec_.breaker = std::move(b);
    return *this;
  }
  RouteBuilder& HostHeader(HostRewrite h) {
    spec_.host_rewrite = std::move(h);
    return *this;
  }
  RouteBuilder& RequestHeaders(HeaderMutations m) {
    spec_.request_headers = std::move(m);
    return *this;
  }
  RouteBuilder& ResponseHeaders(HeaderMutations m) {
    spec_.response_headers = std::move(m);
    return *this;
  }
  RouteBuilder& Respond(int status, std::string body, std::string content_type = "text/plain") {
    spec_.direct_response = DirectResponse{
        .status = status, .body = std::move(body), .content_type = std::move(content_type)};
    return *this;
  }
  RouteBuilder& RedirectTo(gateway::Redirect r) {
    spec_.redirect = std::move(r);
    return *this;
  }
  RouteBuilder& Rewrite(PathRewrite r) {
    spec_.rewrite = std::move(r);
    return *this;
  }
  RouteBuilder& StripPrefix() {
    spec_.rewrite = PathRewrite{.kind = PathRewrite::Kind::kReplacePrefix};
    return *this;
  }
  RouteBuilder& Timeout(absl::Duration d) {
    spec_.timeout = d;
    return *this;
  }
  RouteBuilder& Config(std::string filter, std::shared_ptr<const RouteFilterConfig> config) {
    spec_.filter_configs.emplace_back(std::move(filter), std::move(config));
    return *this;
  }
  RouteSpec Build() && { return std::move(spec_); }
  RouteSpec Build() const& { return spec_; }

 private:
  RouteBuilder& Path(PathMatch::Kind kind, std::string value) {
    spec_.path = PathMatch{.kind = kind, .value = std::move(value)};
    return *this;
  }
  RouteSpec spec_;
};

}  // namespace gateway

#endif  // GATEWAY_ROUTER_H_
