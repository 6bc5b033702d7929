// The HTTP Date field value (RFC 9110 5.6.7, IMF-fixdate), cached per second.
//
// Every response the gateway writes carries a Date; formatting it per response
// would cost more than the rest of a small head. A cache belongs to one loop
// (it is not thread-safe) and formats again only when the second changes.
#ifndef GATEWAY_LIB_COMMON_HTTP_DATE_H_
#define GATEWAY_LIB_COMMON_HTTP_DATE_H_

#include <cstdint>
#include <limits>
#include <string_view>

#include "absl/time/time.h"

namespace gateway::internal {

// "Sun, 06 Nov 1994 08:49:37 GMT" for `t`, written to `out` (29 bytes).
void FormatHttpDate(absl::Time t, char (&out)[29]);

class HttpDateCache {
 public:
  // The Date value for `now`; the view is valid until the next call.
  std::string_view Get(absl::Time now) {
    const int64_t second = absl::ToUnixSeconds(now);
    if (second != second_) {
      FormatHttpDate(now, text_);
      second_ = second;
      ++formats_;
    }
    return std::string_view(text_, sizeof(text_));
  }
  // How many times Get formatted (for tests).
  uint64_t formats() const { return formats_; }

 private:
  int64_t second_ = std::numeric_limits<int64_t>::min();
  uint64_t formats_ = 0;
  char text_[29] = {};
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_HTTP_DATE_H_
