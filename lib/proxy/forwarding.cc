#include "proxy/forwarding.h"

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gateway {

absl::Status ProxyOptions::Validate() const {
  auto set = internal::AddressSet::Parse(trusted_proxies);
  if (!set.ok()) return set.status();
  if (!via.empty() && !IsValidHeaderValue(via)) {
    return absl::InvalidArgumentError("proxy.via: invalid characters");
  }
  return absl::OkStatus();
}

namespace internal {

namespace {
// EqualsIgnoreCase is out of line and called for every field: the inline
// length test keeps the call for the names that can match.
bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && EqualsIgnoreCase(a, b);
}

// EqualsIgnoreCase(name, lower) for a lower-case `lower` of name's length,
// inline: a letter of `lower` matches either case, any other byte only itself.
bool IsLowerName(std::string_view name, std::string_view lower) {
  for (size_t i = 0; i < lower.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    unsigned char l = static_cast<unsigned char>(lower[i]);
    if (c != l && ((c | 0x20) != l || l < 'a' || l > 'z')) return false;
  }
  return true;
}

// Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
// Upgrade, and HTTP2-Settings (it belongs to an h2c upgrade, which is never
// forwarded). Told apart by length, then first letter, so that a field costs
// at most one comparison and most cost none.
bool IsHopByHop(std::string_view name) {
  switch (name.size()) {
    case 2:
      return IsLowerName(name, "te");
    case 7:
      switch (name[0] | 0x20) {
        case 't':
          return IsLowerName(name, "trailer");
        case 'u':
          return IsLowerName(name, "upgrade");
      }
      return false;
    case 10:
      switch (name[0] | 0x20) {
        case 'c':
          return IsLowerName(name, "connection");
        case 'k':
          return IsLowerName(name, "keep-alive");
      }
      return false;
    case 14:
      return IsLowerName(name, "http2-settings");
    case 16:
      return IsLowerName(name, "proxy-connection");
    case 17:
      return IsLowerName(name, "transfer-encoding");
    default:
      return false;
  }
}
}  // namespace

void RemoveHopByHop(HeaderMap& headers, std::initializer_list<std::string_view> also) {
  // Names listed in Connection first, while the Connection field still
  // exists. Copied, as the removal below moves fields (short names stay on
  // the stack); the usual ones (keep-alive, upgrade) are hop-by-hop anyway.
  absl::InlinedVector<std::string, 2> named;
  for (const auto& f : headers) {
    if (f.name.size() != 10 || !IsLowerName(f.name, "connection")) continue;
    for (absl::string_view token : absl::StrSplit(f.value, ',')) {
      token = absl::StripAsciiWhitespace(token);
      std::string_view t(token.data(), token.size());
      if (!t.empty() && !IsHopByHop(t)) named.emplace_back(t);
    }
  }
  headers.RemoveIf([&](std::string_view name) {
    if (IsHopByHop(name)) return true;
    for (std::string_view n : also) {
      if (SameName(name, n)) return true;
    }
    for (const std::string& n : named) {
      if (SameName(name, n)) return true;
    }
    return false;
  });
}

void SanitizeTrailers(HeaderMap& trailers) {
  RemoveHopByHop(trailers,
                 {"content-length", "host", "content-encoding", "content-type", "content-range"});
}

void ApplyMutations(const HeaderMutations& m, HeaderMap& headers) {
  for (const std::string& name : m.remove) headers.Remove(name);
  for (const auto& [name, value] : m.set) headers.Set(name, value);
  for (const auto& [name, value] : m.add) headers.Add(name, value);
}

void AddForwardingHeaders(const ProxyOptions& options, bool trusted, const ConnectionInfo& peer,
                          std::string_view original_host, HeaderMap& headers) {
  bool forwarded = options.forwarded_headers;
  bool via_on = !options.via.empty();
  if (!forwarded && !via_on) return;
  // One pass reads what the rules below depend on (the edits that follow do
  // not change it): which of the fields exist, the trusted peer's
  // X-Forwarded-For values joined, and the first Via value. A field known to
  // be absent is then added without the search HeaderMap::Set makes.
  std::string xff;
  std::string via;
  bool has_xff = false, has_proto = false, has_host = false, has_via = false;
  for (const auto& f : headers) {
    std::string_view name = f.name;
    switch (name.size()) {
      case 3:
        if (!has_via && IsLowerName(name, "via")) {
          has_via = true;
          via = f.value;
        }
        break;
      case 15:
        if (IsLowerName(name, "x-forwarded-for")) {
          has_xff = true;
          if (trusted) {
            if (!xff.empty()) xff += ", ";
            xff += f.value;
          }
        }
        break;
      case 16:
        has_host = has_host || IsLowerName(name, "x-forwarded-host");
        break;
      case 17:
        has_proto = has_proto || IsLowerName(name, "x-forwarded-proto");
        break;
    }
  }
  auto set = [&headers](bool present, std::string_view name, std::string_view value) {
    if (present) {
      headers.Set(name, value);
    } else {
      headers.Add(name, value);
    }
  };
  if (forwarded) {
    if (!xff.empty()) xff += ", ";
    xff += peer.peer_address;
    set(has_xff, "x-forwarded-for", xff);
    if (!trusted || !has_proto) set(has_proto, "x-forwarded-proto", "http");
    if (!trusted || !has_host) {
      if (original_host.empty()) {
        if (has_host) headers.Remove("x-forwarded-host");
      } else {
        set(has_host, "x-forwarded-host", original_host);
      }
    }
  }
  if (via_on) {
    if (!via.empty()) via += ", ";
    via += "1.1 ";
    via += options.via;
    set(has_via, "via", via);
  }
}

}  // namespace internal
}  // namespace gateway
