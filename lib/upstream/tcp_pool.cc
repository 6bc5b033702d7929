#include "upstream/tcp_pool.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "event/uv_handle.h"
#include "net/tcp_transport.h"

namespace gateway {
namespace internal {
namespace {

// Leases reach their connection through this stateless owner rather than
// through the pool, so a lease can outlive its pool (see ~TcpPool).
class TcpLeaseOwner final : public PoolLease::Owner {
 public:
  void ReturnConnection(UpstreamConnection* connection, bool reusable) override {
    auto* tcp = static_cast<TcpConnection*>(connection);
    if (TcpPool* pool = tcp->pool()) {
      pool->Return(tcp, reusable);
      return;
    }
    // Orphaned by its pool: the lease owned it, and the lease is done.
    delete tcp;
  }
};

PoolLease::Owner* LeaseOwner() {
  // Stateless and never destroyed, so leases may be destroyed at any time,
  // including during static destruction.
  static PoolLease::Owner* const owner = new TcpLeaseOwner();
  return owner;
}

PoolResult Leased(TcpConnection* connection, bool reused) {
  PoolResult result;
  result.lease = PoolLease(LeaseOwner(), connection, reused);
  return result;
}

bool ParseAddress(const Host& host, sockaddr_storage* out) {
  std::memset(out, 0, sizeof(*out));
  std::string address = host.address();
  if (address.size() >= 2 && address.front() == '[' && address.back() == ']') {
    address = address.substr(1, address.size() - 2);
  }
  if (uv_ip4_addr(address.c_str(), host.port(), reinterpret_cast<sockaddr_in*>(out)) == 0) {
    return true;
  }
  return uv_ip6_addr(address.c_str(), host.port(), reinterpret_cast<sockaddr_in6*>(out)) == 0;
}

StreamSocket::Options SocketOptions(const PoolOptions& options) {
  return {.high_watermark = options.write_high_watermark,
          .low_watermark = options.write_low_watermark,
          .on_write_error = StreamSocket::WriteErrorMode::kDrainInput};
}

}  // namespace

TcpConnection::TcpConnection(TcpPool* pool, Dispatcher& dispatcher, HostPtr host,
                             std::unique_ptr<Transport> transport, const PoolOptions& options)
    : pool_(pool),
      host_(std::move(host)),
      socket_(dispatcher, std::move(transport), *this, SocketOptions(options)),
      timer_(dispatcher.CreateTimer([this] { OnTimer(); })) {}

TcpConnection::~TcpConnection() { Close(true); }

int TcpConnection::Connect(const sockaddr* addr, absl::Duration timeout) {
  // Counted from the connect on, so least-connections balancing sees hosts
  // that are slow to accept as busy.
  host_->AddActiveConnections(1);
  counted_ = true;
  int rc = socket_.Connect(addr);
  if (rc != 0) {
    Close(true);
    return rc;
  }
  ArmTimer(timeout);
  return 0;
}

void TcpConnection::OnSocketConnected(int status) {
  timer_->Disable();
  pool_->OnConnected(this, status);
}

void TcpConnection::Lease() {
  state_ = State::kLeased;
  ++requests_;
  callbacks_ = nullptr;
  read_enabled_ = true;
  close_notified_ = false;
  timer_->Disable();
  UpdateReading();
}

bool TcpConnection::Park(absl::Duration idle_timeout) {
  state_ = State::kIdle;
  callbacks_ = nullptr;
  read_enabled_ = true;
  UpdateReading();
  if (closed() || !socket_.reading()) return false;
  ArmTimer(idle_timeout);
  return true;
}

void TcpConnection::SetCallbacks(UpstreamConnectionCallbacks* callbacks) {
  callbacks_ = callbacks;
  if (state_ != State::kLeased) return;
  UpdateReading();
  // The connection died before anyone was listening: tell the newcomer, but
  // not from inside this call.
  if (closed() && !close_notified_ && callbacks_ != nullptr) ArmTimer(absl::ZeroDuration());
}

void TcpConnection::SetReadEnabled(bool enabled) {
  read_enabled_ = enabled;
  UpdateReading();
}

void TcpConnection::UpdateReading() {
  if (closed()) return;
  // Idle connections always read: that is how a close by the upstream is seen.
  // A leased one reads too unless its user paused it, whether or not callbacks
  // are set yet: bytes with nobody to take them fail the connection
  // (OnSocketData), which is right, since nothing is owed before a request. Not
  // stopping between lease, callbacks and return saves two epoll_ctl calls per
  // request and each way. A reading that cannot start is reported by the
  // socket (OnSocketClosed).
  socket_.SetReading(state_ == State::kIdle || (state_ == State::kLeased && read_enabled_));
}

void TcpConnection::OnSocketData(std::string_view data) {
  if (state_ == State::kIdle) {
    // Nothing is owed on an idle connection: stray bytes mean it is out of
    // sync with the upstream and must never carry another request.
    pool_->OnIdleLost(this);
    return;
  }
  if (callbacks_ == nullptr) {
    // Reading runs only while callbacks are set; bytes nobody can take would
    // be lost, so the connection cannot be trusted any more.
    FailLater();
    return;
  }
  callbacks_->OnUpstreamData(data);
}

void TcpConnection::OnSocketEof() { Ended(/*reset=*/false); }

void TcpConnection::OnSocketClosed(SocketCloseReason) {
  // A read error, or the end of the input after a failed write: the socket
  // was reset, even if the read that ended it saw a plain end of stream (the
  // write took the error).
  Ended(/*reset=*/true);
}

void TcpConnection::Ended(bool reset) {
  if (state_ == State::kIdle) {
    pool_->OnIdleLost(this);
    return;
  }
  Close(reset);
  NotifyClosed();
}

bool TcpConnection::Write(std::string_view data) {
  if (closed()) return false;
  // A failed write leaves the socket reading to the input's end, whose report
  // (OnSocketClosed) tells the callbacks; until then the user may still be
  // writing, and those bytes are dropped (false). The connection is never
  // reused (reusable()).
  return socket_.Write(data);
}

void TcpConnection::OnSocketBelowLowWatermark() {
  if (state_ == State::kLeased && callbacks_ != nullptr) callbacks_->OnUpstreamWritable();
}

void TcpConnection::ArmTimer(absl::Duration delay) {
  if (timer_ == nullptr) return;
  if (delay == absl::InfiniteDuration()) {
    timer_->Disable();
    return;
  }
  timer_->Enable(delay);
}

void TcpConnection::OnTimer() {
  if (closed()) {
    NotifyClosed();
    return;
  }
  switch (state_) {
    case State::kConnecting:
      pool_->OnConnectTimeout(this);
      return;
    case State::kIdle:
      pool_->OnIdleTimeout(this);
      return;
    case State::kLeased:
      return;
  }
}

void TcpConnection::FailLater() {
  Close(true);
  ArmTimer(absl::ZeroDuration());
}

void TcpConnection::NotifyClosed() {
  if (state_ != State::kLeased || close_notified_ || callbacks_ == nullptr) return;
  close_notified_ = true;
  callbacks_->OnUpstreamClosed(closure_ == Closure::kReset);
}

void TcpConnection::Close(bool reset) {
  if (timer_ != nullptr) timer_->Disable();
  if (closed()) return;
  closure_ = reset ? Closure::kReset : Closure::kClosed;
  socket_.Close();
  if (counted_) {
    counted_ = false;
    host_->AddActiveConnections(-1);
  }
  slot_.reset();
}

void TcpConnection::Orphan() {
  pool_ = nullptr;
  callbacks_ = nullptr;
  Close(true);
  timer_.reset();
}

TcpPool::TcpPool(Dispatcher& dispatcher, const PoolOptions& options,
                 std::shared_ptr<ConcurrencyLimits> limits)
    : dispatcher_(dispatcher),
      loop_(dispatcher.loop()),
      options_(options),
      options_status_(options.Validate()),
      limits_(std::move(limits)),
      read_buffer_(new char[kReadBufferSize]) {}

TcpPool::~TcpPool() {
  alive_.reset();
  // Leased connections close now, without callbacks; their leases own them
  // from here on. Everything else is freed with the host table.
  auto hosts = std::move(hosts_);
  hosts_.clear();
  for (auto& [key, state] : hosts) {
    for (auto& connection : state->connections) {
      if (connection->state() == TcpConnection::State::kLeased) {
        connection->Orphan();
        (void)connection.release();
      } else {
        connection->Close(false);
      }
    }
  }
  // Pending acquires are dropped: their callbacks are destroyed, never run.
  // Last, so whatever they capture (leases included) sees a consistent state.
  auto pending = std::move(pending_);
  pending_.clear();
  hosts.clear();
  pending.clear();
}

CancelHandle TcpPool::Acquire(HostPtr host, absl::AnyInvocable<void(PoolResult)> on_ready) {
  uint64_t id = ++next_id_;
  pending_.emplace(id, PendingAcquire{std::move(host), std::move(on_ready)});
  queued_.push_back(id);
  std::weak_ptr<bool> alive = alive_;
  if (!run_posted_) {
    run_posted_ = true;
    dispatcher_.Post([this, alive] {
      if (alive.expired()) return;
      RunQueued();
    });
  }
  return CancelHandle([this, alive, id] {
    if (!alive.expired()) Cancel(id);
  });
}

void TcpPool::RunQueued() {
  run_posted_ = false;
  // Acquires made by the callbacks below wait for the next turn.
  std::vector<uint64_t> batch;
  batch.swap(queued_);
  std::weak_ptr<bool> alive = alive_;
  for (uint64_t id : batch) {
    Start(id);
    // A callback may have destroyed the pool.
    if (alive.expired()) return;
  }
}

void TcpPool::Start(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;  // cancelled
  if (!options_status_.ok()) {
    Fail(id, PoolFailure::kConnectFailed,
         absl::StrCat("invalid pool options: ", options_status_.message()));
    return;
  }
  if (it->second.host == nullptr) {
    Fail(id, PoolFailure::kConnectFailed, "no host");
    return;
  }
  if (loop_ == nullptr) {
    Fail(id, PoolFailure::kConnectFailed, "the TCP pool needs a dispatcher with a libuv loop");
    return;
  }
  const HostPtr& host = it->second.host;
  auto& slot = hosts_[host.get()];
  if (slot == nullptr) {
    slot = std::make_unique<HostState>();
    slot->host = host;
  }
  HostState& state = *slot;
  if (!state.idle.empty()) {
    // The newest idle connection: the most likely to be warm and still open.
    TcpConnection* connection = state.idle.back();
    state.idle.pop_back();
    connection->Lease();
    ++stats_.connections_reused;
    Deliver(id, Leased(connection, /*reused=*/true));
    return;
  }
  if (OpenConnections(state) >= options_.max_connections_per_host) {
    Fail(id, PoolFailure::kOverflow,
         absl::StrCat("host ", host->name(), " has ", options_.max_connections_per_host,
                      " connections open (max_connections_per_host)"));
    return;
  }
  std::optional<ConcurrencyLimits::Permit> connection_slot;
  if (limits_ != nullptr) {
    connection_slot = limits_->TryAcquire(LimitKind::kConnections);
    if (!connection_slot) {
      std::string_view cluster = limits_->name();
      Fail(id, PoolFailure::kOverflow,
           absl::StrCat("cluster '", absl::string_view(cluster.data(), cluster.size()), "' has ",
                        limits_->max(LimitKind::kConnections),
                        " connections open (max_connections)"));
      return;
    }
  }
  Connect(id, state, std::move(connection_slot));
}

void TcpPool::Connect(uint64_t id, HostState& state,
                      std::optional<ConcurrencyLimits::Permit> slot) {
  PendingAcquire& pending = pending_.find(id)->second;
  const HostPtr host = state.host;
  sockaddr_storage addr;
  if (!ParseAddress(*host, &addr)) {
    if (state.connections.empty()) hosts_.erase(host.get());
    Fail(id, PoolFailure::kConnectFailed,
         absl::StrCat("connect to ", host->name(), " failed: not an IP address"));
    return;
  }
  UvHandle<uv_tcp_t> tcp;
  int rc = tcp.Init(loop_, uv_tcp_init);
  if (rc != 0) {
    ++stats_.connect_failures;
    if (state.connections.empty()) hosts_.erase(host.get());
    Fail(id, PoolFailure::kConnectFailed,
         absl::StrCat("connect to ", host->name(), " failed: ", uv_strerror(rc)));
    return;
  }
  auto transport = std::make_unique<TcpTransport>(
      std::move(tcp), ReadBuffer{.data = read_buffer_.get(), .size = kReadBufferSize});
  auto owned =
      std::make_unique<TcpConnection>(this, dispatcher_, host, std::move(transport), options_);
  TcpConnection* connection = owned.get();
  if (slot) connection->HoldSlot(*std::move(slot));
  state.connections.push_back(std::move(owned));
  connection->pending_id = id;
  pending.connection = connection;
  rc = connection->Connect(reinterpret_cast<const sockaddr*>(&addr), options_.connect_timeout);
  if (rc != 0) {
    ++stats_.connect_failures;
    Discard(connection);
    Fail(id, PoolFailure::kConnectFailed,
         absl::StrCat("connect to ", host->name(), " failed: ", uv_strerror(rc)));
  }
}

void TcpPool::OnConnected(TcpConnection* connection, int status) {
  uint64_t id = std::exchange(connection->pending_id, 0);
  if (status != 0) {
    ++stats_.connect_failures;
    std::string error =
        absl::StrCat("connect to ", connection->host().name(), " failed: ", uv_strerror(status));
    Discard(connection);
    if (id != 0) Fail(id, PoolFailure::kConnectFailed, std::move(error));
    return;
  }
  ++stats_.connections_opened;
  auto it = pending_.find(id);
  if (id == 0 || it == pending_.end()) {
    // Its Acquire was cancelled meanwhile: keep the connection warm for the next one.
    ParkOrDiscard(connection);
    return;
  }
  it->second.connection = nullptr;
  connection->Lease();
  Deliver(id, Leased(connection, /*reused=*/false));
}

void TcpPool::OnConnectTimeout(TcpConnection* connection) {
  uint64_t id = std::exchange(connection->pending_id, 0);
  ++stats_.connect_failures;
  std::string error = absl::StrCat("connect to ", connection->host().name(), " timed out after ",
                                   absl::FormatDuration(options_.connect_timeout));
  Discard(connection);
  if (id != 0) Fail(id, PoolFailure::kConnectTimeout, std::move(error));
}

void TcpPool::OnIdleLost(TcpConnection* connection) {
  ++stats_.idle_closed_by_upstream;
  Discard(connection);
}

void TcpPool::OnIdleTimeout(TcpConnection* connection) { Discard(connection); }

void TcpPool::Return(TcpConnection* connection, bool reusable) {
  connection->SetCallbacks(nullptr);
  size_t max_requests = options_.max_requests_per_connection;
  if (reusable && connection->reusable() &&
      (max_requests == 0 || connection->requests() < max_requests)) {
    ParkOrDiscard(connection);
  } else {
    Discard(connection);
  }
}

void TcpPool::ParkOrDiscard(TcpConnection* connection) {
  HostState* state = FindHost(&connection->host());
  if (state == nullptr || options_.max_idle_per_host == 0 ||
      !connection->Park(options_.idle_timeout)) {
    Discard(connection);
    return;
  }
  state->idle.push_back(connection);
  if (state->idle.size() > options_.max_idle_per_host) Discard(state->idle.front());
}

void TcpPool::Discard(TcpConnection* connection) {
  connection->Close(false);
  const Host* key = &connection->host();
  HostState* state = FindHost(key);
  if (state == nullptr) return;
  std::erase(state->idle, connection);
  auto it = std::find_if(state->connections.begin(), state->connections.end(),
                         [connection](const auto& c) { return c.get() == connection; });
  if (it == state->connections.end()) return;
  std::unique_ptr<TcpConnection> owned = std::move(*it);
  state->connections.erase(it);
  if (state->connections.empty()) hosts_.erase(key);
  // Often called from inside the connection's own callbacks: free it once
  // they have unwound. The posted callback owns it even if the pool goes first.
  dispatcher_.Post([owned = std::move(owned)] {});
}

void TcpPool::Fail(uint64_t id, PoolFailure failure, std::string error) {
  PoolResult result;
  result.failure = failure;
  result.error = std::move(error);
  Deliver(id, std::move(result));
}

void TcpPool::Deliver(uint64_t id, PoolResult result) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto on_ready = std::move(it->second.on_ready);
  pending_.erase(it);
  // Last thing done: the callback may destroy the pool.
  if (on_ready) on_ready(std::move(result));
}

void TcpPool::Cancel(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  // A connect in progress carries on and parks its connection if it succeeds.
  if (it->second.connection != nullptr) it->second.connection->pending_id = 0;
  auto on_ready = std::move(it->second.on_ready);
  pending_.erase(it);
}

void TcpPool::CloseIdle() {
  std::vector<TcpConnection*> idle;
  for (auto& [key, state] : hosts_) idle.insert(idle.end(), state->idle.begin(), state->idle.end());
  for (TcpConnection* connection : idle) Discard(connection);
}

PoolStats TcpPool::stats() const {
  PoolStats s = stats_;
  for (const auto& [key, state] : hosts_) {
    s.idle += state->idle.size();
    s.active += OpenConnections(*state) - state->idle.size();
  }
  return s;
}

TcpPool::HostState* TcpPool::FindHost(const Host* host) {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : it->second.get();
}

size_t TcpPool::OpenConnections(const HostState& state) {
  return static_cast<size_t>(std::count_if(state.connections.begin(), state.connections.end(),
                                           [](const auto& c) { return !c->closed(); }));
}

}  // namespace internal

std::unique_ptr<UpstreamPool> MakeTcpPool(Dispatcher& dispatcher, const PoolOptions& options,
                                          std::shared_ptr<ConcurrencyLimits> limits) {
  return std::make_unique<internal::TcpPool>(dispatcher, options, std::move(limits));
}

}  // namespace gateway
