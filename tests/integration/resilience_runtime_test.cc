// One circuit breaker and one concurrency limit shared by every worker of a
// multi-worker Runtime, over real sockets. Meant for the ThreadSanitizer run
// too: the workers' loops use the breaker from four threads at once.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

// Takes a request slot and a breaker permit, and reports the route's status.
class BreakerGuard final : public Filter {
 public:
  BreakerGuard(CircuitBreaker& breaker, ConcurrencyLimits& limits)
      : breaker_(breaker), limits_(limits) {}

  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    slot_ = limits_.TryAcquire(LimitKind::kRequests);
    if (!slot_) {
      ctx.SendLocalReply(LocalReply::Json(503, LimitFlag(LimitKind::kRequests), "busy"));
      return FilterStatus::kStop;
    }
    permit_ = breaker_.TryAcquire();
    if (!permit_) {
      ctx.SendLocalReply(LocalReply::Json(503, kCircuitOpenFlag, "circuit open"));
      return FilterStatus::kStop;
    }
    return FilterStatus::kContinue;
  }
  void OnDone(const RequestInfo& info) override {
    slot_.reset();
    if (permit_ && info.outcome == RequestOutcome::kCompleted) {
      permit_->Record({.result = CallResult::kResponse, .status = info.status});
    }
  }

 private:
  CircuitBreaker& breaker_;
  ConcurrencyLimits& limits_;
  std::optional<ConcurrencyLimits::Permit> slot_;
  std::optional<CircuitBreaker::Permit> permit_;
};

