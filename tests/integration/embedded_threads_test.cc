// An embedded gateway runs everything on the application's loop: DNS lookups
// of its clusters go to libuv's thread pool and health checks run on that
// loop, so embedding it starts no thread besides the pool's.
#include <dirent.h>
#include <uv.h>

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "absl/time/clock.h"
#include "gateway/cluster.h"
#include "gateway/gateway.h"
#include "gateway/health_check.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

int ThreadCount() {
  int n = 0;
  DIR* dir = opendir("/proc/self/task");
  REQUIRE(dir != nullptr);
  while (dirent* e = readdir(dir)) n += e->d_name[0] != '.';
  closedir(dir);
  return n;
}

// libuv starts every thread of its pool (UV_THREADPOOL_SIZE) on the first
// request of the process; done here so that the count below includes them.
void StartLibuvPool() {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_work_t work;
  uv_queue_work(
      &loop, &work, [](uv_work_t*) {}, [](uv_work_t*, int) {});
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
}

TEST_CASE("an embedded gateway with a DNS cluster and health checks starts no thread of its own") {
  auto router = Router::Build({RouteBuilder("all").Prefix("/").Respond(200, "up").Build()});
  REQUIRE(router.ok());
  auto upstream_pipeline = PipelineBuilder{}.Routes(*router).Build();
  REQUIRE(upstream_pipeline.ok());
  auto upstream = TestServer::Start(LoopbackOptions(), *upstream_pipeline);  // its own thread
  REQUIRE(upstream.ok());
  StartLibuvPool();
  const int before = ThreadCount();

  uv_loop_t loop;
  uv_loop_init(&loop);
  ClusterSpec c;
  c.name = "c";
  c.endpoints.push_back({.address = "localhost", .port = (*upstream)->port()});
  c.health_check = HealthCheckSpec{.interval = absl::Milliseconds(20),
                                   .jitter = absl::ZeroDuration(),
                                   .timeout = absl::Milliseconds(500)};
  auto clusters = ClusterManager::Create({std::move(c)}, {.loop = &loop});
  REQUIRE(clusters.ok());
  auto routes = Router::Build({RouteBuilder("proxy").Prefix("/").ToCluster("c").Build()});
  REQUIRE(routes.ok());
  auto pipeline = PipelineBuilder{}.Routes(*routes).Clusters(*clusters).Build();
  REQUIRE(pipeline.ok());
  auto gw = Gateway::Create(&loop, LoopbackOptions(), *pipeline);
  REQUIRE(gw.ok());
  auto checker = HealthChecker::Create((*gw)->dispatcher(), *clusters);

  // Until "localhost" resolved (on the pool) and its host passed probes.
  auto probed = [&] {
    for (const auto& h : checker->Status()) {
      if (h.probes >= 3 && h.failures == 0) return true;
    }
    return false;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!probed() && absl::Now() < deadline) uv_run(&loop, UV_RUN_ONCE);
  REQUIRE(probed());
  CHECK((*clusters)->Hosts("c")->hosts().size() >= 1);
  (*clusters)->RefreshDns();
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(ThreadCount() == before);

  checker.reset();
  bool drained = false;
  (*gw)->Drain(absl::ZeroDuration(), [&] { drained = true; });
  while (!drained) uv_run(&loop, UV_RUN_ONCE);
  gw->reset();
  *pipeline = nullptr;
  clusters->reset();              // the last reference: closes its handles on this loop
  uv_run(&loop, UV_RUN_DEFAULT);  // close callbacks; a lookup still on the pool
  CHECK(uv_loop_close(&loop) == 0);
  CHECK(ThreadCount() == before);
}

}  // namespace
}  // namespace gateway::itest
