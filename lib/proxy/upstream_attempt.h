// One try of a proxied request: the leased connection, its client codec, the
// host it went to, the per-try, response-head and idle timers, and the bytes
// of that try. It parses and times; it decides nothing. Every outcome goes to
// the owning UpstreamRequest through UpstreamAttemptCallbacks, which decides
// about retries, fallback and the answer to the client.
//
// The request owns one attempt object and reuses it for every try (Start ...
// End, then Start again): no allocation per try, and a callback that ends the
// try never destroys the object it was called from. Lives on one loop.
#ifndef GATEWAY_LIB_PROXY_UPSTREAM_ATTEMPT_H_
#define GATEWAY_LIB_PROXY_UPSTREAM_ATTEMPT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/codec.h"
#include "gateway/dispatcher.h"
#include "gateway/http.h"
#include "gateway/response_flag.h"
#include "gateway/router.h"
#include "gateway/upstream.h"
#include "gateway/upstream_pool.h"

namespace gateway::internal {

// What the owning request decided about a final response head.
enum class HeadVerdict {
  kPass,    // passed on to the client (the request prepared its headers)
  kRetry,   // a retriable status with a retry reserved: dropped
  kReject,  // not acceptable (an unoffered upgrade): a protocol error
};

// When an attempt's timer fired.
enum class AttemptTimeout {
  kResponseHead,  // no response head within response_headers
  kPerTry,        // the try took longer than per_try
  kIdle,          // the upstream neither sent nor took a byte for `idle`
};

// The attempt's reports. Each is the last thing the attempt does in the call
// that makes it, so the request may end the attempt (or start the next one)
// inside any of them.
class UpstreamAttemptCallbacks {
 public:
  virtual ~UpstreamAttemptCallbacks() = default;
  // The pool gave no connection.
  virtual void OnAttemptConnectFailed(PoolFailure failure, const std::string& error) = 0;
  // A connection is leased and the codec ready: the request may write.
  virtual void OnAttemptConnected() = 0;
  // A final response head (or 101) arrived; the request decides and, for
  // kPass, prepares the head for the client. No response timers run any more.
  virtual HeadVerdict OnAttemptResponseHead(ResponseHead& head) = 0;
  // The head accepted with kPass, for the client. `content_length` as in
  // UpstreamResponseSink::OnUpstreamHeaders.
  virtual void OnAttemptHeadPassed(ResponseHead&& head, std::optional<uint64_t> content_length) = 0;
  // Body bytes after a passed head, or tunnel bytes after a 101.
  virtual void OnAttemptBody(std::string_view data) = 0;
  // The response ended well; `reusable` says the connection may go back to
  // the pool; `trailers` (possibly empty) may be moved from.
  virtual void OnAttemptComplete(bool reusable, HeaderMap& trailers) = 0;
  // The response head carried a status the request chose to retry on.
  virtual void OnAttemptRetriableStatus(int status) = 0;
  // The response was invalid or cut short (`flag` says how), before or
  // after the head was passed on.
  virtual void OnAttemptError(ResponseFlag flag) = 0;
  // The upstream closed before sending a single response byte. `reused`: the
  // connection came kept-alive from the pool (and may have been stale).
  virtual void OnAttemptClosedEarly(bool reused) = 0;
  // Either side of a tunnel closed; `reset` if the upstream's was a reset.
  virtual void OnAttemptTunnelClosed(bool reset) = 0;
  virtual void OnAttemptTimeout(AttemptTimeout which) = 0;
  // The connection's write queue drained below its low watermark.
  virtual void OnAttemptWritable() = 0;
};

class UpstreamAttempt final : public UpstreamConnectionCallbacks, public ClientCodecCallbacks {
 public:
  // Request side of the try.
  enum class Send : uint8_t {
    kIdle,        // no try under way (before Start, after End)
    kConnecting,  // waiting for the pool
    kBody,        // connected, head written, more request bytes to come
    kComplete,    // the whole request is written: the upstream owes the answer
  };
  // Response side of the try. Kept after End: the request still asks whether
  // the head was passed on. Ordered: everything from kBody on passed a head.
  enum class Receive : uint8_t {
    kNothing,    // no byte yet: a close now means the request never got there
    kHead,       // bytes arrived, no final head passed on yet
    kBody,       // the final head was passed on; the body follows
    kComplete,   // the whole response was parsed
    kUpgrading,  // a 101 was passed on; the codec has not finished it yet
    kTunnel,     // raw bytes both ways
  };

  // `route` is the request's route; it outlives the attempt.
  UpstreamAttempt(Dispatcher& dispatcher, const RouteSpec& route,
                  UpstreamAttemptCallbacks& callbacks);
  // The owner calls End first: ending twice per request is measurable here.
  ~UpstreamAttempt() override;

