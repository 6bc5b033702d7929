// Runs a `Gateway` on its own libuv loop in a background thread, listening on
// loopback, for integration tests; plus small test filters that report to the
// test thread.
//
// The test thread talks to the loop only through `RunOnLoop` (a uv_async the
// server owns), so every Gateway call happens on the loop thread as the API
// requires. `Stop` (also run by the destructor) destroys the gateway on its
// loop, lets the loop run until every handle is closed, and joins.
//
// Header-only because the integration glob compiles only *_test.cc files.
#ifndef GATEWAY_TESTS_INTEGRATION_TEST_SERVER_H_
#define GATEWAY_TESTS_INTEGRATION_TEST_SERVER_H_

#include <uv.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "gateway/gateway.h"

namespace gateway::itest {

// ServerOptions for one listener on `address` port 0 with small timeouts, so
// a test that waits for one never waits long.
inline ServerOptions LoopbackOptions(std::string address = "127.0.0.1") {
  ServerOptions o;
  o.listeners.push_back({.address = std::move(address), .port = 0, .backlog = 128});
  return o;
}

class TestServer {
 public:
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(
      ServerOptions options, std::shared_ptr<const Pipeline> pipeline) {
    std::unique_ptr<TestServer> s(new TestServer());
    auto gw = Gateway::Create(&s->loop_, std::move(options), std::move(pipeline));
    if (!gw.ok()) return gw.status();
    s->gateway_ = std::move(*gw);
    s->ports_ = s->gateway_->ports();
    // The loop has not run yet, so creating the gateway here is still "on the
    // loop thread"; from now on only the loop thread touches it.
    s->thread_ = std::thread([raw = s.get()] { raw->Run(); });
    return s;
  }

  ~TestServer() { Stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  uint16_t port(size_t i = 0) const { return ports_.at(i); }

  // Runs `fn` on the loop thread and waits for it to finish. False if the loop
  // is gone or `fn` did not run within `timeout`.
  bool RunOnLoop(absl::AnyInvocable<void(Gateway*)> fn, absl::Duration timeout = absl::Seconds(5)) {
    auto state = std::make_shared<DoneFlag>();
    if (!Post([this, state, fn = std::move(fn)]() mutable {
          fn(gateway_.get());
          state->Set();
        })) {
      return false;
    }
    return state->Wait(timeout);
  }

  GatewayStats stats() {
    GatewayStats out;
    RunOnLoop([&out](Gateway* gw) {
      if (gw != nullptr) out = gw->stats();
    });
    return out;
  }

  // Starts a graceful drain; `WaitDrained` waits for its done callback.
  void StartDrain(absl::Duration deadline) {
    RunOnLoop([this, deadline](Gateway* gw) { gw->Drain(deadline, [this] { drained_->Set(); }); });
  }
  bool WaitDrained(absl::Duration timeout) { return drained_->Wait(timeout); }
  bool drained() const { return drained_->IsSet(); }

  // Destroys the gateway on its loop, waits for the loop to end and joins.
  // Returns false (after printing why) if the loop kept handles open.
  bool Stop() {
    if (!thread_.joinable()) return loop_closed_cleanly_;
    Post([this] {
      gateway_.reset();
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    });
    if (!exited_->Wait(absl::Seconds(10))) {
      std::fprintf(stderr, "TestServer: loop did not exit within 10s after Stop\n");
      std::abort();  // a hang would only end at the ctest timeout
    }
    thread_.join();
    return loop_closed_cleanly_;
  }
  bool loop_closed_cleanly() const { return loop_closed_cleanly_; }

 private:
  class DoneFlag {
   public:
    void Set() {
      std::lock_guard<std::mutex> lock(mu_);
      set_ = true;
      cv_.notify_all();
    }
    bool IsSet() const {
      std::lock_guard<std::mutex> lock(mu_);
      return set_;
    }
    bool Wait(absl::Duration timeout) {
      std::unique_lock<std::mutex> lock(mu_);
      return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [this] { return set_; });
    }

   private:
    mutable std::mutex mu_;
    std::condition_variable cv_;
    bool set_ = false;
  };

  TestServer() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_,
                  [](uv_async_t* a) { static_cast<TestServer*>(a->data)->RunTasks(); });
    async_.data = this;
  }

  bool Post(absl::AnyInvocable<void()> task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
    uv_async_send(&async_);
    return true;
  }

  void RunTasks() {
    std::vector<absl::AnyInvocable<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(tasks_);
    }
    for (auto& task : batch) task();
  }

  void Run() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      tasks_.clear();
    }
    int rc = uv_loop_close(&loop_);
    if (rc != 0) {
      std::fprintf(stderr, "TestServer: uv_loop_close: %s (handles left open)\n", uv_strerror(rc));
      uv_walk(
          &loop_,
          [](uv_handle_t* h, void*) {
            std::fprintf(stderr, "  open handle: %s active=%d\n", uv_handle_type_name(h->type),
                         uv_is_active(h));
          },
          nullptr);
    }
    loop_closed_cleanly_ = rc == 0;
    exited_->Set();
  }

  uv_loop_t loop_;
  uv_async_t async_;
  std::thread thread_;
  std::unique_ptr<Gateway> gateway_;  // loop thread only (after Start)
  std::vector<uint16_t> ports_;
  std::mutex mu_;
  std::vector<absl::AnyInvocable<void()>> tasks_;  // guarded by mu_
  bool stopping_ = false;                          // guarded by mu_
  std::shared_ptr<DoneFlag> drained_ = std::make_shared<DoneFlag>();
  std::shared_ptr<DoneFlag> exited_ = std::make_shared<DoneFlag>();
  bool loop_closed_cleanly_ = false;
};

