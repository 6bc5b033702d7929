// Rate limits over real loopback sockets: examples/gatewayd/rate_limit.yaml
// through StartFromConfig with two workers (and gatewayd's demo upstreams),
// and a process-wide limit shared by the workers of a Runtime.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "gateway/yaml_config.h"
#include "integration/gatewayd_examples.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

// One request on a new connection (so successive requests may land on
// different workers).
std::optional<HttpResponse> Once(uint16_t port, const std::string& request) {
  auto client = TestClient::Connect(port);
  if (!client) return std::nullopt;
  return client->RoundTrip(request);
}

TEST_CASE(
    "rate_limit.yaml: login 5 per minute, 429 with Retry-After and headers, health unaffected") {
  auto config = itest::LoadExample("rate_limit.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto demos = itest::StartDemos(*config);
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                      {.ephemeral_ports = true, .workers = 2, .endpoint_ports = demos->port_map()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);

  // A health checker polls throughout, on its own keep-alive connection.
  std::atomic<bool> stop{false};
  std::atomic<int> health_ok{0};
  std::atomic<int> health_bad{0};
  std::atomic<int64_t> health_worst_us{0};
  std::thread health([&] {
    auto client = TestClient::Connect(port);
    if (!client) {
      health_bad = 1;
      return;
    }
    while (!stop.load()) {
      SteadyTime start = std::chrono::steady_clock::now();
      auto r = client->RoundTrip(Get("/healthz"));
      int64_t us = absl::ToInt64Microseconds(ElapsedSince(start));
      if (us > health_worst_us.load()) health_worst_us = us;
      if (r && r->status == 200 && r->Header("ratelimit") == std::nullopt) {
        ++health_ok;
      } else {
        ++health_bad;
      }
    }
  });

  const std::string login = MakeRequest("POST", "/login");
  for (int i = 0; i < 5; ++i) {
    auto r = Once(port, login);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->Header("ratelimit-policy").value_or("") ==
          "\"login\";q=5;w=60, \"global\";q=10000;w=2");
    CHECK(absl::StartsWith(r->Header("ratelimit").value_or(""),
                           "\"login\";r=" + std::to_string(4 - i) + ";t="));
    CHECK(r->Header("x-ratelimit-remaining") == std::to_string(4 - i));
  }
  auto refused = Once(port, login);
  REQUIRE(refused.has_value());
  CHECK(refused->status == 429);
  CHECK(refused->Header("content-type") == "application/json");
  CHECK(absl::StrContains(refused->body, "\"error\":\"rate_limited\""));
  int retry = 0;
  REQUIRE(absl::SimpleAtoi(refused->Header("retry-after").value_or(""), &retry));
  CHECK(retry >= 1);
  CHECK(retry <= 60);
  CHECK(absl::StartsWith(refused->Header("ratelimit").value_or(""), "\"login\";r=0;t="));
  CHECK(refused->Header("x-ratelimit-remaining") == "0");

  // Hammering the exhausted login from four clients changes nothing else.
  std::atomic<int> hammered_429{0};
  std::vector<std::thread> hammer;
  for (int t = 0; t < 4; ++t) {
    hammer.emplace_back([&] {
      auto client = TestClient::Connect(port);
      if (!client) return;
      for (int i = 0; i < 50; ++i) {
        auto r = client->RoundTrip(login);
        if (r && r->status == 429) ++hammered_429;
      }
    });
  }
  for (auto& t : hammer) t.join();
  CHECK(hammered_429 == 200);

  // The API carries every rule that applied to it.
  auto api = Once(port, Get("/api/users/1", {"x-client-id: acme"}));
  REQUIRE(api.has_value());
  CHECK(api->status == 200);
  CHECK(api->Header("ratelimit-policy").value_or("") ==
        "\"per-client\";q=20;w=2, \"users-service\";q=6000;w=60, \"global\";q=10000;w=2");

  stop = true;
  health.join();
  CHECK(health_bad == 0);
  CHECK(health_ok > 0);
  CHECK(health_worst_us.load() < 100'000);
  (*running)->Drain(absl::Seconds(2));
  (*running)->Wait();
}

TEST_CASE("a limit is shared by every worker of a runtime") {
  auto router = Router::Build({RouteBuilder("x").Prefix("/").Respond(200, "ok").Build()});
  REQUIRE(router.ok());
  auto filter = MakeRateLimitFilter(
      {.rules = {{.name = "all",
                  .local = FixedWindowConfig{.limit = 50, .window = absl::Hours(1)}}},
       .headers = RateLimitHeaders::kNone});
  REQUIRE(filter.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(*filter).Build();
  REQUIRE(pipeline.ok());
  RuntimeOptions options;
  options.workers = 2;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];

  std::atomic<int> ok{0};
  std::atomic<int> limited{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        auto r = Once(port, Get("/"));
        if (r && r->status == 200) ++ok;
        if (r && r->status == 429) ++limited;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(ok == 50);
  CHECK(limited == 8 * 20 - 50);
  (*runtime)->Drain(absl::Seconds(2));
  (*runtime)->Wait();
}

// Every algorithm keyed on a header, with a table of 64 keys, so a flood of
// spoofed header values passes through the attacker's set many times.
constexpr char kFloodYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: 0}]
workers: 2
filters:
  - rate_limit:
      headers: none
      rules:
        - {name: log, routes: [log], key: [{header: x-client-id}],
           sliding_window_log: {limit: 5, window: 1h, max_keys: 64}}
        - {name: counter, routes: [counter], key: [{header: x-client-id}],
           sliding_window: {limit: 5, window: 1h, max_keys: 64}}
        - {name: fixed, routes: [fixed], key: [{header: x-client-id}],
           fixed_window: {limit: 5, window: 1h, max_keys: 64}}
        - {name: bucket, routes: [bucket], key: [{header: x-client-id}],
           token_bucket: {rate: 5, per: 1h, max_keys: 64}}
