// ComputeHashKey: the request's value for each hash policy, hashed where it
// lies in the request (no copies), and the cookie the gateway hands out when
// a cookie policy may generate one.
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/client_address.h"
#include "gateway/hash_policy.h"
#include "gateway/load_balancer.h"
#include "proxy/forwarding.h"
#include "router/query_param.h"

namespace gateway {
namespace {

std::string_view Trim(std::string_view s) {
  absl::string_view t = absl::StripAsciiWhitespace(absl::string_view(s.data(), s.size()));
  return {t.data(), t.size()};
}

// The value of cookie `name` in the request's Cookie fields (RFC 6265 5.4:
// "a=1; b=2", possibly in several fields), without surrounding DQUOTEs.
std::optional<std::string_view> FindCookie(const HeaderMap& headers, std::string_view name) {
  for (const HeaderMap::Field& f : headers) {
    if (!EqualsIgnoreCase(f.name, "cookie")) continue;
    std::string_view rest = f.value;
    while (!rest.empty()) {
      const size_t semi = rest.find(';');
      std::string_view pair = Trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos || Trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = Trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> FindCapture(
    std::span<const std::pair<std::string, std::string>> captures, std::string_view name) {
  for (const auto& [n, v] : captures) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

const AddressRanges& NoTrustedProxies() {
  static const AddressRanges kNone;
  return kNone;
}

std::string_view ClientAddressOf(const HashKeyInput& input) {
  static const HeaderMap kNoHeaders;
  return internal::FindClientAddress(
      input.peer_address, input.headers != nullptr ? *input.headers : kNoHeaders,
      input.trusted_proxies != nullptr ? *input.trusted_proxies : NoTrustedProxies());
}

// The value `policy` takes from the request, if it has one.
std::optional<std::string_view> ValueOf(const HashPolicy& policy, const HashKeyInput& input) {
  switch (policy.kind) {
    case HashPolicy::Kind::kClientIp:
      return ClientAddressOf(input);
    case HashPolicy::Kind::kHeader:
      if (input.headers == nullptr) return std::nullopt;
      return input.headers->Get(policy.name);
    case HashPolicy::Kind::kCookie:
      if (input.headers == nullptr) return std::nullopt;
      return FindCookie(*input.headers, policy.name);
    case HashPolicy::Kind::kQueryParameter: {
      // Decoded as route matching decodes it, so "a%20b" and "a+b" share a
      // key; the buffer is only written when the value holds escapes.
      thread_local std::string scratch;
      return internal::FindQueryParam(input.query, policy.name, &scratch);
    }
    case HashPolicy::Kind::kRouteCapture:
      return FindCapture(input.captures, policy.name);
  }
  return std::nullopt;
}

}  // namespace

std::string HashKeyResult::SetCookie() const {
  if (generated_cookie == nullptr) return {};
  const HashPolicy& p = *generated_cookie;
  const absl::string_view value(cookie_value.data(), cookie_value.size());
  std::string out =
      absl::StrCat(p.name, "=", value, "; Path=", p.cookie_path.empty() ? "/" : p.cookie_path);
  const absl::Duration ttl = p.cookie_ttl.value_or(absl::ZeroDuration());
  if (ttl > absl::ZeroDuration()) absl::StrAppend(&out, "; Max-Age=", absl::ToInt64Seconds(ttl));
  out.append("; HttpOnly");
  return out;
}

HashKeyResult ComputeHashKey(std::span<const HashPolicy> policies, const HashKeyInput& input,
                             absl::FunctionRef<uint64_t()> random) {
  HashKeyResult result;
  for (const HashPolicy& policy : policies) {
    std::optional<std::string_view> value = ValueOf(policy, input);
    if (value.has_value() && !value->empty()) {
      result.key = HashKey(*value);
      return result;
    }
    if (policy.kind == HashPolicy::Kind::kCookie && policy.cookie_ttl.has_value()) {
      // The key is the hash of the value the client will send from now on,
      // so this first request lands where all its successors will.
      static constexpr char kHex[] = "0123456789abcdef";
      uint64_t bits = random();
      for (int i = 15; i >= 0; --i, bits >>= 4) result.cookie_value[i] = kHex[bits & 0xf];
      result.generated_cookie = &policy;
      result.key = HashKey(result.cookie());
      return result;
    }
  }
  return result;
}

uint64_t ClientIpHashKey(const HashKeyInput& input) { return HashKey(ClientAddressOf(input)); }

}  // namespace gateway
