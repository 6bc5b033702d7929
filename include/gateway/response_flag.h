// Response flags: the short machine-readable reason the gateway gives for a
// request that did not end in a plain upstream response ("no_route",
// "upstream_connect_failed", "rate_limited", ...). They appear in
// `RequestInfo::flag` (OnDone, access log, metrics), in `LocalReply::flag`,
// in `CodecError::flag`, as the "error" field of the gateway's JSON error
// bodies, and in config that names them (a cluster's `fallback.on`).
//
// Every flag the library produces is one `ResponseFlag`, and its name comes
// from the one table below; the names are stable and safe to match on in
// logs and alerts. A user's filter may reply with a flag of its own (any
// string in `LocalReply::flag`): `RequestInfo::flag` stays a string so those
// reach OnDone unchanged. docs/architecture.md lists every flag and when it
// is produced.
//
// Everything here is constant data: usable from any thread.
#ifndef GATEWAY_RESPONSE_FLAG_H_
#define GATEWAY_RESPONSE_FLAG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gateway {

enum class ResponseFlag : uint8_t {
  kNone,  // "": a normal response
  // The request as received (downstream codec).
  kBadRequest,
  kInvalidFraming,
  kInvalidHeader,
  kInvalidHost,
  kInvalidTarget,
  kUnderscoreInHeader,
  kUriTooLong,
  kHeadersTooLarge,
  kBodyTooLarge,
  kExpectationFailed,
  kUnsupportedVersion,
  kIncompleteRequest,
  kHeaderTimeout,
  kBodyTimeout,
  // Routing, filters and the request's life.
  kUnsupportedTarget,
  kInvalidPath,
  kNoRoute,
  kMethodNotAllowed,
  kFilterError,
  kRequestTimeout,
  kClientGone,
  kTimeout,
  kAborted,
  kRateLimited,
  kRateLimitUnavailable,
  // Proxying.
  kNoUpstream,
  kUnknownCluster,
  kCircuitOpen,
  kNoHealthyUpstream,
  kUpstreamOverflow,
  kRetryOverflow,
  kUpstreamConnectFailed,
  kUpstreamConnectTimeout,
  kUpstreamTimeout,
  kUpstreamPerTryTimeout,
  kUpstreamIdleTimeout,
  kTunnelIdleTimeout,
  kUpstreamReset,
  kUpstreamProtocolError,
  kUpstreamTruncated,
  kUpstreamRetryFailed,
  kFallback,
};

namespace response_flag_internal {
// Indexed by the enumerator's value; the order must match the enum.
inline constexpr std::string_view kNames[] = {
    "",
    "bad_request",
    "invalid_framing",
    "invalid_header",
    "invalid_host",
    "invalid_target",
    "underscore_in_header",
    "uri_too_long",
    "headers_too_large",
    "body_too_large",
    "expectation_failed",
    "unsupported_version",
    "incomplete_request",
    "header_timeout",
    "body_timeout",
    "unsupported_target",
    "invalid_path",
    "no_route",
    "method_not_allowed",
    "filter_error",
    "request_timeout",
    "client_gone",
    "timeout",
    "aborted",
    "rate_limited",
    "rate_limit_unavailable",
    "no_upstream",
    "unknown_cluster",
    "circuit_open",
    "no_healthy_upstream",
    "upstream_overflow",
    "retry_overflow",
    "upstream_connect_failed",
    "upstream_connect_timeout",
    "upstream_timeout",
    "upstream_per_try_timeout",
    "upstream_idle_timeout",
    "tunnel_idle_timeout",
    "upstream_reset",
    "upstream_protocol_error",
    "upstream_truncated",
    "upstream_retry_failed",
    "fallback",
};
inline constexpr size_t kCount = sizeof(kNames) / sizeof(kNames[0]);
static_assert(kCount == static_cast<size_t>(ResponseFlag::kFallback) + 1,
              "every ResponseFlag has exactly one name");
}  // namespace response_flag_internal

// The flag's name as it appears in logs, metrics and config; "" for kNone.
// The view refers to static storage.
constexpr std::string_view ResponseFlagName(ResponseFlag flag) {
  size_t i = static_cast<size_t>(flag);
  return i < response_flag_internal::kCount ? response_flag_internal::kNames[i]
                                            : std::string_view();
}

// The flag named `name` (exact, case-sensitive), or nullopt if no built-in
// flag has that name. "" is not a name: it gives nullopt.
std::optional<ResponseFlag> ParseResponseFlag(std::string_view name);

}  // namespace gateway

#endif  // GATEWAY_RESPONSE_FLAG_H_
