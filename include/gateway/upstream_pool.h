// Upstream connection pools: connected, reusable byte streams to hosts.
//
// A pool belongs to one loop (one per worker) and is used only on that loop's
// thread. `Acquire` hands out a `PoolLease` on a later loop turn, never inside
// the call: an idle keep-alive connection when one is usable, otherwise a new
// connection once it is established. Destroying the lease closes the
// connection, unless the user called `Release()` after a complete, well-framed
// exchange, which returns it to the pool's idle list.
//
// Idle connections are watched: if the upstream closes one (or sends stray
// bytes), it is discarded before it can be handed out. A connection can still
// die between hand-out and first write; `PoolLease::reused()` tells the caller
// whether a failure before the first response byte may be retried.
#ifndef GATEWAY_UPSTREAM_POOL_H_
#define GATEWAY_UPSTREAM_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/concurrency_limit.h"
#include "gateway/dispatcher.h"
#include "gateway/upstream.h"

namespace gateway {

// Events of a leased connection, delivered on the pool's loop.
class UpstreamConnectionCallbacks {
 public:
  virtual ~UpstreamConnectionCallbacks() = default;
  // Bytes from the upstream. The view is valid during the call.
  virtual void OnUpstreamData(std::string_view data) = 0;
  // The upstream closed its side (`reset` false) or the connection failed.
  // The connection is unusable afterwards; no more callbacks follow.
  virtual void OnUpstreamClosed(bool reset) = 0;
  // The write queue dropped below the low watermark after being above the high one.
  virtual void OnUpstreamWritable() {}
};

class UpstreamConnection {
 public:
  virtual ~UpstreamConnection() = default;
  // Starts delivering events to `callbacks` (which must outlive the lease or
  // be replaced by nullptr first). Reading starts when callbacks are set.
  virtual void SetCallbacks(UpstreamConnectionCallbacks* callbacks) = 0;
  // Queues bytes; returns false if the connection is already closed or a
  // write failed. After a failed write nothing more is sent, but bytes the
  // upstream sent before (an early answer) are still delivered; the closure
  // is reported once they are.
  virtual bool Write(std::string_view data) = 0;
  // Bytes queued but not yet handed to the kernel.
  virtual size_t write_queue_bytes() const = 0;
  // True once the write queue is above the high watermark (stop producing).
  virtual bool above_high_watermark() const = 0;
  // Stops / restarts reading (backpressure from a slow downstream).
  virtual void SetReadEnabled(bool enabled) = 0;
  virtual const Host& host() const = 0;
};

struct PoolOptions {
  size_t max_connections_per_host = 1024;  // open (leased + idle + connecting)
  size_t max_idle_per_host = 64;
  absl::Duration idle_timeout = absl::Seconds(60);
  size_t max_requests_per_connection = 0;  // 0: unlimited
  absl::Duration connect_timeout = absl::Seconds(5);
  size_t write_high_watermark = 256 * 1024;
  size_t write_low_watermark = 64 * 1024;

  absl::Status Validate() const;
};

class UpstreamPool;

// Exclusive use of one upstream connection. Move-only.
class PoolLease {
 public:
  PoolLease() = default;
  PoolLease(PoolLease&& other) noexcept;
  PoolLease& operator=(PoolLease&& other) noexcept;
  PoolLease(const PoolLease&) = delete;
  PoolLease& operator=(const PoolLease&) = delete;
  // Closes the connection unless Release() was called.
  ~PoolLease();

  UpstreamConnection* connection() const { return connection_; }
  UpstreamConnection* operator->() const { return connection_; }
  explicit operator bool() const { return connection_ != nullptr; }
  // True if the connection served an earlier exchange (came from the idle list).
  bool reused() const { return reused_; }

  // Returns the connection to the pool for reuse. Call only after a complete,
  // well-framed exchange with nothing unread; the lease is empty afterwards.
  void Release();

