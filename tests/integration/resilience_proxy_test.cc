// Breakers, concurrency limits, outlier detection and fallbacks as the proxy
// applies them, over real loopback sockets: a proxy gateway in front of
// upstreams started by each test.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "integration/checker_thread.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

// Keeps every breaker transition and ejection, in order.
class EventLog final : public ResilienceObserver {
 public:
  void OnBreakerTransition(const BreakerTransition& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(FormatEvent(event));
    transitions_.push_back(event.to);
  }
  void OnHostEjection(const HostEjectionEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(FormatEvent(event));
  }
  std::vector<BreakerState> transitions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions_;
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<BreakerState> transitions_;
  std::vector<std::string> lines_;
};

struct Rig {
  std::shared_ptr<ClusterManager> clusters;
  std::shared_ptr<EventLog> events = std::make_shared<EventLog>();
  std::unique_ptr<TestServer> proxy;

  const ClusterResilience& resilience(std::string_view cluster) const {
    const ClusterResilience* r = clusters->Resilience(cluster);
    REQUIRE(r != nullptr);
    return *r;
  }
};

std::unique_ptr<Rig> StartProxy(std::vector<ClusterSpec> clusters, std::vector<RouteSpec> routes) {
  auto rig = std::make_unique<Rig>();
  auto cm = ClusterManager::Create(std::move(clusters), {.observer = rig->events});
  INFO(cm.status().ToString());
  REQUIRE(cm.ok());
  rig->clusters = *cm;
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(rig->clusters).Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  rig->proxy = std::move(*server);
  return rig;
}

ClusterSpec Cluster(std::string name, std::vector<uint16_t> ports) {
  ClusterSpec c;
  c.name = std::move(name);
  for (uint16_t p : ports) c.endpoints.push_back({.address = "127.0.0.1", .port = p});
  c.pool.connect_timeout = absl::Seconds(1);
  c.lb.panic_threshold_percent = 0;  // no healthy host: 503, not panic routing
  return c;
}

RetryPolicy NoRetries() { return {.on_connect_failure = false, .max_retries = 0}; }

