#include "core/gateway_impl.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "net/tcp_transport.h"

namespace gateway {

absl::Status ServerOptions::Validate() const {
  if (listeners.empty()) return absl::InvalidArgumentError("server: no listeners configured");
  for (size_t i = 0; i < listeners.size(); ++i) {
    const ListenerOptions& l = listeners[i];
    sockaddr_in6 a6;
    sockaddr_in a4;
    if (uv_ip4_addr(l.address.c_str(), 0, &a4) != 0 &&
        uv_ip6_addr(l.address.c_str(), 0, &a6) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server: listeners[", i, "].address '", l.address, "' is not an IPv4 or IPv6 address"));
    }
    if (l.backlog <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("server: listeners[", i, "].backlog must be > 0"));
    }
  }
  if (max_connections == 0)
    return absl::InvalidArgumentError("server: max_connections must be > 0");
  if (codec == nullptr) return absl::InvalidArgumentError("server: codec factory is null");
  if (limits.max_uri_bytes == 0 || limits.max_header_bytes == 0 || limits.max_header_count == 0 ||
      limits.max_chunk_line_bytes == 0) {
    return absl::InvalidArgumentError("server: codec limits must be > 0");
  }
  switch (limits.headers_with_underscores) {
    case HeadersWithUnderscores::kAllow:
    case HeadersWithUnderscores::kDrop:
    case HeadersWithUnderscores::kReject:
      break;
    default:
      return absl::InvalidArgumentError("server: invalid headers_with_underscores action");
  }
  auto negative = [](absl::Duration d) { return d < absl::ZeroDuration(); };
  if (negative(timeouts.header) || negative(timeouts.body_idle) ||
      negative(timeouts.keepalive_idle) || negative(timeouts.request) || negative(timeouts.send)) {
    return absl::InvalidArgumentError("server: timeouts must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Create(uv_loop_t* loop, ServerOptions options,
                                                         std::shared_ptr<const Pipeline> pipeline) {
  if (loop == nullptr) return absl::InvalidArgumentError("gateway: loop is null");
  if (pipeline == nullptr) return absl::InvalidArgumentError("gateway: pipeline is null");
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  // libuv writes with write(2): a peer that reset its connection would raise
  // SIGPIPE and end the process. Left alone if the application handles it.
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    signal(SIGPIPE, SIG_IGN);
  }
  auto gw = std::make_unique<internal::GatewayImpl>(loop, std::move(options), std::move(pipeline));
  if (absl::Status s = gw->Listen(); !s.ok()) return s;
  return std::unique_ptr<Gateway>(std::move(gw));
}

namespace internal {

GatewayImpl::GatewayImpl(uv_loop_t* loop, ServerOptions options,
                         std::shared_ptr<const Pipeline> pipeline)
    : dispatcher_(loop, options.clock != nullptr ? *options.clock : SystemClock()),
      loop_(loop),
      options_(std::move(options)),
      pipeline_(std::move(pipeline)),
      read_buffer_(new char[kReadBufferSize]) {}

GatewayImpl::~GatewayImpl() {
  drain_timer_.reset();
  listeners_.clear();
  // Close every connection while this object is intact; the map owns them.
  std::vector<Connection*> open;
  open.reserve(connections_.size());
  for (auto& [ptr, owned] : connections_) open.push_back(ptr);
  for (Connection* c : open) c->Close();
  connections_.clear();
  // Streams and connections waiting for deferred deletion still refer to the
  // proxies; destroy them before the proxies go.
  dispatcher_.DiscardPosted();
  proxies_.clear();
  dispatcher_.DiscardPosted();
}

ProxyWorker* GatewayImpl::ProxyFor(const Pipeline& pipeline) {
  const auto& clusters = pipeline.clusters();
  if (clusters == nullptr) return nullptr;
  auto& slot = proxies_[clusters.get()];
  if (slot == nullptr) {
    slot = std::make_unique<ProxyWorker>(dispatcher_, clusters, pipeline.proxy_options());
  }
  return slot.get();
}

namespace {

// Creates a listening socket ourselves so SO_REUSEPORT can be set before bind
// (libuv 1.44 has no flag for it).
absl::StatusOr<int> OpenListenSocket(const ListenerOptions& l) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  sockaddr_in a4;
  sockaddr_in6 a6;
  if (uv_ip4_addr(l.address.c_str(), l.port, &a4) == 0) {
    std::memcpy(&ss, &a4, sizeof(a4));
    len = sizeof(a4);
    family = AF_INET;
  } else if (uv_ip6_addr(l.address.c_str(), l.port, &a6) == 0) {
    std::memcpy(&ss, &a6, sizeof(a6));
    len = sizeof(a6);
    family = AF_INET6;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("listener ", l.address, ": bad address"));
  }
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("listener ", l.address, ":", l.port, ": socket: ", std::strerror(errno)));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (l.reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("listener ", l.address, ":", l.port, ": bind: ", std::strerror(err)));
  }
  return fd;
}

}  // namespace

