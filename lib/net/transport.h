// The byte transport beneath a StreamSocket.
//
// A transport moves bytes between a socket and its peer and nothing more: no
// queue, no watermarks, no policy (StreamSocket has those). TCP is the one
// implementation today; TLS slots in here later as a transport that wraps
// another one (ciphertext below, plaintext above), so `Connection`, `Stream`
// and the upstream pool, which only ever see a StreamSocket, never know which
// one carries their bytes.
//
// Threading: one loop thread. No callback runs inside a call on the
// transport; every event comes from the loop. After Close() none comes at all.
#ifndef GATEWAY_LIB_NET_TRANSPORT_H_
#define GATEWAY_LIB_NET_TRANSPORT_H_

#include <sys/socket.h>

#include <cstddef>
#include <string_view>

namespace gateway::internal {

// Where reads land. One buffer serves every socket of a loop (or of a pool):
// a read's bytes are consumed, or copied, inside its callback, before the
// loop reads from any other socket. Must outlive the transports using it.
struct ReadBuffer {
  char* data = nullptr;
  size_t size = 0;
};

// A transport's events, delivered to its one user (the StreamSocket).
class TransportCallbacks {
 public:
  // Bytes from the peer, valid during the call only.
  virtual void OnTransportData(std::string_view data) = 0;
  // Reading ended and has stopped: `status` is UV_EOF when the peer finished
  // sending, another negative libuv error code when the connection failed.
  virtual void OnTransportReadEnd(int status) = 0;
  // The write started by StartWrite is done: 0, or a negative libuv error.
  virtual void OnTransportWriteDone(int status) = 0;
  // The connect started by Connect is done: 0, or a negative libuv error.
  virtual void OnTransportConnected(int status) = 0;

 protected:
  ~TransportCallbacks() = default;
};

class Transport {
 public:
  // Closes the transport if it is still open.
  virtual ~Transport() = default;

  virtual void SetCallbacks(TransportCallbacks* callbacks) = 0;
  // Starts connecting to `address`; the outcome comes to
  // OnTransportConnected. Returns 0 or a libuv error code (nothing started).
  virtual int Connect(const sockaddr* address) = 0;
  // Reading delivers OnTransportData until StopReading or the read's end.
  // Returns 0 or a libuv error code.
  virtual int StartReading() = 0;
  virtual void StopReading() = 0;
  // Writes what the peer's side takes at once, without blocking: returns the
  // bytes taken (0 if none could be) or a negative libuv error code. Only
  // while no StartWrite is in progress, so bytes stay in order.
  virtual int TryWrite(std::string_view data) = 0;
  // Starts writing all of `data`, which must stay valid and unchanged until
  // OnTransportWriteDone; one write at a time. Returns 0 or a libuv error
  // code (nothing started, no callback).
  virtual int StartWrite(std::string_view data) = 0;
  // Ends the sending side (a TCP FIN) once written bytes are sent; reading
  // goes on. Call with no write in progress. Returns 0 or a libuv error code.
  virtual int Shutdown() = 0;
  // Closes now. Idempotent; no callback follows, and a write in progress is
  // dropped (its buffer may be freed right after this returns).
  virtual void Close() = 0;
  // Bytes written but not yet taken by the peer: the transport's own queue
  // plus the kernel's send queue. Their shrinking is send progress.
  virtual size_t UnsentBytes() const = 0;
  // The socket's addresses: 0, or a libuv error code.
  virtual int PeerAddress(sockaddr_storage* out) const = 0;
  virtual int LocalAddress(sockaddr_storage* out) const = 0;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_NET_TRANSPORT_H_
