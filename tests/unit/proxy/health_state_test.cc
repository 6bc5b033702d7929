// HealthState thresholds and HealthCheckSpec validation.
#include <catch2/catch.hpp>

#include "gateway/health_check.h"

namespace gateway {
namespace {

using T = HealthState::Transition;

TEST_CASE(
    "a healthy host turns unhealthy only after the unhealthy threshold of consecutive failures") {
  HealthState s(2, 3);
  CHECK(s.healthy());
  CHECK(s.Record(false) == T::kNone);
  CHECK(s.Record(false) == T::kNone);
  CHECK(s.healthy());
  CHECK(s.streak() == 2);
  CHECK(s.Record(false) == T::kBecameUnhealthy);
  CHECK_FALSE(s.healthy());
  CHECK(s.streak() == 0);
  CHECK(s.Record(false) == T::kNone);  // already down: no second transition
}

TEST_CASE("a pass between failures restarts the failure streak") {
  HealthState s(2, 3);
  s.Record(false);
  s.Record(false);
  CHECK(s.Record(true) == T::kNone);
  CHECK(s.streak() == 0);
  CHECK(s.Record(false) == T::kNone);
  CHECK(s.Record(false) == T::kNone);
  CHECK(s.healthy());
  CHECK(s.Record(false) == T::kBecameUnhealthy);
}

TEST_CASE("an unhealthy host returns after the healthy threshold of consecutive passes") {
  HealthState s(2, 1, /*healthy=*/false);
  CHECK(s.Record(true) == T::kNone);
  CHECK(s.Record(false) == T::kNone);  // the streak breaks
  CHECK(s.Record(true) == T::kNone);
  CHECK(s.Record(true) == T::kBecameHealthy);
  CHECK(s.healthy());
  CHECK(s.Record(false) == T::kBecameUnhealthy);  // threshold 1
}

TEST_CASE("health check specs are validated naming the field") {
  auto why = [](HealthCheckSpec s) { return std::string(s.Validate().message()); };
  CHECK(HealthCheckSpec{}.Validate().ok());
  CHECK(why({.path = "health"}).find("health_check.path") != std::string::npos);
  CHECK(why({.path = "/a b"}).find("health_check.path") != std::string::npos);
  CHECK(why({.host = "bad\r\nhost"}).find("health_check.host") != std::string::npos);
  CHECK(why({.expected_statuses = {}}).find("expected_statuses") != std::string::npos);
  CHECK(why({.expected_statuses = {{300, 200}}}).find("expected_statuses") != std::string::npos);
  CHECK(why({.interval = absl::ZeroDuration()}).find("interval") != std::string::npos);
  CHECK(why({.timeout = absl::ZeroDuration()}).find("timeout") != std::string::npos);
  CHECK(why({.jitter = absl::Seconds(-1)}).find("jitter") != std::string::npos);
  CHECK(why({.healthy_threshold = 0}).find("threshold") != std::string::npos);
  // TCP checks ignore the HTTP fields.
  CHECK(HealthCheckSpec{.type = HealthCheckSpec::Type::kTcp, .path = ""}.Validate().ok());
}

}  // namespace
}  // namespace gateway
