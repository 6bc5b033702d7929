#include "core/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h>  // SIOCOUTQ
#endif

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

// A queued write. Owned by the connection's list until libuv reports it done;
// if the connection dies first, `owner` is cleared and the callback frees it.
struct Connection::WriteReq {
  uv_write_t req;
  Connection* owner;
  std::string data;
};

Connection::Connection(GatewayImpl& server, UvHandle<uv_tcp_t> tcp, uint64_t id)
    : server_(server), tcp_(std::move(tcp)) {
  tcp_->data = this;
  info_.id = id;
  sockaddr_storage ss;
  int len = sizeof(ss);
  if (uv_tcp_getpeername(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    FillAddress(ss, info_.peer_address, info_.peer_port);
  }
  len = sizeof(ss);
  if (uv_tcp_getsockname(tcp_.get(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    FillAddress(ss, info_.local_address, info_.local_port);
  }
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
  if (in_process_ || closed_ || tunnel_ || in_request_ || head_bytes_seen_ || close_when_flushed_ ||
      close_after_response_ || !pending_.empty() || write_queue_bytes_ >= kOutputHighWatermark) {
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
  for (WriteReq* w : writes_) w->owner = nullptr;
  if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
}

Dispatcher& Connection::dispatcher() { return server_.uv_dispatcher(); }

void Connection::Start() {
  uv_tcp_nodelay(tcp_.get(), 1);
  read_timer_ = dispatcher().CreateTimer([this] { OnReadTimer(); });
  ArmReadTimer(ReadTimer::kHeader);
  UpdateReading();
}

void Connection::UpdateReading() {
  if (closed_) return;
  // Once closing, more input is never parsed, so it is not read either.
  bool want = !peer_eof_ && !close_when_flushed_ && pending_.size() < kMaxPendingInput;
  if (want && !reading_) {
    if (uv_read_start(tcp_.stream(), &Connection::OnAlloc, &Connection::OnRead) == 0) {
      reading_ = true;
    }
  } else if (!want && reading_) {
    uv_read_stop(tcp_.stream());
    reading_ = false;
  }
}

void Connection::OnAlloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  if (self == nullptr) {
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  *buf = uv_buf_init(self->server_.read_buffer(), GatewayImpl::kReadBufferSize);
}

void Connection::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (self == nullptr || self->closed_) return;
  if (nread > 0) {
    self->HandleRead(std::string_view(buf->base, static_cast<size_t>(nread)));
  } else if (nread == UV_EOF) {
    self->HandleEof();
  } else if (nread < 0) {
    if (self->stream_ != nullptr && !self->stream_->done()) {
      self->stream_->Abort(RequestOutcome::kClientGone);
    }
    self->Close();
  }
}

void Connection::HandleRead(std::string_view data) {
  if (tunnel_) {
    if (pending_.empty() && !body_paused_ && stream_ != nullptr && !stream_done_) {
      stream_->OnTunnelData(data);
    } else {
      pending_.append(data);
    }
    UpdateReading();
    return;
  }
  if (!head_bytes_seen_ && !in_request_) {
    head_bytes_seen_ = true;
    if (read_timer_kind_ == ReadTimer::kIdleWait || read_timer_kind_ == ReadTimer::kKeepalive) {
      ArmReadTimer(ReadTimer::kHeader);
    }
  }
  if (pending_.empty() && !in_process_ && !process_scheduled_) {
    // Fast path: parse straight from the loop's read buffer. The connection
    // had caught up with its input, so it gets a fresh burst.
    StartBurst();
    size_t consumed = FeedCodec(data);
    if (closed_) return;
    if (consumed < data.size()) pending_.append(data.substr(consumed));
  } else {
    pending_.append(data);
  }
  ProcessInput();
}

void Connection::HandleEof() {
  peer_eof_ = true;
  UpdateReading();
  if (tunnel_) {
    // Closing one side of a tunnel closes both, after what the client sent.
    if (stream_ != nullptr && !stream_done_) {
      if (!pending_.empty()) stream_->OnTunnelData(std::exchange(pending_, {}));
      if (stream_ != nullptr && !stream_done_) stream_->EndTunnel();
    }
    CloseWhenFlushed();
    return;
  }
  // A half-close after complete requests: answer them all (the one in
  // progress and any pipelined behind it), then close (EndCycle/ProcessInput).
  if (in_request_ && message_complete_ && stream_ != nullptr && !stream_done_) return;
  if (!in_request_ && !pending_.empty()) return;  // waiting for the output to drain
  if (in_request_ && !stream_done_ && stream_ != nullptr) {
    stream_->Abort(RequestOutcome::kClientGone);
  }
  if (write_queue_bytes_ > 0) {
    CloseWhenFlushed();
  } else {
    Close();
  }
}

void Connection::ScheduleProcess() {
  if (process_scheduled_ || closed_) return;
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
  while (!pending_.empty() && !body_paused_ && stream_ != nullptr && !stream_done_ && !closed_) {
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
  return !close_when_flushed_ && write_queue_bytes_ < kOutputHighWatermark && !BurstSpent();
}

size_t Connection::FeedCodec(std::string_view data) {
  size_t consumed = 0;
  in_process_ = true;
  while (!closed_) {
    if (!in_request_ && codec_ != nullptr && codec_->paused()) {
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
    if (closed_) break;
    consumed += r.consumed;
    if (r.consumed == 0) break;
  }
  in_process_ = false;
  return consumed;
}

void Connection::ProcessInput() {
  if (in_process_ || closed_) return;
  if (tunnel_) {
    PumpTunnel();
    return;
  }
  size_t consumed = FeedCodec(pending_);
  if (closed_) return;
  pending_.erase(0, consumed);
  if (!in_request_ && !pending_.empty() && BurstSpent() && !close_when_flushed_ &&
      write_queue_bytes_ < kOutputHighWatermark) {
    // The burst is spent: the rest waits for a later turn (ScheduleProcess),
    // and reading stops meanwhile once pending_ is full.
    ScheduleProcess();
  }
  if (peer_eof_ && !in_request_ && pending_.empty()) {
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
  in_request_ = true;
  message_complete_ = false;
  stream_done_ = false;
  head_bytes_seen_ = false;
  request_version_minor_ = head.version_minor;
  request_keep_alive_ = head.keep_alive;
  suppress_body_ = head.method == "HEAD";
  ArmReadTimer(head.HasBody() ? ReadTimer::kBodyIdle : ReadTimer::kNone);
  ++requests_;
  size_t max = server_.options().max_requests_per_connection;
  if ((max != 0 && requests_ >= max) || server_.draining() || draining_) {
    close_after_response_ = true;
  }
  StreamOptions opts{.request_timeout = server_.options().timeouts.request};
  stream_ = std::make_unique<Stream>(*this, server_.pipeline(), std::move(head), opts);
  server_.StreamStarted();
  stream_->Start();
}

void Connection::OnRequestBody(StreamId, std::string_view chunk) {
  if (read_timer_kind_ == ReadTimer::kBodyIdle) ArmReadTimer(ReadTimer::kBodyIdle);
  if (stream_ != nullptr && !stream_done_) stream_->OnRequestBody(chunk);
}

void Connection::OnRequestTrailers(StreamId, HeaderMap&& trailers) {
  if (stream_ != nullptr && !stream_done_) stream_->OnRequestTrailers(std::move(trailers));
}

void Connection::OnFieldDropped(std::string_view) { server_.CountUnderscoreHeaderDropped(); }

void Connection::OnRequestComplete(StreamId) {
  message_complete_ = true;
  // Strict ordering: the next pipelined request is parsed only after this
  // request's response has been produced.
  codec().Pause();
  if (read_timer_kind_ == ReadTimer::kBodyIdle || read_timer_kind_ == ReadTimer::kLinger) {
    ArmReadTimer(ReadTimer::kNone);
  }
  if (stream_ != nullptr && !stream_done_) {
    stream_->OnRequestEnd();
  } else if (stream_done_) {
    EndCycle();
  }
}

void Connection::OnCodecError(const CodecError& error) {
  if (error.flag == "underscore_in_header") server_.CountUnderscoreRequestRejected();
  if (stream_ != nullptr && !stream_done_) {
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
    if (closed_) return;
  } else if (in_request_ && stream_done_) {
    // The response went out already; the rest of the input is garbage.
    CloseWhenFlushed();
    return;
  }
  SendErrorAndClose(error.status, error.flag, error.reason);
}

void Connection::AbortStreamForErrorReply(RequestOutcome outcome, int status,
                                          std::string_view flag) {
  error_reply_pending_ = true;
  stream_->Abort(outcome, status, flag.empty() ? "bad_request" : flag);
  error_reply_pending_ = false;
}

void Connection::SendErrorAndClose(int status, std::string_view flag, std::string_view reason) {
  LocalReply reply = LocalReply::Json(status, flag.empty() ? "bad_request" : flag, reason);
  ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(reply.headers);
  head.headers.Add("connection", "close");
  AddDate(head);
  close_after_response_ = true;
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
  if (closed_) return;
  // A body of unknown length is chunked for HTTP/1.1 clients; an HTTP/1.0
  // client can only see its end as the connection closing.
  bool close_delimited = !body_length.has_value() && request_version_minor_ == 0;
  if (close_delimited) close_after_response_ = true;
  bool keep_alive = request_keep_alive_ && !close_after_response_ && !server_.draining();
  if (stream_ != nullptr && stream_->replied_before_request_end() && !message_complete_ &&
      stream_->head().HasBody()) {
    // The client is still sending a body we will not use: drain briefly, then close.
    keep_alive = false;
  }
  if (!keep_alive) close_after_response_ = true;

  if (head.status == 101 && stream_ != nullptr && stream_->tunneling()) {
    // The connection now belongs to the upgraded protocol: the head goes out
    // as the upstream chose it and the codec is never fed again.
    tunnel_ = true;
    close_after_response_ = true;
    suppress_body_ = false;
    chunked_out_ = false;
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
    suppress_body_ = true;
  }
  chunked_out_ = false;
  if (framing == BodyFraming::kContentLength && !body_length.has_value()) {
    if (suppress_body_) {
      framing = BodyFraming::kNone;  // HEAD of an unknown-length body
    } else if (close_delimited) {
      framing = BodyFraming::kClose;
    } else {
      framing = BodyFraming::kChunked;
      chunked_out_ = true;
    }
  }
  TakeOutputBuffer();
  codec().EncodeResponseHead(stream_id_, head, framing, body_length.value_or(0), out_);
  if (suppress_body_ || body_length == 0) {
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
  if (chunked_out_) trailers_out_ = &trailers;
}

void Connection::WriteResponseBody(std::string_view data, bool end_stream) {
  if (closed_) return;
  if (!suppress_body_) {
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
  if (!closed_ && !output_blocked_ && write_queue_bytes_ > kOutputBlockedWatermark &&
      stream_ != nullptr && !stream_done_) {
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
  if (flush_scheduled_ || closed_ || out_.empty()) return;
  flush_scheduled_ = true;
  // Same lifetime argument as ScheduleProcess.
  dispatcher().Post([this] {
    flush_scheduled_ = false;
    if (!closed_) Flush();
  });
}

void Connection::Flush() {
  if (out_.empty()) return;
  Write(out_);
  out_.clear();
  if (out_.capacity() > kOutputHighWatermark) std::string().swap(out_);
}

void Connection::Write(std::string_view data) {
  if (closed_ || data.empty()) return;
  burst_written_ += data.size();
  if (write_queue_bytes_ == 0) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), data.size());
    int n = uv_try_write(tcp_.stream(), &buf, 1);
    if (n == static_cast<int>(data.size())) return;
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
      Close();
      return;
    }
  }
  auto* w = new WriteReq{uv_write_t{}, this, std::string(data)};
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), w->data.size());
  int rc = uv_write(&w->req, tcp_.stream(), &buf, 1, [](uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    Connection* owner = w->owner;
    if (owner != nullptr) owner->OnWriteDone(w, status);
    delete w;
  });
  if (rc != 0) {
    delete w;
    Close();
    return;
  }
  writes_.push_back(w);
  write_queue_bytes_ += w->data.size();
  if (send_timer_ == nullptr) {
    // Created on the first write the kernel did not take at once: most
    // connections never need one.
    send_timer_ = dispatcher().CreateTimer([this] {
      // A large write completes only when all of it is sent; a client that is
      // reading, however slowly, has made the unsent bytes shrink meanwhile.
      size_t queued = UnsentBytes();
      if (queued < send_progress_mark_) {
        send_progress_mark_ = queued;
        send_timer_->Enable(server_.options().timeouts.send);
        return;
      }
      // The client stopped reading our response.
      if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kTimeout);
      Close();
    });
  }
  if (!send_timer_->enabled() && server_.options().timeouts.send > absl::ZeroDuration()) {
    send_progress_mark_ = UnsentBytes();
    send_timer_->Enable(server_.options().timeouts.send);
  }
}

size_t Connection::UnsentBytes() const {
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

void Connection::OnWriteDone(WriteReq* req, int status) {
  write_queue_bytes_ -= req->data.size();
  std::erase(writes_, req);
  if (status < 0) {
    if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
    Close();
    return;
  }
  if (write_queue_bytes_ == 0) {
    send_timer_->Disable();
    if (close_when_flushed_) {
      Close();
      return;
    }
  } else if (server_.options().timeouts.send > absl::ZeroDuration()) {
    send_progress_mark_ = UnsentBytes();
    send_timer_->Enable(server_.options().timeouts.send);  // progress: restart the clock
  }
  if (output_blocked_ && write_queue_bytes_ < kOutputHighWatermark) {
    output_blocked_ = false;
    if (stream_ != nullptr && !stream_done_) stream_->OnDownstreamWatermark(false);
  }
  // A pipelined request may have been waiting for output to drain.
  if (!in_request_ && !close_when_flushed_ && write_queue_bytes_ < kOutputHighWatermark &&
      codec_ != nullptr && codec_->paused()) {
    ScheduleProcess();
  }
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
  } else if (!message_complete_) {
    codec().SetStreamReadEnabled(stream_id_, true);
    if (stream_ != nullptr && stream_->head().HasBody()) {
      ArmReadTimer(stream_done_ ? ReadTimer::kLinger : ReadTimer::kBodyIdle);
    }
    ScheduleProcess();
  }
}

void Connection::SendContinue() {
  TakeOutputBuffer();
  codec().EncodeContinue(stream_id_, out_);
  Flush();
}

void Connection::OnStreamDone(Stream& stream) {
  stream_done_ = true;
  server_.StreamFinished();
  bool responded = stream.response_started();
  bool complete = stream.response_complete();
  output_blocked_ = false;
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
    close_after_response_ = true;
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
  if (message_complete_) {
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
  in_request_ = false;
  message_complete_ = false;
  stream_done_ = false;
  suppress_body_ = false;
  if (close_after_response_ || (peer_eof_ && pending_.empty())) {
    CloseWhenFlushed();
    return;
  }
  // Only a connection that has come back for more keeps its idle state a
  // while: most one-off connections would hold it for nothing.
  ArmReadTimer(!pending_.empty() ? ReadTimer::kHeader
               : requests_ > 1   ? ReadTimer::kIdleWait
                                 : ReadTimer::kKeepalive);
  head_bytes_seen_ = !pending_.empty();
  // Inside the codec's callback (a response the gateway produced itself), the
  // feed loop that called in decides whether the next request is parsed.
  if (in_process_) return;
  // The response came later (an upstream, a paused filter): the loop turned
  // since this request started, so the connection gets a fresh burst.
  StartBurst();
  if (write_queue_bytes_ < kOutputHighWatermark) {
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
      if (head_bytes_seen_ || requests_ == 0) {
        if (head_bytes_seen_ || !pending_.empty()) {
          SendErrorAndClose(408, "header_timeout", "request header timeout");
          return;
        }
      }
      Close();
      return;
    case ReadTimer::kBodyIdle:
      if (stream_ != nullptr && !stream_done_ && !stream_->response_started()) {
        AbortStreamForErrorReply(RequestOutcome::kTimeout, 408, "body_timeout");
        if (closed_) return;
        SendErrorAndClose(408, "body_timeout", "request body timeout");
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
  draining_ = true;
  close_after_response_ = true;
  if (!in_request_ && pending_.empty()) CloseWhenFlushed();
}

void Connection::CloseWhenFlushed() {
  if (write_queue_bytes_ == 0) {
    Close();
  } else {
    close_when_flushed_ = true;
    if (reading_) {
      uv_read_stop(tcp_.stream());
      reading_ = false;
    }
  }
}

void Connection::Close() {
  if (closed_) return;
  closed_ = true;
  if (stream_ != nullptr && !stream_->done()) stream_->Abort(RequestOutcome::kClientGone);
  if (read_timer_) read_timer_->Disable();
  if (send_timer_) send_timer_->Disable();
  for (WriteReq* w : writes_) w->owner = nullptr;
  writes_.clear();
  write_queue_bytes_ = 0;
  tcp_.Close();
  server_.OnConnectionClosed(this);
}

}  // namespace gateway::internal
