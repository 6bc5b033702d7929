// The manual clock and the simulated dispatcher that the testing harness runs
// streams on: ordering, deadlines and cancellation must be exact, because every
// deterministic test in the project depends on them.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/testing/harness.h"

namespace gateway::testing {
namespace {

TEST_CASE("ManualClock moves only when advanced with wall and monotonic time together") {
  ManualClock clock(absl::FromUnixSeconds(1'000));
  absl::Time now = clock.Now();
  absl::Duration mono = clock.Monotonic();
  REQUIRE(now == absl::FromUnixSeconds(1'000));
  REQUIRE(clock.Now() == now);
  REQUIRE(clock.Monotonic() == mono);

  clock.Advance(absl::Milliseconds(1500));
  REQUIRE(clock.Now() == now + absl::Milliseconds(1500));
  REQUIRE(clock.Monotonic() == mono + absl::Milliseconds(1500));
}

TEST_CASE("posted callbacks never run inside Post and run in posting order") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<int> order;
  d.Post([&] { order.push_back(1); });
  d.Post([&] { order.push_back(2); });
  d.Post([&] { order.push_back(3); });
  REQUIRE(order.empty());
  d.RunUntilIdle();
  REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a callback posted from a callback runs after those already queued and not inside it") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<std::string> order;
  d.Post([&] {
    d.Post([&] { order.push_back("nested"); });
    order.push_back("outer-end");
  });
  d.Post([&] { order.push_back("second"); });
  d.RunUntilIdle();
  REQUIRE(order == std::vector<std::string>{"outer-end", "second", "nested"});
}

TEST_CASE("callbacks posted from another thread run on the next RunUntilIdle") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int ran = 0;
  std::thread t([&] { d.PostFromAnyThread([&] { ++ran; }); });
  t.join();
  REQUIRE(ran == 0);
  d.RunUntilIdle();
  REQUIRE(ran == 1);
}

TEST_CASE("a zero-delay timer fires on a later RunUntilIdle and never inside Enable") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int fired = 0;
  auto timer = d.CreateTimer([&] { ++fired; });
  REQUIRE_FALSE(timer->enabled());
  timer->Enable(absl::ZeroDuration());
  REQUIRE(fired == 0);
  REQUIRE(timer->enabled());
  REQUIRE(d.armed_timers() == 1);
  d.RunUntilIdle();
  REQUIRE(fired == 1);
  REQUIRE_FALSE(timer->enabled());
  REQUIRE(d.armed_timers() == 0);
  d.RunUntilIdle();
  REQUIRE(fired == 1);  // one-shot
}

TEST_CASE("a timer does not fire before its deadline and fires exactly at it") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int fired = 0;
  auto timer = d.CreateTimer([&] { ++fired; });
  timer->Enable(absl::Milliseconds(100));
  d.RunUntilIdle();
  REQUIRE(fired == 0);
  d.Advance(absl::Milliseconds(99));
  REQUIRE(fired == 0);
  d.Advance(absl::Milliseconds(1));
  REQUIRE(fired == 1);
}

TEST_CASE("Advance fires timers in deadline order with the clock at each deadline") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  absl::Duration t0 = clock.Monotonic();
  std::vector<std::pair<std::string, absl::Duration>> fired;
  auto at = [&](std::string name) {
    return [&, name] { fired.emplace_back(name, clock.Monotonic() - t0); };
  };
  auto late = d.CreateTimer(at("late"));
  auto early = d.CreateTimer(at("early"));
  auto middle = d.CreateTimer(at("middle"));
  late->Enable(absl::Seconds(3));
  early->Enable(absl::Seconds(1));
  middle->Enable(absl::Seconds(2));

  d.Advance(absl::Seconds(10));
  REQUIRE(fired.size() == 3);
  REQUIRE(fired[0] == std::make_pair(std::string("early"), absl::Seconds(1)));
  REQUIRE(fired[1] == std::make_pair(std::string("middle"), absl::Seconds(2)));
  REQUIRE(fired[2] == std::make_pair(std::string("late"), absl::Seconds(3)));
  REQUIRE(clock.Monotonic() - t0 == absl::Seconds(10));
}

TEST_CASE("timers with the same deadline fire in the order they were armed") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<int> order;
  auto t1 = d.CreateTimer([&] { order.push_back(1); });
  auto t2 = d.CreateTimer([&] { order.push_back(2); });
  auto t3 = d.CreateTimer([&] { order.push_back(3); });
  t2->Enable(absl::Seconds(1));
  t3->Enable(absl::Seconds(1));
  t1->Enable(absl::Seconds(1));
  d.Advance(absl::Seconds(1));
  REQUIRE(order == std::vector<int>{2, 3, 1});
}

