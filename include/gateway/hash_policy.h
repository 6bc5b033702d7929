// Hash policies: what a request's hash key is made of, for the hashing
// balancers (`LbPolicy::kIpHash`, `kRingHash`, `kMaglev`).
//
// A route (`RouteSpec::hash_policy`) or, for routes without one, its cluster
// (`ClusterSpec::hash_policy`) lists policies; they are tried in order and the
// first that finds a value in the request makes the key, `HashKey(value)`. The
// proxy computes the key once per request, from the request as the client sent
// it (before forwarding headers and rewrites), and reuses it for every retry.
// When no policy yields a value, the proxy keys the request by its client
// address, so a hashing balancer never picks at random.
//
// `HashPolicy` is a plain value. `ComputeHashKey` is a pure function of its
// arguments (and of `random` for a generated cookie): safe on any thread.
#ifndef GATEWAY_HASH_POLICY_H_
#define GATEWAY_HASH_POLICY_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/http.h"

namespace gateway {

class AddressRanges;  // gateway/client_address.h

struct HashPolicy {
  enum class Kind {
    kClientIp,        // the client address, honouring the trusted proxies
    kHeader,          // the first value of request header `name`
    kCookie,          // the value of cookie `name`
    kQueryParameter,  // the value of query parameter `name`, percent-decoded
    kRouteCapture,    // the value of path capture `name` (RouteMatch::captures)
  };
  Kind kind = Kind::kClientIp;
  // Header, cookie, query parameter or capture name; unused by kClientIp.
  // Header names compare case-insensitively, the others exactly.
  std::string name;
  // kCookie only. When set, a request without the cookie gets one: the
  // gateway makes up a random value, keys the request by it exactly as it
  // keys later requests that carry it, and the response carries
  // `Set-Cookie: <name>=<value>; Path=<cookie_path>; Max-Age=<seconds>; HttpOnly`
  // (no Max-Age when the ttl is zero: a session cookie). Whole seconds.
  std::optional<absl::Duration> cookie_ttl;
  // kCookie with `cookie_ttl`: the cookie's Path; empty means "/".
  std::string cookie_path;

  static HashPolicy ClientIp() { return {}; }
  static HashPolicy Header(std::string name) { return {Kind::kHeader, std::move(name)}; }
  static HashPolicy Cookie(std::string name) { return {Kind::kCookie, std::move(name)}; }
  static HashPolicy GeneratedCookie(std::string name, absl::Duration ttl, std::string path = "/") {
    return {Kind::kCookie, std::move(name), ttl, std::move(path)};
  }
  static HashPolicy QueryParameter(std::string name) {
    return {Kind::kQueryParameter, std::move(name)};
  }
  static HashPolicy RouteCapture(std::string name) {
    return {Kind::kRouteCapture, std::move(name)};
  }

  // The policy on its own: a name where one is needed (a header or cookie
  // name must be a token), cookie_ttl and cookie_path only on a cookie, a ttl
  // of 0 or whole seconds, a path that starts with '/' and holds no ';',
  // spaces or control characters. Whether a route capture exists is checked
  // by RouteSpec::Validate.
  absl::Status Validate() const;
};

// What a request offers to hash policies. Views must stay valid during the call.
struct HashKeyInput {
  std::string_view peer_address;       // ConnectionInfo::peer_address
  const HeaderMap* headers = nullptr;  // the request's, as received
  std::string_view query;              // RequestHead::query (raw, without '?')
  std::span<const std::pair<std::string, std::string>> captures;  // RouteMatch::captures
  const AddressRanges* trusted_proxies = nullptr;                 // null: no trusted proxies
};

// What ComputeHashKey found.
struct HashKeyResult {
  // HashKey(value) of the first policy that found a value; nullopt if none did.
  std::optional<uint64_t> key;
  // Non-null when the key is a cookie the gateway generated for this request
  // (a kCookie policy with a ttl, and no such cookie in the request). The
  // response must then carry SetCookie(). Points into the policies given.
  const HashPolicy* generated_cookie = nullptr;
  std::array<char, 16> cookie_value{};  // lower-case hex digits of the generated cookie

  std::string_view cookie() const { return {cookie_value.data(), cookie_value.size()}; }
  // The Set-Cookie value for the generated cookie; empty if there is none.
  std::string SetCookie() const;
};

// Tries `policies` in order (see the top of this file). Values that are
// present but empty do not count. `random` is called once, and only when a
// cookie is generated. No allocation: values are hashed where they lie (a
// percent-encoded query value is decoded into a per-thread buffer).
HashKeyResult ComputeHashKey(std::span<const HashPolicy> policies, const HashKeyInput& input,
                             absl::FunctionRef<uint64_t()> random);

// The key of the client address alone: what the proxy uses when no policy
// yields a value.
uint64_t ClientIpHashKey(const HashKeyInput& input);

}  // namespace gateway

#endif  // GATEWAY_HASH_POLICY_H_
