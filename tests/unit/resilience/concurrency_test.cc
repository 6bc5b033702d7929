// One breaker, one limit and one outlier detector shared by several threads,
// as the workers of a Runtime share them. Run under ThreadSanitizer too
// (-DGATEWAY_TSAN=ON): every access must be a proper atomic or locked one.
//
// No test sleeps or relies on timing: invariants are checked on every step
// and after the threads have joined, whatever the interleaving. Catch2
// assertions are not thread-safe, so threads only record what they saw.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "gateway/circuit_breaker.h"
#include "gateway/concurrency_limit.h"
#include "gateway/outlier_detection.h"
#include "gateway/testing/harness.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using testing::ManualClock;

constexpr int kThreads = 4;

// Runs `body(thread_index)` on kThreads threads at once.
template <typename Body>
void RunThreads(Body body) {
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Start together, so that the threads really overlap.
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      body(t);
    });
  }
  for (auto& thread : threads) thread.join();
}

void UpdateMax(std::atomic<int>& max, int value) {
  int seen = max.load();
  while (value > seen && !max.compare_exchange_weak(seen, value)) {
  }
}

TEST_CASE("threads sharing a half-open breaker never hold more than its probe slots") {
  ManualClock clock;
  constexpr uint32_t kSlots = 3;
  auto made = MakeConsecutiveFailureBreaker({.failure_threshold = 1,
                                             .success_threshold = 0xFFFF,
                                             .half_open_max_calls = kSlots,
                                             .open_timeout = absl::Milliseconds(1)},
                                            clock);
  REQUIRE(made.ok());
  CircuitBreaker& breaker = **made;
  breaker.TryAcquire()->Record(test::ServerError());
  clock.Advance(absl::Milliseconds(1));

  // Only successes and cancellations: the breaker stays in this one
  // half-open period, so every permit out is one of its probes.
  std::atomic<int> out{0};
  std::atomic<int> max_out{0};
  std::atomic<int> granted{0};
  RunThreads([&](int t) {
    for (int i = 0; i < 15000; ++i) {
      std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
      if (!permit) continue;
      granted.fetch_add(1);
      UpdateMax(max_out, out.fetch_add(1) + 1);
      out.fetch_sub(1);
      switch ((i + t) % 3) {
        case 0:
          permit->Record(test::Ok());
          break;
        case 1:
          permit->Record(test::Cancelled());
          break;
        default:
          break;  // dropped
      }
    }
  });
  CHECK(max_out.load() <= static_cast<int>(kSlots));
  CHECK(granted.load() > 0);
  REQUIRE(breaker.state() == BreakerState::kHalfOpen);
  // Every slot came back: exactly kSlots probes can go out again.
  std::vector<CircuitBreaker::Permit> probes;
  for (uint32_t i = 0; i < kSlots; ++i) {
    auto p = breaker.TryAcquire();
    REQUIRE(p.has_value());
    probes.push_back(std::move(*p));
  }
  CHECK_FALSE(breaker.TryAcquire().has_value());
}

TEST_CASE("threads sharing a sliding half-open breaker never exceed half_open_calls") {
  ManualClock clock;
  constexpr uint32_t kProbes = 5;
  auto made = MakeSlidingWindowBreaker({.window_size = 1,
                                        .minimum_calls = 1,
                                        .half_open_calls = kProbes,
                                        .open_duration = absl::Milliseconds(1)},
                                       clock);
  REQUIRE(made.ok());
  CircuitBreaker& breaker = **made;
  breaker.TryAcquire()->Record(test::ServerError());
  clock.Advance(absl::Milliseconds(1));

  // Cancelled probes give their slot back and never complete the period.
  std::atomic<int> out{0};
  std::atomic<int> max_out{0};
  RunThreads([&](int) {
    for (int i = 0; i < 15000; ++i) {
      std::optional<CircuitBreaker::Permit> permit = breaker.TryAcquire();
      if (!permit) continue;
      UpdateMax(max_out, out.fetch_add(1) + 1);
      out.fetch_sub(1);
    }
  });
  CHECK(max_out.load() <= static_cast<int>(kProbes));
  REQUIRE(breaker.state() == BreakerState::kHalfOpen);
  std::vector<CircuitBreaker::Permit> probes;
  for (uint32_t i = 0; i < kProbes; ++i) {
    auto p = breaker.TryAcquire();
    REQUIRE(p.has_value());
    probes.push_back(std::move(*p));
  }
  CHECK_FALSE(breaker.TryAcquire().has_value());
}