TEST_CASE("posted callbacks run before a due timer and between timers") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<std::string> order;
  auto a = d.CreateTimer([&] {
    order.push_back("timer-a");
    d.Post([&] { order.push_back("post-from-a"); });
  });
  auto b = d.CreateTimer([&] { order.push_back("timer-b"); });
  a->Enable(absl::ZeroDuration());
  b->Enable(absl::ZeroDuration());
  d.Post([&] { order.push_back("post"); });
  d.RunUntilIdle();
  REQUIRE(order == std::vector<std::string>{"post", "timer-a", "post-from-a", "timer-b"});
}

TEST_CASE("a disabled timer never fires") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int fired = 0;
  auto timer = d.CreateTimer([&] { ++fired; });
  timer->Enable(absl::Seconds(1));
  timer->Disable();
  REQUIRE_FALSE(timer->enabled());
  REQUIRE(d.armed_timers() == 0);
  d.Advance(absl::Seconds(5));
  REQUIRE(fired == 0);
}

TEST_CASE("a destroyed timer never fires") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int fired = 0;
  auto timer = d.CreateTimer([&] { ++fired; });
  timer->Enable(absl::ZeroDuration());
  timer.reset();
  REQUIRE(d.armed_timers() == 0);
  d.RunUntilIdle();
  d.Advance(absl::Seconds(5));
  REQUIRE(fired == 0);
}

TEST_CASE("a timer cancelled by an earlier timer with the same deadline never fires") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<std::string> order;
  std::unique_ptr<Timer> victim = d.CreateTimer([&] { order.push_back("victim"); });
  std::unique_ptr<Timer> destroyed = d.CreateTimer([&] { order.push_back("destroyed"); });
  auto killer = d.CreateTimer([&] {
    order.push_back("killer");
    victim->Disable();
    destroyed.reset();
  });
  killer->Enable(absl::Seconds(1));
  victim->Enable(absl::Seconds(1));
  destroyed->Enable(absl::Seconds(1));
  d.Advance(absl::Seconds(2));
  REQUIRE(order == std::vector<std::string>{"killer"});
}

TEST_CASE("re-enabling an armed timer moves its deadline instead of adding one") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  int fired = 0;
  auto timer = d.CreateTimer([&] { ++fired; });
  timer->Enable(absl::Seconds(1));
  timer->Enable(absl::Seconds(3));
  REQUIRE(d.armed_timers() == 1);
  d.Advance(absl::Seconds(2));
  REQUIRE(fired == 0);
  d.Advance(absl::Seconds(1));
  REQUIRE(fired == 1);
  d.Advance(absl::Seconds(10));
  REQUIRE(fired == 1);
}

TEST_CASE("a timer re-armed from its own callback fires again on the next deadline") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  std::vector<absl::Duration> at;
  absl::Duration t0 = clock.Monotonic();
  std::unique_ptr<Timer> timer;
  timer = d.CreateTimer([&] {
    at.push_back(clock.Monotonic() - t0);
    if (at.size() < 3) timer->Enable(absl::Seconds(1));
  });
  timer->Enable(absl::Seconds(1));
  d.Advance(absl::Seconds(10));
  REQUIRE(at == std::vector<absl::Duration>{absl::Seconds(1), absl::Seconds(2), absl::Seconds(3)});
}

TEST_CASE("a timer armed during Advance fires within the same Advance if its deadline is reached") {
  ManualClock clock;
  SimulatedDispatcher d(clock);
  absl::Duration t0 = clock.Monotonic();
  absl::Duration inner_at = absl::ZeroDuration();
  std::unique_ptr<Timer> inner = d.CreateTimer([&] { inner_at = clock.Monotonic() - t0; });
  auto outer = d.CreateTimer([&] { inner->Enable(absl::Seconds(2)); });
  outer->Enable(absl::Seconds(1));
  d.Advance(absl::Seconds(2));
  REQUIRE(inner_at == absl::ZeroDuration());  // due at 3s, not yet
  d.Advance(absl::Seconds(1));
  REQUIRE(inner_at == absl::Seconds(3));
}

TEST_CASE("a timer that outlives its dispatcher is inert") {
  ManualClock clock;
  std::unique_ptr<Timer> timer;
  int fired = 0;
  {
    SimulatedDispatcher d(clock);
    timer = d.CreateTimer([&] { ++fired; });
    timer->Enable(absl::Seconds(1));
  }
  timer->Enable(absl::Seconds(1));
  REQUIRE_FALSE(timer->enabled());
  timer->Disable();
  timer.reset();
  REQUIRE(fired == 0);
}

}  // namespace
}  // namespace gateway::testing
