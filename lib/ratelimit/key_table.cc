#include "ratelimit/key_table.h"

#include <random>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace gateway::internal {

KeyTable::KeyTable(size_t max_keys)
    : sets_count_(max_keys / kWays > 0 ? max_keys / kWays : 1), sets_(new SetSlots[sets_count_]) {
  for (size_t i = 0; i < sets_count_; ++i) {
    SetSlots& s = sets_[i];
    for (size_t w = 0; w < kWays; ++w) {
      s.keys[w].store(0, std::memory_order_relaxed);
      s.states[w].store(0, std::memory_order_relaxed);
      s.stamps[w].store(0, std::memory_order_relaxed);
    }
    s.lock.store(0, std::memory_order_relaxed);
  }
  std::random_device rd;
  seed_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

uint64_t KeyTable::Fingerprint(std::string_view key) const {
  uint64_t h = absl::HashOf(seed_, absl::string_view(key.data(), key.size()));
  return h != 0 ? h : 1;
}

}  // namespace gateway::internal
