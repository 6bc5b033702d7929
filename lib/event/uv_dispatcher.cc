#include "event/uv_dispatcher.h"

#include <cstdint>
#include <utility>

#include "common/block_cache.h"

namespace gateway::internal {

struct UvDispatcher::CrossThread {
  std::mutex mu;
  std::vector<absl::AnyInvocable<void()>> queue;  // guarded by mu
};

// A timer in its dispatcher's heap. Small on purpose: an idle keep-alive
// connection holds one, a proxied request a few.
class UvDispatcher::QueuedTimer final : public Timer {
 public:
  static constexpr uint32_t kNotQueued = UINT32_MAX;

  // Requests create and destroy a few each (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<QueuedTimer>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<QueuedTimer>::Free(block, size);
  }

  QueuedTimer(UvDispatcher* owner, absl::AnyInvocable<void()> callback)
      : owner_(owner), callback_(std::move(callback)), next_(owner->timers_) {
    if (next_ != nullptr) next_->prev_ = this;
    owner->timers_ = this;
  }
  ~QueuedTimer() override {
    if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
    if (owner_ == nullptr) return;
    owner_->ForgetTimer(this);
    if (prev_ != nullptr) prev_->next_ = next_;
    if (next_ != nullptr) next_->prev_ = prev_;
    if (owner_->timers_ == this) owner_->timers_ = next_;
  }
  void Enable(absl::Duration delay) override {
    if (owner_ != nullptr) owner_->ArmTimer(this, delay);
  }
  void Disable() override {
    if (owner_ != nullptr) owner_->DisarmTimer(this);
  }
  bool enabled() const override { return armed_; }

  // Runs the callback. Returns false if the callback destroyed this timer.
  bool Fire() {
    // Owners commonly reset the unique_ptr from inside the callback; run it
    // from a local so its captures stay alive for the whole call, and put it
    // back only if the timer survived.
    bool destroyed = false;
    destroyed_flag_ = &destroyed;
    absl::AnyInvocable<void()> callback = std::move(callback_);
    callback();
    if (destroyed) return false;
    destroyed_flag_ = nullptr;
    callback_ = std::move(callback);
    return true;
  }

  UvDispatcher* owner_;
  absl::AnyInvocable<void()> callback_;
  QueuedTimer* prev_ = nullptr;
  QueuedTimer* next_;
  bool* destroyed_flag_ = nullptr;
  uint64_t deadline_ = 0;        // loop time in ms: the heap key
  uint64_t due_ = 0;             // when it really fires; later than deadline_ after a lazy re-arm
  uint64_t seq_ = 0;             // arming order: equal deadlines fire first armed, first run
  uint64_t due_seq_ = 0;         // arming order of `due_`; differs from seq_ after a lazy re-arm
  uint32_t index_ = kNotQueued;  // position in the heap, armed or not
  bool armed_ = false;
};

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
  tick_.Init(loop_, uv_timer_init);
  tick_->data = this;
}

UvDispatcher::~UvDispatcher() {
  // Loop-local objects first: they may still post, arm timers or close handles.
  DestroyLoopLocals();
  if (destroyed_flag_ != nullptr) *destroyed_flag_ = true;
  async_->data = nullptr;
  // Timers may outlive their dispatcher; they do nothing from here on.
  for (QueuedTimer* t = timers_; t != nullptr; t = t->next_) {
    t->owner_ = nullptr;
    t->index_ = QueuedTimer::kNotQueued;
    t->armed_ = false;
  }
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
  return std::make_unique<QueuedTimer>(this, std::move(callback));
}

void UvDispatcher::ArmTimer(QueuedTimer* t, absl::Duration delay) {
  // The loop's cached time is the base, as for libuv's own timers.
  uint64_t due = uv_now(loop_) + DelayMs(delay);
  t->due_ = due;
  t->due_seq_ = ++timer_seq_;
  if (!t->armed_) {
    t->armed_ = true;
    ++timers_enabled_;
  }
  if (t->index_ == QueuedTimer::kNotQueued) {
    t->deadline_ = due;
    t->seq_ = t->due_seq_;
    t->index_ = static_cast<uint32_t>(heap_.size());
    heap_.push_back(t);
    SiftUp(t->index_);
  } else if (due < t->deadline_) {
    t->deadline_ = due;
    t->seq_ = t->due_seq_;
    SiftUp(t->index_);
  }
  // Otherwise pushed back (or re-enabled after Disable) no earlier than its
  // heap key, the usual case for idle and deadline timers: the heap is left
  // alone and OnTick moves the entry when it reaches the top.
  if (!in_tick_ && (!tick_armed_ || due < tick_deadline_)) StartTick(due);
}

