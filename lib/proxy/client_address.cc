#include "gateway/client_address.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "proxy/forwarding.h"

namespace gateway {

struct AddressRanges::Impl {
  internal::AddressSet set;
};

AddressRanges::AddressRanges() = default;
AddressRanges::~AddressRanges() = default;
AddressRanges::AddressRanges(const AddressRanges&) = default;
AddressRanges& AddressRanges::operator=(const AddressRanges&) = default;

absl::StatusOr<AddressRanges> AddressRanges::Parse(const std::vector<std::string>& cidrs) {
  auto set = internal::AddressSet::Parse(cidrs);
  if (!set.ok()) return set.status();
  AddressRanges out;
  if (!set->empty()) out.impl_ = std::make_shared<const Impl>(Impl{*std::move(set)});
  return out;
}

bool AddressRanges::Contains(std::string_view address) const {
  return impl_ != nullptr && impl_->set.Contains(address);
}

bool AddressRanges::empty() const { return impl_ == nullptr; }

namespace {

// "1.2.3.4", "::1", "[::1]:80" or "1.2.3.4:80" (some proxies add ports).
std::string_view StripPort(std::string_view entry) {
  if (!entry.empty() && entry.front() == '[') {
    size_t close = entry.find(']');
    return close == std::string_view::npos ? entry : entry.substr(1, close - 1);
  }
  size_t colon = entry.find(':');
  if (colon != std::string_view::npos && entry.find(':', colon + 1) == std::string_view::npos) {
    return entry.substr(0, colon);  // one colon: IPv4 with a port
  }
  return entry;
}

bool IsAddress(std::string_view s) {
  static const AddressRanges kAny = *AddressRanges::Parse({"0.0.0.0/0", "::/0"});
  return kAny.Contains(s);
}

}  // namespace

std::string ClientAddress(const ConnectionInfo& peer, const HeaderMap& headers,
                          const AddressRanges& trusted_proxies) {
  std::string_view client = peer.peer_address;
  if (!trusted_proxies.Contains(client)) return std::string(client);
  // Every X-Forwarded-For field, in order, as one list.
  std::vector<std::string_view> hops;
  for (std::string_view field : headers.GetAll("x-forwarded-for")) {
    for (absl::string_view e : absl::StrSplit(absl::string_view(field.data(), field.size()), ',')) {
      e = absl::StripAsciiWhitespace(e);
      if (!e.empty()) hops.emplace_back(e.data(), e.size());
    }
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    std::string_view hop = StripPort(*it);
    if (!IsAddress(hop)) break;  // garbage: keep the last hop we could believe
    client = hop;
    if (!trusted_proxies.Contains(hop)) break;
  }
  return std::string(client);
}

}  // namespace gateway
