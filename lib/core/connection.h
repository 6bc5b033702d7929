// A downstream HTTP/1.1 connection: the codec, one stream at a time
// (pipelined requests are parsed only after the previous response), and the
// connection-level timeouts, over a StreamSocket that does the I/O.
#ifndef GATEWAY_LIB_CORE_CONNECTION_H_
#define GATEWAY_LIB_CORE_CONNECTION_H_

#include <memory>
#include <string>
#include <vector>

#include "core/stream.h"
#include "event/uv_dispatcher.h"
#include "gateway/codec.h"
#include "gateway/server.h"
#include "net/stream_socket.h"

namespace gateway::internal {

class GatewayImpl;

class Connection final : public ServerCodecCallbacks,
                         public StreamHost,
                         private StreamSocketCallbacks {
 public:
  // `transport` is an accepted connection.
  Connection(GatewayImpl& server, std::unique_ptr<Transport> transport, uint64_t id);
  ~Connection() override;

  void Start();
  // Graceful: close now if idle, otherwise after the current response.
  void Drain();
  // Immediate close; in-flight stream ends as client-gone.
  void Close();
  bool closed() const { return life_ == Life::kClosed; }

  // ServerCodecCallbacks. HTTP/1.1: one stream at a time, stream_id_.
  void OnRequestHead(StreamId id, RequestHead&& head) override;
  void OnRequestBody(StreamId id, std::string_view chunk) override;
  void OnRequestTrailers(StreamId id, HeaderMap&& trailers) override;
  void OnFieldDropped(std::string_view name) override;
  void OnRequestComplete(StreamId id) override;
  void OnCodecError(const CodecError& error) override;

  // StreamHost.
  Dispatcher& dispatcher() override;
  const ConnectionInfo& connection_info() const override { return info_; }
  void WriteResponseHead(ResponseHead& head, std::optional<uint64_t> body_length) override;
  void WriteResponseBody(std::string_view data, bool end_stream) override;
  void WriteResponseTrailers(const HeaderMap& trailers) override;
  void SetRequestBodyPaused(bool paused) override;
  void SendContinue() override;
  void OnStreamDone(Stream& stream) override;
  ProxyWorker* proxy(const Pipeline& pipeline) override;

 private:
  // Where the connection is in its life; it only moves forward.
  enum class Life {
    kOpen,
    kLastRequest,  // closes after the current response (Connection: close)
    kClosing,      // closes once the queued response bytes are sent
    kClosed,
  };
  // Where the current request is on the way in. From kReceiving on, a stream
  // exists until it is done (stream_ is then null).
  enum class Request {
    kNone,       // between requests, nothing of the next one seen
    kArriving,   // bytes of the next request arrived; its head is not parsed
    kReceiving,  // the head was parsed, the rest is on its way
    kReceived,   // the whole request was received
  };
  // How the response body goes on the wire.
  enum class BodyOut {
    kPlain,    // as is: Content-Length, close-delimited, or a tunnel
    kChunked,  // chunked, for a body of unknown length
    kNone,     // no body bytes: HEAD, 1xx, 204, 304
  };
  // kIdleWait: the first part of the keep-alive wait, at whose end the idle
  // state is freed; kKeepalive: the rest of it.
  enum class ReadTimer { kNone, kHeader, kBodyIdle, kIdleWait, kKeepalive, kLinger };

  // StreamSocketCallbacks.
  void OnSocketData(std::string_view data) override;
  void OnSocketEof() override;
  void OnSocketClosed(SocketCloseReason reason) override;
  void OnSocketSent() override;
  void OnSocketBelowLowWatermark() override;

  bool in_request() const { return request_ >= Request::kReceiving; }
  // The current request's stream finished (its response was produced).
  bool stream_done() const { return in_request() && stream_ == nullptr; }
  void CloseAfterResponse() {
    if (life_ == Life::kOpen) life_ = Life::kLastRequest;
  }
  void HandleRead(std::string_view data);
  void HandleEof();
  void ProcessInput();
  // Feeds `data` to the codec, starting pipelined requests while
  // NextRequestAllowed(); returns the bytes consumed.
  size_t FeedCodec(std::string_view data);
  bool NextRequestAllowed() const;
  // A burst: the pipelined requests a connection starts before it yields to
  // the loop (see kMaxRequestsPerBurst in the .cc).
  void StartBurst();
  bool BurstSpent() const;
  void ScheduleProcess();
  void EndCycle();
  void Write(std::string_view data);
  void OnSendTimer();
  void Flush();
  void SendErrorAndClose(int status, std::string_view flag, std::string_view reason);
  // Adds the gateway's Date to a final response head that has none.
  void AddDate(ResponseHead& head);
  // Ends the in-flight stream with `outcome` when the connection itself is
  // about to answer with an error (SendErrorAndClose).
  void AbortStreamForErrorReply(RequestOutcome outcome, int status, std::string_view flag);
  void ArmReadTimer(ReadTimer which);
  void OnReadTimer();
  void UpdateReading();
  void CloseWhenFlushed();
  // Sends what is in out_ at the end of this loop turn, so a head and the
  // body bytes produced by the same upstream read go out in one write.
  void ScheduleFlush();
  void FreeIdleState();
  void TakeOutputBuffer();
  // Passes buffered client bytes into the tunnel (after a 101).
  void PumpTunnel();
  // The codec, created on first use (ServerOptions::codec): idle connections hold none.
  ServerCodec& codec();
  // Between requests, frees the codec and the buffers (see the .cc).
  void ReleaseIdleState();

  GatewayImpl& server_;
  StreamSocket socket_;
  std::unique_ptr<ServerCodec> codec_;
  StreamId stream_id_ = 0;  // the codec's id of stream_
  ConnectionInfo info_;
  std::unique_ptr<Stream> stream_;
  std::string pending_;                      // received bytes the codec has not consumed yet
  std::string out_;                          // response bytes being assembled before a flush
  const HeaderMap* trailers_out_ = nullptr;  // set only during the final WriteResponseBody

  std::unique_ptr<Timer> read_timer_;
  ReadTimer read_timer_kind_ = ReadTimer::kNone;
  std::unique_ptr<Timer> send_timer_;  // created on the first queued write
  // socket_.UnsentBytes() when the send timer was last armed.
  size_t send_progress_mark_ = 0;

  size_t requests_ = 0;
  int burst_left_ = 0;        // requests this connection may still start before yielding
  size_t burst_written_ = 0;  // response bytes written in the current burst
  Life life_ = Life::kOpen;
  Request request_ = Request::kNone;
  BodyOut body_out_ = BodyOut::kPlain;
  bool tunnel_ = false;  // a 101 went out: raw bytes both ways, no more HTTP
  bool in_process_ = false;
  bool process_scheduled_ = false;
  bool flush_scheduled_ = false;
  bool output_blocked_ = false;  // the stream was told the client stopped taking bytes
  bool body_paused_ = false;
  bool error_reply_pending_ = false;  // inside AbortStreamForErrorReply
  int request_version_minor_ = 1;
  bool request_keep_alive_ = true;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CORE_CONNECTION_H_
