// `Runtime`: a standalone multi-worker server. N worker threads each run their
// own libuv loop and their own `Gateway`, all accepting on the same ports with
// SO_REUSEPORT, all sharing the same immutable `Pipeline` snapshot.
//
// Methods are thread-safe; call them from any thread except a worker's.
//
// Threads: a `Runtime` starts its workers and nothing else. Work that is not
// per worker (a `ClusterManager`'s DNS lookups, a `HealthChecker`'s probes)
// runs on the loop its owner gives it; `gatewayd` gives them a
// `ControlThread`. Blocking calls (DNS) run on libuv's thread pool, shared by
// every loop of the process (UV_THREADPOOL_SIZE threads, 4 by default,
// started on first use). See docs/architecture.md#threads.
#ifndef GATEWAY_RUNTIME_H_
#define GATEWAY_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/dispatcher.h"
#include "gateway/pipeline.h"
#include "gateway/server.h"

namespace gateway {

struct RuntimeOptions {
  int workers = 0;  // 0: one per core
  ServerOptions server;
};

class Runtime {
 public:
  // Starts the workers and returns once every worker is listening. A listener
  // with port 0 gets one free port shared by all workers.
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(
      RuntimeOptions options, const std::shared_ptr<const Pipeline>& pipeline);

  // Drains with a zero deadline if still running, then joins the workers.
  virtual ~Runtime() = default;

  // Swaps the pipeline on every worker (each on its own loop).
  virtual void SetPipeline(std::shared_ptr<const Pipeline> pipeline) = 0;
  // Starts a graceful drain on every worker; returns at once.
  virtual void Drain(absl::Duration deadline) = 0;
  // Blocks until every worker has drained and exited.
  virtual void Wait() = 0;

  virtual int workers() const = 0;
  virtual std::vector<uint16_t> ports() const = 0;
  // Sum over workers (approximate while running).
  virtual GatewayStats stats() const = 0;
};

// One thread running one libuv loop for a process's control work, off the
// workers' loops: the DNS lookups of a `ClusterManager` (pass `loop()` of the
// dispatcher as `ClusterManagerOptions::loop`) and the probes of a
// `HealthChecker`. `gatewayd` runs one when its config has clusters.
//
//   auto control = ControlThread::Start();
//   control->Run([&](Dispatcher& d) {
//     manager = ClusterManager::Create(specs, {.loop = d.loop()});
//     checker = HealthChecker::Create(d, *manager);
//   });
//   ...
//   control->Run([&](Dispatcher&) { checker.reset(); });
class ControlThread {
 public:
  static std::unique_ptr<ControlThread> Start();

  // Stops the loop and joins the thread. Destroy what lives on the loop
  // first (a HealthChecker inside Run; the last reference to a
  // ClusterManager anywhere): the loop waits for their handles to close and
  // their lookups in flight to return.
  virtual ~ControlThread() = default;

  // Runs `fn` on the loop's thread and returns once it returned. Objects
  // that must be created or destroyed on their loop's thread are, inside it.
  // Not from the control thread itself.
  virtual void Run(absl::AnyInvocable<void(Dispatcher&)> fn) = 0;
};

}  // namespace gateway

#endif  // GATEWAY_RUNTIME_H_
