#include "gateway/response_flag.h"

namespace gateway {

std::optional<ResponseFlag> ParseResponseFlag(std::string_view name) {
  // Config-time only (a few dozen names), so a scan of the one table is enough.
  if (name.empty()) return std::nullopt;
  for (size_t i = 1; i < response_flag_internal::kCount; ++i) {
    if (response_flag_internal::kNames[i] == name) return static_cast<ResponseFlag>(i);
  }
  return std::nullopt;
}

}  // namespace gateway
