#include <uv.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "event/uv_dispatcher.h"
#include "event/uv_handle.h"

namespace gateway::internal {
namespace {

struct Loop {
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
    }
    REQUIRE(uv_loop_close(&loop) == 0);
  }
  uv_loop_t loop;
};

TEST_CASE("posted callbacks never run inside Post and run in order on a later turn") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<int> order;
    d.Post([&] { order.push_back(1); });
    d.Post([&] { order.push_back(2); });
    REQUIRE(order.empty());
    uv_run(&l.loop, UV_RUN_NOWAIT);
    REQUIRE(order == std::vector<int>{1, 2});
  }
}

TEST_CASE("a callback posted from a posted callback waits for the next loop turn") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int inner = 0;
    d.Post([&] { d.Post([&] { ++inner; }); });
    uv_run(&l.loop, UV_RUN_ONCE);
    REQUIRE(inner == 0);
    uv_run(&l.loop, UV_RUN_NOWAIT);
    REQUIRE(inner == 1);
  }
}

TEST_CASE("pending posts keep the loop from blocking in poll") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    bool ran = false;
    d.Post([&] { ran = true; });
    // UV_RUN_ONCE would block forever in poll if nothing marked work as pending.
    uv_run(&l.loop, UV_RUN_ONCE);
    REQUIRE(ran);
  }
}

TEST_CASE("a timer fires once after its delay and a disabled timer never fires") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0, cancelled = 0;
    auto t1 = d.CreateTimer([&] { ++fired; });
    auto t2 = d.CreateTimer([&] { ++cancelled; });
    t1->Enable(absl::Milliseconds(1));
    t2->Enable(absl::Milliseconds(1));
    REQUIRE(t1->enabled());
    t2->Disable();
    REQUIRE_FALSE(t2->enabled());
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 1);
    REQUIRE(cancelled == 0);
    REQUIRE_FALSE(t1->enabled());
  }
}

TEST_CASE("destroying a timer cancels it") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    auto t = d.CreateTimer([&] { ++fired; });
    t->Enable(absl::Milliseconds(1));
    t.reset();
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 0);
  }
}

TEST_CASE("timers fire in deadline order, equal deadlines in arming order") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<int> order;
    auto t1 = d.CreateTimer([&] { order.push_back(1); });
    auto t2 = d.CreateTimer([&] { order.push_back(2); });
    auto t3 = d.CreateTimer([&] { order.push_back(3); });
    auto t4 = d.CreateTimer([&] { order.push_back(4); });
    t1->Enable(absl::Milliseconds(3));
    t2->Enable(absl::Milliseconds(1));
    t3->Enable(absl::Milliseconds(3));
    t4->Enable(absl::Milliseconds(2));
    REQUIRE(d.timers_enabled() == 4);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<int>{2, 4, 1, 3});
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("re-enabling a timer moves its deadline, later or earlier, and it fires once") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<int> order;
    auto early = d.CreateTimer([&] { order.push_back(1); });
    auto late = d.CreateTimer([&] { order.push_back(2); });
    early->Enable(absl::Milliseconds(1));
    late->Enable(absl::Milliseconds(5));
    early->Enable(absl::Milliseconds(10));  // now the last one
    late->Enable(absl::Milliseconds(2));
    uint64_t start = uv_now(&l.loop);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<int>{2, 1});
    // The tick armed for the first deadline fired early and waited again.
    REQUIRE(uv_now(&l.loop) - start >= 10);
  }
}

TEST_CASE(
    "disabling every timer lets the loop end, and disabling the earliest delays nothing else") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    auto a = d.CreateTimer([&] { ++fired; });
    auto b = d.CreateTimer([&] { ++fired; });
    a->Enable(absl::Hours(1));
    b->Enable(absl::Hours(2));
    a->Disable();
    b->Disable();
    REQUIRE_FALSE(a->enabled());
    // UV_RUN_DEFAULT returns only when no active handle is left.
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 0);

    a->Enable(absl::Milliseconds(1));
    b->Enable(absl::Milliseconds(3));
    a->Disable();
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 1);
    REQUIRE_FALSE(b->enabled());
  }
}