// Collects what filters saw, from the loop thread, for the test thread.
class Recorder {
 public:
  struct Done {
    std::string route;
    int status = 0;
    RequestOutcome outcome = RequestOutcome::kCompleted;
    std::string flag;
    uint64_t request_body_bytes = 0;
  };

  void Started() {
    std::lock_guard<std::mutex> lock(mu_);
    ++started_;
    cv_.notify_all();
  }
  void Finished(const RequestInfo& info) {
    std::lock_guard<std::mutex> lock(mu_);
    done_.push_back(Done{std::string(info.route_name), info.status, info.outcome,
                         std::string(info.flag), info.request_body_bytes});
    cv_.notify_all();
  }
  // Waits until at least `n` requests reached the filter's OnRequestHeaders.
  bool WaitStarted(size_t n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return started_ >= n; });
  }
  // Waits until at least `n` filters got OnDone.
  bool WaitDone(size_t n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                        [&] { return done_.size() >= n; });
  }
  std::vector<Done> done() const {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }
  size_t started() const {
    std::lock_guard<std::mutex> lock(mu_);
    return started_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  size_t started_ = 0;
  std::vector<Done> done_;
};

// Records every request in a Recorder and, when the request carries
// "x-delay-ms: N", pauses its request headers for N ms on a loop timer.
class RecordingDelayFilter final : public Filter {
 public:
  explicit RecordingDelayFilter(Recorder* recorder) : recorder_(recorder) {}

  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    if (recorder_ != nullptr) recorder_->Started();
    std::optional<std::string_view> delay = ctx.request().headers.Get("x-delay-ms");
    int ms = 0;
    if (!delay.has_value() ||
        !absl::SimpleAtoi(absl::string_view(delay->data(), delay->size()), &ms)) {
      return FilterStatus::kContinue;
    }
    resumer_ = ctx.Pause();
    timer_ = ctx.dispatcher().CreateTimer([this] { resumer_.Resume(); });
    timer_->Enable(absl::Milliseconds(ms));
    return FilterStatus::kPause;
  }

  void OnDone(const RequestInfo& info) override {
    if (recorder_ != nullptr) recorder_->Finished(info);
  }

 private:
  Recorder* recorder_;
  Resumer resumer_;
  std::unique_ptr<Timer> timer_;
};

// Collects the request body and answers with it (200, text/plain), from the
// last body call: end-to-end proof of what the codec decoded.
class EchoBodyFilter final : public Filter {
 public:
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk,
                             bool end_of_stream) override {
    body_.append(chunk);
    if (!end_of_stream) return FilterStatus::kContinue;
    ctx.SendLocalReply(LocalReply::Text(200, body_));
    return FilterStatus::kStop;
  }

 private:
  std::string body_;
};

// The routes most tests use. Every route answers directly:
//   /      "root"      /a "A"     /b "B"     /c "C"
//   /echo  echoes the request body (EchoBodyFilter)
//   /deadline "in time", with a 150 ms route timeout
//   /big   `big_body`, if given
inline std::shared_ptr<const Pipeline> MakeTestPipeline(Recorder* recorder = nullptr,
                                                        std::string big_body = {}) {
  std::vector<RouteSpec> routes = {
      RouteBuilder("root").Exact("/").Respond(200, "root").Build(),
      RouteBuilder("a").Exact("/a").Respond(200, "A").Build(),
      RouteBuilder("b").Exact("/b").Respond(200, "B").Build(),
      RouteBuilder("c").Exact("/c").Respond(200, "C").Build(),
      RouteBuilder("echo").Exact("/echo").Respond(200, "").Build(),
      RouteBuilder("deadline")
          .Exact("/deadline")
          .Timeout(absl::Milliseconds(150))
          .Respond(200, "in time")
          .Build(),
  };
  if (!big_body.empty()) {
    routes.push_back(RouteBuilder("big")
                         .Exact("/big")
                         .Respond(200, std::move(big_body), "application/octet-stream")
                         .Build());
  }
  auto router = Router::Build(std::move(routes));
  if (!router.ok()) {
    std::fprintf(stderr, "MakeTestPipeline: %s\n", std::string(router.status().message()).c_str());
    std::abort();
  }
  auto pipeline =
      PipelineBuilder{}
          .Routes(*router)
          .Add(MakeFilterFactory("recorder",
                                 [recorder](const Route&) -> std::unique_ptr<Filter> {
                                   return std::make_unique<RecordingDelayFilter>(recorder);
                                 }))
          .Add(MakeFilterFactory("echo",
                                 [](const Route& route) -> std::unique_ptr<Filter> {
                                   if (route.name() != "echo") return nullptr;
                                   return std::make_unique<EchoBodyFilter>();
                                 }))
          .Build();
  if (!pipeline.ok()) std::abort();
  return *pipeline;
}

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_TEST_SERVER_H_
