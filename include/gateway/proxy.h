// Gateway-wide reverse-proxy options: how forwarding headers are written.
// Per-route policy (retries, timeouts, Host, header mutations) lives in
// `RouteSpec`; clusters in `ClusterManager`.
//
// Before the gateway adds its own headers it removes every hop-by-hop header
// (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade) and every header the client named in Connection, so a client can
// neither strip nor forge what the gateway injects.
#ifndef GATEWAY_PROXY_H_
#define GATEWAY_PROXY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace gateway {

struct ProxyOptions {
  // Peers whose X-Forwarded-For / -Proto / -Host are believed, as CIDRs
  // ("10.0.0.0/8", "::1/128") or single addresses. From any other peer those
  // headers are replaced rather than appended to.
  std::vector<std::string> trusted_proxies;
  // Add X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host.
  bool forwarded_headers = true;
  // Add "Via: 1.1 <via>" to requests and responses; empty disables.
  std::string via = "gateway";

  absl::Status Validate() const;
};

}  // namespace gateway

#endif  // GATEWAY_PROXY_H_
