// Per-thread caches of freed memory blocks for objects made and freed per
// request.
//
// A loop makes a stream, an upstream exchange and two codecs per request, and
// when a burst of requests ends together it frees many of each at once (one
// or two per busy connection: hundreds at a few hundred connections): more
// than malloc's per-thread cache holds, so the next burst takes malloc's slow
// paths. A class routes its operator new/delete through BlockCache<Class> to
// keep up to kMaxBlocks freed blocks of its own size per thread. Blocks of
// other sizes (derived classes) go straight to the heap. Memory is bounded:
// kMaxBlocks * sizeof(T) per thread and class, freed when the thread exits.
// The default bound, 1024 blocks, covers a burst at 512 busy connections;
// malloc would keep most of that memory in its free lists anyway.
#ifndef GATEWAY_LIB_COMMON_BLOCK_CACHE_H_
#define GATEWAY_LIB_COMMON_BLOCK_CACHE_H_

#include <cstddef>
#include <new>

namespace gateway::internal {

template <typename T, size_t kMaxBlocks = 1024>
class BlockCache {
 public:
  static void* Allocate(size_t size) {
    if (size == sizeof(T)) {
      BlockCache& cache = ForThread();
      if (cache.count_ > 0) return cache.blocks_[--cache.count_];
    }
    return ::operator new(size);
  }
  static void Free(void* block, size_t size) {
    if (size == sizeof(T)) {
      BlockCache& cache = ForThread();
      if (!closed_ && cache.count_ < kMaxBlocks) {
        cache.blocks_[cache.count_++] = block;
        return;
      }
    }
    ++freed_to_heap_;  // next to a heap free, a thread-local increment is noise
    ::operator delete(block);
  }

  // For tests, so they can see where a freed block went: the blocks the
  // calling thread's cache holds, and how many blocks `Free` ever gave back
  // to the heap on this thread.
  static size_t CachedOnThisThread() { return closed_ ? 0 : ForThread().count_; }
  static size_t FreedToHeapOnThisThread() { return freed_to_heap_; }

  ~BlockCache() {
    for (size_t i = 0; i < count_; ++i) ::operator delete(blocks_[i]);
    count_ = 0;
    // Objects destroyed later in the thread's exit go straight to the heap.
    closed_ = true;
  }

 private:
  static BlockCache& ForThread() {
    thread_local BlockCache cache;
    return cache;
  }

  // Trivially destructible, so still readable after the cache is destroyed.
  // As a member it was not: the optimizer drops stores to an object whose
  // lifetime ends, and GCC -O2 removed `closed_ = true` from the destructor,
  // so blocks freed later in the thread's exit were cached and leaked.
  static inline thread_local bool closed_ = false;
  static inline thread_local size_t freed_to_heap_ = 0;
  void* blocks_[kMaxBlocks];
  size_t count_ = 0;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_BLOCK_CACHE_H_