// Checks that the transitions, ordered by sequence, form one unbroken chain
// from closed, and that the counters agree with them.
void CheckChain(const std::vector<test::Transition>& unordered, const BreakerStats& stats) {
  std::vector<test::Transition> events = unordered;
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  BreakerState state = BreakerState::kClosed;
  uint64_t opened = 0, half_opened = 0, closed = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const test::Transition& e = events[i];
    REQUIRE(e.sequence == i + 1);
    REQUIRE(e.from == state);
    REQUIRE(e.from != e.to);
    // Half-open is entered only from open; closed only from half-open.
    if (e.to == BreakerState::kHalfOpen) REQUIRE(e.from == BreakerState::kOpen);
    if (e.to == BreakerState::kClosed) REQUIRE(e.from == BreakerState::kHalfOpen);
    if (e.from == BreakerState::kOpen) REQUIRE(e.to == BreakerState::kHalfOpen);
    opened += e.to == BreakerState::kOpen;
    half_opened += e.to == BreakerState::kHalfOpen;
    closed += e.to == BreakerState::kClosed;
    state = e.to;
  }
  CHECK(stats.state == state);
  CHECK(stats.opened == opened);
  CHECK(stats.half_opened == half_opened);
  CHECK(stats.closed == closed);
}

// Hammers `breaker` from kThreads threads with a mix of outcomes; every
// thread also moves the clock now and then, so that the breaker goes through
// every state many times whatever the scheduling.
void Storm(CircuitBreaker& breaker, ManualClock& clock) {
  RunThreads([&](int t) {
    std::mt19937 rng(1234 + t);
    std::vector<CircuitBreaker::Permit> held;
    for (int i = 0; i < 20000; ++i) {
      if ((i + 16 * t) % 64 == 0) clock.Advance(absl::Milliseconds(1));
      if (auto permit = breaker.TryAcquire()) held.push_back(std::move(*permit));
      // Finish calls out of order, some after the breaker has moved on.
      if (held.size() > 3 || (!held.empty() && rng() % 2 == 0)) {
        size_t k = rng() % held.size();
        switch (rng() % 8) {
          case 0:
            held[k].Record(test::Cancelled());
            break;
          case 1:
          case 2:
          case 3:
            held[k].Record(test::ServerError());
            break;
          default:
            held[k].Record(test::Ok());
            break;
        }
        held.erase(held.begin() + static_cast<ptrdiff_t>(k));
      }
    }
  });
}

TEST_CASE("a consecutive breaker stormed by threads announces one unbroken chain of states") {
  ManualClock clock;
  auto observer = std::make_shared<test::RecordingObserver>();
  auto made = MakeConsecutiveFailureBreaker({.failure_threshold = 3,
                                             .success_threshold = 2,
                                             .half_open_max_calls = 2,
                                             .open_timeout = absl::Milliseconds(2)},
                                            clock, observer);
  REQUIRE(made.ok());
  Storm(**made, clock);
  auto events = observer->transitions();
  CHECK(events.size() > 10);
  CheckChain(events, (*made)->stats());
}

TEST_CASE("a sliding breaker stormed by threads announces one unbroken chain of states") {
  for (auto window :
       {SlidingWindowBreakerConfig::Window::kCount, SlidingWindowBreakerConfig::Window::kTime}) {
    ManualClock clock;
    auto observer = std::make_shared<test::RecordingObserver>();
    auto made =
        MakeSlidingWindowBreaker({.window = window,
                                  .window_size = 20,
                                  .window_duration = absl::Milliseconds(20),
                                  .window_buckets = 4,
                                  .minimum_calls = 10,
                                  .failure_rate_threshold = 40,
                                  .slow_call_rate_threshold = 90,
                                  .half_open_calls = 4,
                                  .open_duration = absl::Milliseconds(1),
                                  .max_open_duration = absl::Milliseconds(8),
                                  .classifier = {.slow_call_duration = absl::Milliseconds(3)}},
                                 clock, observer);
    REQUIRE(made.ok());
    Storm(**made, clock);
    auto events = observer->transitions();
    CHECK(events.size() > 10);
    CheckChain(events, (*made)->stats());
  }
}