TEST_CASE("a timer pushed back then brought forward fires once, at the earlier deadline") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<int> order;
    auto t = d.CreateTimer([&] { order.push_back(1); });
    auto marker = d.CreateTimer([&] { order.push_back(2); });
    marker->Enable(absl::Milliseconds(20));
    t->Enable(absl::Milliseconds(5));
    t->Enable(absl::Milliseconds(60));  // later: only recorded
    t->Enable(absl::Milliseconds(2));   // earlier than its heap position
    uint64_t start = uv_now(&l.loop);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<int>{1, 2});
    // The loop ended once both fired: nothing waited for the 60 ms deadline.
    REQUIRE(uv_now(&l.loop) - start < 60);
  }
}

TEST_CASE("a timer re-armed many times fires exactly once, not before its last deadline") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<int> order;
    auto t = d.CreateTimer([&] { order.push_back(1); });
    auto marker = d.CreateTimer([&] { order.push_back(2); });
    marker->Enable(absl::Milliseconds(10));
    for (int ms = 1; ms <= 25; ++ms) t->Enable(absl::Milliseconds(ms));
    REQUIRE(d.timers_enabled() == 2);
    uint64_t start = uv_now(&l.loop);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<int>{2, 1});
    REQUIRE(uv_now(&l.loop) - start >= 25);
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("a timer disabled after being pushed back never fires and lets the loop end") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    auto t = d.CreateTimer([&] { ++fired; });
    t->Enable(absl::Milliseconds(1));
    t->Enable(absl::Hours(1));
    t->Disable();
    REQUIRE_FALSE(t->enabled());
    REQUIRE(d.timers_enabled() == 0);
    uv_run(&l.loop, UV_RUN_DEFAULT);  // returns only if the tick was stopped
    REQUIRE(fired == 0);
  }
}

TEST_CASE("a disabled timer re-enabled later or earlier fires once, at its new deadline") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    auto t = d.CreateTimer([&] { ++fired; });
    // Re-enabled for later than where its disabled entry waits.
    t->Enable(absl::Milliseconds(1));
    t->Disable();
    t->Enable(absl::Milliseconds(15));
    REQUIRE(t->enabled());
    REQUIRE(d.timers_enabled() == 1);
    uint64_t start = uv_now(&l.loop);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 1);
    REQUIRE(uv_now(&l.loop) - start >= 15);
    REQUIRE_FALSE(t->enabled());

    // Re-enabled for earlier, with another timer keeping the tick armed.
    std::vector<int> order;
    auto other = d.CreateTimer([&] { order.push_back(2); });
    auto u = d.CreateTimer([&] { order.push_back(1); });
    other->Enable(absl::Milliseconds(10));
    u->Enable(absl::Hours(1));
    u->Disable();
    u->Enable(absl::Milliseconds(2));
    u->Disable();
    u->Enable(absl::Milliseconds(3));
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<int>{1, 2});
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("a due timer re-armed from a timer callback takes its new place in arming order") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::vector<std::string> order;
    std::unique_ptr<Timer> b, c;
    auto a = d.CreateTimer([&] {
      order.push_back("a");
      // Same deadline (the loop time does not move within a tick): c was
      // armed first, so c fires first, although b was due already.
      c->Enable(absl::ZeroDuration());
      b->Enable(absl::ZeroDuration());
    });
    b = d.CreateTimer([&] { order.push_back("b"); });
    c = d.CreateTimer([&] { order.push_back("c"); });
    a->Enable(absl::ZeroDuration());
    b->Enable(absl::ZeroDuration());
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == std::vector<std::string>{"a", "c", "b"});
  }
}

