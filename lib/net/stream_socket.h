// StreamSocket: one connected byte stream, downstream or upstream alike.
//
// The socket owns what every connection needs around its transport: reading
// (into the loop's shared buffer, see ReadBuffer), the write path (a direct
// write when nothing is queued, otherwise an owned queue with one write in
// flight), high/low watermarks, half-close, and closing once the queue has
// drained. `Connection` and the upstream pool's connections use only this
// class; the Transport beneath it (TCP today, TLS later) is its own business.
//
// Writes: the bytes the transport does not take at once are copied into the
// queue, which is two reusable strings: the one being written and the one
// collecting what comes meanwhile. They are swapped when a write completes,
// so queueing costs no allocation per write; both are freed when the queue
// empties, so an idle socket holds no buffer.
//
// Events go to StreamSocketCallbacks, on the loop, never inside a call on the
// socket: what a call finds (a failed write, the queue crossing the high
// watermark) it returns, or reports on a later loop turn. Every failure is
// reported once through OnSocketClosed unless the owner calls Close() first.
// The owner must not destroy the socket inside one of its callbacks.
#ifndef GATEWAY_LIB_NET_STREAM_SOCKET_H_
#define GATEWAY_LIB_NET_STREAM_SOCKET_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/dispatcher.h"
#include "net/transport.h"

namespace gateway::internal {

// Why a socket closed by itself.
enum class SocketCloseReason {
  kReadFailed,   // the connection failed (reset, timeout), or reading could not start
  kWriteFailed,  // a write failed (see StreamSocket::WriteErrorMode)
  kDrained,      // CloseAfterDrain: the queue was sent
};

class StreamSocketCallbacks {
 public:
  // Bytes from the peer, valid during the call only.
  virtual void OnSocketData(std::string_view data) = 0;
  // The peer finished sending. Reading is over for good; writing goes on
  // until the owner shuts it down or closes the socket.
  virtual void OnSocketEof() = 0;
  // The socket closed by itself; nothing follows.
  virtual void OnSocketClosed(SocketCloseReason reason) = 0;
  // A queued write completed: write_queue_bytes() shrank.
  virtual void OnSocketSent() {}
  // The queue fell below the low watermark after rising above the high one.
  // Comes before the OnSocketSent of the same completion.
  virtual void OnSocketBelowLowWatermark() {}
  // The connect started by Connect is done: 0, or a negative libuv error.
  virtual void OnSocketConnected(int status) {}

 protected:
  ~StreamSocketCallbacks() = default;
};

class StreamSocket final : private TransportCallbacks {
 public:
  // What a failed write does to the socket. Either way the queue is dropped
  // and later writes fail.
  enum class WriteErrorMode {
    // Closes the socket: a downstream client that stopped taking bytes has
    // nothing more to say that matters.
    kClose,
    // Keeps reading until the input's end, which then reports kWriteFailed:
    // a peer often answers early (an upstream's 413 or 401 to a request it
    // did not read in full) and resets the connection, and that answer is
    // still readable after the reset. Bounded: the socket takes no more.
    kDrainInput,
  };
  struct Options {
    // above_high_watermark() once more than this is queued...
    size_t high_watermark = 256 * 1024;
    // ...until the queue falls below this (or empties).
    size_t low_watermark = 64 * 1024;
    WriteErrorMode on_write_error = WriteErrorMode::kClose;
  };

  // Reading starts with SetReading. `dispatcher` times the reports that
  // cannot be made inside a call; it and `callbacks` must outlive the socket.
  StreamSocket(Dispatcher& dispatcher, std::unique_ptr<Transport> transport,
               StreamSocketCallbacks& callbacks, const Options& options);
  ~StreamSocket();
  StreamSocket(const StreamSocket&) = delete;
  StreamSocket& operator=(const StreamSocket&) = delete;

  // Starts connecting; see OnSocketConnected. Returns 0 or a libuv error.
  int Connect(const sockaddr* address);

  // Starts or stops reading. Returns whether the socket now reads: false when
  // stopped, closing or closed, after the input's end, or when reading could
  // not start (the socket then closes and reports kReadFailed on a later turn).
  bool SetReading(bool enabled) {
    if (enabled && read_ == ReadSide::kReading) return true;
    return ChangeReading(enabled);
  }

  // Sends `data`: at once if nothing is queued and the transport takes it,
  // otherwise through the queue (a copy). Returns false if the write failed
  // now or an earlier one did, after Shutdown, and once closed; see
  // WriteErrorMode for the rest. Allowed while closing after drain.
  [[nodiscard]] bool Write(std::string_view data);

  // Half-close: ends the sending side once the queue has drained. Reading
  // goes on; later writes fail.
  void Shutdown();
  // Stops reading and closes once the queue has drained, reporting kDrained.
  // Returns true if nothing was queued: the socket closed at once, and no
  // callback follows.
  bool CloseAfterDrain();
  // Closes now, dropping the queue. Idempotent; no callback follows.
  void Close();

  // Bytes queued (the write in flight included) and not yet completed.
  size_t write_queue_bytes() const { return in_flight_.size() + queued_.size(); }
  bool above_high_watermark() const { return above_high_; }
  // Bytes written but not yet taken by the peer: the queue plus what the
  // transport and the kernel hold.
  size_t UnsentBytes() const;
  bool reading() const { return read_ == ReadSide::kReading; }
  // The peer finished sending (OnSocketEof was reported).
  bool input_ended() const { return read_ == ReadSide::kEnded; }
  // Writes are still accepted: open, no failed write, not shut down.
  bool writable() const { return life_ != Life::kClosed && write_ == WriteSide::kOpen; }
  bool closed() const { return life_ == Life::kClosed; }
  int PeerAddress(sockaddr_storage* out) const { return transport_->PeerAddress(out); }
  int LocalAddress(sockaddr_storage* out) const { return transport_->LocalAddress(out); }

 private:
  enum class ReadSide : uint8_t { kStopped, kReading, kEnded };
  enum class WriteSide : uint8_t {
    kOpen,
    kShutdownPending,  // Shutdown() waits for the queue to drain
    kShutDown,
    kFailed,
  };
  enum class Life : uint8_t { kOpen, kClosingAfterDrain, kClosed };

  // TransportCallbacks.
  void OnTransportData(std::string_view data) override;
  void OnTransportReadEnd(int status) override;
  void OnTransportWriteDone(int status) override;
  void OnTransportConnected(int status) override;

  bool ChangeReading(bool enabled);
  // Queues `data` behind the write in flight, or starts one with it.
  bool Enqueue(std::string_view data);
  // A write failed. `in_call`: found inside a call on the socket, so any
  // report waits for a later turn.
  void WriteFailed(bool in_call);
  // The queue drained: what was waiting for that happens now. Returns false
  // if the socket closed.
  bool Drained();
  void DropQueue();
  // Closes the transport; the owner hears `reason` now or on a later turn.
  void CloseWithReport(SocketCloseReason reason, bool in_call);

  Dispatcher& dispatcher_;
  std::unique_ptr<Transport> transport_;
  StreamSocketCallbacks& callbacks_;
  const Options options_;
  std::string in_flight_;  // being written by the transport
  std::string queued_;     // waiting for the write in flight
  // Created on the first report that must wait for a later turn.
  std::unique_ptr<Timer> report_timer_;
  SocketCloseReason pending_report_ = SocketCloseReason::kReadFailed;
  ReadSide read_ = ReadSide::kStopped;
  WriteSide write_ = WriteSide::kOpen;
  Life life_ = Life::kOpen;
  bool above_high_ = false;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_NET_STREAM_SOCKET_H_
