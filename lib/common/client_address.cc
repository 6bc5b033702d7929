#include "gateway/client_address.h"

#include <arpa/inet.h>

#include <cstring>
#include <span>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/client_address.h"

namespace gateway {
namespace internal {
namespace {

bool ParseAddress(std::string_view text, bool& v6, std::array<uint8_t, 16>& out) {
  std::string s(text);
  out.fill(0);
  if (inet_pton(AF_INET, s.c_str(), out.data()) == 1) {
    v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, s.c_str(), out.data()) == 1) {
    v6 = true;
    // An IPv4-mapped address matches IPv4 ranges.
    static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.data(), kMapped, 12) == 0) {
      std::memmove(out.data(), out.data() + 12, 4);
      std::memset(out.data() + 4, 0, 12);
      v6 = false;
    }
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<AddressSet> AddressSet::Parse(const std::vector<std::string>& cidrs) {
  AddressSet set;
  for (size_t i = 0; i < cidrs.size(); ++i) {
    std::string_view text = cidrs[i];
    size_t slash = text.find('/');
    Range r;
    if (!ParseAddress(text.substr(0, slash), r.v6, r.bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("trusted_proxies[", i, "]: '", cidrs[i], "' is not an address or CIDR"));
    }
    int max = r.v6 ? 128 : 32;
    r.prefix = max;
    if (slash != std::string_view::npos) {
      std::string_view bits = text.substr(slash + 1);
      if (!absl::SimpleAtoi(absl::string_view(bits.data(), bits.size()), &r.prefix) ||
          r.prefix < 0 || r.prefix > max) {
        return absl::InvalidArgumentError(
            absl::StrCat("trusted_proxies[", i, "]: bad prefix length in '", cidrs[i], "'"));
      }
    }
    set.ranges_.push_back(r);
  }
  return set;
}

bool AddressSet::Contains(std::string_view address) const {
  bool v6;
  std::array<uint8_t, 16> a;
  if (ranges_.empty() || !ParseAddress(address, v6, a)) return false;
  for (const Range& r : ranges_) {
    if (r.v6 != v6) continue;
    int full = r.prefix / 8, rest = r.prefix % 8;
    if (std::memcmp(a.data(), r.bytes.data(), full) != 0) continue;
    if (rest != 0) {
      uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
      if ((a[full] & mask) != (r.bytes[full] & mask)) continue;
    }
    return true;
  }
  return false;
}

}  // namespace internal

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
