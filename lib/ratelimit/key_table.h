// A fixed-size, lock-free-on-hit table of per-key limiter state.
//
// Keys are reduced to a seeded 64-bit fingerprint (two distinct keys share a
// counter with probability ~n^2/2^65: about 3e-8 for a million keys; the seed
// is random per table, so clients cannot aim collisions). The table is
// set-associative: a fingerprint maps to one set of `kWays` slots; each slot
// holds the fingerprint, one 64-bit state word and a last-use stamp.
//
// Hits (the hot path) take no lock: find the fingerprint in its set, load the
// state word, check the slot still belongs to the key, CAS the new state.
// Misses take the set's spin flag (a set is 8 keys, so two threads contend only
// when both insert new keys into the same set at the same moment) so that two
// threads never insert the same key twice. A full set evicts the slot whose
// state is closest to fresh (the least information lost), the least recently
// used among equals; its state word is first CAS'd to `kEvicting`, so a reader
// racing with the eviction either wins its CAS before it or retries.
#ifndef GATEWAY_LIB_RATELIMIT_KEY_TABLE_H_
#define GATEWAY_LIB_RATELIMIT_KEY_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace gateway::internal {

// A state word no algorithm ever produces: the slot is changing owner.
inline constexpr uint64_t kEvicting = ~uint64_t{0};

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Spins briefly, then yields, so a preempted holder gets the CPU back.
class Backoff {
 public:
  void Pause() {
    if (++spins_ < 64) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  int spins_ = 0;
};

class KeyTable {
 public:
  static constexpr size_t kWays = 8;
  static constexpr size_t kNone = ~size_t{0};

  explicit KeyTable(size_t max_keys);

  size_t capacity() const { return sets_count_ * kWays; }
  size_t size() const { return occupied_.load(std::memory_order_relaxed); }

  // Never 0 (0 marks an empty slot).
  uint64_t Fingerprint(std::string_view key) const;

  std::atomic<uint64_t>& key(size_t slot) { return Set(slot).keys[slot % kWays]; }
  std::atomic<uint64_t>& state(size_t slot) { return Set(slot).states[slot % kWays]; }

  // Records a use at `stamp` (milliseconds). Writes only when it changed, so a
  // hot key costs one store per millisecond, not one per request.
  void Touch(size_t slot, uint32_t stamp) {
    std::atomic<uint32_t>& s = Set(slot).stamps[slot % kWays];
    if (s.load(std::memory_order_relaxed) != stamp) s.store(stamp, std::memory_order_relaxed);
  }

  // The slot holding `fp`, or kNone.
  size_t Find(uint64_t fp) const;

  // The slot holding `fp`, inserting it if needed. `score(state, age_ms)`
  // rates an occupied slot as an eviction victim: higher is evicted first
  // (1.0 = at rest), negative means "must not be evicted". `fresh(old_state)`
  // is the state of a newly inserted key. `stamp` is the current time in ms.
  // Returns kNone only when every slot of the set refuses eviction.
  template <typename Score, typename Fresh>
  size_t FindOrInsert(uint64_t fp, uint32_t stamp, Score score, Fresh fresh) {
    size_t found = Find(fp);
    if (found != kNone) return found;
    return Insert(fp, stamp, score, fresh);
  }

 private:
  struct alignas(64) SetSlots {
    std::atomic<uint64_t> keys[kWays];
    std::atomic<uint64_t> states[kWays];
    std::atomic<uint32_t> stamps[kWays];
    std::atomic<uint32_t> lock;
  };

  SetSlots& Set(size_t slot) { return sets_[slot / kWays]; }
  size_t SetOf(uint64_t fp) const {
    return static_cast<size_t>((static_cast<unsigned __int128>(fp) * sets_count_) >> 64);
  }

  template <typename Score, typename Fresh>
  size_t Insert(uint64_t fp, uint32_t stamp, Score& score, Fresh& fresh);

  size_t sets_count_;
  std::unique_ptr<SetSlots[]> sets_;
  std::atomic<size_t> occupied_{0};
  uint64_t seed_;
};

inline size_t KeyTable::Find(uint64_t fp) const {
  size_t set = SetOf(fp);
  const SetSlots& s = sets_[set];
  for (size_t w = 0; w < kWays; ++w) {
    uint64_t k = s.keys[w].load(std::memory_order_acquire);
    if (k == fp) return set * kWays + w;
    // Slots fill in order and never empty again: the first empty ends the set.
    if (k == 0) break;
  }
  return kNone;
}

template <typename Score, typename Fresh>
size_t KeyTable::Insert(uint64_t fp, uint32_t stamp, Score& score, Fresh& fresh) {
  size_t set = SetOf(fp);
  SetSlots& s = sets_[set];
  Backoff backoff;
  while (s.lock.exchange(1, std::memory_order_acquire) != 0) backoff.Pause();
  size_t result = kNone;
  // Another thread may have inserted the key while we waited.
  for (size_t w = 0; w < kWays && result == kNone; ++w) {
    uint64_t k = s.keys[w].load(std::memory_order_acquire);
    if (k == fp) result = set * kWays + w;
    if (k == 0) {
      // Empty slots hold the fresh state of "no key" (zero-initialised).
      s.states[w].store(fresh(uint64_t{0}), std::memory_order_relaxed);
      s.stamps[w].store(stamp, std::memory_order_relaxed);
      s.keys[w].store(fp, std::memory_order_release);
      occupied_.fetch_add(1, std::memory_order_relaxed);
      result = set * kWays + w;
    }
  }
  // A full set: evict. Readers may be updating the candidates meanwhile, so a
  // failed CAS means "look again"; a few rounds settle it.
  for (int round = 0; result == kNone && round < 16; ++round) {
    size_t victim = kNone;
    uint64_t victim_state = 0;
    double best = -1.0;
    uint32_t best_age = 0;
    for (size_t w = 0; w < kWays; ++w) {
      uint64_t st = s.states[w].load(std::memory_order_acquire);
      if (st == kEvicting) continue;
      uint32_t age = stamp - s.stamps[w].load(std::memory_order_relaxed);
      double sc = score(st, age);
      if (sc < 0) continue;
      if (victim == kNone || sc > best || (sc == best && age > best_age)) {
        victim = w;
        victim_state = st;
        best = sc;
        best_age = age;
      }
    }
    if (victim == kNone) break;
    if (!s.states[victim].compare_exchange_strong(victim_state, kEvicting,
                                                  std::memory_order_acq_rel)) {
      continue;
    }
    s.keys[victim].store(fp, std::memory_order_release);
    s.stamps[victim].store(stamp, std::memory_order_relaxed);
    // Published last: a reader that sees the fresh state also sees the new key.
    s.states[victim].store(fresh(victim_state), std::memory_order_release);
    result = set * kWays + victim;
  }
  s.lock.store(0, std::memory_order_release);
  return result;
}

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_RATELIMIT_KEY_TABLE_H_