absl::Status GatewayImpl::Listen() {
  for (const ListenerOptions& l : options_.listeners) {
    absl::StatusOr<int> fd = OpenListenSocket(l);
    if (!fd.ok()) return fd.status();
    UvHandle<uv_tcp_t> tcp;
    tcp.Init(loop_, uv_tcp_init);
    if (int rc = uv_tcp_open(tcp.get(), *fd); rc != 0) {
      close(*fd);
      return absl::UnavailableError(
          absl::StrCat("listener ", l.address, ":", l.port, ": ", uv_strerror(rc)));
    }
    tcp->data = this;
    if (int rc = uv_listen(tcp.stream(), l.backlog, &GatewayImpl::OnConnection); rc != 0) {
      return absl::UnavailableError(
          absl::StrCat("listener ", l.address, ":", l.port, ": listen: ", uv_strerror(rc)));
    }
    sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(tcp.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    uint16_t port = ss.ss_family == AF_INET6
                        ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                        : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    ports_.push_back(port);
    listeners_.push_back(std::move(tcp));
  }
  return absl::OkStatus();
}

void GatewayImpl::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<GatewayImpl*>(server->data);
  if (self == nullptr) return;
  // Errors here (EMFILE and friends) are transient: libuv has already shed the
  // pending connection using its reserve descriptor, so the loop cannot spin.
  if (status < 0) return;
  self->Accept(server);
}

void GatewayImpl::Accept(uv_stream_t* server) {
  UvHandle<uv_tcp_t> tcp;
  if (tcp.Init(loop_, uv_tcp_init) != 0) return;
  if (uv_accept(server, tcp.stream()) != 0) return;
  ++stats_.connections_accepted;
  if (draining_ || connections_.size() >= options_.max_connections) {
    ++stats_.connections_rejected;
    return;  // `tcp` closes on scope exit
  }
  auto transport = std::make_unique<TcpTransport>(
      std::move(tcp), ReadBuffer{.data = read_buffer_.get(), .size = kReadBufferSize});
  auto conn = std::make_unique<Connection>(*this, std::move(transport), next_connection_id_++);
  Connection* raw = conn.get();
  connections_.emplace(raw, std::move(conn));
  stats_.active_connections = connections_.size();
  raw->Start();
}

void GatewayImpl::OnConnectionClosed(Connection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  dispatcher_.DeferredDelete(std::move(it->second));
  connections_.erase(it);
  stats_.active_connections = connections_.size();
  if (draining_) MaybeFinishDrain();
}

void GatewayImpl::SetPipeline(std::shared_ptr<const Pipeline> pipeline) {
  if (pipeline != nullptr) pipeline_ = std::move(pipeline);
}

void GatewayImpl::Drain(absl::Duration deadline, absl::AnyInvocable<void()> done) {
  if (draining_) {
    if (!done) return;
    if (connections_.empty()) {
      dispatcher_.Post(std::move(done));
    } else if (!drain_done_) {
      drain_done_ = std::move(done);
    } else {
      // A second Drain while the first is in progress: both run when it ends.
      drain_done_ = [first = std::move(drain_done_), second = std::move(done)]() mutable {
        first();
        second();
      };
    }
    return;
  }
  draining_ = true;
  drain_done_ = std::move(done);
  listeners_.clear();
  // Armed before the connections are told: closing idle ones may finish the
  // drain right here, and MaybeFinishDrain must then find the timer to disarm
  // (an armed timer would keep the caller's loop alive until the deadline).
  drain_timer_ = dispatcher_.CreateTimer([this] {
    std::vector<Connection*> left;
    for (auto& [ptr, owned] : connections_) left.push_back(ptr);
    for (Connection* c : left) c->Close();
  });
  drain_timer_->Enable(deadline);
  std::vector<Connection*> open;
  for (auto& [ptr, owned] : connections_) open.push_back(ptr);
  for (Connection* c : open) c->Drain();
  for (auto& [manager, proxy] : proxies_) proxy->CloseIdle();
  MaybeFinishDrain();
}

void GatewayImpl::MaybeFinishDrain() {
  if (!connections_.empty()) return;
  if (drain_timer_) drain_timer_->Disable();
  if (!drain_done_) return;
  dispatcher_.Post(std::move(drain_done_));
  drain_done_ = nullptr;
}

GatewayStats GatewayImpl::stats() const { return stats_; }

}  // namespace internal
}  // namespace gateway
