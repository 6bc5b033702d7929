// Header rules of a reverse proxy: hop-by-hop removal, forwarding headers,
// header mutations.
#ifndef GATEWAY_LIB_PROXY_FORWARDING_H_
#define GATEWAY_LIB_PROXY_FORWARDING_H_

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/client_address.h"
#include "gateway/client_address.h"
#include "gateway/filter.h"
#include "gateway/http.h"
#include "gateway/proxy.h"
#include "gateway/route_policy.h"

namespace gateway::internal {

// Removes hop-by-hop headers, every header named in Connection and every
// header named in `also`, in one pass over the fields.
void RemoveHopByHop(HeaderMap& headers, std::initializer_list<std::string_view> also = {});

// Trailer fields passed on: hop-by-hop fields and those that only make sense
// in a head (framing, routing) are removed.
void SanitizeTrailers(HeaderMap& trailers);

void ApplyMutations(const HeaderMutations& m, HeaderMap& headers);

// Adds X-Forwarded-For/-Proto/-Host and Via to an upstream request whose
// hop-by-hop headers were already removed. `trusted` tells whether the peer's
// own forwarding headers are kept and extended.
void AddForwardingHeaders(const ProxyOptions& options, bool trusted, const ConnectionInfo& peer,
                          std::string_view original_host, HeaderMap& headers);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_PROXY_FORWARDING_H_