// Clients on several connections, so that the kernel spreads them over the
// workers. Each thread only counts; assertions run on the test thread.
constexpr int kClients = 8;
void RunClients(uint16_t port, const char* path, int per_client, std::atomic<int>* by_status,
                std::atomic<int>& circuit_open, std::atomic<int>& broken) {
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, path, per_client] {
      auto client = TestClient::Connect(port);
      if (client == nullptr) {
        ++broken;
        return;
      }
      for (int i = 0; i < per_client; ++i) {
        auto r = client->RoundTrip(Get(path));
        if (!r.has_value()) {
          ++broken;
          return;
        }
        if (r->status == 200) ++by_status[0];
        if (r->status == 500) ++by_status[1];
        if (r->status == 503) {
          ++by_status[2];
          if (r->body.find("circuit_open") != std::string::npos) ++circuit_open;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST_CASE("a breaker shared by the workers of a runtime opens once for all of them") {
  // An open timeout far beyond the test: after opening, nothing changes.
  auto breaker = MakeConsecutiveFailureBreaker(
      {.name = "shared", .failure_threshold = 20, .open_timeout = absl::Hours(1)});
  auto limits = ConcurrencyLimits::Create({.name = "shared", .max_requests = 1000});
  REQUIRE(breaker.ok());
  REQUIRE(limits.ok());
  std::shared_ptr<CircuitBreaker> shared_breaker = *breaker;
  std::shared_ptr<ConcurrencyLimits> shared_limits = *limits;
  auto guard = MakeFilterFactory("guard", [shared_breaker, shared_limits](const Route&) {
    return std::make_unique<BreakerGuard>(*shared_breaker, *shared_limits);
  });
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("ok").Exact("/ok").Respond(200, "up").Build());
  routes.push_back(RouteBuilder("fail").Exact("/fail").Respond(500, "down").Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(guard).Build();
  REQUIRE(pipeline.ok());

  RuntimeOptions options;
  options.workers = 4;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];

  // Healthy traffic from every worker: the breaker stays closed.
  std::atomic<int> healthy[3] = {0, 0, 0};
  std::atomic<int> healthy_open{0}, healthy_broken{0};
  RunClients(port, "/ok", 25, healthy, healthy_open, healthy_broken);
  CHECK(healthy_broken == 0);
  CHECK(healthy[0] == kClients * 25);
  CHECK(shared_breaker->state() == BreakerState::kClosed);

  // Failing traffic: some 500s get through from several workers, then every
  // worker refuses with circuit_open.
  std::atomic<int> failing[3] = {0, 0, 0};
  std::atomic<int> refused{0}, failing_broken{0};
  RunClients(port, "/fail", 25, failing, refused, failing_broken);
  CHECK(failing_broken == 0);
  CHECK(failing[0] == 0);
  CHECK(failing[1] >= 20);  // at least the threshold, plus calls already admitted
  CHECK(failing[1] + failing[2] == kClients * 25);
  CHECK(refused == failing[2]);
  CHECK(refused > 0);

  BreakerStats stats = shared_breaker->stats();
  CHECK(stats.state == BreakerState::kOpen);
  CHECK(stats.opened == 1);
  CHECK(stats.rejected == static_cast<uint64_t>(refused.load()));

  (*runtime)->Drain(absl::Seconds(2));
  (*runtime)->Wait();
  CHECK(shared_limits->stats().active_requests == 0);
  CHECK(shared_limits->stats().requests_overflow == 0);
}

TEST_CASE("a cluster breaker shared by the proxying workers of a runtime opens once for all") {
  auto upstream_router =
      Router::Build({RouteBuilder("ok").Exact("/ok").Respond(200, "up").Build(),
                     RouteBuilder("fail").Prefix("/").Respond(500, "down").Build()});
  REQUIRE(upstream_router.ok());
  auto upstream_pipeline = PipelineBuilder{}.Routes(*upstream_router).Build();
  REQUIRE(upstream_pipeline.ok());
  auto upstream = TestServer::Start(LoopbackOptions(), *upstream_pipeline);
  REQUIRE(upstream.ok());

  ClusterSpec cluster{.name = "shared",
                      .endpoints = {{.address = "127.0.0.1", .port = (*upstream)->port()}}};
  cluster.resilience.breaker =
      ConsecutiveFailureBreakerConfig{.failure_threshold = 20, .open_timeout = absl::Hours(1)};
  auto clusters = ClusterManager::Create({std::move(cluster)});
  REQUIRE(clusters.ok());
  RetryPolicy no_retries{.on_connect_failure = false, .max_retries = 0};
  auto router = Router::Build(
      {RouteBuilder("all").Prefix("/").ToCluster("shared").Retry(no_retries).Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*clusters).Build();
  REQUIRE(pipeline.ok());
  RuntimeOptions options;
  options.workers = 4;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];
  const ClusterResilience& shared = *(*clusters)->Resilience("shared");

  std::atomic<int> healthy[3] = {0, 0, 0};
  std::atomic<int> healthy_open{0}, healthy_broken{0};
  RunClients(port, "/ok", 25, healthy, healthy_open, healthy_broken);
  CHECK(healthy_broken == 0);
  CHECK(healthy[0] == kClients * 25);
  CHECK(shared.breaker->state() == BreakerState::kClosed);

  std::atomic<int> failing[3] = {0, 0, 0};
  std::atomic<int> refused{0}, failing_broken{0};
  RunClients(port, "/fail", 25, failing, refused, failing_broken);
  CHECK(failing_broken == 0);
  CHECK(failing[1] >= 20);
  CHECK(failing[1] + failing[2] == kClients * 25);
  CHECK(refused == failing[2]);
  CHECK(refused > 0);
  BreakerStats stats = shared.breaker->stats();
  CHECK(stats.state == BreakerState::kOpen);
  CHECK(stats.opened == 1);
  CHECK(stats.rejected == static_cast<uint64_t>(refused.load()));

  (*runtime)->Drain(absl::Seconds(2));
  (*runtime)->Wait();
  CHECK(shared.limits->stats().active_requests == 0);
  CHECK(shared.limits->stats().pending_requests == 0);
}

// Keeps the breaker transitions; the workers' threads report concurrently.
class TransitionLog final : public ResilienceObserver {
 public:
  void OnBreakerTransition(const BreakerTransition& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    lines_.push_back(FormatEvent(event));
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_CASE(
    "a route breaker built with the pipeline opens once for every worker, and a reload "
    "starts it afresh") {
  auto upstream_router =
      Router::Build({RouteBuilder("ok").Exact("/ok").Respond(200, "up").Build(),
                     RouteBuilder("fail").Prefix("/").Respond(500, "down").Build()});
  REQUIRE(upstream_router.ok());
  auto upstream_pipeline = PipelineBuilder{}.Routes(*upstream_router).Build();
  REQUIRE(upstream_pipeline.ok());
  auto upstream = TestServer::Start(LoopbackOptions(), *upstream_pipeline);
  REQUIRE(upstream.ok());

  // No cluster breaker: only the route's can refuse.
  auto clusters = ClusterManager::Create(
      {{.name = "c", .endpoints = {{.address = "127.0.0.1", .port = (*upstream)->port()}}}});
  REQUIRE(clusters.ok());
  RetryPolicy no_retries{.on_connect_failure = false, .max_retries = 0};
  auto router =
      Router::Build({RouteBuilder("guarded")
                         .Prefix("/fail")
                         .ToCluster("c")
                         .Retry(no_retries)
                         .Breaker(ConsecutiveFailureBreakerConfig{.failure_threshold = 20,
                                                                  .open_timeout = absl::Hours(1)})
                         .Build(),
                     RouteBuilder("open").Prefix("/").ToCluster("c").Retry(no_retries).Build()});
  REQUIRE(router.ok());
  const Route& guarded = *(*router)->routes()[0];
  auto log = std::make_shared<TransitionLog>();
  auto first =
      PipelineBuilder{}.Routes(*router).Clusters(*clusters).RouteBreakerObserver(log).Build();
  REQUIRE(first.ok());
  CircuitBreaker* first_breaker = (*first)->route_breaker(guarded);
  REQUIRE(first_breaker != nullptr);

  RuntimeOptions options;
  options.workers = 4;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), *first);
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];

  // Failing traffic over several workers: at least the threshold reaches the
  // upstream, then every worker sheds with circuit_open, counted by the one
  // breaker all of them share.
  std::atomic<int> failing[3] = {0, 0, 0};
  std::atomic<int> refused{0}, broken{0};
  RunClients(port, "/fail", 25, failing, refused, broken);
  CHECK(broken == 0);
  CHECK(failing[1] >= 20);
  CHECK(failing[1] + failing[2] == kClients * 25);
  CHECK(refused == failing[2]);
  CHECK(refused > 0);
  BreakerStats stats = first_breaker->stats();
  CHECK(stats.state == BreakerState::kOpen);
  CHECK(stats.opened == 1);
  CHECK(stats.rejected == static_cast<uint64_t>(refused.load()));
  // Refused requests never reached the upstream.
  CHECK((*upstream)->stats().requests == static_cast<uint64_t>(failing[1].load()));
  // The breaker is the route's: the other route to the same cluster still passes.
  std::atomic<int> other[3] = {0, 0, 0};
  std::atomic<int> other_open{0}, other_broken{0};
  RunClients(port, "/ok", 2, other, other_open, other_broken);
  CHECK(other_broken == 0);
  CHECK(other[0] == kClients * 2);

  // A reload installs a new pipeline, here on the same router: its breaker
  // starts closed, lets the threshold through again and opens once more. A
  // request still served by the old pipeline meets the old, open breaker.
  auto second =
      PipelineBuilder{}.Routes(*router).Clusters(*clusters).RouteBreakerObserver(log).Build();
  REQUIRE(second.ok());
  CircuitBreaker* second_breaker = (*second)->route_breaker(guarded);
  REQUIRE(second_breaker != nullptr);
  REQUIRE(second_breaker != first_breaker);
  CHECK(second_breaker->state() == BreakerState::kClosed);
  (*runtime)->SetPipeline(*second);
  const uint64_t old_rejected = first_breaker->stats().rejected;
  std::atomic<int> again[3] = {0, 0, 0};
  std::atomic<int> again_refused{0}, again_broken{0};
  RunClients(port, "/fail", 25, again, again_refused, again_broken);
  CHECK(again_broken == 0);
  CHECK(again[1] >= 20);  // only the new breaker admits anything
  CHECK(again[1] + again[2] == kClients * 25);
  CHECK(again_refused == again[2]);
  BreakerStats fresh = second_breaker->stats();
  CHECK(fresh.state == BreakerState::kOpen);
  CHECK(fresh.opened == 1);
  CHECK(fresh.rejected + (first_breaker->stats().rejected - old_rejected) ==
        static_cast<uint64_t>(again_refused.load()));
  CHECK(first_breaker->stats().opened == 1);
  // One transition per pipeline's breaker, not one per worker.
  std::vector<std::string> lines = log->lines();
  INFO(absl::StrJoin(lines, "\n"));
  REQUIRE(lines.size() == 2);
  for (const std::string& line : lines) {
    CHECK(line.find("circuit breaker 'guarded': closed -> open") == 0);
  }

  (*runtime)->Drain(absl::Seconds(2));
  (*runtime)->Wait();
}

}  // namespace
}  // namespace gateway::itest
