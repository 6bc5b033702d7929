#include "core/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/header_map_access.h"
#include "common/spare_cache.h"
#include "core/gateway_impl.h"

namespace gateway::internal {
namespace {

// Unconsumed input kept per connection before reading stops (backpressure).
constexpr size_t kMaxPendingInput = 64 * 1024;
// Queued response bytes above which the next pipelined request waits.
constexpr size_t kOutputHighWatermark = 64 * 1024;
// Pipelined requests started in one go before the connection yields to the
// loop. A request answered by the gateway itself ends inside the codec's
// callback, and the kernel takes its response at once, so nothing else would
// stop one read (and libuv reads up to 32 buffers per poll) from being answered
// in full: every finished stream waits for its deferred deletion until the
// next loop turn, holding its request and its response body, and other
// connections wait too. A burst also ends once it has written a watermark's
// worth of responses.
constexpr int kMaxRequestsPerBurst = 32;
// Output buffers of idle connections are handed to the next response of the
// thread rather than freed, from this size up (a head and a small body).
constexpr size_t kSpareOutputMin = 256;
using SpareOutput = SpareCache<std::string, 1024>;
// Queued response bytes above which a streamed upstream response stops reading.
constexpr size_t kOutputBlockedWatermark = 256 * 1024;
// How long a keep-alive connection keeps its codec and buffers after a
// response before it frees them (see ReleaseIdleState).
constexpr absl::Duration kIdleStateHold = absl::Seconds(1);
// How long the rest of a request body is read and discarded after an early reply.
constexpr absl::Duration kLingerTimeout = absl::Seconds(5);

void FillAddress(const sockaddr_storage& ss, std::string& address, uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(in, buf, sizeof(buf));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(in6, buf, sizeof(buf));
    port = ntohs(in6->sin6_port);
  }
  address = buf;
}

}  // namespace

Connection::Connection(GatewayImpl& server, std::unique_ptr<Transport> transport, uint64_t id)
    : server_(server),
      // A streamed response stops its upstream above the high watermark and
      // resumes below the low one, where pipelined requests may go on too.
      socket_(server.uv_dispatcher(), std::move(transport), *this,
              {.high_watermark = kOutputBlockedWatermark,
               .low_watermark = kOutputHighWatermark,
               .on_write_error = StreamSocket::WriteErrorMode::kClose}) {
  info_.id = id;
  sockaddr_storage ss;
  if (socket_.PeerAddress(&ss) == 0) FillAddress(ss, info_.peer_address, info_.peer_port);
  if (socket_.LocalAddress(&ss) == 0) FillAddress(ss, info_.local_address, info_.local_port);
}

ServerCodec& Connection::codec() {
  if (codec_ == nullptr) {
    codec_ = server_.options().codec->CreateServerCodec(server_.options().limits, *this);
  }
  return *codec_;
}

void Connection::ReleaseIdleState() {
  // A connection between requests that has already served more than one
  // keeps its codec and buffers for the first part of the keep-alive wait: a
  // busy client's next request usually comes sooner, and making them again
  // per request costs more than the memory.
  if (read_timer_kind_ == ReadTimer::kIdleWait) return;
  FreeIdleState();
}

void Connection::FreeIdleState() {
  // Only at a request boundary with nothing buffered or half-parsed: a fresh
  // codec then behaves exactly like the old one resumed. Never inside the
  // codec's own callbacks (in_process_).
  if (in_process_ || life_ != Life::kOpen || tunnel_ || request_ != Request::kNone ||
      !pending_.empty() || socket_.write_queue_bytes() >= kOutputHighWatermark) {
    return;
  }
  // Bytes of the next request may have been parsed already (pipelining).
  if (codec_ != nullptr && (codec_->paused() || !codec_->idle())) return;
  codec_.reset();
  // Idle keep-alive connections are most of a busy gateway's connections;
  // they keep no buffers. Re-allocating them costs one malloc per request.
  if (out_.empty()) SpareOutput::Give(out_, kSpareOutputMin, kOutputHighWatermark);
  std::string().swap(pending_);
}

Connection::~Connection() {
  if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
}

Dispatcher& Connection::dispatcher() { return server_.uv_dispatcher(); }

void Connection::Start() {
  read_timer_ = dispatcher().CreateTimer([this] { OnReadTimer(); });
  ArmReadTimer(ReadTimer::kHeader);
  UpdateReading();
}

void Connection::UpdateReading() {
  // Once closing, or after the client's end, nothing is read (the socket
  // knows both).
  socket_.SetReading(pending_.size() < kMaxPendingInput);
}

