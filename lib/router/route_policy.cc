#include "gateway/route_policy.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "gateway/http.h"

namespace gateway {

absl::Status RetryPolicy::Validate() const {
  if (max_retries > 10) return absl::InvalidArgumentError("max_retries: at most 10");
  if (backoff_base < absl::ZeroDuration() || backoff_max < backoff_base) {
    return absl::InvalidArgumentError("backoff: need 0 <= backoff_base <= backoff_max");
  }
  if (!(budget_percent >= 0.0 && budget_percent <= 100.0)) {
    return absl::InvalidArgumentError("budget_percent: must be within [0, 100]");
  }
  for (size_t i = 0; i < on_statuses.size(); ++i) {
    if (on_statuses[i] < 100 || on_statuses[i] > 599) {
      return absl::InvalidArgumentError(
          absl::StrCat("on_statuses[", i, "]: ", on_statuses[i], " is not an HTTP status"));
    }
  }
  return absl::OkStatus();
}

absl::Status HeaderMutations::Validate() const {
  auto check = [](const char* list, size_t i, const std::string& name, const std::string& value,
                  bool has_value) -> absl::Status {
    if (!IsValidHeaderName(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(list, "[", i, "]: '", name, "' is not a header name"));
    }
    if (has_value && !IsValidHeaderValue(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(list, "[", i, "]: value of '", name, "' has invalid characters"));
    }
    return absl::OkStatus();
  };
  for (size_t i = 0; i < add.size(); ++i) {
    if (auto s = check("add", i, add[i].first, add[i].second, true); !s.ok()) return s;
  }
  for (size_t i = 0; i < set.size(); ++i) {
    if (auto s = check("set", i, set[i].first, set[i].second, true); !s.ok()) return s;
  }
  for (size_t i = 0; i < remove.size(); ++i) {
    if (auto s = check("remove", i, remove[i], std::string(), false); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace gateway
