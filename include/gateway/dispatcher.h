// The event loop as seen by filters and components: deferred callbacks and
// timers on one thread.
//
// Every `Dispatcher` belongs to one loop thread. All of its methods, and every
// callback it runs, execute on that thread; the one exception is
// `PostFromAnyThread`. Callbacks never run inside the call that schedules them.
//
// In production the dispatcher wraps a libuv loop (one per worker); in tests,
// `testing::SimulatedDispatcher` runs the same code against a manual clock.
//
// Components shared by every worker keep per-loop state (a connection to a
// remote store, a cache) in a `LoopLocalSlot`: one object per loop, created
// and destroyed on that loop's thread.
#ifndef GATEWAY_DISPATCHER_H_
#define GATEWAY_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
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

// Cancels a pending asynchronous operation (a pool acquire, a remote lookup).
// Destroying the handle cancels too; after the operation's callback ran, or
// once it was cancelled, it does nothing. A cancelled operation never calls
// back.
class CancelHandle {
 public:
  CancelHandle() = default;
  explicit CancelHandle(absl::AnyInvocable<void()> cancel) : cancel_(std::move(cancel)) {}
  CancelHandle(CancelHandle&&) noexcept = default;
  CancelHandle& operator=(CancelHandle&& other) noexcept {
    Cancel();
    cancel_ = std::move(other.cancel_);
    return *this;
  }
  ~CancelHandle() { Cancel(); }
  void Cancel() {
    if (cancel_) {
      auto c = std::move(cancel_);
      cancel_ = nullptr;
      c();
    }
  }
  // Forget the pending request without cancelling it.
  void Detach() { cancel_ = nullptr; }

 private:
  absl::AnyInvocable<void()> cancel_;
};

class Dispatcher;

// A key for per-loop objects of a component that every worker shares. The
// component owns the slot; on each loop, `Get` returns that loop's object,
// creating it on first use.
//
//   LoopLocalSlot slot_;  // member of a shared filter factory
//   Client* c = slot_.Get<Client>(ctx.dispatcher(), [&] { return MakeClient(d); });
//
// Lifetime: a loop's object is created and destroyed on that loop's thread.
// It is destroyed when the dispatcher is destroyed (the loop can still close
// its handles then), or, once the slot itself is gone, the next time that loop
// creates an object for any slot. The object must therefore not point back
// into the component that owns the slot. Slots are never reused, so an object
// is never handed out for a different slot.
class LoopLocalSlot {
 public:
  LoopLocalSlot();
  ~LoopLocalSlot();
  LoopLocalSlot(const LoopLocalSlot&) = delete;
  LoopLocalSlot& operator=(const LoopLocalSlot&) = delete;

  // This slot's object on `dispatcher`'s loop; `make` creates it the first
  // time. A null result is not stored (the next call asks again). Call only on
  // the dispatcher's thread; the pointer stays valid while the slot and the
  // dispatcher both live.
  template <typename T>
  T* Get(Dispatcher& dispatcher, absl::FunctionRef<std::unique_ptr<T>()> make) {
    if (void* found = Find(dispatcher)) return static_cast<T*>(found);
    std::unique_ptr<T> made = make();
    T* raw = made.get();
    if (raw != nullptr) Store(dispatcher, std::shared_ptr<void>(std::move(made)));
    return raw;
  }

  struct Key {
    explicit Key(uint64_t key_id) : id(key_id) {}
    uint64_t id;
    std::atomic<bool> released{false};
  };

 private:
  void* Find(Dispatcher& dispatcher) const;
  void Store(Dispatcher& dispatcher, std::shared_ptr<void> object);

  std::shared_ptr<Key> key_;
};

class Dispatcher {
 public:
  Dispatcher();
  // Destroys loop-local objects that the implementation's destructor left.
  virtual ~Dispatcher();

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

 protected:
  // Destroys every loop-local object (see LoopLocalSlot). Implementations call
  // it first in their destructor, while their loop can still run the close
  // callbacks of the objects' handles and their timers still work.
  void DestroyLoopLocals();

 private:
  friend class LoopLocalSlot;
  struct LoopLocals;
  std::unique_ptr<LoopLocals> loop_locals_;
};

}  // namespace gateway

#endif  // GATEWAY_DISPATCHER_H_