void Connection::OnSocketData(std::string_view data) { HandleRead(data); }

void Connection::OnSocketEof() { HandleEof(); }

void Connection::OnSocketClosed(SocketCloseReason) {
  // The client reset or failed, or stopped taking bytes, or the last bytes
  // after CloseWhenFlushed went out: Close ends a stream still running as
  // client-gone.
  Close();
}

void Connection::HandleRead(std::string_view data) {
  if (tunnel_) {
    if (pending_.empty() && !body_paused_ && stream_ != nullptr) {
      stream_->OnTunnelData(data);
    } else {
      pending_.append(data);
    }
    UpdateReading();
    return;
  }
  if (request_ == Request::kNone) {
    request_ = Request::kArriving;
    if (read_timer_kind_ == ReadTimer::kIdleWait || read_timer_kind_ == ReadTimer::kKeepalive) {
      ArmReadTimer(ReadTimer::kHeader);
    }
  }
  if (pending_.empty() && !in_process_ && !process_scheduled_) {
    // Fast path: parse straight from the loop's read buffer. The connection
    // had caught up with its input, so it gets a fresh burst.
    StartBurst();
    size_t consumed = FeedCodec(data);
    if (closed()) return;
    if (consumed < data.size()) pending_.append(data.substr(consumed));
  } else {
    pending_.append(data);
  }
  ProcessInput();
}

void Connection::HandleEof() {
  if (tunnel_) {
    // Closing one side of a tunnel closes both, after what the client sent.
    if (stream_ != nullptr) {
      if (!pending_.empty()) stream_->OnTunnelData(std::exchange(pending_, {}));
      if (stream_ != nullptr) stream_->EndTunnel();
    }
    CloseWhenFlushed();
    return;
  }
  // A half-close after complete requests: answer them all (the one in
  // progress and any pipelined behind it), then close (EndCycle/ProcessInput).
  if (request_ == Request::kReceived && stream_ != nullptr) return;
  if (!in_request() && !pending_.empty()) return;  // waiting for the output to drain
  if (stream_ != nullptr) stream_->Abort(RequestOutcome::kClientGone);
  CloseWhenFlushed();
}

void Connection::ScheduleProcess() {
  if (process_scheduled_ || closed()) return;
  process_scheduled_ = true;
  // Safe without a liveness check: a closed connection is deleted by a later
  // post, and posts run in order.
  dispatcher().Post([this] {
    process_scheduled_ = false;
    StartBurst();
    ProcessInput();
  });
}

void Connection::PumpTunnel() {
  while (!pending_.empty() && !body_paused_ && stream_ != nullptr && !closed()) {
    std::string data = std::exchange(pending_, {});
    stream_->OnTunnelData(data);
  }
  UpdateReading();
}

void Connection::StartBurst() {
  burst_left_ = kMaxRequestsPerBurst;
  burst_written_ = 0;
}

bool Connection::BurstSpent() const {
  return burst_left_ == 0 || burst_written_ >= kOutputHighWatermark;
}

bool Connection::NextRequestAllowed() const {
  return life_ < Life::kClosing && socket_.write_queue_bytes() < kOutputHighWatermark &&
         !BurstSpent();
}

size_t Connection::FeedCodec(std::string_view data) {
  size_t consumed = 0;
  in_process_ = true;
  while (!closed()) {
    if (!in_request() && codec_ != nullptr && codec_->paused()) {
      // Between requests: the codec paused after the last one (or after a
      // request that asked for an upgrade; without a 101 the connection stays
      // HTTP). The next one is parsed only here, never from inside the
      // codec's callback, so the output watermark and the burst are checked
      // before every request, however it was answered.
      if (!NextRequestAllowed()) break;
      codec_->Resume();
    }
    if (consumed == data.size() || codec().paused()) break;
    FeedResult r = codec_->Feed(data.substr(consumed));
    if (closed()) break;
    consumed += r.consumed;
    if (r.consumed == 0) break;
  }
  in_process_ = false;
  return consumed;
}