TEST_CASE("many timers re-armed and disabled in turn fire in deadline order, once each") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    constexpr int kTimers = 40;
    std::vector<int> order;
    std::vector<std::unique_ptr<Timer>> timers;
    for (int i = 0; i < kTimers; ++i)
      timers.push_back(d.CreateTimer([&, i] { order.push_back(i); }));
    // Last arming of each timer: (deadline in ms, arming count), or disabled.
    std::vector<std::pair<int, int>> last(kTimers, {-1, 0});
    uint32_t rng = 12345;
    auto next = [&rng](uint32_t n) {
      rng = rng * 1103515245u + 12345u;
      return (rng >> 16) % n;
    };
    int armings = 0;
    for (int round = 0; round < 400; ++round) {
      int i = static_cast<int>(next(kTimers));
      if (next(5) == 0) {
        timers[i]->Disable();
        last[i] = {-1, 0};
      } else {
        int ms = static_cast<int>(next(30));  // repeats: equal deadlines on purpose
        timers[i]->Enable(absl::Milliseconds(ms));
        last[i] = {ms, ++armings};
      }
    }
    std::vector<int> expected;
    for (int i = 0; i < kTimers; ++i) {
      if (last[i].first >= 0) expected.push_back(i);
    }
    std::sort(expected.begin(), expected.end(), [&](int x, int y) { return last[x] < last[y]; });
    REQUIRE(d.timers_enabled() == expected.size());
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == expected);
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("timers destroyed while queued, in any number, leave the others firing in order") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    constexpr int kTimers = 60;
    std::vector<int> order;
    std::vector<std::unique_ptr<Timer>> timers(kTimers);
    std::vector<std::pair<int, int>> last(kTimers, {-1, 0});  // (ms, arming count) or disabled
    uint32_t rng = 777;
    auto next = [&rng](uint32_t n) {
      rng = rng * 1103515245u + 12345u;
      return (rng >> 16) % n;
    };
    int armings = 0;
    for (int round = 0; round < 2000; ++round) {
      int i = static_cast<int>(next(kTimers));
      switch (next(4)) {
        case 0:  // destroyed (often while queued), sometimes replaced at once
          timers[i].reset();
          last[i] = {-1, 0};
          if (next(2) == 0) break;
          [[fallthrough]];
        default: {
          if (timers[i] == nullptr) timers[i] = d.CreateTimer([&, i] { order.push_back(i); });
          int ms = static_cast<int>(next(25));
          timers[i]->Enable(absl::Milliseconds(ms));
          last[i] = {ms, ++armings};
          break;
        }
        case 1:
          if (timers[i] != nullptr) timers[i]->Disable();
          last[i] = {-1, 0};
          break;
      }
    }
    std::vector<int> expected;
    for (int i = 0; i < kTimers; ++i) {
      if (last[i].first >= 0) expected.push_back(i);
    }
    std::sort(expected.begin(), expected.end(), [&](int x, int y) { return last[x] < last[y]; });
    REQUIRE(d.timers_enabled() == expected.size());
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(order == expected);
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("delays round up to whole milliseconds, however many distinct delays are in use") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    // More distinct delays than the dispatcher remembers conversions of, each
    // used twice, in an order that evicts them between uses.
    constexpr int kDelays = 20;
    std::vector<int> order;
    std::vector<std::unique_ptr<Timer>> timers;
    for (int i = 0; i < kDelays; ++i) {
      timers.push_back(d.CreateTimer([&, i] { order.push_back(i); }));
    }
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < kDelays; ++i) {
        int j = (i * 7 + round) % kDelays;
        // 0.5 ms, 1.5 ms, ... : timer j is due at j + 1 ms.
        timers[j]->Enable(absl::Microseconds(1000 * j + 500));
      }
    }
    auto negative = d.CreateTimer([&] { order.push_back(-1); });
    negative->Enable(absl::Milliseconds(-5));  // as a zero delay
    uint64_t start = uv_now(&l.loop);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    std::vector<int> expected{-1};
    for (int i = 0; i < kDelays; ++i) expected.push_back(i);
    REQUIRE(order == expected);
    REQUIRE(uv_now(&l.loop) - start >= kDelays);
  }
}