// An upstream gateway answering every request with `status` and its `id`.
std::unique_ptr<TestServer> StartUpstream(const std::string& id, int status = 200) {
  auto router = Router::Build({RouteBuilder("all").Prefix("/").Respond(status, id).Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

std::optional<HttpResponse> Fetch(uint16_t port, const std::string& request) {
  auto client = TestClient::Connect(port);
  if (client == nullptr) return std::nullopt;
  return client->RoundTrip(request);
}

std::string FlagOf(const HttpResponse& r) {
  // LocalReply::Json bodies: {"error":"<flag>",...}
  size_t at = r.body.find("\"error\":\"");
  if (at == std::string::npos) return "";
  at += 9;
  return r.body.substr(at, r.body.find('"', at) - at);
}

TEST_CASE("300 concurrent slow requests against max_requests 100 - the excess gets 503 at once") {
  FaultUpstream up({.max_connections = 200});
  REQUIRE(up.ok());
  ClusterSpec c = Cluster("slow", {up.port()});
  c.resilience.limits.max_requests = 100;
  c.pool.connect_timeout = absl::Seconds(5);  // 100 connects at once, on a busy machine
  auto rig =
      StartProxy({std::move(c)},
                 {RouteBuilder("slow").Prefix("/").ToCluster("slow").Retry(NoRetries()).Build()});
  const ConcurrencyLimits& limits = *rig->resilience("slow").limits;

  constexpr int kClients = 300;
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(TestClient::Connect(rig->proxy->port()));
    REQUIRE(clients.back() != nullptr);
  }
  SteadyTime start = std::chrono::steady_clock::now();
  for (auto& client : clients) {
    REQUIRE(client->Send(Get("/slow", {"X-Fault-Delay-Head-Ms: 2500"})));
  }
  // Every refusal arrives while the admitted requests are still waiting.
  std::vector<std::optional<HttpResponse>> responses(kClients);
  int early = 0;
  while (ElapsedSince(start) < absl::Milliseconds(1500) && early < kClients - 100) {
    for (int i = 0; i < kClients; ++i) {
      if (responses[i].has_value()) continue;
      responses[i] = clients[i]->ReadResponse(absl::Milliseconds(1));
      if (responses[i].has_value()) ++early;
    }
  }
  CHECK(early == kClients - 100);
  for (const auto& r : responses) {
    if (!r.has_value()) continue;
    CHECK(r->status == 503);
    CHECK(FlagOf(*r) == "upstream_overflow");
  }
  CHECK(limits.active(LimitKind::kRequests) == 100);
  int ok = 0;
  for (int i = 0; i < kClients; ++i) {
    if (responses[i].has_value()) continue;
    auto r = clients[i]->ReadResponse(absl::Seconds(10));
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 200);
    ok += r->status == 200;
  }
  CHECK(ok == 100);
  CHECK(up.requests() == 100);
  CHECK(limits.stats().requests_overflow == kClients - 100);
  // Load over: every counter but the idle connections is back at zero.
  CHECK(Eventually([&] { return limits.active(LimitKind::kRequests) == 0; }));
  CHECK(limits.active(LimitKind::kPendingRequests) == 0);
  CHECK(limits.active(LimitKind::kRetries) == 0);
  CHECK(limits.active(LimitKind::kConnections) <= 100);
}

TEST_CASE("the cluster's max_connections caps upstream connections across requests") {
  FaultUpstream up;
  REQUIRE(up.ok());
  ClusterSpec c = Cluster("capped", {up.port()});
  c.resilience.limits.max_connections = 2;
  auto rig = StartProxy(
      {std::move(c)},
      {RouteBuilder("capped").Prefix("/").ToCluster("capped").Retry(NoRetries()).Build()});
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(TestClient::Connect(rig->proxy->port()));
    REQUIRE(clients.back() != nullptr);
    REQUIRE(clients.back()->Send(Get("/", {"X-Fault-Delay-Head-Ms: 800"})));
  }
  std::map<int, int> statuses;
  for (auto& client : clients) {
    auto r = client->ReadResponse(absl::Seconds(5));
    REQUIRE(r);
    ++statuses[r->status];
    if (r->status == 503) CHECK(FlagOf(*r) == "upstream_overflow");
  }
  CHECK(statuses[200] == 2);
  CHECK(statuses[503] == 3);
  CHECK(up.accepted() == 2);
  // The two connections stay pooled (and counted); new requests reuse them.
  auto again = Fetch(rig->proxy->port(), Get("/"));
  REQUIRE(again);
  CHECK(again->status == 200);
  CHECK(up.accepted() == 2);
  CHECK(rig->resilience("capped").limits->active(LimitKind::kConnections) == 2);
}

TEST_CASE("a failure-rate breaker opens, lets probes through half-open, then closes") {
  FaultUpstream up;
  REQUIRE(up.ok());
  ClusterSpec c = Cluster("flaky", {up.port()});
  c.resilience.breaker = SlidingWindowBreakerConfig{.window_size = 10,
                                                    .minimum_calls = 10,
                                                    .failure_rate_threshold = 50,
                                                    .half_open_calls = 2,
                                                    .open_duration = absl::Milliseconds(300)};
  auto rig =
      StartProxy({std::move(c)},
                 {RouteBuilder("flaky").Prefix("/").ToCluster("flaky").Retry(NoRetries()).Build()});
  const CircuitBreaker& breaker = *rig->resilience("flaky").breaker;
  uint16_t port = rig->proxy->port();

  // 4 successes and 6 failures: 60% once the window holds 10 calls.
  for (int i = 0; i < 4; ++i) CHECK(Fetch(port, Get("/"))->status == 200);
  for (int i = 0; i < 5; ++i) {
    CHECK(Fetch(port, Get("/", {"X-Fault-Status: 500"}))->status == 500);
    CHECK(breaker.state() == BreakerState::kClosed);
  }
  CHECK(Fetch(port, Get("/", {"X-Fault-Status: 500"}))->status == 500);
  CHECK(breaker.state() == BreakerState::kOpen);

  // Open: refused at once, without reaching the upstream.
  int before = up.requests();
  SteadyTime start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    auto r = Fetch(port, Get("/"));
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(FlagOf(*r) == "circuit_open");
  }
  CHECK(ElapsedSince(start) < absl::Milliseconds(250));
  CHECK(up.requests() == before);

  // After the open duration two probes go through; both succeed: closed.
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  std::vector<std::unique_ptr<TestClient>> probes;
  for (int i = 0; i < 3; ++i) {
    probes.push_back(TestClient::Connect(port));
    REQUIRE(probes.back() != nullptr);
    REQUIRE(probes.back()->Send(Get("/", {"X-Fault-Delay-Head-Ms: 200"})));
  }
  std::map<int, int> statuses;
  for (auto& p : probes) {
    auto r = p->ReadResponse(absl::Seconds(5));
    REQUIRE(r);
    ++statuses[r->status];
  }
  // Half-open admits exactly its two probes; the third is refused.
  CHECK(statuses[200] == 2);
  CHECK(statuses[503] == 1);
  CHECK(breaker.state() == BreakerState::kClosed);
  CHECK(rig->events->transitions() == std::vector<BreakerState>{BreakerState::kOpen,
                                                                BreakerState::kHalfOpen,
                                                                BreakerState::kClosed});
  CHECK(Fetch(port, Get("/"))->status == 200);
}

