#include "event/uv_dispatcher.h"

#include <utility>

namespace gateway::internal {

struct UvDispatcher::CrossThread {
  std::mutex mu;
  std::vector<absl::AnyInvocable<void()>> queue;  // guarded by mu
};

namespace {

class UvTimer final : public Timer {
 public:
  UvTimer(uv_loop_t* loop, absl::AnyInvocable<void()> callback) : callback_(std::move(callback)) {
    handle_.Init(loop, uv_timer_init);
    handle_->data = this;
  }
  ~UvTimer() override {
    if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  }
  void Enable(absl::Duration delay) override {
    if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
    // Round up so a timer never fires before its delay has passed.
    uint64_t ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(delay + absl::Microseconds(999)));
    uv_timer_start(handle_.get(), &UvTimer::OnFire, ms, 0);
  }
  void Disable() override { uv_timer_stop(handle_.get()); }
  bool enabled() const override { return uv_is_active(handle_.handle()) != 0; }

 private:
  static void OnFire(uv_timer_t* t) {
    auto* self = static_cast<UvTimer*>(t->data);
    if (self == nullptr) return;
    // The callback may destroy its own timer (owners commonly reset the
    // unique_ptr from inside it); run it from a local so its captures stay
    // alive for the whole call, and put it back only if the timer survived.
    bool destroyed = false;
    self->destroyed_flag_ = &destroyed;
    absl::AnyInvocable<void()> callback = std::move(self->callback_);
    callback();
    if (destroyed) return;
    self->destroyed_flag_ = nullptr;
    self->callback_ = std::move(callback);
  }
  UvHandle<uv_timer_t> handle_;
  absl::AnyInvocable<void()> callback_;
  bool* destroyed_flag_ = nullptr;
};

}  // namespace

UvDispatcher::UvDispatcher(uv_loop_t* loop, const Clock& clock)
    : loop_(loop), clock_(clock), cross_(std::make_shared<CrossThread>()) {
  check_.Init(loop_, uv_check_init);
  check_->data = this;
  idle_.Init(loop_, uv_idle_init);
  idle_->data = this;
  async_.Init(loop_, uv_async_init, [](uv_async_t* a) {
    auto* self = static_cast<UvDispatcher*>(a->data);
    if (self == nullptr) return;
    std::vector<absl::AnyInvocable<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(self->cross_->mu);
      batch.swap(self->cross_->queue);
    }
    for (auto& cb : batch) self->Post(std::move(cb));
  });
  async_->data = this;
  // Cross-thread wakeups must not keep a finished loop alive on their own.
  uv_unref(async_.handle());
}

UvDispatcher::~UvDispatcher() {
  // Loop-local objects first: they may still post, arm timers or close handles.
  DestroyLoopLocals();
  if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  async_->data = nullptr;
  std::lock_guard<std::mutex> lock(cross_->mu);
  cross_->queue.clear();
}

void UvDispatcher::Post(absl::AnyInvocable<void()> callback) {
  posted_.push_back(std::move(callback));
  if (posted_.size() == 1) {
    uv_check_start(check_.get(), [](uv_check_t* c) {
      if (auto* self = static_cast<UvDispatcher*>(c->data)) self->RunPosted();
    });
    uv_idle_start(idle_.get(), [](uv_idle_t*) {});
  }
}

void UvDispatcher::RunPosted() {
  // Run only what was queued before this turn; callbacks posted while running
  // wait for the next turn, so a callback that re-posts cannot starve I/O.
  bool destroyed = false;
  bool* outer = std::exchange(destroyed_flag_, &destroyed);
  size_t n = posted_.size();
  for (size_t i = 0; i < n && !posted_.empty(); ++i) {
    absl::AnyInvocable<void()> cb = std::move(posted_.front());
    posted_.pop_front();
    cb();
    if (destroyed) {
      if (outer != nullptr) *outer = true;
      return;
    }
  }
  destroyed_flag_ = outer;
  if (posted_.empty()) {
    uv_check_stop(check_.get());
    uv_idle_stop(idle_.get());
  }
}

void UvDispatcher::DiscardPosted() {
  while (!posted_.empty()) {
    absl::AnyInvocable<void()> cb = std::move(posted_.front());
    posted_.pop_front();
    cb = nullptr;  // may post more; the loop picks those up too
  }
}

void UvDispatcher::PostFromAnyThread(absl::AnyInvocable<void()> callback) {
  {
    std::lock_guard<std::mutex> lock(cross_->mu);
    cross_->queue.push_back(std::move(callback));
  }
  uv_async_send(async_.get());
}

std::unique_ptr<Timer> UvDispatcher::CreateTimer(absl::AnyInvocable<void()> callback) {
  return std::make_unique<UvTimer>(loop_, std::move(callback));
}

}  // namespace gateway::internal
