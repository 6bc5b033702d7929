// gatewayd as operators run it, one process per test: the drain deadline of
// `server.drain_timeout` on SIGTERM.
#include <signal.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "integration/fault_upstream.h"
#include "integration/gatewayd_process.h"
#include "integration/test_client.h"

namespace gateway::itest {
namespace {

std::unique_ptr<GatewaydProcess> StartOrFail(const std::string& yaml) {
  std::string error;
  auto p = GatewaydProcess::Start(yaml, &error);
  INFO(error);
  REQUIRE(p != nullptr);
  return p;
}

// One slow upstream behind gatewayd; the drain deadline is DRAIN.
constexpr char kDrainYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
workers: 1
server:
  drain_timeout: DRAIN
clusters:
  - name: slow
    endpoints: [{address: 127.0.0.1, port: UPSTREAM}]
routes:
  - {name: slow, match: {prefix: /}, cluster: slow, timeout: 30s}
)yaml";

struct DrainRun {
  absl::Duration exit_after;           // from SIGTERM to the exit
  std::optional<HttpResponse> answer;  // of the in-flight request
  int exit_code = -1;
  std::string log;
};

// Sends a request the upstream answers after `upstream_delay`, sends SIGTERM
// once the upstream holds it, and times the exit.
DrainRun RunDrain(const std::string& drain_timeout, absl::Duration upstream_delay) {
  FaultUpstream upstream;
  REQUIRE(upstream.ok());
  auto gatewayd = StartOrFail(absl::StrReplaceAll(
      kDrainYaml, {{"DRAIN", drain_timeout}, {"UPSTREAM", absl::StrCat(upstream.port())}}));
  auto client = TestClient::Connect(gatewayd->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/slow", {absl::StrCat("X-Fault-Delay-Head-Ms: ",
                                                  absl::ToInt64Milliseconds(upstream_delay))})));
  REQUIRE(Eventually([&] { return upstream.accepted() >= 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the request reaches it
  SteadyTime signalled = std::chrono::steady_clock::now();
  gatewayd->Signal(SIGTERM);
  DrainRun run;
  run.answer = client->ReadResponse(absl::Seconds(15));
  REQUIRE(gatewayd->Exited(std::chrono::seconds(15)));
  run.exit_after = ElapsedSince(signalled);
  run.exit_code = gatewayd->exit_code();
  run.log = gatewayd->Log();
  return run;
}

TEST_CASE("gatewayd exits within a short server.drain_timeout despite a slower request") {
  DrainRun run = RunDrain("300ms", absl::Seconds(4));
  INFO(run.log);
  CHECK(run.exit_code == 0);
  // Well before the upstream would have answered, and before the 5 s default.
  CHECK(run.exit_after < absl::Milliseconds(2000));
  CHECK(run.exit_after >= absl::Milliseconds(250));
  CHECK_FALSE(run.answer.has_value());  // cut off at the deadline
}

TEST_CASE("gatewayd with a long server.drain_timeout lets the in-flight request finish") {
  DrainRun run = RunDrain("20s", absl::Milliseconds(1500));
  INFO(run.log);
  CHECK(run.exit_code == 0);
  REQUIRE(run.answer.has_value());
  CHECK(run.answer->status == 200);
  CHECK(run.answer->closes());
  CHECK(run.exit_after >= absl::Milliseconds(1000));
  CHECK(run.exit_after < absl::Seconds(10));
}

TEST_CASE("a bad server.drain_timeout stops gatewayd with file and line and key") {
  std::string error;
  // Starting fails: gatewayd reports the config error and exits.
  auto p = GatewaydProcess::Start(
      "listeners: [{address: 127.0.0.1, port: LISTEN}]\nserver:\n  drain_timeout: soon\n", &error);
  CHECK(p == nullptr);
  CHECK_THAT(error, Catch::Contains("gatewayd.yaml:3: server.drain_timeout: invalid duration"));
}

}  // namespace
}  // namespace gateway::itest
