// The default upstream pool: keep-alive TCP connections on one libuv loop.
//
// Ownership: the pool owns every connection it made (connecting, idle and
// leased ones) in its per-host state, and frees them at a safe point (a posted
// callback), never inside their own callbacks. A lease refers to its
// connection only, never to the pool: leases talk to a stateless owner that
// forwards to the connection's pool while there is one. When the pool is
// destroyed, leased connections are closed and their ownership passes to the
// leases, which free them when they are destroyed or released.
#ifndef GATEWAY_LIB_UPSTREAM_TCP_POOL_H_
#define GATEWAY_LIB_UPSTREAM_TCP_POOL_H_

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/concurrency_limit.h"
#include "gateway/dispatcher.h"
#include "gateway/upstream.h"
#include "gateway/upstream_pool.h"
#include "net/stream_socket.h"

namespace gateway::internal {

class TcpPool;

// One upstream connection: the pool's bookkeeping around a StreamSocket,
// which does the I/O.
class TcpConnection final : public UpstreamConnection, private StreamSocketCallbacks {
 public:
  enum class State { kConnecting, kIdle, kLeased };

  // `transport` is not connected yet (see Connect).
  TcpConnection(TcpPool* pool, Dispatcher& dispatcher, HostPtr host,
                std::unique_ptr<Transport> transport, const PoolOptions& options);
  ~TcpConnection() override;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // UpstreamConnection.
  void SetCallbacks(UpstreamConnectionCallbacks* callbacks) override;
  bool Write(std::string_view data) override;
  size_t write_queue_bytes() const override { return socket_.write_queue_bytes(); }
  bool above_high_watermark() const override { return socket_.above_high_watermark(); }
  void SetReadEnabled(bool enabled) override;
  const Host& host() const override { return *host_; }

  // Starts a non-blocking connect to `addr` with a timeout; returns a libuv
  // error code if the attempt could not even start (the connection is then closed).
  int Connect(const sockaddr* addr, absl::Duration timeout);
  // The cluster-wide connection slot this connection holds until it closes.
  void HoldSlot(ConcurrencyLimits::Permit slot) { slot_.emplace(std::move(slot)); }
  // Hands the connection to a new lease; it keeps reading (see UpdateReading).
  void Lease();
  // Parks the connection idle: reading watches for the upstream closing it.
  // Returns false if the connection turned out to be unusable.
  bool Park(absl::Duration idle_timeout);
  // Closes the socket (idempotent). Callbacks are not told; see NotifyClosed.
  void Close(bool reset);
  // The pool is going away: close without callbacks and forget the pool.
  void Orphan();

  TcpPool* pool() const { return pool_; }
  const HostPtr& host_ptr() const { return host_; }
  State state() const { return state_; }
  bool closed() const { return closure_ != Closure::kOpen; }
  size_t requests() const { return requests_; }
  // Healthy enough to go back to the idle list: no write failed (the socket
  // still takes writes) and nothing is left unsent.
  bool reusable() const {
    return !closed() && socket_.writable() && socket_.write_queue_bytes() == 0;
  }

  // The Acquire waiting for this connect, or 0 (none, or cancelled).
  uint64_t pending_id = 0;

 private:
  // How the connection ended, as its user will be told.
  enum class Closure { kOpen, kClosed, kReset };

  // StreamSocketCallbacks.
  void OnSocketData(std::string_view data) override;
  void OnSocketEof() override;
  void OnSocketClosed(SocketCloseReason reason) override;
  void OnSocketBelowLowWatermark() override;
  void OnSocketConnected(int status) override;

  void OnTimer();
  // The socket ended (`reset`: not with a clean end of stream).
  void Ended(bool reset);
  void UpdateReading();
  void ArmTimer(absl::Duration delay);
  // Closes, then tells the callbacks on a later turn (for failures found
  // inside a user's call, which must not call back into the user).
  void FailLater();
  // Tells the callbacks, once, that a leased connection died. Callers return
  // right after: the user may destroy the lease (and this) inside.
  void NotifyClosed();