void Connection::ProcessInput() {
  if (in_process_ || closed()) return;
  if (tunnel_) {
    PumpTunnel();
    return;
  }
  size_t consumed = FeedCodec(pending_);
  if (closed()) return;
  pending_.erase(0, consumed);
  if (!in_request() && !pending_.empty() && BurstSpent() && life_ < Life::kClosing &&
      socket_.write_queue_bytes() < kOutputHighWatermark) {
    // The burst is spent: the rest waits for a later turn (ScheduleProcess),
    // and reading stops meanwhile once pending_ is full.
    ScheduleProcess();
  }
  if (socket_.input_ended() && !in_request() && pending_.empty()) {
    // The client half-closed and every complete request it sent is answered;
    // a partial one left in the codec can never complete.
    CloseWhenFlushed();
    return;
  }
  if (pending_.capacity() > kMaxPendingInput && pending_.empty()) std::string().swap(pending_);
  ReleaseIdleState();
  UpdateReading();
}

void Connection::OnRequestHead(StreamId id, RequestHead&& head) {
  server_.CountRequest();
  stream_id_ = id;
  if (burst_left_ > 0) --burst_left_;
  request_ = Request::kReceiving;
  request_version_minor_ = head.version_minor;
  request_keep_alive_ = head.keep_alive;
  body_out_ = head.method == "HEAD" ? BodyOut::kNone : BodyOut::kPlain;
  ArmReadTimer(head.HasBody() ? ReadTimer::kBodyIdle : ReadTimer::kNone);
  ++requests_;
  size_t max = server_.options().max_requests_per_connection;
  if ((max != 0 && requests_ >= max) || server_.draining()) CloseAfterResponse();
  StreamOptions opts{.request_timeout = server_.options().timeouts.request};
  stream_ = std::make_unique<Stream>(*this, server_.pipeline(), std::move(head), opts);
  server_.StreamStarted();
  stream_->Start();
}

void Connection::OnRequestBody(StreamId, std::string_view chunk) {
  if (read_timer_kind_ == ReadTimer::kBodyIdle) ArmReadTimer(ReadTimer::kBodyIdle);
  if (stream_ != nullptr) stream_->OnRequestBody(chunk);
}

void Connection::OnRequestTrailers(StreamId, HeaderMap&& trailers) {
  if (stream_ != nullptr) stream_->OnRequestTrailers(std::move(trailers));
}

void Connection::OnFieldDropped(std::string_view) { server_.CountUnderscoreHeaderDropped(); }

void Connection::OnRequestComplete(StreamId) {
  request_ = Request::kReceived;
  // Strict ordering: the next pipelined request is parsed only after this
  // request's response has been produced.
  codec().Pause();
  if (read_timer_kind_ == ReadTimer::kBodyIdle || read_timer_kind_ == ReadTimer::kLinger) {
    ArmReadTimer(ReadTimer::kNone);
  }
  if (stream_ != nullptr) {
    stream_->OnRequestEnd();
  } else {
    EndCycle();  // answered before the request's end
  }
}

void Connection::OnCodecError(const CodecError& error) {
  if (error.flag == ResponseFlagName(ResponseFlag::kUnderscoreInHeader))
    server_.CountUnderscoreRequestRejected();
  if (stream_ != nullptr) {
    if (stream_->response_started()) {
      // Part of a response is on the wire: all we can do is cut it.
      stream_->Abort(RequestOutcome::kError);
      Close();
      return;
    }
    // Typically a broken body (bad chunk, over the size limit) after the head
    // started a stream. Its filters see an error; the client still gets the
    // codec's status, so the stream must not close the connection first.
    AbortStreamForErrorReply(RequestOutcome::kError, error.status, error.flag);
    if (closed()) return;
  } else if (stream_done()) {
    // The response went out already; the rest of the input is garbage.
    CloseWhenFlushed();
    return;
  }
  SendErrorAndClose(error.status, error.flag, error.reason);
}

void Connection::AbortStreamForErrorReply(RequestOutcome outcome, int status,
                                          std::string_view flag) {
  error_reply_pending_ = true;
  stream_->Abort(outcome, status,
                 flag.empty() ? ResponseFlagName(ResponseFlag::kBadRequest) : flag);
  error_reply_pending_ = false;
}

void Connection::SendErrorAndClose(int status, std::string_view flag, std::string_view reason) {
  LocalReply reply = LocalReply::Json(
      status, flag.empty() ? ResponseFlagName(ResponseFlag::kBadRequest) : flag, reason);
  ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(reply.headers);
  head.headers.Add("connection", "close");
  AddDate(head);
  CloseAfterResponse();
  // Nothing after an error is parsed, whatever arrives before the close.
  codec().Pause();
  TakeOutputBuffer();
  codec().EncodeResponseHead(stream_id_, head, BodyFraming::kContentLength, reply.body.size(),
                             out_);
  out_.append(reply.body);
  Flush();
  CloseWhenFlushed();
}