uint64_t UvDispatcher::DelayMs(absl::Duration delay) {
  for (const DelayEntry& e : delays_) {
    if (e.delay == delay) return e.ms;
  }
  DelayEntry& e = delays_[next_delay_++ % delays_.size()];
  e.delay = delay;
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  // Round up so a timer never fires before its delay has passed.
  e.ms = static_cast<uint64_t>(absl::ToInt64Milliseconds(delay + absl::Microseconds(999)));
  return e.ms;
}

void UvDispatcher::DisarmTimer(QueuedTimer* t) {
  if (!t->armed_) return;
  t->armed_ = false;
  if (--timers_enabled_ == 0 && tick_armed_ && !in_tick_) {
    // Nothing left to wait for: an armed tick would keep the loop alive. The
    // disabled entries stay queued until the next tick or Enable moves them.
    uv_timer_stop(tick_.get());
    tick_armed_ = false;
  }
}

void UvDispatcher::ForgetTimer(QueuedTimer* t) {
  DisarmTimer(t);
  if (t->index_ != QueuedTimer::kNotQueued) HeapRemove(t->index_);
}

void UvDispatcher::StartTick(uint64_t deadline) {
  uint64_t now = uv_now(loop_);
  uv_timer_start(
      tick_.get(),
      [](uv_timer_t* h) {
        if (auto* self = static_cast<UvDispatcher*>(h->data)) self->OnTick();
      },
      deadline > now ? deadline - now : 0, 0);
  tick_armed_ = true;
  tick_deadline_ = deadline;
}

void UvDispatcher::OnTick() {
  tick_armed_ = false;
  uint64_t now = uv_now(loop_);
  // Timers armed by the callbacks below wait for a later turn even when due
  // (a zero delay must not run inside this call, nor loop forever).
  uint64_t last_seq = timer_seq_;
  bool destroyed = false;
  bool* outer = std::exchange(destroyed_flag_, &destroyed);
  in_tick_ = true;
  // Settles the top of the heap before looking at its deadline: a disabled
  // entry is dropped whatever its key, a lazily re-armed one is moved to its
  // real deadline. The loop thus ends with an armed, exact entry at the top
  // (or an empty heap), whose deadline the tick then waits for.
  while (!heap_.empty()) {
    QueuedTimer* t = heap_.front();
    if (!t->armed_) {
      HeapRemove(0);
      continue;
    }
    if (t->seq_ != t->due_seq_) {
      t->deadline_ = t->due_;
      t->seq_ = t->due_seq_;
      SiftDown(0);
      continue;
    }
    if (t->deadline_ > now || t->seq_ > last_seq) break;
    HeapRemove(0);
    t->armed_ = false;
    --timers_enabled_;
    t->Fire();
    if (destroyed) {
      if (outer != nullptr) *outer = true;
      return;
    }
  }
  in_tick_ = false;
  destroyed_flag_ = outer;
  if (!heap_.empty()) StartTick(heap_.front()->deadline_);
}

bool UvDispatcher::Earlier(const QueuedTimer* a, const QueuedTimer* b) const {
  return a->deadline_ != b->deadline_ ? a->deadline_ < b->deadline_ : a->seq_ < b->seq_;
}

void UvDispatcher::SiftUp(size_t i) {
  QueuedTimer* t = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!Earlier(t, heap_[parent])) break;
    heap_[i] = heap_[parent];
    heap_[i]->index_ = static_cast<uint32_t>(i);
    i = parent;
  }
  heap_[i] = t;
  t->index_ = static_cast<uint32_t>(i);
}

void UvDispatcher::SiftDown(size_t i) {
  QueuedTimer* t = heap_[i];
  size_t n = heap_.size();
  while (true) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && Earlier(heap_[child + 1], heap_[child])) ++child;
    if (!Earlier(heap_[child], t)) break;
    heap_[i] = heap_[child];
    heap_[i]->index_ = static_cast<uint32_t>(i);
    i = child;
  }
  heap_[i] = t;
  t->index_ = static_cast<uint32_t>(i);
}

void UvDispatcher::HeapRemove(size_t i) {
  heap_[i]->index_ = QueuedTimer::kNotQueued;
  QueuedTimer* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;
  heap_[i] = last;
  last->index_ = static_cast<uint32_t>(i);
  if (i > 0 && Earlier(last, heap_[(i - 1) / 2])) {
    SiftUp(i);
  } else {
    SiftDown(i);
  }
}

}  // namespace gateway::internal