TEST_CASE("a route breaker opens for its route only, the cluster stays reachable") {
  auto up = StartUpstream("u", 500);
  auto rig = StartProxy(
      {Cluster("shared", {up->port()})},
      {RouteBuilder("guarded")
           .Prefix("/guarded")
           .ToCluster("shared")
           .Retry(NoRetries())
           .Breaker(ConsecutiveFailureBreakerConfig{.failure_threshold = 3,
                                                    .open_timeout = absl::Hours(1)})
           .Build(),
       RouteBuilder("other").Prefix("/").ToCluster("shared").Retry(NoRetries()).Build()});
  uint16_t port = rig->proxy->port();
  for (int i = 0; i < 3; ++i) CHECK(Fetch(port, Get("/guarded"))->status == 500);
  auto refused = Fetch(port, Get("/guarded"));
  REQUIRE(refused);
  CHECK(refused->status == 503);
  CHECK(FlagOf(*refused) == "circuit_open");
  CHECK(Fetch(port, Get("/other"))->status == 500);  // no breaker on this route
}

TEST_CASE("one bad host of three is ejected and retries go to the others") {
  auto good1 = StartUpstream("good1");
  auto good2 = StartUpstream("good2");
  auto bad = StartUpstream("bad", 503);
  ClusterSpec c = Cluster("trio", {good1->port(), bad->port(), good2->port()});
  c.resilience.outlier_detection = OutlierDetectionConfig{
      .consecutive_5xx = 3, .base_ejection_time = absl::Seconds(30), .max_ejection_percent = 34};
  RetryPolicy retry{.on_5xx = true, .max_retries = 1, .backoff_base = absl::Milliseconds(1)};
  auto rig = StartProxy({std::move(c)},
                        {RouteBuilder("trio").Prefix("/").ToCluster("trio").Retry(retry).Build()});
  std::string bad_name = absl::StrCat("127.0.0.1:", bad->port());

  std::map<std::string, int> answered_by;
  for (int i = 0; i < 30; ++i) {
    auto r = Fetch(rig->proxy->port(), Get("/"));
    REQUIRE(r);
    CHECK(r->status == 200);  // a 503 of the bad host is retried on another
    ++answered_by[r->body];
  }
  CHECK(answered_by["good1"] + answered_by["good2"] == 30);
  // Exactly the three failures that ejected it reached the bad host.
  CHECK(bad->stats().requests == 3);
  const OutlierDetector& detector = *rig->resilience("trio").outlier_detector;
  CHECK(detector.IsEjected(bad_name));
  auto hosts = rig->clusters->Hosts("trio");
  REQUIRE(hosts->hosts().size() == 3);
  CHECK(hosts->healthy_hosts().size() == 2);
  for (size_t i = 0; i < hosts->hosts().size(); ++i) {
    CHECK(hosts->IsHealthy(i) == (hosts->hosts()[i]->name() != bad_name));
  }
  auto lines = rig->events->lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find("ejected") != std::string::npos);
}