  TcpPool* pool_;
  HostPtr host_;
  // After a failed write it reads on to the end before reporting, so an
  // early answer (413, 401) is still delivered (WriteErrorMode::kDrainInput).
  StreamSocket socket_;
  // Connect timeout, idle timeout or a deferred close notification: a
  // connection needs at most one of them at a time. A dispatcher timer: a
  // connection parked and leased again per request re-arms and cancels it
  // without a libuv call.
  std::unique_ptr<Timer> timer_;
  UpstreamConnectionCallbacks* callbacks_ = nullptr;
  std::optional<ConcurrencyLimits::Permit> slot_;
  State state_ = State::kConnecting;
  Closure closure_ = Closure::kOpen;
  size_t requests_ = 0;
  bool counted_ = false;         // included in host's active_connections
  bool read_enabled_ = true;     // the user's SetReadEnabled
  bool close_notified_ = false;  // NotifyClosed told the current user
};

class TcpPool final : public UpstreamPool {
 public:
  static constexpr size_t kReadBufferSize = 64 * 1024;

  // `limits` (may be null) caps the connections of every pool sharing it.
  TcpPool(Dispatcher& dispatcher, const PoolOptions& options,
          std::shared_ptr<ConcurrencyLimits> limits);
  ~TcpPool() override;
  TcpPool(const TcpPool&) = delete;
  TcpPool& operator=(const TcpPool&) = delete;

  // UpstreamPool.
  CancelHandle Acquire(HostPtr host, absl::AnyInvocable<void(PoolResult)> on_ready) override;
  void CloseIdle() override;
  PoolStats stats() const override;

  // For connections.
  void OnConnected(TcpConnection* connection, int status);
  void OnConnectTimeout(TcpConnection* connection);
  void OnIdleLost(TcpConnection* connection);
  void OnIdleTimeout(TcpConnection* connection);
  // For leases (through the lease owner).
  void Return(TcpConnection* connection, bool reusable);

 private:
  struct PendingAcquire {
    HostPtr host;
    absl::AnyInvocable<void(PoolResult)> on_ready;
    TcpConnection* connection = nullptr;  // the connect made for it, if any
  };
  struct HostState {
    HostPtr host;
    // Every connection to the host that is not yet freed: connecting, idle,
    // leased, and leased-but-closed ones waiting for their lease to end.
    std::vector<std::unique_ptr<TcpConnection>> connections;
    // Idle connections, oldest first; reuse takes the newest (warmest).
    std::vector<TcpConnection*> idle;
  };

  void RunQueued();
  void Start(uint64_t id);
  void Connect(uint64_t id, HostState& state, std::optional<ConcurrencyLimits::Permit> slot);
  void Deliver(uint64_t id, PoolResult result);
  void Fail(uint64_t id, PoolFailure failure, std::string error);
  void Cancel(uint64_t id);
  void ParkOrDiscard(TcpConnection* connection);
  // Closes `connection` and frees it on a later turn.
  void Discard(TcpConnection* connection);
  HostState* FindHost(const Host* host);
  static size_t OpenConnections(const HostState& state);

  Dispatcher& dispatcher_;
  uv_loop_t* loop_;
  const PoolOptions options_;
  const absl::Status options_status_;
  const std::shared_ptr<ConcurrencyLimits> limits_;
  // Every connection's reads land here (see ReadBuffer).
  std::unique_ptr<char[]> read_buffer_;
  absl::flat_hash_map<const Host*, std::unique_ptr<HostState>> hosts_;
  absl::flat_hash_map<uint64_t, PendingAcquire> pending_;
  std::vector<uint64_t> queued_;  // acquires waiting for the next turn, in order
  uint64_t next_id_ = 0;
  bool run_posted_ = false;
  PoolStats stats_;
  // Posted callbacks and cancel handles may outlive the pool; they hold a weak
  // reference to this and do nothing once it has expired.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_UPSTREAM_TCP_POOL_H_
