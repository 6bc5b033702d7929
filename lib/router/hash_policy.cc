// HashPolicy::Validate. Lives with the router because RouteSpec::Validate
// checks a route's policies together with the captures its path defines.
#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"
#include "gateway/hash_policy.h"

namespace gateway {
namespace {

const char* KindName(HashPolicy::Kind kind) {
  switch (kind) {
    case HashPolicy::Kind::kClientIp:
      return "client_ip";
    case HashPolicy::Kind::kHeader:
      return "header";
    case HashPolicy::Kind::kCookie:
      return "cookie";
    case HashPolicy::Kind::kQueryParameter:
      return "query_parameter";
    case HashPolicy::Kind::kRouteCapture:
      return "route_capture";
  }
  return "unknown";
}

// RFC 6265 path-value: any CHAR except CTLs and ';'. Spaces are refused too,
// so the attribute cannot be misread.
bool IsValidCookiePath(std::string_view path) {
  return !path.empty() && path[0] == '/' && std::none_of(path.begin(), path.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F || c == ';';
  });
}

}  // namespace

absl::Status HashPolicy::Validate() const {
  const char* kind_name = KindName(kind);
  if (kind != Kind::kCookie && (cookie_ttl.has_value() || !cookie_path.empty())) {
    return FieldError(cookie_ttl.has_value() ? "ttl" : "path",
                      absl::StrCat("only a cookie policy has one, not ", kind_name));
  }
  if (kind == Kind::kClientIp) return absl::OkStatus();
  if (name.empty()) {
    return FieldError(kind_name, absl::StrCat("the ", kind_name, " name must not be empty"));
  }
  // Header and cookie names are tokens (RFC 9110, RFC 6265); a name that is
  // not could never be found in a valid request.
  if ((kind == Kind::kHeader || kind == Kind::kCookie) && !IsValidHeaderName(name)) {
    return FieldError(kind_name, absl::StrCat("'", name, "' is not a valid ", kind_name, " name"));
  }
  if (kind != Kind::kCookie) return absl::OkStatus();
  if (!cookie_ttl.has_value()) {
    if (!cookie_path.empty()) {
      return FieldError("path", "only a generated cookie (with a ttl) has one");
    }
    return absl::OkStatus();
  }
  if (*cookie_ttl < absl::ZeroDuration() ||
      absl::Trunc(*cookie_ttl, absl::Seconds(1)) != *cookie_ttl ||
      *cookie_ttl == absl::InfiniteDuration()) {
    return FieldError("ttl", "must be whole seconds (Max-Age), or 0 for a session cookie");
  }
  if (!cookie_path.empty() && !IsValidCookiePath(cookie_path)) {
    return FieldError("path", absl::StrCat("'", cookie_path,
                                           "' must start with '/' and hold no ';', spaces or "
                                           "control bytes"));
  }
  return absl::OkStatus();
}

}  // namespace gateway
