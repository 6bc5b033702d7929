#include <uv.h>

#include <atomic>
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
