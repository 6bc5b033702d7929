// Client-address parsing shared by the proxy (forwarding headers, hash keys)
// and filters (rate-limit keys): CIDR sets and the walk of X-Forwarded-For
// behind trusted proxies.
#ifndef GATEWAY_LIB_COMMON_CLIENT_ADDRESS_H_
#define GATEWAY_LIB_COMMON_CLIENT_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/client_address.h"
#include "gateway/http.h"

namespace gateway::internal {

// A set of CIDR ranges, IPv4 and IPv6.
class AddressSet {
 public:
  static absl::StatusOr<AddressSet> Parse(const std::vector<std::string>& cidrs);
  bool Contains(std::string_view address) const;
  bool empty() const { return ranges_.empty(); }

 private:
  struct Range {
    bool v6;
    std::array<uint8_t, 16> bytes;
    int prefix;
  };
  std::vector<Range> ranges_;
};

// The client address behind `peer` (see gateway/client_address.h), as a view
// into `peer` or `headers`: valid while both are.
std::string_view FindClientAddress(std::string_view peer, const HeaderMap& headers,
                                   const AddressRanges& trusted_proxies);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_CLIENT_ADDRESS_H_
