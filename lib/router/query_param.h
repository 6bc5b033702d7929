// Query parameter lookup, shared by route matching and hash keys so both
// read a parameter the same way.
#ifndef GATEWAY_LIB_ROUTER_QUERY_PARAM_H_
#define GATEWAY_LIB_ROUTER_QUERY_PARAM_H_

#include <optional>
#include <string>
#include <string_view>

namespace gateway::internal {

// Looks up the first query parameter whose percent-decoded name is `name`, and
// returns its decoded value ('+' is a space). Malformed escapes stay literal.
// The view may point into `scratch`.
std::optional<std::string_view> FindQueryParam(std::string_view query, std::string_view name,
                                               std::string* scratch);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_ROUTER_QUERY_PARAM_H_
