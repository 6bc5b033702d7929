#include "resilience/call_window.h"

#include <bit>

namespace gateway::internal {
namespace {

constexpr uint32_t kSlotsPerWord = 21;

constexpr uint64_t EverySlot(int bit) {
  uint64_t mask = 0;
  for (uint32_t i = 0; i < kSlotsPerWord; ++i) mask |= uint64_t{1} << (3 * i + bit);
  return mask;
}
constexpr uint64_t kValidBits = EverySlot(0);
constexpr uint64_t kFailureBits = EverySlot(1);
constexpr uint64_t kSlowBits = EverySlot(2);

// A bucket counter whose step is ahead of the caller's by less than this was
// moved on by a thread that read the clock later: the caller's call is late.
// Anything further "ahead" is really a step from ~2^32 steps ago.
constexpr uint32_t kLateSpan = 1u << 16;

}  // namespace

CountWindow::CountWindow(uint32_t size)
    : size_(size), words_((size + kSlotsPerWord - 1) / kSlotsPerWord) {}

bool CountWindow::Add(bool failure, bool slow, absl::Duration) {
  const uint64_t n = next_.fetch_add(1, std::memory_order_relaxed);
  const uint32_t slot = static_cast<uint32_t>(n % size_);
  const uint32_t shift = 3 * (slot % kSlotsPerWord);
  const uint64_t bits = (uint64_t{1} | (uint64_t{failure} << 1) | (uint64_t{slow} << 2)) << shift;
  std::atomic<uint64_t>& word = words_[slot / kSlotsPerWord];
  uint64_t v = word.load(std::memory_order_relaxed);
  while (!word.compare_exchange_weak(v, (v & ~(uint64_t{7} << shift)) | bits,
                                     std::memory_order_relaxed)) {
  }
  // Once the window was full before this call, a fast success only replaces
  // an older call: neither rate can rise, and the call count is already final.
  return failure || slow || n < size_;
}

WindowTotals CountWindow::Totals(absl::Duration) const {
  WindowTotals totals;
  for (const std::atomic<uint64_t>& word : words_) {
    const uint64_t v = word.load(std::memory_order_relaxed);
    totals.calls += std::popcount(v & kValidBits);
    totals.failures += std::popcount(v & kFailureBits);
    totals.slow += std::popcount(v & kSlowBits);
  }
  return totals;
}

void CountWindow::Reset(absl::Duration) {
  next_.store(0, std::memory_order_relaxed);
  for (std::atomic<uint64_t>& word : words_) word.store(0, std::memory_order_relaxed);
}

TimeWindow::TimeWindow(absl::Duration duration, uint32_t buckets, absl::Duration origin)
    : buckets_(buckets),
      step_ns_(absl::ToInt64Nanoseconds(duration / buckets)),
      origin_(origin),
      bucket_(new Bucket[buckets]) {
  Reset(origin);
}

uint32_t TimeWindow::Step(absl::Duration now) const {
  // Only the low 32 bits are kept: steps are compared modulo 2^32.
  return static_cast<uint32_t>(absl::ToInt64Nanoseconds(now - origin_) / step_ns_);
}

void TimeWindow::Bump(std::atomic<uint64_t>& counter, uint32_t step) {
  uint64_t v = counter.load(std::memory_order_relaxed);
  for (;;) {
    const uint32_t held = static_cast<uint32_t>(v >> 32);
    if (held == step) {
      // The bucket could move on between the load and the add only if this
      // thread stalled for a whole window; then one call lands a window late.
      counter.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (static_cast<uint32_t>(held - step) < kLateSpan) return;
    // Moving the bucket on and counting the call into it is one CAS, so no
    // call counted for the new step can be wiped by the move.
    if (counter.compare_exchange_weak(v, (uint64_t{step} << 32) | 1, std::memory_order_relaxed)) {
      return;
    }
  }
}

uint64_t TimeWindow::CountIfCurrent(const std::atomic<uint64_t>& counter, uint32_t step) const {
  const uint64_t v = counter.load(std::memory_order_relaxed);
  const uint32_t held = static_cast<uint32_t>(v >> 32);
  return static_cast<uint32_t>(step - held) < buckets_ ? static_cast<uint32_t>(v) : 0;
}

bool TimeWindow::Add(bool failure, bool slow, absl::Duration now) {
  const uint32_t step = Step(now);
  Bucket& bucket = bucket_[step % buckets_];
  Bump(bucket.calls, step);
  if (failure) Bump(bucket.failures, step);
  if (slow) Bump(bucket.slow, step);
  // Judging means summing every bucket, too much for each healthy call. A
  // fast success cannot raise a rate as it is added; a rate that crossed a
  // threshold only because successes aged out is caught by the next failing
  // or slow call.
  return failure || slow;
}

WindowTotals TimeWindow::Totals(absl::Duration now) const {
  const uint32_t step = Step(now);
  WindowTotals totals;
  for (uint32_t i = 0; i < buckets_; ++i) {
    totals.calls += CountIfCurrent(bucket_[i].calls, step);
    totals.failures += CountIfCurrent(bucket_[i].failures, step);
    totals.slow += CountIfCurrent(bucket_[i].slow, step);
  }
  return totals;
}

void TimeWindow::Reset(absl::Duration now) {
  // A step a whole window before now: outside the window, and older than any
  // step a later call can have, so the next call moves the bucket on.
  const uint64_t stale = uint64_t{Step(now) - buckets_} << 32;
  for (uint32_t i = 0; i < buckets_; ++i) {
    bucket_[i].calls.store(stale, std::memory_order_relaxed);
    bucket_[i].failures.store(stale, std::memory_order_relaxed);
    bucket_[i].slow.store(stale, std::memory_order_relaxed);
  }
}

}  // namespace gateway::internal
