// The TCP transport: a libuv TCP handle behind the Transport interface.
#ifndef GATEWAY_LIB_NET_TCP_TRANSPORT_H_
#define GATEWAY_LIB_NET_TCP_TRANSPORT_H_

#include <uv.h>

#include <memory>
#include <string_view>

#include "event/uv_handle.h"
#include "net/transport.h"

namespace gateway::internal {

class TcpTransport final : public Transport {
 public:
  // `tcp` is initialised: accepted, or to be connected with Connect.
  TcpTransport(UvHandle<uv_tcp_t> tcp, ReadBuffer buffer);
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  void SetCallbacks(TransportCallbacks* callbacks) override { callbacks_ = callbacks; }
  int Connect(const sockaddr* address) override;
  int StartReading() override;
  void StopReading() override;
  int TryWrite(std::string_view data) override;
  int StartWrite(std::string_view data) override;
  int Shutdown() override;
  void Close() override;
  size_t UnsentBytes() const override;
  int PeerAddress(sockaddr_storage* out) const override;
  int LocalAddress(sockaddr_storage* out) const override;

 private:
  struct Requests;

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  // The requests' block, made on first use.
  Requests& requests();
  // For a finished request: its transport, or null once that has closed.
  static TcpTransport* Finish(void* requests);

  UvHandle<uv_tcp_t> tcp_;
  ReadBuffer buffer_;
  TransportCallbacks* callbacks_ = nullptr;
  std::unique_ptr<Requests> requests_;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_NET_TCP_TRANSPORT_H_