TEST_CASE("threads sharing a concurrency limit never exceed it and leave it at zero") {
  auto made = ConcurrencyLimits::Create({.max_requests = 8, .max_retries = 2});
  REQUIRE(made.ok());
  ConcurrencyLimits& limits = **made;
  std::atomic<int> max_seen{0};
  std::atomic<bool> retries_over{false};
  RunThreads([&](int t) {
    std::mt19937 rng(99 + t);
    std::vector<ConcurrencyLimits::Permit> held;
    for (int i = 0; i < 30000; ++i) {
      LimitKind kind = rng() % 4 == 0 ? LimitKind::kRetries : LimitKind::kRequests;
      if (auto permit = limits.TryAcquire(kind)) {
        UpdateMax(max_seen, static_cast<int>(limits.active(LimitKind::kRequests)));
        if (limits.active(LimitKind::kRetries) > 2) retries_over = true;
        held.push_back(std::move(*permit));
      }
      if (held.size() > 4 || (!held.empty() && rng() % 2 == 0)) {
        held.erase(held.begin() + static_cast<ptrdiff_t>(rng() % held.size()));
      }
    }
  });
  CHECK(max_seen.load() <= 8);
  CHECK_FALSE(retries_over.load());
  LimitStats stats = limits.stats();
  CHECK(stats.active_requests == 0);
  CHECK(stats.active_retries == 0);
}

TEST_CASE("threads reporting to one outlier detector keep ejections within the cap") {
  ManualClock clock;
  auto observer = std::make_shared<test::RecordingObserver>();
  auto made = OutlierDetector::Create("c",
                                      {.consecutive_5xx = 3,
                                       .consecutive_gateway_failure = 2,
                                       .base_ejection_time = absl::Milliseconds(1),
                                       .max_ejection_time = absl::Milliseconds(4),
                                       .max_ejection_percent = 30},
                                      clock, observer);
  REQUIRE(made.ok());
  OutlierDetector& detector = **made;
  std::vector<HostPtr> hosts;
  for (int i = 0; i < 10; ++i) {
    hosts.push_back(std::make_shared<const Host>("10.1.0." + std::to_string(i), 80));
  }
  auto snapshot = std::make_shared<const HostSet>(hosts, 1);
  std::atomic<bool> over_cap{false};
  std::atomic<bool> missing{false};
  RunThreads([&](int t) {
    std::mt19937 rng(7 + t);
    // Each thread looks its snapshot's monitors up itself, as workers do.
    auto monitors = detector.Track(snapshot);
    for (int i = 0; i < 20000; ++i) {
      const Host& host = *hosts[rng() % hosts.size()];
      OutlierDetector::HostMonitor* monitor = monitors->Find(host);
      if (monitor == nullptr) {
        missing = true;
        continue;
      }
      switch (rng() % 4) {
        case 0:
          monitor->Report(test::Ok());
          break;
        case 1:
          monitor->Report(test::ConnectFailure());
          break;
        default:
          monitor->Report(test::ServerError());
          break;
      }
      if (t == 0 && i % 16 == 0) {
        clock.Advance(absl::Milliseconds(1));
        detector.Sweep();
        if (i % 64 == 0) detector.OnActiveCheckPassed(host.name());
      }
      if (detector.stats().ejected > 3) over_cap = true;
    }
  });
  CHECK_FALSE(over_cap.load());
  CHECK_FALSE(missing.load());
  // Per host, events alternate: ejected, returned, ejected, ...
  std::map<std::string, bool> ejected;
  int ejections = 0;
  for (const test::Ejection& e : observer->ejections()) {
    REQUIRE(e.ejected != ejected[e.host]);
    ejected[e.host] = e.ejected;
    ejections += e.ejected;
  }
  CHECK(ejections > 0);
  int still_out = 0;
  for (const auto& [host, out] : ejected) still_out += out;
  CHECK(detector.stats().ejected == static_cast<uint32_t>(still_out));
}

}  // namespace
}  // namespace gateway