  // For pool implementations.
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void ReturnConnection(UpstreamConnection* connection, bool reusable) = 0;
  };
  PoolLease(Owner* owner, UpstreamConnection* connection, bool reused)
      : owner_(owner), connection_(connection), reused_(reused) {}

 private:
  void Reset(bool reusable);
  Owner* owner_ = nullptr;
  UpstreamConnection* connection_ = nullptr;
  bool reused_ = false;
};

// Why Acquire failed. The status carries the message; `kind` the category.
enum class PoolFailure {
  kConnectFailed,   // refused, unreachable, reset during connect: 502/503
  kConnectTimeout,  // 503 (or 504 by policy)
  kOverflow,        // max_connections_per_host reached: 503
  kShutdown,        // pool is being destroyed
};

struct PoolResult {
  PoolLease lease;  // set on success
  PoolFailure failure = PoolFailure::kConnectFailed;
  std::string error;  // empty on success
  bool ok() const { return static_cast<bool>(lease); }
};

struct PoolStats {
  uint64_t connections_opened = 0;
  uint64_t connections_reused = 0;
  uint64_t connect_failures = 0;
  uint64_t idle_closed_by_upstream = 0;
  size_t idle = 0;
  size_t active = 0;
};

class UpstreamPool {
 public:
  virtual ~UpstreamPool() = default;
  // Calls `on_ready` exactly once, on a later loop turn, unless cancelled
  // through the returned handle first.
  virtual CancelHandle Acquire(HostPtr host, absl::AnyInvocable<void(PoolResult)> on_ready) = 0;
  // Closes every idle connection (for drain).
  virtual void CloseIdle() = 0;
  virtual PoolStats stats() const = 0;
};

// What an `UpstreamPoolFactory` gets to make one worker's pool of a cluster.
// Valid during the Create call only.
struct UpstreamPoolContext {
  // The worker's loop; the pool and its callbacks run on it only.
  Dispatcher& dispatcher;
  // The cluster the pool serves (ClusterSpec::name).
  std::string_view cluster;
  // The cluster's ClusterSpec::pool.
  const PoolOptions& options;
  // The cluster's connection limits, shared by every worker's pool; a pool
  // that opens connections should hold a `LimitKind::kConnections` slot per
  // open connection (as the TCP pool does). Never null.
  std::shared_ptr<ConcurrencyLimits> limits;
};

// Makes the upstream pools of one cluster: one per worker, the first time the
// worker routes a request to the cluster. Create runs on that worker's loop
// thread; workers call it concurrently, so it must be thread-safe. The pool
// lives as long as the worker's proxy state for the cluster (until the
// pipeline that named the cluster is gone) and is destroyed on the same loop.
// Create must not fail: a factory that cannot make a pool returns one whose
// Acquire reports kConnectFailed.
//
// The built-in TCP pool is made by `TcpPoolFactory()`, the factory of every
// cluster whose `ClusterSpec::pool_factory` is unset. A user's factory may
// wrap it (count, trace or script connections) by calling it from Create.
class UpstreamPoolFactory {
 public:
  virtual ~UpstreamPoolFactory() = default;
  virtual std::unique_ptr<UpstreamPool> Create(const UpstreamPoolContext& context) const = 0;
};

// The factory of the built-in TCP pool: MakeTcpPool(context.dispatcher,
// context.options, context.limits). One shared instance.
std::shared_ptr<const UpstreamPoolFactory> TcpPoolFactory();

// The default TCP pool on `dispatcher`'s libuv loop. With `limits`, every
// connection it opens (connecting, leased or idle) holds a
// `LimitKind::kConnections` slot of them until it closes; when none is free,
// Acquire fails with kOverflow instead of connecting. Pools of several
// workers may share one `limits`.
std::unique_ptr<UpstreamPool> MakeTcpPool(Dispatcher& dispatcher, const PoolOptions& options,
                                          std::shared_ptr<ConcurrencyLimits> limits = nullptr);

}  // namespace gateway

#endif  // GATEWAY_UPSTREAM_POOL_H_
