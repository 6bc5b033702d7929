// The built-in local limiters. Every algorithm except the exact log keeps a
// key's whole state in one 64-bit word, so a decision is one CAS on that word
// (see key_table.h); the log keeps a ring of timestamps per key behind a
// per-key spin flag in the state word.
//
// Times are nanoseconds since the limiter was created, read once per call.
// Under contention a thread may CAS with a clock reading slightly older than
// the one that produced the current state; every algorithm accepts state from
// "the near future" instead of resetting it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/rate_limiter.h"
#include "ratelimit/key_table.h"

namespace gateway {
namespace {

using internal::Backoff;
using internal::kEvicting;
using internal::KeyTable;

// ~73 years of nanoseconds: now + burst tolerance + cost stays below 2^63.
constexpr int64_t kMaxTime = int64_t{1} << 61;
constexpr size_t kMaxKeysLimit = size_t{1} << 28;

absl::Duration Nanos(int64_t ns) { return absl::Nanoseconds(ns); }

absl::Status CheckMaxKeys(const char* what, size_t max_keys) {
  if (max_keys == 0 || max_keys > kMaxKeysLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": max_keys must be in [1, ", kMaxKeysLimit, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckWindow(const char* what, const char* field, absl::Duration window,
                         absl::Duration max = absl::Hours(24 * 366)) {
  if (window < absl::Milliseconds(1) || window > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", field, " must be in [1ms, ", absl::FormatDuration(max), "]"));
  }
  return absl::OkStatus();
}

// Nanoseconds per unit for `rate` units per `per`, rounded to the nearest
// nanosecond (at least 1).
int64_t Interval(absl::Duration per, uint64_t rate) {
  long double ns = static_cast<long double>(absl::ToInt64Nanoseconds(per)) / rate;
  return std::max<int64_t>(1, std::llround(ns));
}

uint32_t Stamp(int64_t now) { return static_cast<uint32_t>(now / 1'000'000); }

// Every algorithm's Decide(state, now, cost, decision) fills `decision` and
// returns the state it leaves (`state` itself when nothing is spent). The
// decision is written in place: returning it inside a struct cost a store
// forwarding stall per field on the hot path.

// GCRA, the "virtual scheduling" form of a token bucket: the state is the
// theoretical arrival time (TAT) of the next request. A bucket of `burst`
// units refilled every `interval` is full when TAT <= now; a request of cost c
// fits when TAT + c * interval - now <= burst * interval. The token bucket and
// GCRA configs both map onto it.
class GcraAlgo {
 public:
  GcraAlgo(int64_t interval, uint64_t burst, uint64_t limit, absl::Duration window)
      : interval_(interval),
        burst_(burst),
        tau_(static_cast<int64_t>(burst) * interval),
        limit_(limit),
        window_(window) {}

  uint64_t Fresh(uint64_t) const { return 0; }

  double Score(uint64_t state, int64_t now, uint32_t) const {
    int64_t tat = std::max(static_cast<int64_t>(state), now);
    return std::max(0.0, static_cast<double>(now + tau_ - tat) / static_cast<double>(tau_));
  }

  uint64_t Decide(uint64_t state, int64_t now, uint64_t cost, RateDecision& d) const {
    int64_t tat = std::max(static_cast<int64_t>(state), now);
    d = Base();
    if (cost > burst_) {
      d.allowed = false;
      d.retry_after = absl::InfiniteDuration();
      d.remaining = Tokens(tat, now);
      d.reset = Nanos(tat - now);
      return state;
    }
    int64_t new_tat = tat + static_cast<int64_t>(cost) * interval_;
    if (new_tat - now > tau_) {
      d.allowed = false;
      d.retry_after = Nanos(new_tat - tau_ - now);
      d.remaining = Tokens(tat, now);
      d.reset = Nanos(tat - now);
      return state;
    }
    d.remaining = Tokens(new_tat, now);
    d.reset = Nanos(new_tat - now);
    return cost > 0 ? static_cast<uint64_t>(new_tat) : state;
  }

  uint64_t burst() const { return burst_; }

 private:
  RateDecision Base() const {
    RateDecision d;
    d.limit = limit_;
    d.window = window_;
    return d;
  }
  uint64_t Tokens(int64_t tat, int64_t now) const {
    int64_t left = now + tau_ - tat;
    return left <= 0 ? 0 : static_cast<uint64_t>(left / interval_);
  }

  int64_t interval_;
  uint64_t burst_;
  int64_t tau_;
  uint64_t limit_;
  absl::Duration window_;
};

// Fixed window: state = window index (40 bits) | count (24 bits). 2^40 windows
// of at least 1 ms is 34 years, so indexes never wrap in practice.
class FixedWindowAlgo {
 public:
  static constexpr uint64_t kMaxLimit = (uint64_t{1} << 24) - 2;

  FixedWindowAlgo(uint64_t limit, absl::Duration window)
      : limit_(limit), window_ns_(absl::ToInt64Nanoseconds(window)), window_(window) {}

  uint64_t Fresh(uint64_t) const { return 0; }

  double Score(uint64_t state, int64_t now, uint32_t) const {
    uint64_t idx = static_cast<uint64_t>(now / window_ns_);
    if ((state >> 24) < idx) return 1.0;
    return 1.0 - static_cast<double>(state & kCountMask) / static_cast<double>(limit_);
  }

  uint64_t Decide(uint64_t state, int64_t now, uint64_t cost, RateDecision& d) const {
    uint64_t idx = static_cast<uint64_t>(now / window_ns_);
    uint64_t s_idx = state >> 24;
    uint64_t count = state & kCountMask;
    if (s_idx > idx) {
      idx = s_idx;  // another thread's clock reading was a little later
    } else if (s_idx < idx) {
      count = 0;
    }
    d = RateDecision{};
    d.limit = limit_;
    d.window = window_;
    int64_t end = static_cast<int64_t>(idx + 1) * window_ns_;
    d.reset = Nanos(std::max<int64_t>(0, end - now));
    if (count + cost > limit_) {
      d.allowed = false;
      d.remaining = limit_ - count;
      d.retry_after = cost > limit_ ? absl::InfiniteDuration() : d.reset;
      return state;
    }
    count += cost;
    d.remaining = limit_ - count;
    if (count == 0) d.reset = absl::ZeroDuration();
    return cost > 0 ? (idx << 24) | count : state;
  }

 private:
  static constexpr uint64_t kCountMask = (uint64_t{1} << 24) - 1;
  uint64_t limit_;
  int64_t window_ns_;
  absl::Duration window_;
};

// Sliding window counter: state = window index mod 2^24 | current count (20
// bits) | previous count (20 bits). The estimate over the sliding window is
// prev * (W - elapsed) / W + cur, computed exactly in 128-bit integers.
//
// The index is kept modulo 2^24, so a key idle for a multiple of 2^24 windows
// (194 days of 1 s windows) would see its old counts for one window; fresh
// state has zero counts, so it reads the same whatever the index.
class SlidingCounterAlgo {
 public:
  static constexpr uint64_t kMaxLimit = (uint64_t{1} << 20) - 2;

  SlidingCounterAlgo(uint64_t limit, absl::Duration window)
      : limit_(limit), w_(absl::ToInt64Nanoseconds(window)), window_(window) {}

  uint64_t Fresh(uint64_t) const { return 0; }

  double Score(uint64_t state, int64_t now, uint32_t) const {
    View v = Read(state, now);
    __int128 used = Weighted(v);
    return std::max(0.0, 1.0 - static_cast<double>(used) / (static_cast<double>(limit_) * w_));
  }

  uint64_t Decide(uint64_t state, int64_t now, uint64_t cost, RateDecision& d) const {
    View v = Read(state, now);
    d = RateDecision{};
    d.limit = limit_;
    d.window = window_;
    const __int128 cap = static_cast<__int128>(limit_) * w_;
    __int128 used = Weighted(v);
    bool fits =
        cost <= limit_ && v.cur + cost <= limit_ && used + static_cast<__int128>(cost) * w_ <= cap;
    if (!fits) {
      d.allowed = false;
      d.remaining = static_cast<uint64_t>(std::max<__int128>(0, (cap - used) / w_));
      d.reset = Reset(v);
      d.retry_after = RetryAfter(v, cost);
      return state;
    }
    v.cur += cost;
    used += static_cast<__int128>(cost) * w_;
    d.remaining = static_cast<uint64_t>(std::max<__int128>(0, (cap - used) / w_));
    d.reset = Reset(v);
    return cost > 0 ? Pack(v) : state;
  }

 private:
  static constexpr uint64_t kIdxMask = (uint64_t{1} << 24) - 1;
  static constexpr uint64_t kCountMask = (uint64_t{1} << 20) - 1;

  struct View {
    uint64_t idx;     // full window index of "now" (or of the state, if ahead)
    int64_t elapsed;  // ns into that window
    uint64_t cur;
    uint64_t prev;
  };

  View Read(uint64_t state, int64_t now) const {
    View v;
    v.idx = static_cast<uint64_t>(now / w_);
    v.elapsed = now - static_cast<int64_t>(v.idx) * w_;
    uint64_t s_idx = state >> 40;
    uint64_t cur = (state >> 20) & kCountMask;
    uint64_t prev = state & kCountMask;
    uint64_t d = (v.idx - s_idx) & kIdxMask;
    if (d == 0) {
      v.cur = cur;
      v.prev = prev;
    } else if (d == 1) {
      v.cur = 0;
      v.prev = cur;
    } else if (d == kIdxMask) {
      // The state is one window ahead: another thread read the clock later.
      v.idx += 1;
      v.elapsed = 0;
      v.cur = cur;
      v.prev = prev;
    } else {
      v.cur = 0;
      v.prev = 0;
    }
    return v;
  }

  uint64_t Pack(const View& v) const { return ((v.idx & kIdxMask) << 40) | (v.cur << 20) | v.prev; }

  // The estimate times W.
  __int128 Weighted(const View& v) const {
    return static_cast<__int128>(v.prev) * (w_ - v.elapsed) + static_cast<__int128>(v.cur) * w_;
  }

  absl::Duration Reset(const View& v) const {
    if (v.cur > 0) return Nanos(2 * w_ - v.elapsed);
    if (v.prev > 0) return Nanos(w_ - v.elapsed);
    return absl::ZeroDuration();
  }

  absl::Duration RetryAfter(const View& v, uint64_t cost) const {
    if (cost > limit_) return absl::InfiniteDuration();
    if (v.cur + cost <= limit_) {
      // Wait until the previous window's weight has dropped enough:
      // prev * (W - e) <= (limit - cur - cost) * W.
      __int128 room = static_cast<__int128>(limit_ - v.cur - cost) * w_;
      int64_t need = w_ - static_cast<int64_t>(room / v.prev);
      return Nanos(std::max<int64_t>(0, need - v.elapsed));
    }
    // Not in this window: in the next one the current count becomes the
    // previous one: cur * (W - e) + cost * W <= limit * W.
    __int128 room = static_cast<__int128>(limit_ - cost) * w_;
    int64_t need = w_ - static_cast<int64_t>(room / v.cur);
    return Nanos(w_ - v.elapsed + std::max<int64_t>(0, need));
  }

  uint64_t limit_;
  int64_t w_;
  absl::Duration window_;
};

// Concurrency: state = generation (16 bits) | units in flight (48 bits). The
// generation changes whenever the slot changes owner, so a reader that raced
// with an eviction cannot take or give back units of the new owner.
class ConcurrencyAlgo {
 public:
  static constexpr uint64_t kMaxLimit = uint64_t{1} << 40;

  ConcurrencyAlgo(uint64_t max, absl::Duration retry_after)
      : max_(max), retry_after_(retry_after) {}

  uint64_t Fresh(uint64_t old) const { return ((old >> 48) + 1) << 48; }

  double Score(uint64_t state, int64_t, uint32_t) const {
    return (state & kCountMask) == 0 ? 1.0 : -1.0;
  }

  uint64_t Decide(uint64_t state, int64_t, uint64_t cost, RateDecision& d) const {
    uint64_t count = state & kCountMask;
    d = RateDecision{};
    d.limit = max_;
    if (count + cost > max_) {
      d.allowed = false;
      d.remaining = max_ - std::min(count, max_);
      d.retry_after = retry_after_;
      return state;
    }
    d.remaining = max_ - count - cost;
    return (state & ~kCountMask) | (count + cost);
  }

  // Every slot of the key's set holds requests in flight: nowhere to count
  // this one, so it is refused rather than let through untracked.
  RateDecision NoSlot() const {
    RateDecision d;
    d.allowed = false;
    d.limit = max_;
    d.retry_after = retry_after_;
    return d;
  }

  static uint64_t Released(uint64_t state, uint64_t cost) {
    uint64_t count = state & kCountMask;
    return (state & ~kCountMask) | (count - std::min(count, cost));
  }

 private:
  static constexpr uint64_t kCountMask = (uint64_t{1} << 48) - 1;
  uint64_t max_;
  absl::Duration retry_after_;
};

// Shared by every limiter: the clock, the key table and the retry loop of a
// single-word state update.
class TableLimiter : public RateLimiter {
 public:
  TableLimiter(size_t max_keys, const Clock& clock)
      : table_(max_keys), clock_(clock), origin_ns_(absl::ToInt64Nanoseconds(clock.Monotonic())) {}

  size_t keys() const override { return table_.size(); }
  size_t max_keys() const override { return table_.capacity(); }

 protected:
  int64_t Now() const {
    // Integer nanoseconds: Duration arithmetic is an out-of-line call per op.
    return std::clamp<int64_t>(absl::ToInt64Nanoseconds(clock_.Monotonic()) - origin_ns_, 0,
                               kMaxTime);
  }

  // What `algo` would decide for `key` now, without spending or inserting: a
  // key that is not tracked is fresh.
  template <typename Algo>
  RateDecision AtomicCheck(const Algo& algo, std::string_view key, uint64_t cost) {
    int64_t now = Now();
    uint64_t fp = table_.Fingerprint(key);
    Backoff backoff;
    for (;;) {
      size_t slot = table_.Find(fp);
      RateDecision d;
      if (slot == KeyTable::kNone) {
        algo.Decide(algo.Fresh(0), now, cost, d);
        return d;
      }
      uint64_t s = table_.state(slot).load(std::memory_order_acquire);
      if (s != kEvicting && table_.key(slot).load(std::memory_order_acquire) == fp) {
        algo.Decide(s, now, cost, d);
        return d;
      }
      backoff.Pause();
    }
  }

  // One decision with `algo`: find or insert the key, then CAS its state.
  template <typename Algo>
  RateDecision AtomicAcquire(const Algo& algo, std::string_view key, uint64_t cost) {
    int64_t now = Now();
    uint32_t stamp = Stamp(now);
    uint64_t fp = table_.Fingerprint(key);
    auto score = [&](uint64_t state, uint32_t age) { return algo.Score(state, now, age); };
    auto fresh = [&](uint64_t old) { return algo.Fresh(old); };
    RateDecision d;
    Backoff backoff;
    for (;;) {
      size_t slot = table_.FindOrInsert(fp, stamp, score, fresh);
      if (slot == KeyTable::kNone) {
        if constexpr (std::is_same_v<Algo, ConcurrencyAlgo>) return algo.NoSlot();
        backoff.Pause();
        continue;
      }
      std::atomic<uint64_t>& state = table_.state(slot);
      uint64_t s = state.load(std::memory_order_acquire);
      // The key check follows the state load: an eviction publishes the new
      // key before the new state, so a state we read belongs to `fp` if the key
      // still is `fp` afterwards.
      while (s != kEvicting && table_.key(slot).load(std::memory_order_acquire) == fp) {
        uint64_t next = algo.Decide(s, now, cost, d);
        if (next == s || state.compare_exchange_weak(s, next, std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
          table_.Touch(slot, stamp);
          return d;
        }
      }
      backoff.Pause();
    }
  }

  KeyTable table_;

 private:
  const Clock& clock_;
  int64_t origin_ns_;
};

template <typename Algo>
class AtomicLimiter final : public TableLimiter {
 public:
  AtomicLimiter(Algo algo, size_t max_keys, const Clock& clock)
      : TableLimiter(max_keys, clock), algo_(std::move(algo)) {}

  RateDecision Acquire(std::string_view key, uint64_t cost) override {
    return AtomicAcquire(algo_, key, cost);
  }
  RateDecision Check(std::string_view key, uint64_t cost) override {
    return AtomicCheck(algo_, key, cost);
  }

 private:
  Algo algo_;
};

class ConcurrencyLimiter final : public TableLimiter {
 public:
  ConcurrencyLimiter(ConcurrencyAlgo algo, size_t max_keys, const Clock& clock)
      : TableLimiter(max_keys, clock), algo_(algo) {}

  RateDecision Acquire(std::string_view key, uint64_t cost) override {
    return AtomicAcquire(algo_, key, cost);
  }
  RateDecision Check(std::string_view key, uint64_t cost) override {
    return AtomicCheck(algo_, key, cost);
  }

  void Release(std::string_view key, uint64_t cost) override {
    uint64_t fp = table_.Fingerprint(key);
    size_t slot = table_.Find(fp);
    // A key with units in flight is never evicted, so a key that is not found
    // has nothing to give back.
    if (slot == KeyTable::kNone) return;
    std::atomic<uint64_t>& state = table_.state(slot);
    uint64_t s = state.load(std::memory_order_acquire);
    Backoff backoff;
    for (;;) {
      if (s == kEvicting) {
        backoff.Pause();
        s = state.load(std::memory_order_acquire);
        continue;
      }
      if (table_.key(slot).load(std::memory_order_acquire) != fp) return;
      if (state.compare_exchange_weak(s, ConcurrencyAlgo::Released(s, cost),
                                      std::memory_order_acq_rel, std::memory_order_acquire)) {
        return;
      }
    }
  }

  bool counts_in_flight() const override { return true; }

 private:
  ConcurrencyAlgo algo_;
};

// Exact sliding log. The state word is a spin flag in bit 0 (set: held by a
// decision; kEvicting: held by an eviction) and, above it, the number of
// entries the ring held when its last holder let go. The ring itself is only
// safe to read under the flag, but eviction must rate a slot without taking
// it: the count is what tells an exhausted key from a one-off one, so a flood
// of new keys evicts the keys with the least logged, not the oldest ones. The
// critical section is a few loads and stores on the key's own ring, so only
// requests for the same key ever wait, and only for each other.
class SlidingLogLimiter final : public TableLimiter {
 public:
  SlidingLogLimiter(uint64_t limit, absl::Duration window, size_t max_keys, const Clock& clock)
      : TableLimiter(max_keys, clock),
        limit_(limit),
        w_(absl::ToInt64Nanoseconds(window)),
        window_(window),
        window_ms_(static_cast<uint32_t>(absl::ToInt64Milliseconds(window))),
        rings_(new std::unique_ptr<Ring>[table_.capacity()]) {}

  RateDecision Acquire(std::string_view key, uint64_t cost) override {
    return Run(key, cost, /*spend=*/true);
  }
  RateDecision Check(std::string_view key, uint64_t cost) override {
    return Run(key, cost, /*spend=*/false);
  }

 private:
  struct Ring {
    explicit Ring(uint64_t n) : ts(n) {}
    uint64_t owner = 0;
    size_t head = 0;  // oldest entry
    size_t size = 0;
    std::vector<int64_t> ts;
  };

  RateDecision Run(std::string_view key, uint64_t cost, bool spend) {
    int64_t now = Now();
    uint32_t stamp = Stamp(now);
    uint64_t fp = table_.Fingerprint(key);
    if (!spend && table_.Find(fp) == KeyTable::kNone) {
      Ring empty(0);
      return Decide(empty, now, cost, false);
    }
    // Held slots cannot be evicted. A slot idle for a whole window holds only
    // expired entries (its stamp is its last decision, no older than its
    // newest entry), so it goes first; otherwise the fewer entries it logged,
    // the less its eviction gives back, as for the one-word algorithms.
    auto score = [&](uint64_t state, uint32_t age) -> double {
      if ((state & kHeld) != 0) return -1.0;
      if (age >= window_ms_) return 1.0;
      return 1.0 - static_cast<double>(state >> 1) / static_cast<double>(limit_);
    };
    auto fresh = [](uint64_t) -> uint64_t { return 0; };
    Backoff backoff;
    for (;;) {
      size_t slot = table_.FindOrInsert(fp, stamp, score, fresh);
      if (slot == KeyTable::kNone) {
        backoff.Pause();
        continue;
      }
      std::atomic<uint64_t>& state = table_.state(slot);
      uint64_t free = state.load(std::memory_order_relaxed);
      if ((free & kHeld) != 0 ||
          !state.compare_exchange_weak(free, free | kHeld, std::memory_order_acquire)) {
        backoff.Pause();
        continue;
      }
      if (table_.key(slot).load(std::memory_order_acquire) != fp) {
        state.store(free, std::memory_order_release);
        continue;
      }
      Ring& ring = RingFor(slot, fp);
      RateDecision d = Decide(ring, now, cost, spend);
      state.store(static_cast<uint64_t>(ring.size) << 1, std::memory_order_release);
      if (spend) table_.Touch(slot, stamp);
      return d;
    }
  }

  static constexpr uint64_t kHeld = 1;  // kEvicting has it set too

  // Held under the slot's flag. Rings are allocated on a slot's first use and
  // reused by its later owners: memory stays at most capacity x limit entries.
  Ring& RingFor(size_t slot, uint64_t fp) {
    std::unique_ptr<Ring>& ring = rings_[slot];
    if (ring == nullptr) ring = std::make_unique<Ring>(limit_);
    if (ring->owner != fp) {
      ring->owner = fp;
      ring->head = 0;
      ring->size = 0;
    }
    return *ring;
  }

  RateDecision Decide(Ring& r, int64_t now, uint64_t cost, bool spend) const {
    const size_t n = std::max<size_t>(r.ts.size(), 1);
    while (r.size > 0 && r.ts[r.head] + w_ <= now) {
      r.head = (r.head + 1) % n;
      --r.size;
    }
    auto at = [&](size_t i) { return r.ts[(r.head + i) % n]; };  // i-th oldest
    RateDecision d;
    d.limit = limit_;
    d.window = window_;
    int64_t newest = r.size > 0 ? at(r.size - 1) : now;
    if (cost > limit_ || r.size + cost > limit_) {
      d.allowed = false;
      d.remaining = limit_ - r.size;
      d.reset = Nanos(std::max<int64_t>(0, newest + w_ - now));
      if (cost > limit_) {
        d.retry_after = absl::InfiniteDuration();
      } else {
        // The (size + cost - limit) oldest entries must expire first.
        int64_t t = at(r.size + cost - limit_ - 1);
        d.retry_after = Nanos(std::max<int64_t>(0, t + w_ - now));
      }
      return d;
    }
    if (!spend) {
      d.remaining = limit_ - r.size - cost;
      d.reset =
          cost > 0 ? window_ : Nanos(r.size > 0 ? std::max<int64_t>(0, newest + w_ - now) : 0);
      return d;
    }
    // Entries stay in time order even when another thread logged a slightly
    // later clock reading first.
    int64_t t = std::max(now, newest);
    for (uint64_t i = 0; i < cost; ++i) {
      r.ts[(r.head + r.size) % n] = t;
      ++r.size;
    }
    d.remaining = limit_ - r.size;
    d.reset =
        r.size > 0 ? Nanos(std::max<int64_t>(0, at(r.size - 1) + w_ - now)) : absl::ZeroDuration();
    return d;
  }

  uint64_t limit_;
  int64_t w_;
  absl::Duration window_;
  uint32_t window_ms_;
  std::unique_ptr<std::unique_ptr<Ring>[]> rings_;
};

}  // namespace

absl::Status TokenBucketConfig::Validate() const {
  if (rate == 0) return absl::InvalidArgumentError("token_bucket: rate must be > 0");
  if (per <= absl::ZeroDuration() || per > absl::Hours(24 * 366)) {
    return absl::InvalidArgumentError("token_bucket: per must be in (0, 366 days]");
  }
  uint64_t b = burst == 0 ? rate : burst;
  long double interval = static_cast<long double>(absl::ToInt64Nanoseconds(per)) / rate;
  if (interval < 1) {
    return absl::InvalidArgumentError("token_bucket: rate must be at most 1 per nanosecond");
  }
  if (interval * b > kMaxTime) {
    return absl::InvalidArgumentError("token_bucket: burst takes too long to refill");
  }
  return CheckMaxKeys("token_bucket", max_keys);
}

absl::Status FixedWindowConfig::Validate() const {
  if (limit == 0 || limit > FixedWindowAlgo::kMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("fixed_window: limit must be in [1, ", FixedWindowAlgo::kMaxLimit, "]"));
  }
  if (auto s = CheckWindow("fixed_window", "window", window); !s.ok()) return s;
  return CheckMaxKeys("fixed_window", max_keys);
}

absl::Status SlidingWindowLogConfig::Validate() const {
  constexpr uint64_t kMaxLogLimit = 100000;
  constexpr uint64_t kMaxEntries = uint64_t{1} << 25;  // 256 MiB of timestamps
  if (limit == 0 || limit > kMaxLogLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("sliding_window_log: limit must be in [1, ", kMaxLogLimit, "]"));
  }
  // Idle detection compares millisecond stamps that wrap after 49 days.
  if (auto s = CheckWindow("sliding_window_log", "window", window, absl::Hours(24 * 7)); !s.ok())
    return s;
  if (auto s = CheckMaxKeys("sliding_window_log", max_keys); !s.ok()) return s;
  if (limit * max_keys > kMaxEntries) {
    return absl::InvalidArgumentError(
        absl::StrCat("sliding_window_log: limit x max_keys must be at most ", kMaxEntries,
                     " (8 bytes each); lower max_keys or use sliding_window"));
  }
  return absl::OkStatus();
}

absl::Status SlidingWindowCounterConfig::Validate() const {
  if (limit == 0 || limit > SlidingCounterAlgo::kMaxLimit) {
    return absl::InvalidArgumentError(
        absl::StrCat("sliding_window: limit must be in [1, ", SlidingCounterAlgo::kMaxLimit, "]"));
  }
  if (auto s = CheckWindow("sliding_window", "window", window); !s.ok()) return s;
  return CheckMaxKeys("sliding_window", max_keys);
}

absl::Status GcraConfig::Validate() const {
  if (limit == 0) return absl::InvalidArgumentError("gcra: limit must be > 0");
  if (burst == 0) return absl::InvalidArgumentError("gcra: burst must be > 0");
  if (period <= absl::ZeroDuration() || period > absl::Hours(24 * 366)) {
    return absl::InvalidArgumentError("gcra: period must be in (0, 366 days]");
  }
  long double interval = static_cast<long double>(absl::ToInt64Nanoseconds(period)) / limit;
  if (interval < 1) {
    return absl::InvalidArgumentError("gcra: limit must be at most 1 per nanosecond");
  }
  if (interval * burst > kMaxTime) {
    return absl::InvalidArgumentError("gcra: burst x period / limit is too long");
  }
  return CheckMaxKeys("gcra", max_keys);
}

absl::Status ConcurrencyConfig::Validate() const {
  if (max_in_flight == 0 || max_in_flight > ConcurrencyAlgo::kMaxLimit) {
    return absl::InvalidArgumentError(absl::StrCat("concurrency: max_in_flight must be in [1, ",
                                                   ConcurrencyAlgo::kMaxLimit, "]"));
  }
  if (retry_after < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("concurrency: retry_after must not be negative");
  }
  return CheckMaxKeys("concurrency", max_keys);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeTokenBucket(const TokenBucketConfig& config,
                                                             const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  uint64_t burst = config.burst == 0 ? config.rate : config.burst;
  int64_t interval = Interval(config.per, config.rate);
  return std::make_unique<AtomicLimiter<GcraAlgo>>(
      GcraAlgo(interval, burst, burst, Nanos(interval * static_cast<int64_t>(burst))),
      config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeFixedWindow(const FixedWindowConfig& config,
                                                             const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_unique<AtomicLimiter<FixedWindowAlgo>>(
      FixedWindowAlgo(config.limit, config.window), config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeSlidingWindowLog(
    const SlidingWindowLogConfig& config, const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_unique<SlidingLogLimiter>(config.limit, config.window, config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeSlidingWindowCounter(
    const SlidingWindowCounterConfig& config, const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_unique<AtomicLimiter<SlidingCounterAlgo>>(
      SlidingCounterAlgo(config.limit, config.window), config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeGcra(const GcraConfig& config,
                                                      const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_unique<AtomicLimiter<GcraAlgo>>(
      GcraAlgo(Interval(config.period, config.limit), config.burst, config.limit, config.period),
      config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeConcurrencyLimiter(const ConcurrencyConfig& config,
                                                                    const Clock& clock) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_unique<ConcurrencyLimiter>(
      ConcurrencyAlgo(config.max_in_flight, config.retry_after), config.max_keys, clock);
}

absl::StatusOr<std::unique_ptr<RateLimiter>> MakeRateLimiter(const RateLimitAlgorithm& algorithm,
                                                             const Clock& clock) {
  return std::visit(
      [&clock](const auto& c) -> absl::StatusOr<std::unique_ptr<RateLimiter>> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, TokenBucketConfig>) {
          return MakeTokenBucket(c, clock);
        } else if constexpr (std::is_same_v<T, FixedWindowConfig>) {
          return MakeFixedWindow(c, clock);
        } else if constexpr (std::is_same_v<T, SlidingWindowLogConfig>) {
          return MakeSlidingWindowLog(c, clock);
        } else if constexpr (std::is_same_v<T, SlidingWindowCounterConfig>) {
          return MakeSlidingWindowCounter(c, clock);
        } else if constexpr (std::is_same_v<T, GcraConfig>) {
          return MakeGcra(c, clock);
        } else {
          static_assert(std::is_same_v<T, ConcurrencyConfig>);
          return MakeConcurrencyLimiter(c, clock);
        }
      },
      algorithm);
}

absl::Status ValidateRateLimitAlgorithm(const RateLimitAlgorithm& algorithm) {
  return std::visit([](const auto& c) { return c.Validate(); }, algorithm);
}

}  // namespace gateway
