// The sliding windows of judged calls behind the sliding-window breaker.
// Lock-free; any number of threads add calls while others read totals.
//
// Both windows are self-describing (every slot or bucket says what it holds),
// so totals are always recomputed from the window itself: a call racing a
// reset can at worst be lost or survive the reset, never make a running total
// drift for good.
#ifndef GATEWAY_LIB_RESILIENCE_CALL_WINDOW_H_
#define GATEWAY_LIB_RESILIENCE_CALL_WINDOW_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"

namespace gateway::internal {

struct WindowTotals {
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t slow = 0;
};

class CallWindow {
 public:
  virtual ~CallWindow() = default;
  // Adds one judged call made at monotonic time `now`. Returns whether the
  // caller should judge the rates now: false for a fast success that cannot
  // have raised either rate (count window full; any time window).
  virtual bool Add(bool failure, bool slow, absl::Duration now) = 0;
  virtual WindowTotals Totals(absl::Duration now) const = 0;
  // Empties the window. Callers make sure no other thread resets at the same time.
  virtual void Reset(absl::Duration now) = 0;
};

// The last `size` calls. A ring of 3-bit slots (valid, failure, slow), 21 per
// 64-bit word, so totals are a few popcounts: size / 21 words.
class CountWindow final : public CallWindow {
 public:
  explicit CountWindow(uint32_t size);
  bool Add(bool failure, bool slow, absl::Duration now) override;
  WindowTotals Totals(absl::Duration now) const override;
  void Reset(absl::Duration now) override;

 private:
  const uint32_t size_;
  std::atomic<uint64_t> next_{0};  // calls added since the last reset
  std::vector<std::atomic<uint64_t>> words_;
};

// The calls of the last `buckets` time steps of `duration / buckets` each,
// counted from `origin`. Each bucket counter is one word holding the step it
// counts (low 32 bits of the step number) and the count, so moving a bucket
// on to a new step and counting into it is a single CAS.
class TimeWindow final : public CallWindow {
 public:
  TimeWindow(absl::Duration duration, uint32_t buckets, absl::Duration origin);
  bool Add(bool failure, bool slow, absl::Duration now) override;
  WindowTotals Totals(absl::Duration now) const override;
  void Reset(absl::Duration now) override;

 private:
  struct Bucket {
    std::atomic<uint64_t> calls;
    std::atomic<uint64_t> failures;
    std::atomic<uint64_t> slow;
  };
  uint32_t Step(absl::Duration now) const;
  void Bump(std::atomic<uint64_t>& counter, uint32_t step);
  uint64_t CountIfCurrent(const std::atomic<uint64_t>& counter, uint32_t step) const;

  const uint32_t buckets_;
  const int64_t step_ns_;
  const absl::Duration origin_;
  std::unique_ptr<Bucket[]> bucket_;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_RESILIENCE_CALL_WINDOW_H_
