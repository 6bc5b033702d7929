// The event loop as seen by filters and components: deferred callbacks and
// timers on one thread.
//
// Every `Dispatcher` belongs to one loop thread. All of its methods, and every
// callback it runs, execute on that thread; the one exception is
// `PostFromAnyThread`. Callbacks never run inside the call that schedules them.
//
// In production the dispatcher wraps a libuv loop (one per worker); in tests,
// `testing::SimulatedDispatcher` runs the same code against a manual clock.
#ifndef GATEWAY_DISPATCHER_H_
#define GATEWAY_DISPATCHER_H_

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "gateway/clock.h"

struct uv_loop_s;
typedef struct uv_loop_s uv_loop_t;

namespace gateway {

// A one-shot timer. Destroying it cancels it; a cancelled timer's callback never
// runs. Owned by whoever created it; must be destroyed on the dispatcher's thread.
class Timer {
 public:
  virtual ~Timer() = default;
  // (Re)arms the timer to fire once after `delay`. A zero delay fires on a
  // later loop turn, never inside this call.
  virtual void Enable(absl::Duration delay) = 0;
  virtual void Disable() = 0;
  virtual bool enabled() const = 0;
};

class Dispatcher {
 public:
  virtual ~Dispatcher() = default;

  // The clock this dispatcher's timers follow.
  virtual const Clock& clock() const = 0;

  // Runs `callback` on a later turn of this loop, in posting order.
  virtual void Post(absl::AnyInvocable<void()> callback) = 0;

  // Like Post, callable from any thread. Callbacks posted after the loop has
  // shut down are dropped (destroyed without running, on an unspecified thread).
  virtual void PostFromAnyThread(absl::AnyInvocable<void()> callback) = 0;

  // A disabled timer that runs `callback` on this loop when it fires.
  virtual std::unique_ptr<Timer> CreateTimer(absl::AnyInvocable<void()> callback) = 0;

  // The libuv loop behind this dispatcher, or nullptr for simulated ones.
  virtual uv_loop_t* loop() = 0;
};

}  // namespace gateway

#endif  // GATEWAY_DISPATCHER_H_
