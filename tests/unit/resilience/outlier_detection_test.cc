// Passive outlier detection: ejection rules, ejection time and its backoff,
// the ejection cap, early return, membership changes.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/outlier_detection.h"
#include "gateway/testing/harness.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using test::ConnectFailure;
using test::Ok;
using test::RecordingObserver;
using test::ServerError;
using testing::ManualClock;

std::vector<HostPtr> Hosts(int n) {
  std::vector<HostPtr> hosts;
  for (int i = 1; i <= n; ++i) {
    hosts.push_back(std::make_shared<const Host>("10.0.0." + std::to_string(i), 80));
  }
  return hosts;
}

struct Fixture {
  explicit Fixture(OutlierDetectionConfig config, int hosts = 10)
      : observer(std::make_shared<RecordingObserver>()), members(Hosts(hosts)) {
    auto made = OutlierDetector::Create("users", std::move(config), clock, observer);
    REQUIRE(made.ok());
    detector = *made;
    snapshot = std::make_shared<const HostSet>(members, 1);
    monitors = detector->Track(snapshot);
  }
  OutlierDetector::HostMonitor& Monitor(int i) {
    OutlierDetector::HostMonitor* m = monitors->Find(*members[i]);
    REQUIRE(m != nullptr);
    return *m;
  }
  void Report(int i, const CallOutcome& outcome, int times = 1) {
    for (int k = 0; k < times; ++k) Monitor(i).Report(outcome);
  }

  ManualClock clock;
  std::shared_ptr<RecordingObserver> observer;
  std::vector<HostPtr> members;
  std::shared_ptr<OutlierDetector> detector;
  std::shared_ptr<const HostSet> snapshot;
  std::shared_ptr<const OutlierDetector::MonitorSet> monitors;
};

OutlierDetectionConfig Config() {
  return {.consecutive_5xx = 5,
          .consecutive_gateway_failure = 3,
          .base_ejection_time = absl::Seconds(10),
          .max_ejection_time = absl::Seconds(25),
          .ejection_count_decay = absl::ZeroDuration(),
          .max_ejection_percent = 20};
}

TEST_CASE("a host is ejected after consecutive_5xx failures") {
  Fixture f(Config());
  f.Report(0, ServerError(), 4);
  CHECK_FALSE(f.Monitor(0).ejected());
  f.Report(0, ServerError());  // five in a row
  CHECK(f.Monitor(0).ejected());
  CHECK(f.detector->IsEjected("10.0.0.1:80"));
  CHECK(f.detector->EjectedHosts() == std::vector<std::string>{"10.0.0.1:80"});
  auto events = f.observer->ejections();
  REQUIRE(events.size() == 1);
  CHECK(events[0].cluster == "users");
  CHECK(events[0].host == "10.0.0.1:80");
  CHECK(events[0].ejected);
  CHECK(events[0].reason == EjectionReason::kConsecutive5xx);
  CHECK(events[0].times_ejected == 1);
  CHECK(events[0].duration == absl::Seconds(10));
  CHECK(f.observer->lines()[0] ==
        "outlier detection 'users': host 10.0.0.1:80 ejected for 10s (consecutive_5xx, 1 time)");
  OutlierStats stats = f.detector->stats();
  CHECK(stats.hosts == 10);
  CHECK(stats.ejected == 1);
  CHECK(stats.ejections_consecutive_5xx == 1);
}

TEST_CASE("a success resets a host's consecutive failure count") {
  Fixture f(Config());
  for (int round = 0; round < 4; ++round) {
    f.Report(0, ServerError(), 4);
    f.Report(0, Ok());
  }
  CHECK_FALSE(f.Monitor(0).ejected());
  CHECK(f.detector->stats().ejected == 0);
}

TEST_CASE("consecutive gateway failures eject a host with their own reason") {
  OutlierDetectionConfig config = Config();
  config.consecutive_5xx = 10;
  Fixture f(config);
  f.Report(1, ConnectFailure());
  f.Report(1, test::Timeout());
  f.Report(1, test::Status(500));  // a 5xx that is not a gateway failure resets the run
  f.Report(1, test::Reset());
  f.Report(1, test::Status(502));
  CHECK_FALSE(f.Monitor(1).ejected());
  f.Report(1, test::Status(504));
  CHECK(f.Monitor(1).ejected());
  auto events = f.observer->ejections();
  REQUIRE(events.size() == 1);
  CHECK(events[0].reason == EjectionReason::kConsecutiveGatewayFailure);
  CHECK(f.detector->stats().ejections_consecutive_gateway_failure == 1);
}

TEST_CASE("what counts toward consecutive_5xx follows the shared classifier") {
  OutlierDetectionConfig config = Config();
  config.consecutive_gateway_failure = 0;
  config.classifier.failure_statuses = {429};
  config.classifier.success_statuses = {503};
  Fixture f(config);
  f.Report(0, test::Status(503), 10);  // never a failure here
  CHECK_FALSE(f.Monitor(0).ejected());
  f.Report(0, test::Status(429), 5);
  CHECK(f.Monitor(0).ejected());
}

