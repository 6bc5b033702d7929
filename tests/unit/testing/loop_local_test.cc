// LoopLocalSlot: per-loop objects of shared components, created and destroyed
// on their loop.
#include <memory>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/dispatcher.h"
#include "gateway/testing/harness.h"

namespace gateway::testing {
namespace {

struct Tracked {
  explicit Tracked(std::vector<int>* sink, int tag) : log(sink), id(tag) { log->push_back(id); }
  ~Tracked() { log->push_back(-id); }
  std::vector<int>* log;
  int id;
};

TEST_CASE("a loop-local object is made once per dispatcher and dies with it") {
  std::vector<int> log;
  ManualClock clock;
  LoopLocalSlot slot;
  {
    SimulatedDispatcher a(clock);
    SimulatedDispatcher b(clock);
    int made = 0;
    auto make = [&](int id) {
      return [&, id] {
        ++made;
        return std::make_unique<Tracked>(&log, id);
      };
    };
    Tracked* first = slot.Get<Tracked>(a, make(1));
    CHECK(slot.Get<Tracked>(a, make(99)) == first);
    Tracked* other = slot.Get<Tracked>(b, make(2));
    CHECK(other != first);
    CHECK(made == 2);
    CHECK(log == std::vector<int>{1, 2});
  }
  // Each dispatcher destroyed its own object.
  CHECK(log == std::vector<int>{1, 2, -2, -1});
}

TEST_CASE("a null object is not stored and is asked for again") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  LoopLocalSlot slot;
  int calls = 0;
  auto none = [&]() -> std::unique_ptr<int> {
    ++calls;
    return nullptr;
  };
  CHECK(slot.Get<int>(d, none) == nullptr);
  CHECK(slot.Get<int>(d, none) == nullptr);
  CHECK(calls == 2);
}

TEST_CASE("objects of a released slot go when the loop next creates an object") {
  std::vector<int> log;
  ManualClock clock;
  SimulatedDispatcher d(clock);
  auto old_slot = std::make_unique<LoopLocalSlot>();
  old_slot->Get<Tracked>(d, [&] { return std::make_unique<Tracked>(&log, 1); });
  old_slot.reset();  // e.g. the filter factory of a pipeline replaced by a reload
  CHECK(log == std::vector<int>{1});
  LoopLocalSlot new_slot;
  new_slot.Get<Tracked>(d, [&] { return std::make_unique<Tracked>(&log, 2); });
  CHECK(log == std::vector<int>{1, 2, -1});
}

TEST_CASE("slots never share objects, even when one reuses another's address") {
  std::vector<int> log;  // outlives the dispatcher, which destroys the objects
  ManualClock clock;
  SimulatedDispatcher d(clock);
  alignas(LoopLocalSlot) unsigned char storage[sizeof(LoopLocalSlot)];
  auto* s1 = new (storage) LoopLocalSlot();
  s1->Get<Tracked>(d, [&] { return std::make_unique<Tracked>(&log, 1); });
  s1->~LoopLocalSlot();
  auto* s2 = new (storage) LoopLocalSlot();
  Tracked* t = s2->Get<Tracked>(d, [&] { return std::make_unique<Tracked>(&log, 2); });
  CHECK(t->id == 2);
  s2->~LoopLocalSlot();
}

}  // namespace
}  // namespace gateway::testing
