// Builds a router and a pipeline through the installed public headers only and
// prints the route names. Opens no sockets.
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/gateway.h"

namespace {

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "consumer: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  std::vector<gateway::RouteSpec> specs;
  specs.push_back(gateway::RouteBuilder("health").Exact("/healthz").Respond(200, "ok\n").Build());
  specs.push_back(gateway::RouteBuilder("users")
                      .Prefix("/api/users")
                      .Methods({"GET", "HEAD"})
                      .ToCluster("users")
                      .Build());
  specs.push_back(
      gateway::RouteBuilder("fallback").Priority(-1).Respond(404, "nothing here\n").Build());

  absl::StatusOr<std::shared_ptr<const gateway::Router>> router =
      gateway::Router::Build(std::move(specs));
  if (!router.ok()) return Fail("Router::Build", router.status());

  absl::StatusOr<std::shared_ptr<const gateway::Pipeline>> pipeline =
      gateway::PipelineBuilder{}.Routes(*router).Build();
  if (!pipeline.ok()) return Fail("PipelineBuilder::Build", pipeline.status());

  const auto& routes = (*pipeline)->router().routes();
  if (routes.size() != 3) {
    std::fprintf(stderr, "consumer: expected 3 routes, got %zu\n", routes.size());
    return 1;
  }
  for (const auto& route : routes) {
    std::printf("%s\n", route->name().c_str());
  }

  // The Redis limiter links hiredis through the package; building the factory
  // connects nothing.
  absl::StatusOr<std::shared_ptr<const gateway::AsyncRateLimiterFactory>> redis =
      gateway::MakeRedisRateLimiterFactory({.algorithm = gateway::FixedWindowConfig{.limit = 100}});
  if (!redis.ok()) return Fail("MakeRedisRateLimiterFactory", redis.status());
  return 0;
}
