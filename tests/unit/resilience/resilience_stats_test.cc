// Event formatting and the logging observer.
#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "gateway/circuit_breaker.h"
#include "gateway/resilience_stats.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

TEST_CASE("the logging observer writes exactly one line per breaker transition") {
  testing::ManualClock clock;
  std::mutex mu;
  std::vector<std::string> lines;
  auto observer = MakeLoggingObserver([&](std::string_view line) {
    std::lock_guard<std::mutex> lock(mu);
    lines.emplace_back(line);
  });
  auto breaker = MakeConsecutiveFailureBreaker(
      {.name = "users", .failure_threshold = 2, .open_timeout = absl::Seconds(30)}, clock,
      observer);
  REQUIRE(breaker.ok());
  for (int i = 0; i < 6; ++i) {
    if (auto permit = (*breaker)->TryAcquire()) permit->Record({.status = 500});
  }
  clock.Advance(absl::Seconds(30));
  for (int i = 0; i < 3; ++i) {
    if (auto permit = (*breaker)->TryAcquire()) permit->Record({.status = 200});
  }
  CHECK(lines ==
        std::vector<std::string>{
            "circuit breaker 'users': closed -> open (2 consecutive failures; open for 30s)",
            "circuit breaker 'users': open -> half_open (open for 30s elapsed)",
            "circuit breaker 'users': half_open -> closed (1 successful probe)",
        });
}

TEST_CASE("ejection events format with host, duration, reason and count") {
  HostEjectionEvent e{.cluster = "api",
                      .host = "[::1]:8080",
                      .ejected = true,
                      .reason = EjectionReason::kConsecutiveGatewayFailure,
                      .times_ejected = 3,
                      .duration = absl::Seconds(90)};
  CHECK(FormatEvent(e) ==
        "outlier detection 'api': host [::1]:8080 ejected for 1m30s "
        "(consecutive_gateway_failure, 3 times)");
  e.ejected = false;
  e.reason = EjectionReason::kExpired;
  CHECK(FormatEvent(e) == "outlier detection 'api': host [::1]:8080 returned (expired)");
}

TEST_CASE("state and ejection reason names are stable metric labels") {
  CHECK(BreakerStateName(BreakerState::kClosed) == "closed");
  CHECK(BreakerStateName(BreakerState::kOpen) == "open");
  CHECK(BreakerStateName(BreakerState::kHalfOpen) == "half_open");
  CHECK(EjectionReasonName(EjectionReason::kConsecutive5xx) == "consecutive_5xx");
  CHECK(EjectionReasonName(EjectionReason::kActiveCheck) == "active_check");
  CHECK(EjectionReasonName(EjectionReason::kRemoved) == "removed");
}

}  // namespace
}  // namespace gateway
