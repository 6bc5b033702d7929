#include "gateway/runtime.h"

#include <uv.h>

#include <atomic>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "event/uv_dispatcher.h"

namespace gateway {
namespace {

// One worker thread: its own loop, its own Gateway, and a dispatcher the other
// threads post to.
class Worker {
 public:
  Worker() = default;
  ~Worker() {
    if (thread_.joinable()) thread_.join();
  }

  // Starts the thread; the future resolves once the gateway listens (or failed).
  std::future<absl::StatusOr<std::vector<uint16_t>>> Start(
      ServerOptions options, std::shared_ptr<const Pipeline> pipeline) {
    auto ready = std::make_shared<std::promise<absl::StatusOr<std::vector<uint16_t>>>>();
    auto future = ready->get_future();
    thread_ =
        std::thread([this, options = std::move(options), pipeline = std::move(pipeline),
                     ready]() mutable { Run(std::move(options), std::move(pipeline), *ready); });
    return future;
  }

  // Runs `fn` on the worker's loop with its gateway; dropped once it has stopped.
  void Post(absl::AnyInvocable<void(Gateway&)> fn) {
    absl::MutexLock lock(&mu_);
    if (control_ == nullptr) return;
    control_->PostFromAnyThread([this, fn = std::move(fn)]() mutable {
      if (gateway_ != nullptr) fn(*gateway_);
    });
  }

  GatewayStats stats() {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run(ServerOptions options, std::shared_ptr<const Pipeline> pipeline,
           std::promise<absl::StatusOr<std::vector<uint16_t>>>& ready) {
    uv_loop_t loop;
    uv_loop_init(&loop);
    {
      auto control = std::make_unique<internal::UvDispatcher>(&loop);
      auto gw = Gateway::Create(&loop, std::move(options), std::move(pipeline));
      if (!gw.ok()) {
        ready.set_value(gw.status());
      } else {
        gateway_ = std::move(*gw);
        {
          absl::MutexLock lock(&mu_);
          control_ = control.get();
        }
        ready.set_value(gateway_->ports());
        // Publish stats periodically for Runtime::stats().
        std::unique_ptr<Timer> stats_timer;
        stats_timer = control->CreateTimer([this, &stats_timer] {
          {
            absl::MutexLock lock(&mu_);
            if (gateway_ != nullptr) stats_ = gateway_->stats();
          }
          stats_timer->Enable(absl::Milliseconds(100));
        });
        stats_timer->Enable(absl::Milliseconds(100));
        stop_ = [this, &stats_timer] {
          stats_timer->Disable();
          {
            absl::MutexLock lock(&mu_);
            if (gateway_ != nullptr) stats_ = gateway_->stats();
            control_ = nullptr;  // no more posts from other threads
          }
          gateway_.reset();
        };
        uv_run(&loop, UV_RUN_DEFAULT);
        stats_timer.reset();
      }
      gateway_.reset();
      control.reset();
    }
    // Let close callbacks free every handle, then release the loop.
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
    }
    uv_loop_close(&loop);
  }

 public:
  // Called on the worker's loop once the gateway drained.
  void Stop() {
    if (stop_) {
      auto stop = std::move(stop_);
      stop_ = nullptr;
      stop();
    }
  }

 private:
  std::thread thread_;
  absl::Mutex mu_;
  internal::UvDispatcher* control_ ABSL_GUARDED_BY(mu_) = nullptr;
  GatewayStats stats_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Gateway> gateway_;  // worker thread only
  std::function<void()> stop_;        // worker thread only
};

class RuntimeImpl final : public Runtime {
 public:
  ~RuntimeImpl() override {
    Drain(absl::ZeroDuration());
    Wait();
  }