TEST_CASE("an ejected host is back in rotation at the first request after its ejection time") {
  auto good = StartUpstream("good");
  auto bad = StartUpstream("bad", 502);
  ClusterSpec c = Cluster("pair", {good->port(), bad->port()});
  c.resilience.outlier_detection =
      OutlierDetectionConfig{.consecutive_gateway_failure = 2,
                             .base_ejection_time = absl::Milliseconds(300),
                             .max_ejection_time = absl::Milliseconds(300),
                             .max_ejection_percent = 50};
  auto rig =
      StartProxy({std::move(c)},
                 {RouteBuilder("pair").Prefix("/").ToCluster("pair").Retry(NoRetries()).Build()});
  uint16_t port = rig->proxy->port();
  for (int i = 0; i < 4; ++i) Fetch(port, Get("/"));
  CHECK(bad->stats().requests == 2);
  for (int i = 0; i < 6; ++i) CHECK(Fetch(port, Get("/"))->status == 200);
  CHECK(bad->stats().requests == 2);  // out while ejected
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  // No timer brought it back; the next request's sweep does, before its pick.
  std::map<int, int> statuses;
  for (int i = 0; i < 4; ++i) ++statuses[Fetch(port, Get("/"))->status];
  CHECK(statuses[502] == 2);
  CHECK(rig->resilience("pair").outlier_detector->stats().returned_expired == 1);
  auto lines = rig->events->lines();
  REQUIRE(lines.size() >= 2);
  CHECK(lines[1].find("returned") != std::string::npos);
}

TEST_CASE("a passing active health check returns an ejected host before its ejection time") {
  auto good = StartUpstream("good");
  // Fails requests but passes its health checks.
  auto router = Router::Build({RouteBuilder("health").Exact("/health").Respond(200, "ok").Build(),
                               RouteBuilder("all").Prefix("/").Respond(503, "flaky").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Build();
  REQUIRE(pipeline.ok());
  auto flaky = TestServer::Start(LoopbackOptions(), *pipeline);
  REQUIRE(flaky.ok());
  ClusterSpec c = Cluster("pair", {good->port(), (*flaky)->port()});
  c.resilience.outlier_detection = OutlierDetectionConfig{.consecutive_5xx = 2,
                                                          .base_ejection_time = absl::Hours(1),
                                                          .max_ejection_time = absl::Hours(1),
                                                          .max_ejection_percent = 50};
  c.health_check = HealthCheckSpec{.interval = absl::Milliseconds(300),
                                   .jitter = absl::ZeroDuration(),
                                   .timeout = absl::Milliseconds(200)};
  auto rig =
      StartProxy({std::move(c)},
                 {RouteBuilder("pair").Prefix("/").ToCluster("pair").Retry(NoRetries()).Build()});
  auto checker = itest::StartChecker(rig->clusters, {});
  const OutlierDetector& detector = *rig->resilience("pair").outlier_detector;
  std::string flaky_name = absl::StrCat("127.0.0.1:", (*flaky)->port());

  // Round robin: every other request reaches the flaky host.
  int failures = 0;
  for (int i = 0; i < 10 && !detector.IsEjected(flaky_name); ++i) {
    failures += Fetch(rig->proxy->port(), Get("/"))->status == 503;
  }
  REQUIRE(detector.IsEjected(flaky_name));
  CHECK(failures == 2);
  // Ejected for an hour, back at the next passing probe.
  CHECK(Eventually([&] { return !detector.IsEjected(flaky_name); }, absl::Seconds(3)));
  CHECK(detector.stats().returned_active_check == 1);
  CHECK(Eventually([&] { return rig->clusters->Hosts("pair")->healthy_hosts().size() == 2; }));
}

TEST_CASE("upstream requests never exceed (1 + max retries) times client requests") {
  auto down = StartUpstream("down", 503);
  RetryPolicy retry{.on_5xx = true,
                    .max_retries = 2,
                    .backoff_base = absl::Milliseconds(1),
                    .backoff_max = absl::Milliseconds(2)};
  auto rig = StartProxy({Cluster("down", {down->port()})},
                        {RouteBuilder("down").Prefix("/").ToCluster("down").Retry(retry).Build()});
  // Sequential and concurrent clients alike.
  for (int i = 0; i < 20; ++i) CHECK(Fetch(rig->proxy->port(), Get("/"))->status == 503);
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 40; ++i) {
    clients.push_back(TestClient::Connect(rig->proxy->port()));
    REQUIRE(clients.back() != nullptr);
    REQUIRE(clients.back()->Send(Get("/")));
  }
  for (auto& client : clients) {
    auto r = client->ReadResponse(absl::Seconds(5));
    REQUIRE(r);
    CHECK(r->status == 503);
  }
  uint64_t upstream = down->stats().requests;
  CHECK(upstream >= 60);  // every client request reached it at least once
  CHECK(upstream <= 3 * 60);
  CHECK(rig->resilience("down").limits->active(LimitKind::kRetries) == 0);
}

TEST_CASE("with max_retries 0 in the cluster limits no retry is made and the first answer stands") {
  auto down = StartUpstream("down", 503);
  ClusterSpec c = Cluster("down", {down->port()});
  c.resilience.limits.max_retries = 0;
  RetryPolicy retry{.on_5xx = true, .max_retries = 3, .backoff_base = absl::Milliseconds(1)};
  auto rig = StartProxy({std::move(c)},
                        {RouteBuilder("down").Prefix("/").ToCluster("down").Retry(retry).Build()});
  for (int i = 0; i < 10; ++i) {
    auto r = Fetch(rig->proxy->port(), Get("/"));
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->body == "down");  // the upstream's own answer, not a gateway error
  }
  CHECK(down->stats().requests == 10);
  CHECK(rig->resilience("down").limits->stats().retries_overflow == 10);
}