void Connection::WriteResponseHead(ResponseHead& head, std::optional<uint64_t> body_length) {
  if (closed()) return;
  // A body of unknown length is chunked for HTTP/1.1 clients; an HTTP/1.0
  // client can only see its end as the connection closing.
  bool close_delimited = !body_length.has_value() && request_version_minor_ == 0;
  if (close_delimited) CloseAfterResponse();
  bool keep_alive = request_keep_alive_ && life_ == Life::kOpen && !server_.draining();
  if (stream_ != nullptr && stream_->replied_before_request_end() &&
      request_ != Request::kReceived && stream_->head().HasBody()) {
    // The client is still sending a body we will not use: drain briefly, then close.
    keep_alive = false;
  }
  if (!keep_alive) CloseAfterResponse();

  if (head.status == 101 && stream_ != nullptr && stream_->tunneling()) {
    // The connection now belongs to the upgraded protocol: the head goes out
    // as the upstream chose it and the codec is never fed again.
    tunnel_ = true;
    CloseAfterResponse();
    body_out_ = BodyOut::kPlain;
    ArmReadTimer(ReadTimer::kNone);
    head.version_minor = 1;
    TakeOutputBuffer();
    codec().EncodeResponseHead(stream_id_, head, BodyFraming::kNone, 0, out_);
    Flush();
    ScheduleProcess();  // client bytes that arrived behind the request
    return;
  }
  // Edited in place: copying every header of every response costs more.
  head.version_minor = 1;
  if (head.status >= 200) AddDate(head);
  head.headers.Remove("connection");
  if (!keep_alive) {
    head.headers.Add("connection", "close");
  } else if (request_version_minor_ == 0) {
    head.headers.Add("connection", "keep-alive");
  }
  BodyFraming framing = BodyFraming::kContentLength;
  if (head.status < 200 || head.status == 204 || head.status == 304) {
    framing = BodyFraming::kNone;
    body_out_ = BodyOut::kNone;
  } else if (body_out_ == BodyOut::kChunked) {
    body_out_ = BodyOut::kPlain;
  }
  if (framing == BodyFraming::kContentLength && !body_length.has_value()) {
    if (body_out_ == BodyOut::kNone) {
      framing = BodyFraming::kNone;  // HEAD of an unknown-length body
    } else if (close_delimited) {
      framing = BodyFraming::kClose;
    } else {
      framing = BodyFraming::kChunked;
      body_out_ = BodyOut::kChunked;
    }
  }
  TakeOutputBuffer();
  codec().EncodeResponseHead(stream_id_, head, framing, body_length.value_or(0), out_);
  if (body_out_ == BodyOut::kNone || body_length == 0) {
    Flush();
  } else {
    ScheduleFlush();
  }
}

void Connection::AddDate(ResponseHead& head) {
  // RFC 9110 6.6.1: an origin with a clock sends Date on its own responses,
  // and a proxy adds one to a response that arrives without; an upstream's
  // own Date is passed on unchanged.
  if (head.headers.Has("date")) return;
  HeaderMapAccess::AddChecked(head.headers, "date", server_.Date());
}

void Connection::WriteResponseTrailers(const HeaderMap& trailers) {
  // Valid until the WriteResponseBody that follows, which consumes it.
  if (body_out_ == BodyOut::kChunked) trailers_out_ = &trailers;
}

void Connection::WriteResponseBody(std::string_view data, bool end_stream) {
  if (closed()) return;
  // The codec frames the body as its head announced (chunks or as is).
  if (body_out_ != BodyOut::kNone) {
    codec().EncodeResponseBody(stream_id_, data, end_stream, trailers_out_, out_);
  }
  if (end_stream) trailers_out_ = nullptr;
  if (end_stream || out_.size() >= kOutputHighWatermark || tunnel_) {
    Flush();
  } else {
    // A streamed body may pause for a long time (events, long polls): what
    // arrived goes out now, not when more follows.
    ScheduleFlush();
  }
  if (!closed() && !output_blocked_ && socket_.above_high_watermark() && stream_ != nullptr) {
    // A slow reader: the upstream read stops until the queue drains.
    output_blocked_ = true;
    stream_->OnDownstreamWatermark(true);
  }
}

ProxyWorker* Connection::proxy(const Pipeline& pipeline) { return server_.ProxyFor(pipeline); }

void Connection::TakeOutputBuffer() {
  // An idle connection gave its buffer back (ReleaseIdleState); one that a
  // finished response left behind is as good as any.
  if (out_.empty() && out_.capacity() < kSpareOutputMin) SpareOutput::Take(out_);
}

