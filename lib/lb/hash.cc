// HashKey: a small xxHash-style hash. One 64-bit lane consumes 8-byte words
// through an invertible scramble, the tail goes in 4 and then 1 byte at a time,
// and a splitmix64 finalizer avalanches the result. Words are read
// little-endian on every platform so rings agree between processes.
#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "gateway/load_balancer.h"
#include "lb/lb_internal.h"

namespace gateway {
namespace internal {
namespace {

constexpr uint64_t kK0 = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kK1 = 0xBF58476D1CE4E5B9ULL;
constexpr uint64_t kK2 = 0x94D049BB133111EBULL;
constexpr uint64_t kK3 = 0xFF51AFD7ED558CCDULL;
constexpr uint64_t kK4 = 0xC4CEB9FE1A85EC53ULL;

inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
  return v;
}

inline uint64_t Load32(const unsigned char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap32(v);
  return v;
}

// Each step is a bijection of the state for a fixed word, so no two inputs of
// one length that differ in a single word can collide before finalization.
inline uint64_t Round(uint64_t acc, uint64_t word) {
  acc ^= std::rotl(word * kK1, 31) * kK2;
  return std::rotl(acc, 29) * kK0 + kK3;
}

}  // namespace

uint64_t HashWithSeed(std::string_view data, uint64_t seed) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t remaining = data.size();
  uint64_t h = (seed + kK0) ^ (static_cast<uint64_t>(data.size()) * kK4);
  while (remaining >= 8) {
    h = Round(h, Load64(p));
    p += 8;
    remaining -= 8;
  }
  if (remaining >= 4) {
    h ^= Load32(p) * kK0;
    h = std::rotl(h, 23) * kK1 + kK2;
    p += 4;
    remaining -= 4;
  }
  while (remaining > 0) {
    h ^= static_cast<uint64_t>(*p) * kK3;
    h = std::rotl(h, 11) * kK0;
    ++p;
    --remaining;
  }
  return Mix64(h);
}

}  // namespace internal

uint64_t HashKey(std::string_view data) { return internal::HashWithSeed(data, 0); }

}  // namespace gateway
