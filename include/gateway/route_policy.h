// Per-route proxy policies: retries, upstream timeouts, the Host header sent
// upstream and header mutations. Plain values, part of `RouteSpec`.
#ifndef GATEWAY_ROUTE_POLICY_H_
#define GATEWAY_ROUTE_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace gateway {

struct RetryPolicy {
  // What is retried. Connect failures never sent a byte and are always safe.
  bool on_connect_failure = true;
  bool on_reset = false;          // reset/closed before a complete response head
  bool on_5xx = false;            // any 5xx from the upstream
  bool on_gateway_error = false;  // 502, 503, 504 from the upstream
  std::vector<int> on_statuses;   // extra statuses, e.g. {409}
  uint32_t max_retries = 1;
  // Retry non-idempotent methods (POST, PATCH) too. Off by default.
  bool allow_non_idempotent = false;
  // Jittered exponential backoff between attempts.
  absl::Duration backoff_base = absl::Milliseconds(25);
  absl::Duration backoff_max = absl::Milliseconds(250);
  // Request body bytes kept for replay; a body larger than this is not retried.
  uint64_t replay_buffer_bytes = 64 * 1024;
  // Retry budget: retries in flight may be at most this share of active
  // requests on the worker (with a floor of `budget_min_retries`).
  double budget_percent = 20.0;
  uint32_t budget_min_retries = 3;

  absl::Status Validate() const;
};

struct UpstreamTimeouts {
  // From the request being fully sent (or started, for streamed bodies) to the
  // response head: 504. Zero: none.
  absl::Duration response_headers = absl::Seconds(15);
  // Longest gap between upstream reads or writes (request bytes the upstream
  // took) while the exchange waits on the upstream. Not while every request
  // byte received is sent and the rest of the body is still to come from the
  // client: the server's body idle timeout judges the client then. Zero: none.
  absl::Duration idle = absl::Seconds(60);
  // Per attempt, up to the response head: from the attempt's start (asking
  // the pool for a connection) or, while the client is still sending the
  // body, from the body's end, so a slow upload never counts against the
  // upstream. 504, or a retry. Zero: none.
  absl::Duration per_try = absl::ZeroDuration();
  // After a 101 (an upgraded connection, e.g. a WebSocket): longest time
  // without a byte in either direction before both sides are closed. The
  // timeouts above and the route deadline no longer apply. Zero: none.
  absl::Duration tunnel_idle = absl::Minutes(5);
};

// What Host header the upstream sees.
struct HostRewrite {
  enum class Kind {
    kPassThrough,  // the client's Host
    kEndpoint,     // the picked endpoint's hostname (or address) and port
    kLiteral,      // `value`
  };
  Kind kind = Kind::kPassThrough;
  std::string value;
};

struct HeaderMutations {
  std::vector<std::pair<std::string, std::string>> add;  // appended
  std::vector<std::pair<std::string, std::string>> set;  // replace all of the name
  std::vector<std::string> remove;

  bool empty() const { return add.empty() && set.empty() && remove.empty(); }
  absl::Status Validate() const;
};

}  // namespace gateway

#endif  // GATEWAY_ROUTE_POLICY_H_
