#include <catch2/catch.hpp>

#include <bit>
#include <cstdint>
#include <string>
#include <unordered_set>

#include "gateway/load_balancer.h"

namespace gateway {
namespace {

TEST_CASE("HashKey gives the same value on every run and platform") {
  // Pinned values: a change here re-maps every consistent-hash key in every
  // deployment, so it must be deliberate.
  CHECK(HashKey("") == 0xe220a8397b1dcdafULL);
  CHECK(HashKey("a") == 0xd040bd76f9fe3cbcULL);
  CHECK(HashKey("10.0.0.1:8080#0") == 0x35633a87529ee8d3ULL);
  CHECK(HashKey("The quick brown fox jumps over the lazy dog") == 0x7caae614a7e0e6bcULL);
}

TEST_CASE("HashKey distinguishes keys that differ in one byte or in length") {
  REQUIRE(HashKey("a") != HashKey("b"));
  REQUIRE(HashKey("a") != HashKey(std::string_view("a\0", 2)));
  REQUIRE(HashKey("") != HashKey(std::string_view("\0", 1)));
  REQUIRE(HashKey("abcdefgh") != HashKey("abcdefgi"));
  REQUIRE(HashKey("abcdefghijkl") != HashKey("abcdefghijkm"));
}

TEST_CASE("HashKey has no collisions over 200000 similar keys") {
  std::unordered_set<uint64_t> seen;
  for (int i = 0; i < 200000; ++i) {
    REQUIRE(seen.insert(HashKey("user-" + std::to_string(i))).second);
  }
}

TEST_CASE("HashKey flips about half the output bits for any one input bit") {
  // Avalanche: over many inputs and every input bit, the average number of
  // changed output bits is close to 32, and no input bit is weak.
  for (size_t len : {1, 4, 7, 8, 13, 16, 31}) {
    double total = 0;
    int samples = 0;
    int worst = 64;
    for (int k = 0; k < 200; ++k) {
      std::string input(len, '\0');
      for (size_t j = 0; j < len; ++j) input[j] = static_cast<char>((k * 131 + j * 17) & 0xff);
      const uint64_t base = HashKey(input);
      for (size_t bit = 0; bit < len * 8; ++bit) {
        std::string flipped = input;
        flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
        const int changed = std::popcount(base ^ HashKey(flipped));
        total += changed;
        ++samples;
        worst = std::min(worst, changed);
      }
    }
    INFO("length " << len);
    const double mean = total / samples;
    CHECK(mean > 31.0);
    CHECK(mean < 33.0);
    CHECK(worst >= 12);
  }
}

TEST_CASE("HashKey low bits are balanced over sequential keys") {
  // Tables index with `hash % size`: the low bits must be as good as the high.
  int buckets[16] = {};
  for (int i = 0; i < 160000; ++i) ++buckets[HashKey(std::to_string(i)) & 15];
  for (int b : buckets) {
    CHECK(b > 9500);
    CHECK(b < 10500);
  }
}

}  // namespace
}  // namespace gateway