TEST_CASE("a timer re-enabled with zero delay from its callback runs after it returns") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    int depth = 0, max_depth = 0;
    std::unique_ptr<Timer> t;
    t = d.CreateTimer([&] {
      max_depth = std::max(max_depth, ++depth);
      ++fired;
      if (fired < 3) {
        t->Enable(absl::ZeroDuration());
        REQUIRE(t->enabled());
      }
      --depth;
    });
    t->Enable(absl::ZeroDuration());
    REQUIRE(fired == 0);
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 3);
    REQUIRE(max_depth == 1);
    REQUIRE_FALSE(t->enabled());
  }
}

TEST_CASE("a timer callback may destroy its own timer or another due one") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    int fired = 0;
    std::unique_ptr<Timer> self, other;
    self = d.CreateTimer([&] {
      ++fired;
      self.reset();
      other.reset();
    });
    other = d.CreateTimer([&] { ++fired; });
    self->Enable(absl::ZeroDuration());
    other->Enable(absl::ZeroDuration());
    uv_run(&l.loop, UV_RUN_DEFAULT);
    REQUIRE(fired == 1);
    REQUIRE(d.timers_enabled() == 0);
  }
}

TEST_CASE("timers that outlive their dispatcher do nothing") {
  Loop l;
  int fired = 0;
  std::unique_ptr<Timer> t;
  {
    UvDispatcher d(&l.loop);
    t = d.CreateTimer([&] { ++fired; });
    t->Enable(absl::Milliseconds(1));
  }
  REQUIRE_FALSE(t->enabled());
  t->Enable(absl::Milliseconds(1));
  t->Disable();
  uv_run(&l.loop, UV_RUN_DEFAULT);
  t.reset();
  REQUIRE(fired == 0);
}

TEST_CASE("a timer callback may destroy the dispatcher") {
  Loop l;
  auto d = std::make_unique<UvDispatcher>(&l.loop);
  int fired = 0;
  auto first = d->CreateTimer([&] {
    ++fired;
    d.reset();
  });
  auto second = d->CreateTimer([&] { ++fired; });
  first->Enable(absl::ZeroDuration());
  second->Enable(absl::ZeroDuration());
  uv_run(&l.loop, UV_RUN_DEFAULT);
  REQUIRE(fired == 1);
  REQUIRE(d == nullptr);
}

TEST_CASE("callbacks posted from another thread run on the loop thread") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    std::atomic<int> ran{0};
    std::thread::id loop_thread = std::this_thread::get_id();
    bool on_loop_thread = true;
    auto keepalive = d.CreateTimer([] {});
    keepalive->Enable(absl::Seconds(5));  // keeps uv_run alive until the posts land
    std::thread poster([&] {
      for (int i = 0; i < 100; ++i) {
        d.PostFromAnyThread([&] {
          on_loop_thread &= std::this_thread::get_id() == loop_thread;
          if (++ran == 100) keepalive->Disable();
        });
      }
    });
    uv_run(&l.loop, UV_RUN_DEFAULT);
    poster.join();
    REQUIRE(ran == 100);
    REQUIRE(on_loop_thread);
  }
}

TEST_CASE("deferred delete destroys the object on a later turn, not inside the call") {
  Loop l;
  {
    UvDispatcher d(&l.loop);
    struct Tracked {
      explicit Tracked(bool* f) : flag(f) {}
      ~Tracked() { *flag = true; }
      bool* flag;
    };
    bool destroyed = false;
    d.DeferredDelete(std::make_unique<Tracked>(&destroyed));
    REQUIRE_FALSE(destroyed);
    uv_run(&l.loop, UV_RUN_NOWAIT);
    REQUIRE(destroyed);
  }
}

TEST_CASE("UvHandle frees its handle in the close callback after the owner is gone") {
  Loop l;
  {
    UvHandle<uv_timer_t> t;
    REQUIRE(t.Init(&l.loop, uv_timer_init) == 0);
    REQUIRE(t);
  }
  // The loop still has the closing handle; running it frees the memory (ASan
  // reports a leak otherwise) and uv_loop_close in ~Loop succeeds.
  REQUIRE(uv_run(&l.loop, UV_RUN_NOWAIT) == 0);
}

}  // namespace
}  // namespace gateway::internal