void Connection::ScheduleFlush() {
  if (flush_scheduled_ || closed() || out_.empty()) return;
  flush_scheduled_ = true;
  // Same lifetime argument as ScheduleProcess.
  dispatcher().Post([this] {
    flush_scheduled_ = false;
    if (!closed()) Flush();
  });
}

void Connection::Flush() {
  if (out_.empty()) return;
  Write(out_);
  out_.clear();
  if (out_.capacity() > kOutputHighWatermark) std::string().swap(out_);
}

void Connection::Write(std::string_view data) {
  if (closed() || data.empty()) return;
  burst_written_ += data.size();
  if (!socket_.Write(data)) {
    // The client reset the connection or stopped taking bytes.
    if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
    Close();
    return;
  }
  if (socket_.write_queue_bytes() == 0) return;
  if (send_timer_ == nullptr) {
    // Created on the first write the kernel did not take at once: most
    // connections never need one.
    send_timer_ = dispatcher().CreateTimer([this] { OnSendTimer(); });
  }
  if (!send_timer_->enabled() && server_.options().timeouts.send > absl::ZeroDuration()) {
    send_progress_mark_ = socket_.UnsentBytes();
    send_timer_->Enable(server_.options().timeouts.send);
  }
}

void Connection::OnSendTimer() {
  // A large write completes only when all of it is sent; a client that is
  // reading, however slowly, has made the unsent bytes shrink meanwhile.
  size_t unsent = socket_.UnsentBytes();
  if (unsent < send_progress_mark_) {
    send_progress_mark_ = unsent;
    send_timer_->Enable(server_.options().timeouts.send);
    return;
  }
  // The client stopped reading our response.
  if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kTimeout);
  Close();
}

void Connection::OnSocketSent() {
  if (socket_.write_queue_bytes() == 0) {
    send_timer_->Disable();
  } else if (server_.options().timeouts.send > absl::ZeroDuration()) {
    send_progress_mark_ = socket_.UnsentBytes();
    send_timer_->Enable(server_.options().timeouts.send);  // progress: restart the clock
  }
  // A pipelined request may have been waiting for output to drain.
  if (!in_request() && life_ < Life::kClosing &&
      socket_.write_queue_bytes() < kOutputHighWatermark && codec_ != nullptr && codec_->paused()) {
    ScheduleProcess();
  }
}

void Connection::OnSocketBelowLowWatermark() {
  if (!output_blocked_) return;
  output_blocked_ = false;
  if (stream_ != nullptr) stream_->OnDownstreamWatermark(false);
}

void Connection::SetRequestBodyPaused(bool paused) {
  body_paused_ = paused;
  if (tunnel_) {
    if (!paused) ScheduleProcess();
    return;
  }
  if (paused) {
    codec().SetStreamReadEnabled(stream_id_, false);
    if (read_timer_kind_ == ReadTimer::kBodyIdle) ArmReadTimer(ReadTimer::kNone);
  } else if (request_ != Request::kReceived) {
    codec().SetStreamReadEnabled(stream_id_, true);
    if (stream_ != nullptr && stream_->head().HasBody()) ArmReadTimer(ReadTimer::kBodyIdle);
    ScheduleProcess();
  }
}

void Connection::SendContinue() {
  TakeOutputBuffer();
  codec().EncodeContinue(stream_id_, out_);
  Flush();
}

void Connection::OnStreamDone(Stream& stream) {
  server_.StreamFinished();
  bool responded = stream.response_started();
  bool complete = stream.response_complete();
  output_blocked_ = false;
  // stream_done() from here on.
  server_.uv_dispatcher().DeferredDelete(std::move(stream_));
  if (tunnel_) {
    // A tunnel ends the connection, whichever side closed it.
    Flush();
    CloseWhenFlushed();
    return;
  }
  if (responded && !complete) {
    // A response cut short (upstream reset or truncation): no fake end is
    // sent; what was written goes out and the connection closes.
    CloseAfterResponse();
    Flush();
    CloseWhenFlushed();
    return;
  }
  if (!responded) {
    // Aborted or timed out before a response: close, unless the caller is
    // about to send its own error response (it closes after that).
    if (!error_reply_pending_) Close();
    return;
  }
  if (request_ == Request::kReceived) {
    EndCycle();
    return;
  }
  // Replied before the request ended: discard the rest of the body (bounded by
  // the body limit and the linger timer), then close.
  codec().Resume();
  ArmReadTimer(ReadTimer::kLinger);
  ScheduleProcess();
}

