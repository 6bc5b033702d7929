#include "proxy/upstream_attempt.h"

#include <utility>

#include "proxy/forwarding.h"

namespace gateway::internal {
namespace {

CodecLimits UpstreamLimits() {
  CodecLimits limits;
  limits.max_header_bytes = 64 * 1024;
  limits.max_header_count = 200;
  return limits;
}

}  // namespace

std::string& EncodeScratch() {
  thread_local std::string scratch;
  scratch.clear();
  // A replayed body may have made it large; keep what a head needs.
  if (scratch.capacity() > 64 * 1024) std::string().swap(scratch);
  return scratch;
}

UpstreamAttempt::UpstreamAttempt(Dispatcher& dispatcher, const RouteSpec& route,
                                 UpstreamAttemptCallbacks& callbacks)
    : dispatcher_(dispatcher), route_(route), callbacks_(callbacks) {}

// The owner ends the try before it goes (UpstreamRequest's destructor does).
UpstreamAttempt::~UpstreamAttempt() = default;

void UpstreamAttempt::Start(HostPtr host, UpstreamPool& pool, const ClientCodecFactory& codecs,
                            bool request_complete) {
  codecs_ = &codecs;
  send_ = Send::kConnecting;
  receive_ = Receive::kNothing;
  host_ = std::move(host);
  host_->AddActiveRequests(1);
  if (request_complete) ArmTryTimer();
  pending_ = pool.Acquire(host_, [this](PoolResult r) { OnPoolReady(std::move(r)); });
}

void UpstreamAttempt::End(bool reusable) {
  pending_.Cancel();
  if (try_timer_ != nullptr) try_timer_->Disable();
  if (response_timer_ != nullptr) response_timer_->Disable();
  if (idle_timer_ != nullptr) idle_timer_->Disable();
  if (lease_) {
    lease_->SetCallbacks(nullptr);
    if (reusable) {
      lease_.Release();
    } else {
      lease_ = PoolLease();
    }
  }
  if (host_ != nullptr) {
    host_->AddActiveRequests(-1);
    host_.reset();
  }
  send_ = Send::kIdle;
}

void UpstreamAttempt::OnPoolReady(PoolResult result) {
  pending_.Detach();
  if (!result.ok()) {
    callbacks_.OnAttemptConnectFailed(result.failure, result.error);
    return;
  }
  lease_ = std::move(result.lease);
  lease_reused_ = lease_.reused();
  send_ = Send::kBody;
  if (codec_ != nullptr) retired_codecs_.push_back(std::move(codec_));
  codec_ = codecs_->CreateClientCodec(UpstreamLimits(), *this);
  lease_->SetCallbacks(this);
  if (!read_enabled_) lease_->SetReadEnabled(false);
  callbacks_.OnAttemptConnected();
}

void UpstreamAttempt::Write(std::string_view data) {
  written_ += data.size();
  lease_->Write(data);
}

bool UpstreamAttempt::SendBody(std::string_view data) {
  if (data.empty() || !lease_) return false;
  bool was_queued = lease_->write_queue_bytes() > 0;
  std::string& out = EncodeScratch();
  const bool framed = codec_->EncodeRequestBody(stream_id_, data, false, nullptr, out);
  if (!out.empty()) Write(out);
  if (!framed) Write(data);  // the body as is (Content-Length): no copy
  // Bytes the upstream has yet to take start its idle clock; bytes queued
  // behind others it has not taken yet are no progress of its own.
  if (!was_queued) ArmIdleTimer();
  return true;
}

void UpstreamAttempt::FinishRequest(bool has_body, const HeaderMap* trailers) {
  if (!lease_) return;
  if (has_body) {
    std::string& out = EncodeScratch();
    // No data, so nothing to write after `out` whatever the answer.
    static_cast<void>(codec_->EncodeRequestBody(stream_id_, {}, true, trailers, out));
    if (!out.empty()) Write(out);
  }
  MarkRequestSent();
  ArmIdleTimer();  // the upstream owes the answer now, no longer the client its body
}

void UpstreamAttempt::MarkRequestSent() {
  send_ = Send::kComplete;
  ArmResponseTimer();
}

bool UpstreamAttempt::SendTunnel(std::string_view data) {
  if (!tunnel() || !lease_ || data.empty()) return false;
  ArmIdleTimer();
  Write(data);
  return true;
}

void UpstreamAttempt::SetReadEnabled(bool enabled) {
  // The stream re-states this after every step of the response; only a
  // change matters (a try's lease takes the current state when it comes).
  if (enabled == read_enabled_) return;
  read_enabled_ = enabled;
  if (lease_) lease_->SetReadEnabled(enabled);
  // A slow client is not the upstream's fault: no idle clock while paused.
  if (!enabled && idle_timer_ != nullptr) idle_timer_->Disable();
  if (enabled) ArmIdleTimer();
}

void UpstreamAttempt::ArmTryTimer() {
  // From the whole request being in the gateway's hands: until then a slow
  // upload is the client's time, judged by its body idle timeout, and a
  // per-try timeout would blame the upstream for it.
  if (route_.upstream_timeouts.per_try <= absl::ZeroDuration()) return;
  if (try_timer_ == nullptr) {
    try_timer_ = dispatcher_.CreateTimer([this] {
      if (!active() || head_passed()) return;
      callbacks_.OnAttemptTimeout(AttemptTimeout::kPerTry);
    });
  }
  try_timer_->Enable(route_.upstream_timeouts.per_try);
}

void UpstreamAttempt::ArmResponseTimer() {
  if (head_passed() || route_.upstream_timeouts.response_headers <= absl::ZeroDuration()) return;
  if (response_timer_ == nullptr) {
    response_timer_ = dispatcher_.CreateTimer([this] {
      if (!active() || head_passed()) return;
      callbacks_.OnAttemptTimeout(AttemptTimeout::kResponseHead);
    });
  }
  response_timer_->Enable(route_.upstream_timeouts.response_headers);
}

bool UpstreamAttempt::WaitingForClient() const {
  return send_ == Send::kBody && !tunnel() && lease_->write_queue_bytes() == 0;
}

void UpstreamAttempt::ArmIdleTimer() {
  absl::Duration idle =
      tunnel() ? route_.upstream_timeouts.tunnel_idle : route_.upstream_timeouts.idle;
  // Zero means no idle timeout: that also stops an HTTP idle timer armed
  // before a 101 made the exchange a tunnel.
  if (!lease_ || !read_enabled_ || idle <= absl::ZeroDuration() || WaitingForClient()) {
    if (idle_timer_ != nullptr) idle_timer_->Disable();
    return;
  }
  if (!tunnel() && !head_passed() && response_timer_ != nullptr && response_timer_->enabled() &&
      route_.upstream_timeouts.response_headers <= idle) {
    // Until the response head the response timer, which is no later, watches
    // the upstream: most responses then finish without an idle timer at all.
    if (idle_timer_ != nullptr) idle_timer_->Disable();
    return;
  }
  if (idle_timer_ == nullptr) idle_timer_ = dispatcher_.CreateTimer([this] { OnIdleTimeout(); });
  idle_taken_mark_ = written_ - lease_->write_queue_bytes();
  idle_timer_->Enable(idle);
}

void UpstreamAttempt::OnIdleTimeout() {
  if (!lease_) return;
  // Queued request bytes that went out meanwhile are progress: an upstream
  // that reads a large upload slowly is not idle. Checked here rather than
  // per completed write, which would cost a timer update per write.
  if (written_ - lease_->write_queue_bytes() > idle_taken_mark_) {
    ArmIdleTimer();
    return;
  }
  callbacks_.OnAttemptTimeout(AttemptTimeout::kIdle);
}

void UpstreamAttempt::OnUpstreamWritable() {
  if (!active()) return;
  ArmIdleTimer();
  callbacks_.OnAttemptWritable();
}

void UpstreamAttempt::OnUpstreamData(std::string_view data) {
  if (!active() || codec_ == nullptr) return;
  if (receive_ == Receive::kNothing) receive_ = Receive::kHead;
  if (tunnel()) {
    ArmIdleTimer();
    callbacks_.OnAttemptBody(data);
    return;
  }
  pending_action_ = Action::kNone;
  FeedResult r = codec_->Feed(data);
  if (!active()) return;
  bool leftover = r.consumed < data.size();
  if (pending_action_ == Action::kTunnel) {
    // The codec stopped right after the 101: the rest is the upgraded protocol.
    pending_action_ = Action::kNone;
    receive_ = Receive::kTunnel;
    ArmIdleTimer();
    if (leftover) callbacks_.OnAttemptBody(data.substr(r.consumed));
    return;
  }
  if (pending_action_ == Action::kNone && leftover && !r.paused) {
    pending_action_ = Action::kError;
    error_flag_ = ResponseFlag::kUpstreamProtocolError;
  }
  HandlePendingAction(leftover, /*closed=*/false);
  // After the bytes are parsed: a response they completed needs no idle timer.
  if (active()) ArmIdleTimer();
}

void UpstreamAttempt::HandlePendingAction(bool leftover, bool closed) {
  Action action = std::exchange(pending_action_, Action::kNone);
  switch (action) {
    case Action::kNone:
    case Action::kTunnel:  // handled in OnUpstreamData, where the bytes after the 101 are
      return;
    case Action::kComplete: {
      // Reusable only after a complete, well-framed exchange with nothing
      // extra on the wire and the whole request written.
      bool clean = !leftover && !closed && upstream_keep_alive_ && send_ == Send::kComplete &&
                   lease_ && lease_->write_queue_bytes() == 0;
      callbacks_.OnAttemptComplete(clean, trailers_);
      return;
    }
    case Action::kRetryStatus:
      callbacks_.OnAttemptRetriableStatus(retry_status_);
      return;
    case Action::kError:
      callbacks_.OnAttemptError(error_flag_);
      return;
  }
}

void UpstreamAttempt::OnUpstreamClosed(bool reset) {
  if (!active()) return;
  if (tunnel()) {
    // Either side closing ends the tunnel; a reset is passed on as one.
    callbacks_.OnAttemptTunnelClosed(reset);
    return;
  }
  if (receive_ == Receive::kNothing) {
    callbacks_.OnAttemptClosedEarly(lease_reused_);
    return;
  }
  pending_action_ = Action::kNone;
  if (reset) {
    // Whatever the framing, a reset never ends a response: not even a
    // close-delimited one, which an orderly close would complete.
    pending_action_ = Action::kError;
    error_flag_ = ResponseFlag::kUpstreamReset;
    HandlePendingAction(false, /*closed=*/true);
    return;
  }
  codec_->FeedEof();
  if (!active()) return;
  if (pending_action_ == Action::kNone) {
    pending_action_ = Action::kError;
    error_flag_ = ResponseFlag::kUpstreamReset;
  }
  HandlePendingAction(false, /*closed=*/true);
}

void UpstreamAttempt::OnResponseHead(StreamId, ResponseHead&& head) {
  if (!active()) return;
  // Interim; the final one follows. A 101 is final: it ends HTTP on the connection.
  if (head.status >= 100 && head.status < 200 && head.status != 101) return;
  if (response_timer_ != nullptr) response_timer_->Disable();
  if (try_timer_ != nullptr) try_timer_->Disable();
  switch (callbacks_.OnAttemptResponseHead(head)) {
    case HeadVerdict::kReject:
      pending_action_ = Action::kError;
      error_flag_ = ResponseFlag::kUpstreamProtocolError;
      codec_->Pause();
      return;
    case HeadVerdict::kRetry:
      retry_status_ = head.status;
      pending_action_ = Action::kRetryStatus;
      codec_->Pause();
      return;
    case HeadVerdict::kPass:
      break;
  }
  if (head.status == 101) {
    receive_ = Receive::kUpgrading;
    callbacks_.OnAttemptHeadPassed(std::move(head), std::nullopt);
    return;
  }
  receive_ = Receive::kBody;
  upstream_keep_alive_ = head.keep_alive;
  std::optional<uint64_t> length;
  if (!head.chunked) length = head.content_length;
  if (head.status == 204 || head.status == 304) length = 0;
  callbacks_.OnAttemptHeadPassed(std::move(head), length);
}

void UpstreamAttempt::OnResponseBody(StreamId, std::string_view chunk) {
  if (!active() || !head_passed()) return;
  callbacks_.OnAttemptBody(chunk);
}

void UpstreamAttempt::OnResponseTrailers(StreamId, HeaderMap&& trailers) {
  if (!active() || !head_passed()) return;
  SanitizeTrailers(trailers);
  trailers_ = std::move(trailers);
}

void UpstreamAttempt::OnResponseComplete(StreamId) {
  if (!active() || !head_passed()) return;
  if (receive_ == Receive::kUpgrading) {
    pending_action_ = Action::kTunnel;  // the codec pauses itself after an upgrade
    return;
  }
  receive_ = Receive::kComplete;
  pending_action_ = Action::kComplete;
  // Anything after the response stays unconsumed: its presence makes the
  // connection unusable.
  codec_->Pause();
}

void UpstreamAttempt::OnCodecError(const CodecError& error) {
  if (!active()) return;
  pending_action_ = Action::kError;
  // The client codec names its errors from the flag table; anything else is
  // a protocol error.
  error_flag_ = ParseResponseFlag(error.flag).value_or(ResponseFlag::kUpstreamProtocolError);
}

}  // namespace gateway::internal
