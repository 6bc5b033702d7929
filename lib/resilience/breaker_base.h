// What the built-in breakers share: the packed state word and its transition
// protocol, the open deadline, counters, and event delivery.
//
// The whole state that decisions depend on lives in one 64-bit atomic word:
//
//   bits  0-1   state: closed, open, half-open, or busy (a transition in progress)
//   bits  2-25  epoch: +1 on every transition
//   bits 26-31  trips: consecutive openings without closing (backoff), saturating
//   bits 32-63  payload, per state and per breaker (counters)
//
// A permit carries the state and epoch it was issued in (its token); a result
// counts only while the word still has that token, so results that arrive
// after a transition cannot leak into the next period.
//
// Transitions go through "busy": the thread whose CAS moves the word to busy
// owns the transition, does the side work no other thread may interleave with
// (writing the open deadline, clearing the window), publishes the new state
// with a release store and announces it. Other threads treat busy as "refuse,
// count nothing"; it lasts a few stores. That is what makes the deadline (a
// separate atomic) consistent with the state without a lock, and it makes the
// announcing thread unique: each transition is counted and logged once.
#ifndef GATEWAY_LIB_RESILIENCE_BREAKER_BASE_H_
#define GATEWAY_LIB_RESILIENCE_BREAKER_BASE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/circuit_breaker.h"

namespace gateway::internal {

class BreakerBase : public CircuitBreaker {
 public:
  std::string_view name() const override { return name_; }
  BreakerState state() const override { return Visible(Load()); }

 protected:
  enum : uint32_t { kClosed = 0, kOpen = 1, kHalfOpen = 2, kBusy = 3 };
  static constexpr uint64_t kTokenMask = (uint64_t{1} << 26) - 1;
  static constexpr uint32_t kMaxTrips = 63;

  static uint32_t StateOf(uint64_t w) { return static_cast<uint32_t>(w & 3); }
  static uint32_t EpochOf(uint64_t w) { return static_cast<uint32_t>((w >> 2) & 0xFFFFFF); }
  static uint32_t TripsOf(uint64_t w) { return static_cast<uint32_t>((w >> 26) & 63); }
  static uint32_t PayloadOf(uint64_t w) { return static_cast<uint32_t>(w >> 32); }
  static uint64_t TokenOf(uint64_t w) { return w & kTokenMask; }
  static uint64_t Pack(uint32_t state, uint32_t epoch, uint32_t trips, uint32_t payload) {
    return uint64_t{state} | (uint64_t{epoch & 0xFFFFFF} << 2) | (uint64_t{trips & 63} << 26) |
           (uint64_t{payload} << 32);
  }
  static uint64_t WithPayload(uint64_t w, uint32_t payload) {
    return (w & 0xFFFFFFFFu) | (uint64_t{payload} << 32);
  }
  static BreakerState Visible(uint64_t w);

  BreakerBase(std::string name, const Clock& clock, std::shared_ptr<ResilienceObserver> observer);

  uint64_t Load() const { return word_.load(std::memory_order_acquire); }
  // On failure `expected` holds the current word.
  bool Cas(uint64_t& expected, uint64_t desired) {
    return word_.compare_exchange_weak(expected, desired, std::memory_order_acq_rel,
                                       std::memory_order_acquire);
  }
  absl::Duration Now() const { return clock_.Monotonic(); }

  // Moves the breaker out of `expected` (which must be closed, open or
  // half-open) to `to` with a new epoch, `trips` and `payload`. While it owns
  // the transition it calls `prepare()` (the new state is not yet visible).
  // With `to == kOpen` it also sets the open deadline to now + `open_for`.
  // Returns the new word, or 0 if another thread changed the word first
  // (`expected` may be stale; reload and decide again).
  template <typename Prepare>
  uint64_t Transition(uint64_t expected, uint32_t to, uint32_t trips, uint32_t payload,
                      absl::Duration open_for, std::string_view reason, Prepare&& prepare) {
    const uint32_t epoch = EpochOf(expected) + 1;
    uint64_t busy = Pack(kBusy, epoch, trips, to);
    if (!word_.compare_exchange_strong(expected, busy, std::memory_order_acq_rel,
                                       std::memory_order_relaxed)) {
      return 0;
    }
    prepare();
    if (to == kOpen) {
      open_until_ns_.store(absl::ToInt64Nanoseconds(Now() + open_for), std::memory_order_relaxed);
    }
    // Numbered before the new state is visible: the next transition cannot
    // start until then, so sequence numbers follow the order of transitions.
    const uint64_t sequence = Count(to);
    const uint64_t next = Pack(to, epoch, trips, payload);
    word_.store(next, std::memory_order_release);
    Announce(sequence, StateOf(expected), to, open_for, reason);
    return next;
  }
  uint64_t Transition(uint64_t expected, uint32_t to, uint32_t trips, uint32_t payload,
                      absl::Duration open_for, std::string_view reason) {
    return Transition(expected, to, trips, payload, open_for, reason, [] {});
  }

  // In kOpen (word `w`): whether the open duration has passed.
  bool OpenElapsed() const {
    return absl::ToInt64Nanoseconds(Now()) >= open_until_ns_.load(std::memory_order_relaxed);
  }

  void CountRejected() { rejected_.fetch_add(1, std::memory_order_relaxed); }
  // State and transition counters; the window fields are left to the caller.
  BreakerStats BaseStats() const;

  const Clock& clock_;

 private:
  // Counts a transition to `to`; returns its sequence number.
  uint64_t Count(uint32_t to);
  void Announce(uint64_t sequence, uint32_t from, uint32_t to, absl::Duration open_for,
                std::string_view reason) const;

  std::string name_;
  std::shared_ptr<ResilienceObserver> observer_;
  std::atomic<uint64_t> word_{0};  // closed, epoch 0
  // Monotonic nanoseconds; written only by the owner of a transition to open,
  // before the open state is published.
  std::atomic<int64_t> open_until_ns_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> transitions_{0};
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> half_opened_{0};
  std::atomic<uint64_t> closed_{0};
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_RESILIENCE_BREAKER_BASE_H_
