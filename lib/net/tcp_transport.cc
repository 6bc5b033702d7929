#include "net/tcp_transport.h"

#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h>  // SIOCOUTQ
#endif

#include <utility>

namespace gateway::internal {

// The libuv requests of one socket. Made on first use: most downstream
// sockets never need one, since the kernel takes their writes at once. libuv
// runs every request's callback, with UV_ECANCELED at the latest when the
// handle closes, so a transport that closes with requests in flight hands
// the block over to them and the last one frees it.
struct TcpTransport::Requests {
  uv_write_t write;
  uv_shutdown_t shutdown;
  uv_connect_t connect;
  TcpTransport* owner = nullptr;
  int in_flight = 0;
};

TcpTransport::TcpTransport(UvHandle<uv_tcp_t> tcp, ReadBuffer buffer)
    : tcp_(std::move(tcp)), buffer_(buffer) {
  tcp_->data = this;
  // Whole messages are written at once; Nagle's algorithm would only hold the
  // last segment of each back. On a handle not yet connected libuv applies it
  // when the socket is made.
  uv_tcp_nodelay(tcp_.get(), 1);
}

TcpTransport::~TcpTransport() { Close(); }

TcpTransport::Requests& TcpTransport::requests() {
  if (requests_ == nullptr) {
    requests_ = std::make_unique<Requests>();
    requests_->owner = this;
    requests_->write.data = requests_.get();
    requests_->shutdown.data = requests_.get();
    requests_->connect.data = requests_.get();
  }
  return *requests_;
}

TcpTransport* TcpTransport::Finish(void* block) {
  auto* r = static_cast<Requests*>(block);
  --r->in_flight;
  if (r->owner != nullptr) return r->owner;
  if (r->in_flight == 0) std::unique_ptr<Requests> last(r);
  return nullptr;
}

int TcpTransport::Connect(const sockaddr* address) {
  if (!tcp_) return UV_EBADF;
  Requests& r = requests();
  int rc = uv_tcp_connect(&r.connect, tcp_.get(), address, [](uv_connect_t* req, int status) {
    if (TcpTransport* self = Finish(req->data)) self->callbacks_->OnTransportConnected(status);
  });
  if (rc == 0) ++r.in_flight;
  return rc;
}

int TcpTransport::StartReading() {
  if (!tcp_) return UV_EBADF;
  return uv_read_start(tcp_.stream(), &TcpTransport::OnAlloc, &TcpTransport::OnRead);
}

void TcpTransport::StopReading() {
  if (tcp_) uv_read_stop(tcp_.stream());
}

void TcpTransport::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<TcpTransport*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(self->buffer_.data, self->buffer_.size);
}

void TcpTransport::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<TcpTransport*>(stream->data);
  if (self == nullptr) return;
  if (nread > 0) {
    self->callbacks_->OnTransportData(std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread < 0) {
    // libuv has stopped reading after an end of stream; after an error the
    // socket is useless, so it stops here too.
    if (nread != UV_EOF) uv_read_stop(stream);
    self->callbacks_->OnTransportReadEnd(static_cast<int>(nread));
  }
}

int TcpTransport::TryWrite(std::string_view data) {
  uv_buf_t buf;
  buf.base = const_cast<char*>(data.data());
  buf.len = data.size();
  int n = uv_try_write(tcp_.stream(), &buf, 1);
  return n == UV_EAGAIN || n == UV_ENOSYS ? 0 : n;
}

int TcpTransport::StartWrite(std::string_view data) {
  if (!tcp_) return UV_EBADF;
  Requests& r = requests();
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), data.size());
  int rc = uv_write(&r.write, tcp_.stream(), &buf, 1, [](uv_write_t* req, int status) {
    if (TcpTransport* self = Finish(req->data)) self->callbacks_->OnTransportWriteDone(status);
  });
  if (rc == 0) ++r.in_flight;
  return rc;
}

int TcpTransport::Shutdown() {
  if (!tcp_) return UV_EBADF;
  Requests& r = requests();
  // Nobody waits for the FIN to go out: what matters is the peer's answer.
  int rc =
      uv_shutdown(&r.shutdown, tcp_.stream(), [](uv_shutdown_t* req, int) { Finish(req->data); });
  if (rc == 0) ++r.in_flight;
  return rc;
}

void TcpTransport::Close() {
  if (!tcp_) return;
  tcp_.Close();
  if (requests_ != nullptr && requests_->in_flight > 0) {
    requests_->owner = nullptr;
    (void)requests_.release();  // freed by the last request's callback
  }
  requests_.reset();
}

size_t TcpTransport::UnsentBytes() const {
  if (!tcp_) return 0;
  size_t n = uv_stream_get_write_queue_size(tcp_.stream());
#ifdef SIOCOUTQ
  // The kernel's send buffer holds megabytes: a slow reader drains it long
  // before libuv's queue moves, and that is progress too.
  uv_os_fd_t fd;
  int kernel_queued = 0;
  if (uv_fileno(tcp_.handle(), &fd) == 0 && ioctl(fd, SIOCOUTQ, &kernel_queued) == 0 &&
      kernel_queued > 0) {
    n += static_cast<size_t>(kernel_queued);
  }
#endif
  return n;
}

int TcpTransport::PeerAddress(sockaddr_storage* out) const {
  if (!tcp_) return UV_EBADF;
  int len = sizeof(*out);
  return uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(out), &len);
}

int TcpTransport::LocalAddress(sockaddr_storage* out) const {
  if (!tcp_) return UV_EBADF;
  int len = sizeof(*out);
  return uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(out), &len);
}

}  // namespace gateway::internal