TEST_CASE("an open breaker answers with the cluster's fallback reply") {
  auto down = StartUpstream("down", 500);
  ClusterSpec c = Cluster("main", {down->port()});
  c.resilience.breaker =
      ConsecutiveFailureBreakerConfig{.failure_threshold = 2, .open_timeout = absl::Hours(1)};
  c.fallback =
      FallbackSpec{.status = 200,
                   .headers = {{"content-type", "application/json"}, {"x-fallback", "static"}},
                   .body = R"({"items":[]})"};
  auto rig =
      StartProxy({std::move(c)},
                 {RouteBuilder("main").Prefix("/").ToCluster("main").Retry(NoRetries()).Build()});
  uint16_t port = rig->proxy->port();
  CHECK(Fetch(port, Get("/"))->status == 500);
  CHECK(Fetch(port, Get("/"))->status == 500);
  auto r = Fetch(port, Get("/"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->Header("x-fallback") == "static");
  CHECK(r->Header("content-type") == "application/json");
  CHECK(r->body == R"({"items":[]})");
  CHECK(down->stats().requests == 2);
}

TEST_CASE("a cluster without a reachable host falls back to another cluster") {
  auto backup = StartUpstream("backup");
  ClusterSpec primary = Cluster("primary", {ClosedPort(), ClosedPort()});
  primary.fallback = FallbackSpec{.cluster = "backup"};
  auto rig = StartProxy({std::move(primary), Cluster("backup", {backup->port()})},
                        {RouteBuilder("primary").Prefix("/").ToCluster("primary").Build()});
  for (int i = 0; i < 3; ++i) {
    auto r = Fetch(rig->proxy->port(), MakeRequest("POST", "/orders", {}, "payload"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "backup");
  }
  CHECK(backup->stats().requests == 3);
  // The fallback cluster's own limits counted the requests, and released them.
  CHECK(rig->resilience("backup").limits->active(LimitKind::kRequests) == 0);
  CHECK(rig->resilience("primary").limits->active(LimitKind::kRequests) == 0);
}

TEST_CASE("a fallback naming an unknown cluster is a config error") {
  ClusterSpec c = Cluster("a", {1});
  c.fallback = FallbackSpec{.cluster = "nowhere"};
  auto cm = ClusterManager::Create({std::move(c)});
  REQUIRE_FALSE(cm.ok());
  CHECK(cm.status().message() ==
        "cluster 'a': fallback.cluster 'nowhere' is not a defined cluster");
  ClusterSpec d = Cluster("d", {1});
  d.fallback = FallbackSpec{.on = {"upstream_timeout"}};
  CHECK_FALSE(ClusterManager::Create({std::move(d)}).ok());
}

}  // namespace
}  // namespace gateway::itest
