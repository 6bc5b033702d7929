// What the HTTP codec may do with a HeaderMap that the public API does not
// offer: add fields it has already checked without checking them again, and
// ask whether every field of a map was checked valid.
#ifndef GATEWAY_LIB_COMMON_HEADER_MAP_ACCESS_H_
#define GATEWAY_LIB_COMMON_HEADER_MAP_ACCESS_H_

#include <string_view>

#include "gateway/http.h"

namespace gateway::internal {

struct HeaderMapAccess {
  // `name` and `value` must pass IsCleanField (the parser's own checks).
  static void AddChecked(HeaderMap& map, std::string_view name, std::string_view value) {
    map.Append(name, value);
  }
  // True if every field passed IsCleanField when it was added.
  static bool Clean(const HeaderMap& map) { return map.clean_; }
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_HEADER_MAP_ACCESS_H_
