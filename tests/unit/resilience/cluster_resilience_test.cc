// A cluster's resilience bundle: one classifier for breaker and outlier
// detection, names from the cluster, validation that names the part.
#include <catch2/catch.hpp>

#include "gateway/cluster_resilience.h"
#include "gateway/testing/harness.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using testing::ManualClock;

TEST_CASE("a cluster's breaker and outlier detector share the spec's classifier") {
  ManualClock clock;
  ClusterResilienceSpec spec{.classifier = {.failure_statuses = {429}},
                             .breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 3},
                             .outlier_detection = OutlierDetectionConfig{.consecutive_5xx = 3}};
  auto built = BuildClusterResilience("users", spec, clock);
  REQUIRE(built.ok());
  REQUIRE(built->breaker != nullptr);
  REQUIRE(built->limits != nullptr);
  REQUIRE(built->outlier_detector != nullptr);
  CHECK(built->breaker->name() == "users");
  CHECK(built->limits->name() == "users");
  CHECK(built->outlier_detector->cluster() == "users");

  auto hosts = std::make_shared<const HostSet>(
      std::vector<HostPtr>{std::make_shared<const Host>("10.0.0.1", 80)}, 1);
  auto monitors = built->outlier_detector->Track(hosts);
  OutlierDetector::HostMonitor* monitor = monitors->Find(*hosts->hosts()[0]);
  REQUIRE(monitor != nullptr);
  for (int i = 0; i < 3; ++i) {
    auto permit = built->breaker->TryAcquire();
    REQUIRE(permit.has_value());
    permit->Record(test::Status(429));
    monitor->Report(test::Status(429));
  }
  CHECK(built->breaker->state() == BreakerState::kOpen);
  CHECK(monitor->ejected());
}

TEST_CASE("an empty resilience spec builds limits only") {
  auto built = BuildClusterResilience("c", {});
  REQUIRE(built.ok());
  CHECK(built->breaker == nullptr);
  CHECK(built->outlier_detector == nullptr);
  REQUIRE(built->limits != nullptr);
  CHECK(built->limits->max(LimitKind::kRequests) == 1024);
  CHECK(built->limits->max(LimitKind::kRetries) == 3);
}

TEST_CASE("an explicit breaker name is kept and the sliding breaker is built too") {
  ManualClock clock;
  ClusterResilienceSpec spec{.breaker = SlidingWindowBreakerConfig{.name = "users-reads"}};
  auto built = BuildClusterResilience("users", spec, clock);
  REQUIRE(built.ok());
  REQUIRE(built->breaker != nullptr);
  CHECK(built->breaker->name() == "users-reads");
  CHECK(built->breaker->stats().window_calls == 0);
}

TEST_CASE("resilience spec validation names the cluster and the part") {
  auto message = [](const ClusterResilienceSpec& spec) {
    return std::string(BuildClusterResilience("users", spec).status().message());
  };
  CHECK(message({.breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 0}}) ==
        "cluster 'users': breaker: consecutive breaker failure_threshold must be in "
        "[1, 2147483648], got 0");
  CHECK_THAT(message({.limits = {.max_requests = 0}}),
             Catch::StartsWith("cluster 'users': limits: "));
  CHECK_THAT(message({.outlier_detection = OutlierDetectionConfig{.max_ejection_percent = -1}}),
             Catch::StartsWith("cluster 'users': outlier_detection: "));
  CHECK_THAT(message({.classifier = {.failure_statuses = {1000}}}),
             Catch::Contains("failure_statuses"));
  // The shared classifier replaces the parts' own, so theirs is not judged.
  ClusterResilienceSpec replaced{
      .breaker = ConsecutiveFailureBreakerConfig{.classifier = {.failure_statuses = {1000}}}};
  CHECK(replaced.Validate().ok());
}

}  // namespace
}  // namespace gateway
