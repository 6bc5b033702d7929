// The address of the client behind a request, for keys (rate limits, hashing)
// and access decisions.
//
// A request's peer is the client unless the peer is a trusted proxy. Then the
// client is found in X-Forwarded-For, walking from the right (the entry the
// trusted proxy appended) past every entry that is itself a trusted proxy: the
// first untrusted entry is the client. Entries left of it were written by
// whoever sent the request and are never believed.
//
// `AddressRanges` is immutable once parsed and safe to share between threads.
#ifndef GATEWAY_CLIENT_ADDRESS_H_
#define GATEWAY_CLIENT_ADDRESS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/filter.h"
#include "gateway/http.h"

namespace gateway {

// A set of IPv4 and IPv6 CIDR ranges ("10.0.0.0/8", "::1/128", or single
// addresses). IPv4-mapped IPv6 addresses match IPv4 ranges.
class AddressRanges {
 public:
  AddressRanges();  // empty: contains nothing
  ~AddressRanges();
  AddressRanges(const AddressRanges&);
  AddressRanges& operator=(const AddressRanges&);

  // InvalidArgument naming the first entry that is not an address or CIDR.
  static absl::StatusOr<AddressRanges> Parse(const std::vector<std::string>& cidrs);

  bool Contains(std::string_view address) const;
  bool empty() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// The client address of a request from `peer` carrying `headers` (see above).
// With no trusted proxies it is always the peer address. An X-Forwarded-For
// entry that is not an address ends the walk at the last trusted hop.
std::string ClientAddress(const ConnectionInfo& peer, const HeaderMap& headers,
                          const AddressRanges& trusted_proxies);

}  // namespace gateway

#endif  // GATEWAY_CLIENT_ADDRESS_H_
