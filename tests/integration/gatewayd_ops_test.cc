// gatewayd as operators run it, one process per test: the drain deadline of
// `server.drain_timeout` on SIGTERM, and a rate-limit rule's own refusal
// (`on_limit`).
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

// Two rules on one route: "api" has its own refusal, "burst" the default.
constexpr char kOnLimitYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
workers: 1
filters:
  - rate_limit:
      headers: both
      rules:
        - name: api
          routes: [api]
          fixed_window: {limit: 2, window: 1h}
          on_limit:
            status: 503
            body: "Slow down, please.\n"
            content_type: text/plain; charset=utf-8
            headers: {x-limited-by: api, cache-control: no-store}
        - name: plain
          routes: [plain]
          fixed_window: {limit: 1, window: 1h}
        - name: json
          routes: [json]
          fixed_window: {limit: 1, window: 1h}
          on_limit: {status: 420, headers: {x-why: quota}}
routes:
  - {name: api, match: {path: /api}, direct_response: {status: 200, body: "ok\n"}}
  - {name: plain, match: {path: /plain}, direct_response: {status: 200, body: "ok\n"}}
  - {name: json, match: {path: /json}, direct_response: {status: 200, body: "ok\n"}}
)yaml";

std::optional<HttpResponse> Fetch(uint16_t port, const std::string& path) {
  auto client = TestClient::Connect(port);
  if (!client) return std::nullopt;
  return client->RoundTrip(Get(path));
}

TEST_CASE(
    "a rule's on_limit sets status and body and headers of its refusal and Retry-After stays") {
  auto gatewayd = StartOrFail(kOnLimitYaml);
  const uint16_t port = gatewayd->port();
  for (int i = 0; i < 2; ++i) REQUIRE(Fetch(port, "/api")->status == 200);
  auto refused = Fetch(port, "/api");
  REQUIRE(refused.has_value());
  CHECK(refused->status == 503);
  CHECK(refused->body == "Slow down, please.\n");
  CHECK(refused->Header("content-type") == "text/plain; charset=utf-8");
  CHECK(refused->Header("x-limited-by") == "api");
  CHECK(refused->Header("cache-control") == "no-store");
  int retry = 0;
  REQUIRE(absl::SimpleAtoi(refused->Header("retry-after").value_or(""), &retry));
  CHECK(retry >= 1);
  CHECK(retry <= 3600);
  CHECK(absl::StartsWith(refused->Header("ratelimit").value_or(""), "\"api\";r=0;t="));
  CHECK(refused->Header("x-ratelimit-remaining") == "0");

  // Without on_limit: the default JSON 429.
  REQUIRE(Fetch(port, "/plain")->status == 200);
  auto plain = Fetch(port, "/plain");
  REQUIRE(plain.has_value());
  CHECK(plain->status == 429);
  CHECK(plain->Header("content-type") == "application/json");
  CHECK_THAT(plain->body, Catch::Contains("\"error\":\"rate_limited\""));
  CHECK(plain->Header("retry-after").has_value());
  CHECK_FALSE(plain->Header("x-limited-by").has_value());

  // A status and headers alone keep the JSON body.
  REQUIRE(Fetch(port, "/json")->status == 200);
  auto json = Fetch(port, "/json");
  REQUIRE(json.has_value());
  CHECK(json->status == 420);
  CHECK(json->Header("content-type") == "application/json");
  CHECK_THAT(json->body, Catch::Contains("\"error\":\"rate_limited\""));
  CHECK(json->Header("x-why") == "quota");
  CHECK(json->Header("retry-after").has_value());
}

TEST_CASE(
    "gatewayd refuses an on_limit header that the gateway sets itself and names file and key") {
  std::string error;
  auto p = GatewaydProcess::Start(R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
filters:
  - rate_limit:
      rules:
        - name: api
          fixed_window: {limit: 2}
          on_limit:
            headers: {retry-after: "0"}
routes:
  - {name: api, match: {path: /api}, direct_response: {status: 200}}
)yaml",
                                  &error);
  CHECK(p == nullptr);
  CHECK_THAT(error, Catch::Contains("gatewayd.yaml:9: filters[0].rate_limit.rules[0].on_limit."
                                    "headers.retry-after: header 'retry-after' is set by the "
                                    "gateway"));
}

}  // namespace
}  // namespace gateway::itest
