// `Runtime`: a standalone multi-worker server. N worker threads each run their
// own libuv loop and their own `Gateway`, all accepting on the same ports with
// SO_REUSEPORT, all sharing the same immutable `Pipeline` snapshot.
//
// Methods are thread-safe; call them from any thread except a worker's.
#ifndef GATEWAY_RUNTIME_H_
#define GATEWAY_RUNTIME_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
  static absl::StatusOr<std::unique_ptr<Runtime>> Start(RuntimeOptions options,
                                                        std::shared_ptr<const Pipeline> pipeline);

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

}  // namespace gateway

#endif  // GATEWAY_RUNTIME_H_
