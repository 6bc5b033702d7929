#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "gateway/dispatcher.h"

namespace gateway {

struct Dispatcher::LoopLocals {
  struct Entry {
    std::shared_ptr<LoopLocalSlot::Key> key;
    std::shared_ptr<void> object;
  };
  // A handful of slots per loop (one per shared component that needs loop
  // state), so a vector scan beats a map.
  std::vector<Entry> entries;
};

namespace {

// Ids are never reused, so an entry can never be mistaken for another slot's.
std::atomic<uint64_t> next_slot_id{1};

}  // namespace

LoopLocalSlot::LoopLocalSlot()
    : key_(std::make_shared<Key>(next_slot_id.fetch_add(1, std::memory_order_relaxed))) {}

LoopLocalSlot::~LoopLocalSlot() {
  // The slot may die on any thread; loops drop its objects on their own thread.
  key_->released.store(true, std::memory_order_release);
}

void* LoopLocalSlot::Find(Dispatcher& dispatcher) const {
  if (dispatcher.loop_locals_ == nullptr) return nullptr;
  for (const auto& e : dispatcher.loop_locals_->entries) {
    if (e.key->id == key_->id) return e.object.get();
  }
  return nullptr;
}

void LoopLocalSlot::Store(Dispatcher& dispatcher, std::shared_ptr<void> object) {
  if (dispatcher.loop_locals_ == nullptr) {
    dispatcher.loop_locals_ = std::make_unique<Dispatcher::LoopLocals>();
  }
  auto& entries = dispatcher.loop_locals_->entries;
  // Objects of released slots go now, on this thread: after a reload the new
  // components create their objects and the old ones are swept here.
  std::vector<std::shared_ptr<void>> dead;
  for (size_t i = 0; i < entries.size();) {
    if (entries[i].key->released.load(std::memory_order_acquire)) {
      dead.push_back(std::move(entries[i].object));
      entries[i] = std::move(entries.back());
      entries.pop_back();
    } else {
      ++i;
    }
  }
  entries.push_back({key_, std::move(object)});
  // Destroyed after the table is consistent: a destructor may use the loop.
  dead.clear();
}

Dispatcher::Dispatcher() = default;

Dispatcher::~Dispatcher() { DestroyLoopLocals(); }

void Dispatcher::DestroyLoopLocals() {
  if (loop_locals_ == nullptr) return;
  // Newest first, so an object created from inside another's use goes first.
  auto& entries = loop_locals_->entries;
  while (!entries.empty()) {
    std::shared_ptr<void> object = std::move(entries.back().object);
    entries.pop_back();
    object.reset();
  }
  loop_locals_.reset();
}

}  // namespace gateway
