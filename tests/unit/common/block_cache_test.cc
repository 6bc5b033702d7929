#include "common/block_cache.h"

#include <memory>
#include <thread>

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

TEST_CASE("objects freed on another thread after its exit go to the heap") {
  std::unique_ptr<Cached> moved;
  std::thread t([&] {
    auto local = std::make_unique<Cached>();
    local.reset();  // cached on t, freed when t exits
    moved = std::make_unique<Cached>();
  });
  t.join();
  moved.reset();  // this thread's cache
  SUCCEED();
}

}  // namespace
}  // namespace gateway::internal