TEST_CASE("cancelled calls and calls to an ejected host are not counted") {
  Fixture f(Config());
  f.Report(0, ServerError(), 4);
  f.Report(0, test::Cancelled(), 3);  // does not break the run either
  f.Report(0, ServerError());
  REQUIRE(f.Monitor(0).ejected());
  f.Report(0, ServerError(), 20);  // stray calls while ejected
  CHECK(f.observer->ejections().size() == 1);
  f.clock.Advance(absl::Seconds(10));
  f.detector->Sweep();
  REQUIRE_FALSE(f.Monitor(0).ejected());
  // Back with clean counters: four more failures do not eject.
  f.Report(0, ServerError(), 4);
  CHECK_FALSE(f.Monitor(0).ejected());
}

TEST_CASE("ejection lasts base_ejection_time times the ejection count, capped") {
  Fixture f(Config());
  for (absl::Duration expected :
       {absl::Seconds(10), absl::Seconds(20), absl::Seconds(25), absl::Seconds(25)}) {
    f.Report(2, ServerError(), 5);
    REQUIRE(f.Monitor(2).ejected());
    CHECK(f.detector->next_expiry() == f.clock.Monotonic() + expected);
    f.clock.Advance(expected - absl::Nanoseconds(1));
    f.detector->Sweep();
    CHECK(f.Monitor(2).ejected());
    f.clock.Advance(absl::Nanoseconds(1));
    f.detector->Sweep();
    CHECK_FALSE(f.Monitor(2).ejected());
    CHECK(f.detector->next_expiry() == absl::InfiniteDuration());
  }
  auto events = f.observer->ejections();
  REQUIRE(events.size() == 8);
  CHECK(events[4].ejected);
  CHECK(events[4].times_ejected == 3);
  CHECK(events[4].duration == absl::Seconds(25));
  CHECK_FALSE(events[7].ejected);
  CHECK(events[7].reason == EjectionReason::kExpired);
  CHECK(f.detector->stats().returned_expired == 4);
}

TEST_CASE("a host's ejection count decays while it stays in service") {
  OutlierDetectionConfig config = Config();
  config.ejection_count_decay = absl::Seconds(30);
  Fixture f(config);
  auto eject_and_return = [&] {
    f.Report(3, ServerError(), 5);
    REQUIRE(f.Monitor(3).ejected());
    absl::Duration duration = f.observer->ejections().back().duration;
    f.clock.Advance(duration);
    f.detector->Sweep();
    REQUIRE_FALSE(f.Monitor(3).ejected());
    return duration;
  };
  CHECK(eject_and_return() == absl::Seconds(10));
  CHECK(eject_and_return() == absl::Seconds(20));  // right away: count 2
  f.clock.Advance(absl::Seconds(30));              // one decay step: count back to 1
  CHECK(eject_and_return() == absl::Seconds(20));
  f.clock.Advance(absl::Seconds(60) - absl::Nanoseconds(1));  // one full step only
  CHECK(eject_and_return() == absl::Seconds(20));
  f.clock.Advance(absl::Hours(1));
  CHECK(eject_and_return() == absl::Seconds(10));
}

TEST_CASE("max_ejection_percent caps how many hosts are out at once") {
  Fixture f(Config());  // 10 hosts, 20%: two
  f.Report(0, ServerError(), 5);
  f.Report(1, ServerError(), 5);
  f.Report(2, ServerError(), 5);
  CHECK(f.Monitor(0).ejected());
  CHECK(f.Monitor(1).ejected());
  CHECK_FALSE(f.Monitor(2).ejected());
  CHECK(f.detector->stats().ejections_overflow == 1);
  // Once a host is back, the next multiple of the threshold ejects host 2.
  f.clock.Advance(absl::Seconds(10));
  f.detector->Sweep();
  f.Report(2, ServerError(), 4);
  CHECK_FALSE(f.Monitor(2).ejected());
  f.Report(2, ServerError());
  CHECK(f.Monitor(2).ejected());
  CHECK(f.detector->stats().ejected == 1);
}

TEST_CASE("at least one host may be ejected whatever the percentage, unless it is zero") {
  OutlierDetectionConfig config = Config();
  config.max_ejection_percent = 10;
  Fixture small(config, 3);
  small.Report(0, ServerError(), 5);
  small.Report(1, ServerError(), 5);
  CHECK(small.Monitor(0).ejected());
  CHECK_FALSE(small.Monitor(1).ejected());

  config.max_ejection_percent = 0;
  Fixture none(config, 3);
  none.Report(0, ServerError(), 5);
  CHECK_FALSE(none.Monitor(0).ejected());
  CHECK(none.detector->stats().ejections_overflow == 1);
}

