// The rate-limit filter: checks every matching rule for each request and
// answers 429 when one of them is exhausted (see docs/rate-limiting.md).
//
//   RateLimitFilterConfig config{
//       .rules = {{.name = "login",
//                  .local = SlidingWindowLogConfig{.limit = 5, .window = absl::Minutes(1)},
//                  .routes = {"login"},
//                  .key = {RateLimitKeyPart::ClientIp()}},
//                 {.name = "per-client",
//                  .local = TokenBucketConfig{.rate = 100, .burst = 200},
//                  .key = {RateLimitKeyPart::Header("x-client-id")}}}};
//   auto filter = MakeRateLimitFilter(std::move(config));  // StatusOr
//   PipelineBuilder{}.Routes(router).Add(*filter).Build();
//
// Rules compose: a global limit, per-service, per-endpoint and per-client
// limits are each checked, and the most restrictive answer wins: a request
// passes only if every matching rule lets it through, and a rejection carries
// the longest Retry-After among the rules that refused it.
//
// Local rules (`local`, `limiter`) decide synchronously and are shared by every
// worker thread of the process. Remote rules (`remote`) ask an
// `AsyncRateLimiter` per loop; the request is paused until every remote rule
// has answered or timed out, then fails open or closed as configured.
//
// The factory is thread-safe and immutable; the limiters it holds live as long
// as the factory (a reload that builds a new factory starts counting afresh).
#ifndef GATEWAY_RATE_LIMIT_FILTER_H_
#define GATEWAY_RATE_LIMIT_FILTER_H_

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
#include "gateway/clock.h"
#include "gateway/filter.h"
#include "gateway/rate_limiter.h"

namespace gateway {

// One piece of a rule's key. A key is the concatenation of its parts, so
// {ClientIp(), Route()} counts each client separately on each route.
struct RateLimitKeyPart {
  enum class Source {
    kClientIp,   // the client address, honouring trusted proxies (client_address.h)
    kHeader,     // a request header's first value (e.g. x-client-id, x-api-key)
    kAttribute,  // a request attribute set by an earlier filter (e.g. "identity")
    kRoute,      // the matched route's name
    kCluster,    // the cluster the route sends to (per-service limits)
    kPath,       // the normalised request path
    kMethod,     // the request method
  };
  Source source = Source::kClientIp;
  std::string name;  // header or attribute name

  static RateLimitKeyPart ClientIp() { return {Source::kClientIp, ""}; }
  static RateLimitKeyPart Header(std::string name) { return {Source::kHeader, std::move(name)}; }
  static RateLimitKeyPart Attribute(std::string name) {
    return {Source::kAttribute, std::move(name)};
  }
  static RateLimitKeyPart Route() { return {Source::kRoute, ""}; }
  static RateLimitKeyPart Cluster() { return {Source::kCluster, ""}; }
  static RateLimitKeyPart Path() { return {Source::kPath, ""}; }
  static RateLimitKeyPart Method() { return {Source::kMethod, ""}; }
};

// What a remote rule does when its limiter fails (error or timeout).
enum class RateLimitFailureMode {
  kAllow,  // fail open: the rule is skipped for this request
  kDeny,   // fail closed: 503 {"error":"rate_limit_unavailable"}
};

// The answer to a request that a rule refuses. Every field is optional: an
// unset one keeps the filter's default, {"error":"rate_limited",...} as JSON
// with `RateLimitFilterConfig::status`. Retry-After (and the RateLimit headers
// the filter is configured to send) are added whatever is set here.
struct RateLimitResponse {
  int status = 0;                   // 0: RateLimitFilterConfig::status; else 400-599
  std::optional<std::string> body;  // replaces the JSON body ("" sends none)
  // Content-Type of `body`; empty: "text/plain; charset=utf-8" for a
  // replaced body, "application/json" for the default one.
  std::string content_type;
  // Added to the refusal, in order. Valid names and values only; not
  // Content-Type (see `content_type`), Retry-After, Content-Length or the
  // hop-by-hop fields (Transfer-Encoding, Connection, Keep-Alive, Upgrade,
  // Trailer, TE), which the gateway sets itself.
  std::vector<std::pair<std::string, std::string>> headers;

  absl::Status Validate() const;
};

struct RateLimitRule {
  // The policy name in RateLimit headers and logs; unique within the filter.
  // Letters, digits and "-_.:" only.
  std::string name;

  // What decides. Exactly one of:
  std::optional<RateLimitAlgorithm> local;                // a built-in limiter the filter creates
  std::shared_ptr<RateLimiter> limiter;                   // your own (thread-safe) limiter
  std::shared_ptr<const AsyncRateLimiterFactory> remote;  // an asynchronous store

  // Which requests the rule applies to; an empty list matches everything.
  std::vector<std::string> routes;    // route names
  std::vector<std::string> clusters;  // the cluster a route sends to
  std::vector<std::string> methods;   // e.g. {"POST"}

  // How requests are grouped; empty: one shared counter (a global limit).
  std::vector<RateLimitKeyPart> key;
  // A request lacking a key part (no such header or attribute) skips the rule;
  // with false the missing part counts as "" (one shared bucket for them).
  bool skip_if_key_missing = true;

  // Units one request spends.
  uint64_t cost = 1;

  // Remote rules: the longest the filter waits for an answer, and what a
  // failure means.
  absl::Duration timeout = absl::Milliseconds(100);
  RateLimitFailureMode failure_mode = RateLimitFailureMode::kAllow;

  // The refusal this rule sends. When several rules refuse one request, the
  // first of them in `RateLimitFilterConfig::rules` order answers; Retry-After
  // is still the longest wait among them.
  RateLimitResponse on_limit;

  absl::Status Validate() const;
};

// Which response headers describe the limits.
enum class RateLimitHeaders {
  kNone,
  // draft-ietf-httpapi-ratelimit-headers: every rule that applied, e.g.
  //   RateLimit-Policy: "login";q=5;w=60, "per-client";q=200;w=2
  //   RateLimit: "login";r=4;t=60, "per-client";r=199;t=1
  kIetf,
  // X-RateLimit-Limit / -Remaining / -Reset (seconds) of the most restrictive
  // rule.
  kLegacy,
  kBoth,
};

struct RateLimitFilterConfig {
  std::vector<RateLimitRule> rules;  // checked in order
  RateLimitHeaders headers = RateLimitHeaders::kIetf;
  // Count and add headers, but never reject (nor fail closed). A request that
  // would have been refused gets the attribute "rate_limit.dry_run_denied"
  // with the names of the refusing rules.
  bool dry_run = false;
  // Status of a rejection (429 or 503 are the usual ones); a rule's
  // `on_limit.status` overrides it.
  int status = 429;
  // Peers whose X-Forwarded-For is believed for client_ip keys.
  std::vector<std::string> trusted_proxies;
  // Time source of local limiters; nullptr: SystemClock(). Must outlive the
  // factory.
  const Clock* clock = nullptr;

  absl::Status Validate() const;
};

// Attribute names the filter sets for later filters and logs.
inline constexpr std::string_view kRateLimitDryRunDeniedAttribute = "rate_limit.dry_run_denied";

// Builds the filter factory (named "rate_limit") and its local limiters.
absl::StatusOr<std::shared_ptr<const FilterFactory>> MakeRateLimitFilter(
    RateLimitFilterConfig config);

}  // namespace gateway

#endif  // GATEWAY_RATE_LIMIT_FILTER_H_
