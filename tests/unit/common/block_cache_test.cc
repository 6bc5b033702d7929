#include "common/block_cache.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace gateway::internal {
namespace {

struct Cached {
  static void* operator new(size_t size) { return BlockCache<Cached, 2>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<Cached, 2>::Free(block, size);
  }
  virtual ~Cached() = default;
  char payload[200];
};

struct Derived final : Cached {
  char more[100];
};

TEST_CASE("a freed block is reused by the next object of the same class on the thread") {
  auto a = std::make_unique<Cached>();
  void* first = a.get();
  a.reset();
  auto b = std::make_unique<Cached>();
  CHECK(static_cast<void*>(b.get()) == first);
}

TEST_CASE("the block cache keeps at most its bound and skips other sizes") {
  // Fill the cache (bound 2) and overflow it; every object stays valid.
  std::unique_ptr<Cached> objects[4];
  for (auto& o : objects) o = std::make_unique<Cached>();
  for (auto& o : objects) o.reset();
  std::unique_ptr<Cached> again[3];
  for (auto& o : again) o = std::make_unique<Cached>();
  CHECK(again[0].get() != again[1].get());
  CHECK(again[1].get() != again[2].get());
  // A derived class has another size: it never takes or leaves a cached block.
  std::unique_ptr<Cached> derived = std::make_unique<Derived>();
  derived.reset();
}

using Cache = BlockCache<Cached, 2>;

TEST_CASE("a block made on a thread that exited is cached by the thread that frees it") {
  std::unique_ptr<Cached> moved;
  size_t cached_on_maker = 99;
  std::thread t([&] {
    auto local = std::make_unique<Cached>();
    local.reset();                       // cached on t
    moved = std::make_unique<Cached>();  // takes that block back
    cached_on_maker = Cache::CachedOnThisThread();
  });
  t.join();
  CHECK(cached_on_maker == 0);
  // Empty this thread's cache (earlier tests may have left blocks in it).
  std::vector<std::unique_ptr<Cached>> held;
  while (Cache::CachedOnThisThread() > 0) held.push_back(std::make_unique<Cached>());
  void* block = moved.get();
  size_t to_heap = Cache::FreedToHeapOnThisThread();
  moved.reset();
  CHECK(Cache::CachedOnThisThread() == 1);
  CHECK(Cache::FreedToHeapOnThisThread() == to_heap);
  auto next = std::make_unique<Cached>();
  CHECK(static_cast<void*>(next.get()) == block);
}

// A thread_local made before the thread's cache is destroyed after it.
struct ExitHolder {
  std::unique_ptr<Cached> object;
  std::atomic<size_t>* to_heap = nullptr;
  ~ExitHolder() {
    size_t before = Cache::FreedToHeapOnThisThread();
    object.reset();
    if (to_heap != nullptr) *to_heap = Cache::FreedToHeapOnThisThread() - before;
  }
};

TEST_CASE("objects freed during thread exit after the thread's cache closed go to the heap") {
  std::atomic<size_t> to_heap{99};
  std::atomic<size_t> cached_before_exit{99};
  std::thread t([&] {
    thread_local ExitHolder holder;  // constructed first, destroyed last
    holder.to_heap = &to_heap;
    auto first = std::make_unique<Cached>();  // constructs the cache
    holder.object = std::make_unique<Cached>();
    first.reset();
    cached_before_exit = Cache::CachedOnThisThread();
  });
  t.join();
  CHECK(cached_before_exit == 1);
  // Kept in the closed cache instead, the block would leak.
  CHECK(to_heap == 1);
}

}  // namespace
}  // namespace gateway::internal
