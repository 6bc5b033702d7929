// Per-thread caches of containers (strings, vectors) whose capacity the next
// request can reuse.
//
// Heads and output buffers are made and dropped once per request; their
// capacity is about the same every time. Handing the emptied container to the
// next request of the same thread saves a malloc and a free each time. Memory
// is bounded: at most kMax containers per thread and type, each no larger than
// the caller's own limit, freed when the thread exits.
#ifndef GATEWAY_LIB_COMMON_SPARE_CACHE_H_
#define GATEWAY_LIB_COMMON_SPARE_CACHE_H_

#include <cstddef>
#include <utility>

namespace gateway::internal {

template <typename T, size_t kMax = 32>
class SpareCache {
 public:
  // Moves a spare into `out` (replacing whatever it held), if there is one
  // with at least `min_capacity`.
  static bool Take(T& out, size_t min_capacity = 0) {
    if (closed_) return false;
    SpareCache& cache = ForThread();
    if (cache.count_ == 0) return false;
    T& spare = cache.spares_[cache.count_ - 1];
    if (spare.capacity() < min_capacity) return false;
    out = std::move(spare);
    spare = T();
    --cache.count_;
    return true;
  }
  // Keeps `in` as it is, elements included, for a later Take if its capacity
  // is within [min_capacity, max_capacity] and there is room; `in` is left
  // empty either way. Callers empty what should not be handed on.
  static void Give(T& in, size_t min_capacity, size_t max_capacity) {
    if (!closed_ && in.capacity() >= min_capacity && in.capacity() <= max_capacity) {
      SpareCache& cache = ForThread();
      if (cache.count_ < kMax) {
        cache.spares_[cache.count_++] = std::move(in);
        in = T();
        return;
      }
    }
    T().swap(in);
  }

  ~SpareCache() {
    // Containers dropped later in the thread's exit are simply freed.
    closed_ = true;
  }

 private:
  static SpareCache& ForThread() {
    thread_local SpareCache cache;
    return cache;
  }

  // Trivially destructible, so still readable after the cache is destroyed.
  static inline thread_local bool closed_ = false;
  T spares_[kMax];
  size_t count_ = 0;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_SPARE_CACHE_H_
