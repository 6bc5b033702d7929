#include "common/field_syntax.h"

#include <cstring>

namespace gateway::internal {

bool IsFieldValue(std::string_view s) {
  // Eight bytes at a time: a word with no byte below 0x20 and none equal to
  // 0x7f is fine as is (bytes >= 0x80 are obs-text); otherwise look closer,
  // since HTAB is allowed.
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const char* p = s.data();
  size_t n = s.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    uint64_t below_space = (w - 0x20 * kOnes) & ~w & kHigh;
    uint64_t del = w ^ (0x7f * kOnes);
    del = (del - kOnes) & ~del & kHigh;
    if ((below_space | del) == 0) continue;
    for (int i = 0; i < 8; ++i) {
      if (!HasClass(p[i], kFieldChar)) return false;
    }
  }
  for (; n > 0; ++p, --n) {
    if (!HasClass(*p, kFieldChar)) return false;
  }
  return true;
}

}  // namespace gateway::internal