  // Begins a try on `host`, asking `pool` for a connection (the answer comes
  // on a later loop turn); `codecs` (the cluster's, outliving the attempt)
  // makes the try's codec once connected. `request_complete` starts the
  // per-try timer now.
  void Start(HostPtr host, UpstreamPool& pool, const ClientCodecFactory& codecs,
             bool request_complete);
  // Ends the try: no more callbacks, timers stop, the connection goes back to
  // the pool if `reusable`, else it is closed. Idempotent.
  void End(bool reusable);

  // From Start to End.
  bool active() const { return send_ != Send::kIdle; }
  bool connected() const { return send_ == Send::kBody || send_ == Send::kComplete; }
  bool head_passed() const { return receive_ >= Receive::kBody; }
  bool tunnel() const { return receive_ == Receive::kTunnel; }
  const Host& host() const { return *host_; }
  // Connected only: the try's codec, to encode its request bytes.
  ClientCodec& codec() { return *codec_; }
  // Connected only: opens the try's stream and appends its request head.
  void EncodeHead(const RequestHead& head, BodyFraming framing, uint64_t length, std::string& out) {
    stream_id_ = codec_->EncodeRequestHead(head, framing, length, out);
  }
  StreamId stream_id() const { return stream_id_; }

  // Every request byte of the try goes upstream through here (see written_).
  void Write(std::string_view data);
  // A body chunk, framed by the codec. False if nothing was written (not
  // connected, or empty).
  bool SendBody(std::string_view data);
  // The request is complete: the end of its body (with `trailers`) if
  // `has_body`, then the response timer and the idle timer.
  void FinishRequest(bool has_body, const HeaderMap* trailers);
  // Marks the request written (after Connected wrote all of it).
  void MarkRequestSent();
  // Tunnel bytes from the client; false if not tunneling or not connected.
  bool SendTunnel(std::string_view data);
  bool above_high_watermark() const { return lease_ && lease_->above_high_watermark(); }
  // Downstream backpressure: stop/restart reading the response. Kept across tries.
  void SetReadEnabled(bool enabled);
  // Starts the per-try timer once the try is under way and the request complete.
  void ArmTryTimer();
  // (Re)starts the idle timer while the exchange waits on the upstream and
  // the response is read; stops it otherwise.
  void ArmIdleTimer();

  // UpstreamConnectionCallbacks.
  void OnUpstreamData(std::string_view data) override;
  void OnUpstreamClosed(bool reset) override;
  void OnUpstreamWritable() override;

  // ClientCodecCallbacks: the try's one stream, stream_id_.
  void OnResponseHead(StreamId id, ResponseHead&& head) override;
  void OnResponseBody(StreamId id, std::string_view chunk) override;
  void OnResponseTrailers(StreamId id, HeaderMap&& trailers) override;
  void OnResponseComplete(StreamId id) override;
  void OnCodecError(const CodecError& error) override;

 private:
  // What a codec callback decided; acted on once Feed has returned, so the
  // codec is never destroyed inside its own call.
  enum class Action { kNone, kComplete, kRetryStatus, kError, kTunnel };

  void OnPoolReady(PoolResult result);
  void HandlePendingAction(bool leftover, bool closed);
  void ArmResponseTimer();
  void OnIdleTimeout();
  // Every request byte received so far is handed to the upstream and the
  // rest is still to come from the client: a pause is the client's, which
  // the connection's body idle timeout judges, not the upstream's.
  bool WaitingForClient() const;

  Dispatcher& dispatcher_;
  const RouteSpec& route_;
  UpstreamAttemptCallbacks& callbacks_;

  Send send_ = Send::kIdle;
  Receive receive_ = Receive::kNothing;
  HostPtr host_;
  CancelHandle pending_;
  PoolLease lease_;
  bool lease_reused_ = false;
  const ClientCodecFactory* codecs_ = nullptr;
  std::unique_ptr<ClientCodec> codec_;
  // A fresh codec per try; the previous one may still be unwinding a call.
  std::vector<std::unique_ptr<ClientCodec>> retired_codecs_;
  StreamId stream_id_ = 0;
  Action pending_action_ = Action::kNone;
  ResponseFlag error_flag_ = ResponseFlag::kNone;
  int retry_status_ = 0;
  bool upstream_keep_alive_ = true;
  bool read_enabled_ = true;
  HeaderMap trailers_;

  std::unique_ptr<Timer> response_timer_;
  std::unique_ptr<Timer> try_timer_;
  std::unique_ptr<Timer> idle_timer_;
  // Bytes given to the upstream connections; less what is still queued, the
  // bytes the upstream took. If that grew between arming the idle timer and
  // its firing, the upstream was taking request bytes: not idle.
  uint64_t written_ = 0;
  uint64_t idle_taken_mark_ = 0;
};

// Request bytes are encoded here and written at once; the kernel usually
// takes them all, so one buffer per thread serves every request without a
// malloc each. Never held across a call that could encode again.
std::string& EncodeScratch();

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_PROXY_UPSTREAM_ATTEMPT_H_
