#include "gateway/client_address.h"

#include <span>
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

namespace internal {

std::string_view FindClientAddress(std::string_view peer, const HeaderMap& headers,
                                   const AddressRanges& trusted_proxies) {
  std::string_view client = peer;
  if (!trusted_proxies.Contains(client)) return client;
  // Every X-Forwarded-For field, in order, is one list; it is walked from its
  // right end without being split into a copy, so hashing a client address
  // costs no allocation.
  const std::span<const HeaderMap::Field> fields = headers.fields();
  for (auto f = fields.rbegin(); f != fields.rend(); ++f) {
    if (!EqualsIgnoreCase(f->name, "x-forwarded-for")) continue;
    std::string_view rest = f->value;
    while (!rest.empty()) {
      const size_t comma = rest.rfind(',');
      absl::string_view e(rest.data(), rest.size());
      if (comma != std::string_view::npos) e.remove_prefix(comma + 1);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      e = absl::StripAsciiWhitespace(e);
      if (e.empty()) continue;
      std::string_view hop = StripPort(std::string_view(e.data(), e.size()));
      if (!IsAddress(hop)) return client;  // garbage: keep the last hop we could believe
      client = hop;
      if (!trusted_proxies.Contains(hop)) return client;
    }
  }
  return client;
}

}  // namespace internal

std::string ClientAddress(const ConnectionInfo& peer, const HeaderMap& headers,
                          const AddressRanges& trusted_proxies) {
  return std::string(internal::FindClientAddress(peer.peer_address, headers, trusted_proxies));
}

}  // namespace gateway
