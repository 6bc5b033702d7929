// A filter that pauses every request on a timer (standing in for a remote
// lookup) and resumes it later, or rejects it, without blocking the loop.
// Runs on the caller's loop with Gateway::Create; stops after `max_requests`
// requests or on SIGINT.
//
//   ./async_filter 8081 &  curl -i localhost:8081/slow      (200 after 50 ms)
//                          curl -i localhost:8081/slow?deny  (403 after 50 ms)
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gateway/gateway.h"

using namespace gateway;

class DelayFilter final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    bool deny = ctx.request().query == "deny";
    // Only the Resumer may outlive this call; the timer is owned by the filter,
    // so it is cancelled if the request ends first.
    timer_ = ctx.dispatcher().CreateTimer([this, deny, resumer = ctx.Pause()]() mutable {
      if (deny) {
        resumer.Reply(LocalReply::Json(403, "denied", "the lookup said no"));
      } else {
        resumer.Resume();
      }
    });
    timer_->Enable(absl::Milliseconds(50));
    return FilterStatus::kPause;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    ctx.response()->headers.Add("x-delayed", "50ms");
    return FilterStatus::kContinue;
  }
  void OnDone(const RequestInfo& info) override {
    std::printf("done: status=%d flag=%s\n", info.status, std::string(info.flag).c_str());
  }

 private:
  std::unique_ptr<Timer> timer_;
};

int main(int argc, char** argv) {
  uint16_t port = argc > 1 ? static_cast<uint16_t>(std::atoi(argv[1])) : 8081;
  auto router = Router::Build({RouteBuilder("slow").Prefix("/").Respond(200, "resumed\n").Build()});
  if (!router.ok()) return 1;
  auto pipeline = PipelineBuilder{}
                      .Routes(*router)
                      .Add(MakeFilterFactory(
                          "delay", [](const Route&) { return std::make_unique<DelayFilter>(); }))
                      .Build();
  if (!pipeline.ok()) return 1;

  uv_loop_t* loop = uv_default_loop();
  ServerOptions options;
  options.listeners.push_back({.address = "127.0.0.1", .port = port});
  auto gateway = Gateway::Create(loop, options, *pipeline);
  if (!gateway.ok()) {
    std::fprintf(stderr, "async_filter: %s\n", std::string(gateway.status().message()).c_str());
    return 1;
  }
  std::printf("async_filter on 127.0.0.1:%u\n", (*gateway)->ports()[0]);
  std::fflush(stdout);

  uv_signal_t sigint;
  uv_signal_init(loop, &sigint);
  sigint.data = gateway->get();
  uv_signal_start(
      &sigint,
      [](uv_signal_t* s, int) {
        static_cast<Gateway*>(s->data)->Drain(
            absl::Seconds(2), [s] { uv_close(reinterpret_cast<uv_handle_t*>(s), nullptr); });
      },
      SIGINT);

  uv_run(loop, UV_RUN_DEFAULT);
  gateway->reset();
  uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop) == 0 ? 0 : 1;
}