TEST_CASE("a passing active check returns an ejected host early") {
  Fixture f(Config());
  f.Report(4, ServerError(), 5);
  REQUIRE(f.Monitor(4).ejected());
  f.detector->OnActiveCheckPassed("10.0.0.6:80");  // another host: nothing to do
  f.detector->OnActiveCheckPassed("10.0.0.5:80");
  CHECK_FALSE(f.Monitor(4).ejected());
  auto events = f.observer->ejections();
  REQUIRE(events.size() == 2);
  CHECK(events[1].reason == EjectionReason::kActiveCheck);
  CHECK(f.observer->lines()[1] ==
        "outlier detection 'users': host 10.0.0.5:80 returned (active_check)");
  // The stale expiry finds nothing to do.
  f.clock.Advance(absl::Seconds(10));
  f.detector->Sweep();
  CHECK(f.observer->ejections().size() == 2);
  CHECK(f.detector->stats().returned_active_check == 1);

  OutlierDetectionConfig config = Config();
  config.return_on_active_check = false;
  Fixture keep(config);
  keep.Report(4, ServerError(), 5);
  keep.detector->OnActiveCheckPassed("10.0.0.5:80");
  CHECK(keep.Monitor(4).ejected());
}

TEST_CASE("monitors and counters carry over to a newer snapshot of the same hosts") {
  Fixture f(Config());
  f.Report(0, ServerError(), 4);
  // A health change publishes a new snapshot with the same Host objects.
  auto next = std::make_shared<const HostSet>(f.members, 2);
  auto monitors = f.detector->Track(next);
  CHECK(f.detector->Track(next) == monitors);  // built once per snapshot
  OutlierDetector::HostMonitor* m = monitors->Find(*f.members[0]);
  REQUIRE(m == monitors->Find(*f.members[0]));
  CHECK(m == &f.Monitor(0));
  m->Report(ServerError());
  CHECK(m->ejected());
  // A Host that is not in the snapshot has no monitor.
  Host stranger("10.9.9.9", 80);
  CHECK(monitors->Find(stranger) == nullptr);
}

TEST_CASE("hosts that leave the cluster are forgotten and an ejected one is returned") {
  Fixture f(Config());
  f.Report(0, ServerError(), 5);
  REQUIRE(f.Monitor(0).ejected());
  std::vector<HostPtr> remaining(f.members.begin() + 1, f.members.end());
  auto monitors = f.detector->Track(std::make_shared<const HostSet>(remaining, 2));
  CHECK(monitors->size() == 9);
  auto events = f.observer->ejections();
  REQUIRE(events.size() == 2);
  CHECK_FALSE(events[1].ejected);
  CHECK(events[1].reason == EjectionReason::kRemoved);
  CHECK(f.detector->stats().hosts == 9);
  CHECK(f.detector->stats().ejected == 0);
  CHECK(f.detector->EjectedHosts().empty());
  // The old snapshot's monitor still accepts reports but ejects nothing.
  f.Report(0, ServerError(), 10);
  CHECK(f.observer->ejections().size() == 2);
  // An older snapshot does not bring the host back into the membership.
  auto old = f.detector->Track(f.snapshot);
  CHECK(old->Find(*f.members[0]) == nullptr);
  CHECK(f.detector->stats().hosts == 9);
  // A host that joins again starts clean.
  auto again = f.detector->Track(std::make_shared<const HostSet>(f.members, 3));
  OutlierDetector::HostMonitor* m = again->Find(*f.members[0]);
  REQUIRE(m != nullptr);
  CHECK_FALSE(m->ejected());
  for (int i = 0; i < 4; ++i) m->Report(ServerError());
  CHECK_FALSE(m->ejected());
}

TEST_CASE("outlier detection config validation names the bad field") {
  ManualClock clock;
  auto message = [&](OutlierDetectionConfig config) {
    return std::string(OutlierDetector::Create("c", config, clock).status().message());
  };
  CHECK(OutlierDetectionConfig{}.Validate().ok());
  CHECK_THAT(message({.base_ejection_time = absl::ZeroDuration()}),
             Catch::Contains("base_ejection_time"));
  CHECK_THAT(message({.max_ejection_time = absl::Seconds(1)}),
             Catch::Contains("max_ejection_time"));
  CHECK_THAT(message({.max_ejection_percent = 101}), Catch::Contains("max_ejection_percent"));
  CHECK_THAT(message({.ejection_count_decay = -absl::Seconds(1)}),
             Catch::Contains("ejection_count_decay"));
  OutlierDetectionConfig bad_classifier;
  bad_classifier.classifier.success_statuses = {600};
  CHECK_THAT(message(bad_classifier), Catch::Contains("success_statuses"));
}

}  // namespace
}  // namespace gateway