void Connection::EndCycle() {
  request_ = Request::kNone;
  body_out_ = BodyOut::kPlain;
  if (life_ != Life::kOpen || (socket_.input_ended() && pending_.empty())) {
    CloseWhenFlushed();
    return;
  }
  // Only a connection that has come back for more keeps its idle state a
  // while: most one-off connections would hold it for nothing.
  ArmReadTimer(!pending_.empty() ? ReadTimer::kHeader
               : requests_ > 1   ? ReadTimer::kIdleWait
                                 : ReadTimer::kKeepalive);
  if (!pending_.empty()) request_ = Request::kArriving;
  // Inside the codec's callback (a response the gateway produced itself), the
  // feed loop that called in decides whether the next request is parsed.
  if (in_process_) return;
  // The response came later (an upstream, a paused filter): the loop turned
  // since this request started, so the connection gets a fresh burst.
  StartBurst();
  if (socket_.write_queue_bytes() < kOutputHighWatermark) {
    if (codec_ != nullptr) codec_->Resume();
    if (pending_.empty() && (codec_ == nullptr || !codec_->paused())) {
      // Nothing buffered to parse: what ProcessInput would do on the next
      // turn, done now.
      ReleaseIdleState();
      UpdateReading();
      return;
    }
    ScheduleProcess();
  }
  ReleaseIdleState();
}

void Connection::ArmReadTimer(ReadTimer which) {
  read_timer_kind_ = which;
  const ServerTimeouts& t = server_.options().timeouts;
  absl::Duration d = absl::ZeroDuration();
  switch (which) {
    case ReadTimer::kNone:
      break;
    case ReadTimer::kHeader:
      d = t.header;
      break;
    case ReadTimer::kBodyIdle:
      d = t.body_idle;
      break;
    case ReadTimer::kIdleWait:
      if (t.keepalive_idle <= kIdleStateHold) {
        read_timer_kind_ = ReadTimer::kKeepalive;
        d = t.keepalive_idle;
      } else {
        d = kIdleStateHold;
      }
      break;
    case ReadTimer::kKeepalive:
      d = t.keepalive_idle;
      break;
    case ReadTimer::kLinger:
      d = kLingerTimeout;
      break;
  }
  if (d > absl::ZeroDuration()) {
    read_timer_->Enable(d);
  } else {
    read_timer_->Disable();
  }
}

void Connection::OnReadTimer() {
  switch (read_timer_kind_) {
    case ReadTimer::kHeader:
      if (request_ == Request::kArriving || requests_ == 0) {
        if (request_ == Request::kArriving || !pending_.empty()) {
          SendErrorAndClose(408, ResponseFlagName(ResponseFlag::kHeaderTimeout),
                            "request header timeout");
          return;
        }
      }
      Close();
      return;
    case ReadTimer::kBodyIdle:
      if (stream_ != nullptr && !stream_->response_started()) {
        AbortStreamForErrorReply(RequestOutcome::kTimeout, 408,
                                 ResponseFlagName(ResponseFlag::kBodyTimeout));
        if (closed()) return;
        SendErrorAndClose(408, ResponseFlagName(ResponseFlag::kBodyTimeout),
                          "request body timeout");
        return;
      }
      Close();
      return;
    case ReadTimer::kIdleWait: {
      // Still idle: free the codec and buffers, then wait out the rest.
      read_timer_kind_ = ReadTimer::kKeepalive;
      FreeIdleState();
      read_timer_->Enable(server_.options().timeouts.keepalive_idle - kIdleStateHold);
      return;
    }
    case ReadTimer::kKeepalive:
    case ReadTimer::kLinger:
      CloseWhenFlushed();
      return;
    case ReadTimer::kNone:
      return;
  }
}

void Connection::Drain() {
  CloseAfterResponse();
  if (!in_request() && pending_.empty()) CloseWhenFlushed();
}

void Connection::CloseWhenFlushed() {
  if (closed()) return;
  if (socket_.CloseAfterDrain()) {
    Close();  // nothing was queued
    return;
  }
  life_ = Life::kClosing;  // the socket reports the end (OnSocketClosed)
}

void Connection::Close() {
  if (closed()) return;
  life_ = Life::kClosed;
  if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
  if (read_timer_) read_timer_->Disable();
  if (send_timer_) send_timer_->Disable();
  socket_.Close();
  server_.OnConnectionClosed(this);
}

}  // namespace gateway::internal
