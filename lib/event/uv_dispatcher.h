// Dispatcher over a libuv loop: same-thread posting, timers, cross-thread
// posting and deferred deletion.
#ifndef GATEWAY_LIB_EVENT_UV_DISPATCHER_H_
#define GATEWAY_LIB_EVENT_UV_DISPATCHER_H_

#include <uv.h>

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "event/uv_handle.h"
#include "gateway/dispatcher.h"

namespace gateway::internal {

class UvDispatcher final : public Dispatcher {
 public:
  // `loop` must outlive the dispatcher; `clock` too.
  explicit UvDispatcher(uv_loop_t* loop, const Clock& clock = SystemClock());
  ~UvDispatcher() override;

  const Clock& clock() const override { return clock_; }
  void Post(absl::AnyInvocable<void()> callback) override;
  void PostFromAnyThread(absl::AnyInvocable<void()> callback) override;
  std::unique_ptr<Timer> CreateTimer(absl::AnyInvocable<void()> callback) override;
  uv_loop_t* loop() override { return loop_; }

  // Destroys `object` on a later loop turn, after the current callback chain
  // has unwound: for objects that finish inside their own callbacks.
  template <typename T>
  void DeferredDelete(std::unique_ptr<T> object) {
    if (object == nullptr) return;
    Post([o = std::move(object)]() mutable { o.reset(); });
  }

  // Destroys every queued callback without running it (and whatever they
  // own, such as deferred deletions), including ones queued meanwhile. For
  // owners tearing down components that queued objects still refer to.
  void DiscardPosted();

  // Number of same-thread callbacks waiting to run.
  size_t pending() const { return posted_.size(); }
  // Number of enabled timers.
  size_t timers_enabled() const { return timers_enabled_; }

 private:
  struct CrossThread;
  class QueuedTimer;
  void RunPosted();

  // Timers live in a min-heap ordered by (deadline, arming order) behind one
  // libuv timer, the tick. Requests re-arm and cancel the same few timers many
  // times and almost never let one fire, so both are lazy:
  // - Re-arming a queued timer for later only records the new deadline (due_);
  //   the entry keeps its heap key until it reaches the top, where OnTick
  //   moves it to its real deadline instead of firing it. Re-arming for
  //   earlier moves it up at once.
  // - Disabling only clears the timer's armed flag; the entry stays queued
  //   (each timer holds at most one entry, so the heap never outgrows the live
  //   timers) and is dropped when it reaches the top, or moved by a later
  //   Enable like any queued entry. Destroying a timer removes its entry.
  // The tick waits for a time no later than the earliest armed deadline:
  // restarted only when a timer is armed for earlier than that, stopped when no
  // timer is armed (an armed tick would keep the loop alive). An entry that was
  // pushed back or cancelled makes it fire early; it then finds nothing due,
  // settles the top of the heap and waits for the true earliest deadline.
  // Per-request timers thus cost no libuv handle, no uv_close and usually no
  // uv_timer_start and no heap move after their first arming.
  void ArmTimer(QueuedTimer* t, absl::Duration delay);
  uint64_t DelayMs(absl::Duration delay);
  void DisarmTimer(QueuedTimer* t);
  void ForgetTimer(QueuedTimer* t);
  void OnTick();
  void StartTick(uint64_t deadline);
  bool Earlier(const QueuedTimer* a, const QueuedTimer* b) const;
  void SiftUp(size_t i);
  void SiftDown(size_t i);
  void HeapRemove(size_t i);

  uv_loop_t* loop_;
  const Clock& clock_;
  // Posted callbacks run from a check handle (after I/O of the current
  // iteration); the idle handle is active only while the queue is non-empty so
  // the loop does not block in poll with work waiting.
  UvHandle<uv_check_t> check_;
  UvHandle<uv_idle_t> idle_;
  std::deque<absl::AnyInvocable<void()>> posted_;
  std::shared_ptr<CrossThread> cross_;
  UvHandle<uv_async_t> async_;
  UvHandle<uv_timer_t> tick_;
  std::vector<QueuedTimer*> heap_;
  QueuedTimer* timers_ = nullptr;  // every live timer, to detach them on destruction
  uint64_t timer_seq_ = 0;
  // Timers are armed with a handful of configured delays (header, idle and
  // response timeouts) over and over: their conversions to whole
  // milliseconds, two out-of-line absl calls, are remembered.
  struct DelayEntry {
    absl::Duration delay;
    uint64_t ms = 0;
  };
  std::array<DelayEntry, 8> delays_{};
  size_t next_delay_ = 0;
  size_t timers_enabled_ = 0;   // armed timers; the heap may also hold disabled ones
  uint64_t tick_deadline_ = 0;  // loop time (ms) the tick fires at, when armed
  bool tick_armed_ = false;
  bool in_tick_ = false;
  // Set while RunPosted runs: a posted callback may destroy this dispatcher
  // (an embedder deleting its Gateway from the drain callback), and RunPosted
  // must then stop touching members.
  bool* destroyed_flag_ = nullptr;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_EVENT_UV_DISPATCHER_H_
