// A program that already runs its own libuv loop (here: a periodic job)
// adds the gateway to it. The gateway neither owns nor runs the loop; both
// share the one thread. Exits by itself after `seconds` (default 2), draining
// the gateway first, so it can run unattended.
//
//   ./embed_existing_loop 3   and meanwhile   curl localhost:8082/status
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/gateway.h"

using namespace gateway;

struct App {
  uv_loop_t loop;
  uv_timer_t tick;
  uv_timer_t stop;
  int ticks = 0;
  std::unique_ptr<Gateway> gateway;
};

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 2;
  App app;
  uv_loop_init(&app.loop);

  // The application's own work on its loop.
  uv_timer_init(&app.loop, &app.tick);
  app.tick.data = &app;
  uv_timer_start(
      &app.tick, [](uv_timer_t* t) { ++static_cast<App*>(t->data)->ticks; }, 100, 100);

  // The gateway, attached to the same loop.
  auto router = Router::Build({
      RouteBuilder("status").Exact("/status").Respond(200, "app is running\n").Build(),
  });
  if (!router.ok()) return 1;
  auto pipeline = PipelineBuilder{}.Routes(*router).Build();
  if (!pipeline.ok()) return 1;
  ServerOptions options;
  options.listeners.push_back({.address = "127.0.0.1", .port = 8082});
  auto gateway = Gateway::Create(&app.loop, options, *pipeline);
  if (!gateway.ok()) {
    std::fprintf(stderr, "embed: %s\n", std::string(gateway.status().message()).c_str());
    return 1;
  }
  app.gateway = std::move(*gateway);
  std::printf("embedded gateway on 127.0.0.1:%u for %d s\n", app.gateway->ports()[0], seconds);
  std::fflush(stdout);

  uv_timer_init(&app.loop, &app.stop);
  app.stop.data = &app;
  uv_timer_start(
      &app.stop,
      [](uv_timer_t* t) {
        auto* a = static_cast<App*>(t->data);
        a->gateway->Drain(absl::Seconds(1), [a] {
          uv_timer_stop(&a->tick);
          uv_close(reinterpret_cast<uv_handle_t*>(&a->tick), nullptr);
          uv_close(reinterpret_cast<uv_handle_t*>(&a->stop), nullptr);
        });
      },
      static_cast<uint64_t>(seconds) * 1000, 0);

  uv_run(&app.loop, UV_RUN_DEFAULT);  // the application's loop, run by the application
  app.gateway.reset();
  uv_run(&app.loop, UV_RUN_NOWAIT);  // let the gateway's handles finish closing
  std::printf("ticks=%d\n", app.ticks);
  return uv_loop_close(&app.loop) == 0 ? 0 : 1;
}
