// A downstream HTTP/1.1 connection: socket I/O, the codec, one stream at a
// time (pipelined requests are parsed only after the previous response), and
// the connection-level timeouts.
#ifndef GATEWAY_LIB_CORE_CONNECTION_H_
#define GATEWAY_LIB_CORE_CONNECTION_H_

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "core/stream.h"
#include "event/uv_dispatcher.h"
#include "event/uv_handle.h"
#include "gateway/codec.h"
#include "gateway/server.h"

namespace gateway::internal {

class GatewayImpl;

class Connection final : public ServerCodecCallbacks, public StreamHost {
 public:
  Connection(GatewayImpl& server, UvHandle<uv_tcp_t> tcp, uint64_t id);
  ~Connection() override;

  void Start();
  // Graceful: close now if idle, otherwise after the current response.
  void Drain();
  // Immediate close; in-flight stream ends as client-gone.
  void Close();
  bool closed() const { return closed_; }

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
  struct WriteReq;
  // kIdleWait: the first part of the keep-alive wait, at whose end the idle
  // state is freed; kKeepalive: the rest of it.
  enum class ReadTimer { kNone, kHeader, kBodyIdle, kIdleWait, kKeepalive, kLinger };

  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
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
  void OnWriteDone(WriteReq* req, int status);
  void Flush();
  // Response bytes not yet taken by the client: libuv's queue plus the
  // kernel's send queue. Its shrinking is what counts as send progress.
  size_t UnsentBytes() const;
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
  UvHandle<uv_tcp_t> tcp_;
  std::unique_ptr<ServerCodec> codec_;
  StreamId stream_id_ = 0;  // the codec's id of stream_
  ConnectionInfo info_;
  std::unique_ptr<Stream> stream_;
  std::string pending_;  // received bytes the codec has not consumed yet
  std::string out_;      // response bytes being assembled before a flush
  std::vector<WriteReq*> writes_;
  const HeaderMap* trailers_out_ = nullptr;  // set only during the final WriteResponseBody
  size_t write_queue_bytes_ = 0;

  std::unique_ptr<Timer> read_timer_;
  ReadTimer read_timer_kind_ = ReadTimer::kNone;
  std::unique_ptr<Timer> send_timer_;  // created on the first queued write
  // UnsentBytes() when the send timer was last armed.
  size_t send_progress_mark_ = 0;

  size_t requests_ = 0;
  int burst_left_ = 0;        // requests this connection may still start before yielding
  size_t burst_written_ = 0;  // response bytes written in the current burst
  bool closed_ = false;
  bool reading_ = false;
  bool in_process_ = false;
  bool process_scheduled_ = false;
  bool flush_scheduled_ = false;
  bool tunnel_ = false;            // a 101 went out: raw bytes both ways, no more HTTP
  bool head_bytes_seen_ = false;   // bytes of the next request arrived
  bool in_request_ = false;        // a request head was parsed and its cycle is open
  bool message_complete_ = false;  // the current request was fully received
  bool stream_done_ = false;       // the current stream finished
  bool close_after_response_ = false;
  bool close_when_flushed_ = false;
  bool peer_eof_ = false;
  bool suppress_body_ = false;  // HEAD / 204 / 304: no body bytes on the wire
  bool chunked_out_ = false;
  bool output_blocked_ = false;  // above the write watermark; the stream was told
  bool draining_ = false;
  bool body_paused_ = false;
  bool error_reply_pending_ = false;  // inside AbortStreamForErrorReply
  int request_version_minor_ = 1;
  bool request_keep_alive_ = true;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CORE_CONNECTION_H_