routes:
  - {name: log, match: {path: /log}, direct_response: {status: 200, body: "ok"}}
  - {name: counter, match: {path: /counter}, direct_response: {status: 200, body: "ok"}}
  - {name: fixed, match: {path: /fixed}, direct_response: {status: 200, body: "ok"}}
  - {name: bucket, match: {path: /bucket}, direct_response: {status: 200, body: "ok"}}
)yaml";

TEST_CASE("an exhausted key stays refused through 100000 one-off keys in every algorithm") {
  auto config = LoadConfigString(kFloodYaml, "flood.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(), {.ephemeral_ports = true});
  INFO(running.status().message());
  REQUIRE(running.ok());
  const uint16_t port = (*running)->ports().at(0);
  const SteadyTime deadline = DeadlineAfter(absl::Seconds(120));

  for (const char* path : {"/log", "/counter", "/fixed", "/bucket"}) {
    INFO(path);
    const std::string attacker = Get(path, {"x-client-id: attacker"});
    for (int i = 0; i < 5; ++i) {
      auto r = Once(port, attacker);
      REQUIRE(r.has_value());
      REQUIRE(r->status == 200);
    }
    auto refused = Once(port, attacker);
    REQUIRE(refused.has_value());
    REQUIRE(refused->status == 429);

    // 100,000 distinct keys on two keep-alive connections, 100 pipelined
    // requests per write.
    constexpr int kKeys = 100'000;
    constexpr int kBatch = 100;
    std::atomic<int> answered{0};
    std::vector<std::thread> flood;
    for (int c = 0; c < 2; ++c) {
      flood.emplace_back([&, c] {
        auto client = TestClient::Connect(port);
        if (!client) return;
        std::string batch;
        for (int i = c * kKeys / 2; i < (c + 1) * kKeys / 2; i += kBatch) {
          if (MillisLeft(deadline) == 0) return;
          batch.clear();
          for (int j = i; j < i + kBatch; ++j) {
            batch += Get(path, {"x-client-id: spoofed-" + std::to_string(j)});
          }
          if (!client->Send(batch)) return;
          for (int j = 0; j < kBatch; ++j) {
            auto r = client->ReadResponse();
            if (!r || r->status != 200) return;
            ++answered;
          }
        }
      });
    }
    for (auto& t : flood) t.join();
    REQUIRE(answered == kKeys);

    // Had it been evicted, it would start over with a fresh limit.
    auto after = Once(port, attacker);
    REQUIRE(after.has_value());
    CHECK(after->status == 429);
  }
  (*running)->Drain(absl::Seconds(2));
  (*running)->Wait();
}

}  // namespace
}  // namespace gateway::itest
