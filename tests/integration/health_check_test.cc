// Active health checks against real upstreams whose health endpoint flips.
#include <unistd.h>

#include <atomic>
#include <functional>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gateway/health_check.h"
#include "integration/checker_thread.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::TestClient;
using itest::TestServer;

// Answers /health with the current `status` and everything else with `id`.
class Upstream {
 public:
  explicit Upstream(std::string id) {
    auto router = Router::Build({RouteBuilder("health").Exact("/health").Respond(200, "").Build(),
                                 RouteBuilder("all").Prefix("/").Respond(200, id).Build()});
    REQUIRE(router.ok());
    auto pipeline =
        PipelineBuilder{}
            .Routes(*router)
            .Add(MakeFilterFactory("status",
                                   [this](const Route& r) -> std::unique_ptr<Filter> {
                                     if (r.name() != "health") return nullptr;
                                     return std::make_unique<StatusFilter>(status_, probes_);
                                   }))
            .Build();
    REQUIRE(pipeline.ok());
    auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
    REQUIRE(server.ok());
    server_ = std::move(*server);
  }
  uint16_t port() const { return server_->port(); }
  void set_status(int s) { status_ = s; }
  int probes() const { return probes_; }

 private:
  class StatusFilter final : public Filter {
   public:
    StatusFilter(std::atomic<int>& status, std::atomic<int>& probes)
        : status_(status), probes_(probes) {}
    FilterStatus OnRequestHeaders(FilterContext& ctx) override {
      ++probes_;
      ctx.SendLocalReply(LocalReply::Text(status_, "health"));
      return FilterStatus::kStop;
    }

   private:
    std::atomic<int>& status_;
    std::atomic<int>& probes_;
  };

  std::atomic<int> status_{200};
  std::atomic<int> probes_{0};
  std::unique_ptr<TestServer> server_;
};

HealthCheckSpec FastCheck() {
  return HealthCheckSpec{.interval = absl::Milliseconds(30),
                         .jitter = absl::ZeroDuration(),
                         .timeout = absl::Milliseconds(500),
                         .healthy_threshold = 2,
                         .unhealthy_threshold = 3};
}

std::shared_ptr<ClusterManager> Clusters(std::vector<uint16_t> ports, HealthCheckSpec check) {
  ClusterSpec c;
  c.name = "c";
  for (uint16_t p : ports) c.endpoints.push_back({.address = "127.0.0.1", .port = p});
  c.lb.panic_threshold_percent = 0;  // no healthy host: 503, not panic routing
  c.health_check = std::move(check);
  auto cm = ClusterManager::Create({std::move(c)});
  REQUIRE(cm.ok());
  return *cm;
}

std::unique_ptr<TestServer> Proxy(std::shared_ptr<ClusterManager> cm) {
  auto router = Router::Build({RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(cm).Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

bool Eventually(const std::function<bool()>& pred) {
  return itest::Eventually(pred, absl::Seconds(5));
}

bool Healthy(const ClusterManager& cm, uint16_t port) {
  auto set = cm.Hosts("c");
  for (size_t i = 0; i < set->hosts().size(); ++i) {
    if (set->hosts()[i]->port() == port) return set->IsHealthy(i);
  }
  return false;
}

struct Events {
  absl::Mutex mu;
  std::vector<HealthEvent> list;
};

TEST_CASE(
    "a host whose health endpoint fails leaves the rotation and returns after the thresholds") {
  Upstream a("a"), b("b");
  auto cm = Clusters({a.port(), b.port()}, FastCheck());
  auto events = std::make_shared<Events>();
  auto checker = itest::StartChecker(cm, {.on_change = [events](const HealthEvent& e) {
                                       absl::MutexLock lock(&events->mu);
                                       events->list.push_back(e);
                                     }});
  auto proxy = Proxy(cm);
  REQUIRE(Eventually([&] { return a.probes() >= 2 && b.probes() >= 2; }));
  CHECK(Healthy(*cm, a.port()));

  a.set_status(500);
  int probes_at_flip = a.probes();
  REQUIRE(Eventually([&] { return !Healthy(*cm, a.port()); }));
  // Not before the unhealthy threshold of failed probes.
  CHECK(a.probes() - probes_at_flip >= 3);
  auto client = TestClient::Connect(proxy->port());
  for (int i = 0; i < 20; ++i) {
    auto r = client->RoundTrip(itest::Get("/x"));
    REQUIRE(r);
    CHECK(r->body == "b");
  }

  a.set_status(200);
  REQUIRE(Eventually([&] { return Healthy(*cm, a.port()); }));
  bool saw_a = false;
  for (int i = 0; i < 20 && !saw_a; ++i) {
    auto r = client->RoundTrip(itest::Get("/x"));
    REQUIRE(r);
    saw_a = r->body == "a";
  }
  CHECK(saw_a);

  absl::MutexLock lock(&events->mu);
  REQUIRE(events->list.size() == 2);  // once per transition
  CHECK(events->list[0].host == absl::StrCat("127.0.0.1:", a.port()));
  CHECK_FALSE(events->list[0].healthy);
  CHECK(events->list[0].reason == "status 500");
  CHECK(events->list[1].healthy);
  bool found = false;
  for (const auto& h : checker->Status()) {
    if (h.host == events->list[0].host) {
      found = true;
      CHECK(h.healthy);
      CHECK(h.failures >= 3);
      CHECK(h.last_failure == "status 500");
    }
  }
  CHECK(found);
}

TEST_CASE("with every host failing its health check requests get a fast 503") {
  Upstream a("a");
  auto cm = Clusters({a.port()}, FastCheck());
  auto checker = itest::StartChecker(cm);
  auto proxy = Proxy(cm);
  a.set_status(503);
  REQUIRE(Eventually([&] { return !Healthy(*cm, a.port()); }));
  auto client = TestClient::Connect(proxy->port());
  auto start = itest::DeadlineAfter(absl::ZeroDuration());
  auto r = client->RoundTrip(itest::Get("/x"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body.find("no_healthy_upstream") != std::string::npos);
  CHECK(itest::ElapsedSince(start) < absl::Milliseconds(100));
}

TEST_CASE("a TCP health check marks a host that refuses connections unhealthy") {
  Upstream a("a");
  uint16_t gone_port = itest::ClosedPort();
  HealthCheckSpec check = FastCheck();
  check.type = HealthCheckSpec::Type::kTcp;
  auto cm = Clusters({a.port(), gone_port}, check);
  auto checker = itest::StartChecker(cm);
  REQUIRE(Eventually([&] { return !Healthy(*cm, gone_port); }));
  CHECK(Healthy(*cm, a.port()));
  CHECK(a.probes() == 0);  // a TCP check sends no request
}

TEST_CASE("a health check that gets no answer in time counts as failed") {
  // A listener that never accepts (backlog only): the connect succeeds, no
  // response ever comes.
  Upstream a("a");
  uint16_t silent_port;
  int fd = itest::BindLoopback(&silent_port, 64);
  HealthCheckSpec check = FastCheck();
  check.timeout = absl::Milliseconds(50);
  check.unhealthy_threshold = 1;
  auto cm = Clusters({a.port(), silent_port}, check);
  auto checker = itest::StartChecker(cm);
  REQUIRE(Eventually([&] { return !Healthy(*cm, silent_port); }));
  bool timed_out = false;
  for (const auto& h : checker->Status()) {
    if (h.host == absl::StrCat("127.0.0.1:", silent_port)) timed_out = h.last_failure == "timeout";
  }
  CHECK(timed_out);
  checker.reset();
  close(fd);
}

}  // namespace
}  // namespace gateway