  absl::Status Init(RuntimeOptions options, const std::shared_ptr<const Pipeline>& pipeline) {
    int n = options.workers > 0
                ? options.workers
                : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    for (auto& l : options.server.listeners) l.reuse_port = true;
    // The first worker binds (resolving port 0); the rest reuse its ports.
    for (int i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<Worker>());
      auto result = workers_.back()->Start(options.server, pipeline).get();
      if (!result.ok()) {
        Drain(absl::ZeroDuration());
        Wait();
        return result.status();
      }
      if (i == 0) {
        ports_ = *result;
        for (size_t j = 0; j < ports_.size(); ++j) options.server.listeners[j].port = ports_[j];
      }
    }
    return absl::OkStatus();
  }

  void SetPipeline(std::shared_ptr<const Pipeline> pipeline) override {
    for (auto& w : workers_) w->Post([pipeline](Gateway& gw) { gw.SetPipeline(pipeline); });
  }

  void Drain(absl::Duration deadline) override {
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->Post(
          [deadline, worker](Gateway& gw) { gw.Drain(deadline, [worker] { worker->Stop(); }); });
    }
  }

  void Wait() override {
    for (auto& w : workers_) w->Join();
  }

  int workers() const override { return static_cast<int>(workers_.size()); }
  std::vector<uint16_t> ports() const override { return ports_; }
  GatewayStats stats() const override {
    GatewayStats total;
    for (auto& w : workers_) {
      GatewayStats s = w->stats();
      total.connections_accepted += s.connections_accepted;
      total.connections_rejected += s.connections_rejected;
      total.active_connections += s.active_connections;
      total.requests += s.requests;
      total.active_requests += s.active_requests;
      total.underscore_headers_dropped += s.underscore_headers_dropped;
      total.underscore_requests_rejected += s.underscore_requests_rejected;
    }
    return total;
  }

 private:
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<uint16_t> ports_;
};

class ControlThreadImpl final : public ControlThread {
 public:
  ControlThreadImpl() {
    std::promise<void> ready;
    auto started = ready.get_future();
    thread_ = std::thread([this, &ready] {
      uv_loop_t loop;
      uv_loop_init(&loop);
      // The dispatcher's handles do not keep a loop running (an embedder's
      // loop must be able to end): this one does, until the destructor.
      uv_async_t keepalive;
      uv_async_init(&loop, &keepalive, nullptr);
      {
        internal::UvDispatcher dispatcher(&loop);
        dispatcher_ = &dispatcher;
        keepalive_ = &keepalive;
        ready.set_value();
        uv_run(&loop, UV_RUN_DEFAULT);  // until the destructor's stop
        dispatcher.DiscardPosted();
      }
      // Close callbacks, and lookups still on the pool for managers
      // destroyed from other threads just now.
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
    });
    started.wait();
  }

  ~ControlThreadImpl() override {
    dispatcher_->PostFromAnyThread([this] {
      uv_close(reinterpret_cast<uv_handle_t*>(keepalive_), nullptr);
      uv_stop(dispatcher_->loop());
    });
    thread_.join();
  }

  void Run(absl::AnyInvocable<void(Dispatcher&)> fn) override {
    std::promise<void> done;
    dispatcher_->PostFromAnyThread([&] {
      fn(*dispatcher_);
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  std::thread thread_;
  internal::UvDispatcher* dispatcher_ = nullptr;  // set before `started`
  uv_async_t* keepalive_ = nullptr;
};

}  // namespace

std::unique_ptr<ControlThread> ControlThread::Start() {
  return std::make_unique<ControlThreadImpl>();
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Start(
    RuntimeOptions options, const std::shared_ptr<const Pipeline>& pipeline) {
  if (pipeline == nullptr) return absl::InvalidArgumentError("runtime: pipeline is null");
  if (options.workers < 0) return absl::InvalidArgumentError("runtime: workers must be >= 0");
  if (absl::Status s = options.server.Validate(); !s.ok()) return s;
  auto rt = std::make_unique<RuntimeImpl>();
  if (absl::Status s = rt->Init(std::move(options), pipeline); !s.ok()) return s;
  return std::unique_ptr<Runtime>(std::move(rt));
}

}  // namespace gateway
