// A gateway in one screen: routes with direct responses, one custom filter,
// served by a multi-worker Runtime on :8080 until SIGINT/SIGTERM.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "gateway/gateway.h"

using namespace gateway;

// Adds a header to every response and refuses requests without a User-Agent.
class HelloFilter final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    if (!ctx.request().headers.Has("user-agent")) {
      ctx.SendLocalReply(LocalReply::Json(400, "no_user_agent", "send a User-Agent header"));
      return FilterStatus::kStop;
    }
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    ctx.response()->headers.Add("x-served-by", "minimal_server");
    return FilterStatus::kContinue;
  }
};

int main(int argc, char** argv) {
  std::vector<RouteSpec> routes = {
      RouteBuilder("health").Exact("/healthz").Respond(200, "ok\n").Build(),
      RouteBuilder("hello")
          .Template("/hello/{name}")
          .Methods({"GET"})
          .Respond(200, "{\"hello\":\"world\"}\n", "application/json")
          .Build(),
      RouteBuilder("old").Prefix("/old").RedirectTo({.status = 308, .path = "/hello/new"}).Build(),
      RouteBuilder("root").Exact("/").Respond(200, "gateway minimal_server\n").Build(),
  };
  auto router = Router::Build(std::move(routes));
  auto pipeline = PipelineBuilder{}
                      .Routes(*router)
                      .Add(MakeFilterFactory(
                          "hello", [](const Route&) { return std::make_unique<HelloFilter>(); }))
                      .Build();
  if (!router.ok() || !pipeline.ok()) return 1;

  // Block the stop signals before the workers start so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  RuntimeOptions options;
  options.workers = argc > 1 ? std::atoi(argv[1]) : 0;
  options.server.listeners.push_back({.address = "0.0.0.0", .port = 8080});
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  if (!runtime.ok()) {
    std::fprintf(stderr, "minimal_server: %s\n", std::string(runtime.status().message()).c_str());
    return 1;
  }
  std::printf("minimal_server: %d workers on :8080 (try curl localhost:8080/hello/you)\n",
              (*runtime)->workers());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  (*runtime)->Drain(absl::Seconds(5));
  (*runtime)->Wait();
  return 0;
}
