#include "proxy/upstream_request.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proxy/forwarding.h"

namespace gateway::internal {
namespace {

// Request body buffered while no upstream connection is ready yet, before the
// stream is asked to stop delivering more.
constexpr size_t kPreConnectBuffer = 64 * 1024;

// Request bytes are encoded here and written at once; the kernel usually
// takes them all, so one buffer per thread serves every request without a
// malloc each. Never held across a call that could encode again.
std::string& Scratch() {
  thread_local std::string scratch;
  scratch.clear();
  // A replayed body may have made it large; keep what a head needs.
  if (scratch.capacity() > 64 * 1024) std::string().swap(scratch);
  return scratch;
}

CodecLimits UpstreamLimits() {
  CodecLimits limits;
  limits.max_header_bytes = 64 * 1024;
  limits.max_header_count = 200;
  return limits;
}

absl::string_view ProtocolName(absl::string_view token) {
  return token.substr(0, token.find('/'));  // "websocket" of "websocket/13"
}

// The client's Upgrade tokens that `allowed` names, comma-joined; "" if none.
std::string OfferedUpgrades(std::string_view value, const std::vector<std::string>& allowed) {
  std::string out;
  for (absl::string_view token :
       absl::StrSplit(absl::string_view(value.data(), value.size()), ',')) {
    token = absl::StripAsciiWhitespace(token);
    absl::string_view name = ProtocolName(token);
    // h2c would make the upstream speak HTTP/2 on a connection we parse as HTTP/1.1.
    if (name.empty() || absl::EqualsIgnoreCase(name, "h2c")) continue;
    bool ok = std::any_of(allowed.begin(), allowed.end(),
                          [&](const std::string& a) { return absl::EqualsIgnoreCase(a, name); });
    if (!ok) continue;
    if (!out.empty()) out.append(", ");
    out.append(token.data(), token.size());
  }
  return out;
}

}  // namespace

UpstreamRequest::UpstreamRequest(ProxyWorker& worker, const RouteMatch& match, RequestHead& head,
                                 const ConnectionInfo& peer, UpstreamResponseSink& sink)
    : worker_(worker),
      route_object_(*match.route),
      route_(match.route->spec()),
      head_(head),
      peer_(peer),
      cluster_(match.cluster()),
      sink_(sink) {
  // Found now (Start reports an unknown cluster) because the hash key needs
  // the cluster's balancer and the head before it is edited below.
  local_ = worker_.Get(cluster_);
  ComputeHashKey(match, peer);
  head_.path = match.rewritten_path;
  has_body_ = head_.HasBody();
  chunked_ = head_.chunked;
  request_complete_ = !has_body_;
  HeaderMap& h = head_.headers;
  if (head_.upgrade && !route_.upgrades.empty()) {
    upgrade_ = OfferedUpgrades(h.Get("upgrade").value_or(""), route_.upgrades);
  }
  // The gateway answered any expectation itself; framing is re-derived below.
  RemoveHopByHop(h, {"expect", "content-length"});
  if (!upgrade_.empty()) {
    h.Add("connection", "upgrade");
    h.Add("upgrade", upgrade_);
  }
  ApplyMutations(route_.request_headers, h);
  AddForwardingHeaders(worker_.options(), worker_.IsTrusted(peer.peer_address), peer,
                       head.authority, h);
}

UpstreamRequest::~UpstreamRequest() {
  done_ = true;
  EndAttempt(false);
  if (counted_retry_) --worker_.active_retries;
  if (counted_request_) --worker_.active_requests;
}

void UpstreamRequest::ComputeHashKey(const RouteMatch& match, const ConnectionInfo& peer) {
  if (local_ == nullptr || !UsesHashKey(local_->spec->lb.policy)) return;
  const std::vector<HashPolicy>& policies =
      route_.hash_policy.empty() ? local_->spec->hash_policy : route_.hash_policy;
  const HashKeyInput input{.peer_address = peer.peer_address,
                           .headers = &head_.headers,
                           .query = head_.query,
                           .captures = match.captures,
                           .trusted_proxies = &worker_.trusted_proxies()};
  hash_ = gateway::ComputeHashKey(policies, input, [this] { return worker_.RandomBits(); });
  // A hashing balancer without a key would pick at random: the client
  // address keeps a client on one host at least.
  if (!hash_.key.has_value()) hash_.key = ClientIpHashKey(input);
}

void UpstreamRequest::Start() {
  if (local_ == nullptr) {
    Fail(LocalReply::Json(404, "unknown_cluster",
                          absl::StrCat("no upstream service named '", cluster_, "'")));
    return;
  }
  ++worker_.active_requests;
  counted_request_ = true;
  if (Admit()) StartAttempt();
}

bool UpstreamRequest::Admit() {
  const std::shared_ptr<ConcurrencyLimits>& limits = local_->resilience->limits;
  request_slot_ = limits->TryAcquire(LimitKind::kRequests);
  if (!request_slot_) {
    FailOrFallback(LocalReply::Json(
        503, LimitFlag(LimitKind::kRequests),
        absl::StrCat("cluster '", cluster_, "' has ", limits->max(LimitKind::kRequests),
                     " requests in flight (max_requests)")));
    return false;
  }
  if (!AcquireBreakerPermits()) {
    FailOrFallback(LocalReply::Json(503, kCircuitOpenFlag,
                                    absl::StrCat("the circuit breaker of cluster '", cluster_,
                                                 "' or ", "of its route is open")));
    return false;
  }
  permits_ready_ = true;
  return true;
}

bool UpstreamRequest::AcquireBreakerPermits() {
  route_permit_.reset();
  cluster_permit_.reset();
  if (CircuitBreaker* breaker = route_object_.breaker(); breaker != nullptr) {
    route_permit_ = breaker->TryAcquire();
    if (!route_permit_) return false;
  }
  if (CircuitBreaker* breaker = local_->resilience->breaker.get(); breaker != nullptr) {
    cluster_permit_ = breaker->TryAcquire();
    if (!cluster_permit_) {
      route_permit_.reset();  // unused: counts as cancelled
      return false;
    }
  }
  return true;
}

bool UpstreamRequest::ReserveRetry() {
  if (permits_ready_) return true;
  if (!retry_slot_) {
    retry_slot_ = local_->resilience->limits->TryAcquire(LimitKind::kRetries);
    if (!retry_slot_) return false;
  }
  permits_ready_ = AcquireBreakerPermits();
  return permits_ready_;
}

void UpstreamRequest::RecordOutcome(CallOutcome outcome) {
  if (permits_ready_) return;  // the permits are the next attempt's
  if (route_permit_) route_permit_->Record(outcome);
  if (cluster_permit_) cluster_permit_->Record(outcome);
  route_permit_.reset();
  cluster_permit_.reset();
  if (monitor_ != nullptr) monitor_->Report(outcome);
  monitor_ = nullptr;
}

void UpstreamRequest::MarkDone() {
  done_ = true;
  // Unrecorded permits count as cancelled: a client going away, or a local
  // decision, says nothing about the upstream.
  route_permit_.reset();
  cluster_permit_.reset();
  permits_ready_ = false;
  monitor_ = nullptr;
  pending_slot_.reset();
  retry_slot_.reset();
  request_slot_.reset();
}

void UpstreamRequest::FailOrFallback(LocalReply reply) {
  const std::optional<FallbackSpec>* fallback =
      local_ != nullptr ? &local_->spec->fallback : nullptr;
  if (done_ || fallback_used_ || fallback == nullptr || !fallback->has_value() ||
      std::find((*fallback)->on.begin(), (*fallback)->on.end(), reply.flag) ==
          (*fallback)->on.end()) {
    Fail(std::move(reply));
    return;
  }
  const FallbackSpec& spec = **fallback;
  fallback_used_ = true;
  if (spec.cluster.empty()) {
    LocalReply answer;
    answer.status = spec.status;
    for (const auto& [name, value] : spec.headers) answer.headers.Add(name, value);
    answer.body = spec.body;
    answer.flag = "fallback";
    Fail(std::move(answer));
    return;
  }
  // The same request to another cluster, if it can be sent again.
  bool replayable = !replay_overflow_ && (!sent_any_ || IsIdempotentMethod(head_.method) ||
                                          route_.retry.allow_non_idempotent);
  ProxyWorker::ClusterLocal* other = replayable ? worker_.Get(spec.cluster) : nullptr;
  if (other == nullptr) {
    Fail(std::move(reply));
    return;
  }
  EndAttempt(false);
  route_permit_.reset();
  cluster_permit_.reset();
  permits_ready_ = false;
  monitor_ = nullptr;
  retry_slot_.reset();
  request_slot_.reset();
  cluster_ = spec.cluster;
  local_ = other;
  if (!hash_.key.has_value() && UsesHashKey(local_->spec->lb.policy)) {
    // The first cluster did not hash, so no key was made; the forwarding
    // headers added since then still lead to the same client address.
    hash_.key = ClientIpHashKey({.peer_address = peer_.peer_address,
                                 .headers = &head_.headers,
                                 .trusted_proxies = &worker_.trusted_proxies()});
  }
  attempted_.clear();
  attempted_owned_.clear();
  if (Admit()) StartAttempt();
}

void UpstreamRequest::StartAttempt() {
  if (done_) return;
  ++attempts_;
  connected_ = request_sent_ = response_bytes_ = headers_passed_ = response_complete_ = false;
  discarding_ = false;
  // A retry sees the latest host set (and outlier detection's sweep).
  if (attempts_ > 1) local_ = worker_.Get(cluster_);
  if (!permits_ready_ && !AcquireBreakerPermits()) {
    FailOrFallback(LocalReply::Json(
        503, kCircuitOpenFlag,
        absl::StrCat("the circuit breaker of cluster '", cluster_, "' or of its route is open")));
    return;
  }
  permits_ready_ = false;  // the permits are this attempt's now
  HostPtr host;
  if (local_->balancer != nullptr) {
    LbContext ctx;
    ctx.hash_key = hash_.key;
    ctx.attempted = {attempted_.data(), attempted_.size()};
    host = local_->balancer->Pick(ctx);
  }
  if (host == nullptr) {
    FailOrFallback(LocalReply::Json(503, "no_healthy_upstream",
                                    absl::StrCat("no healthy host in cluster '", cluster_, "'")));
    return;
  }
  const std::shared_ptr<ConcurrencyLimits>& limits = local_->resilience->limits;
  pending_slot_ = limits->TryAcquire(LimitKind::kPendingRequests);
  if (!pending_slot_) {
    FailOrFallback(LocalReply::Json(
        503, LimitFlag(LimitKind::kPendingRequests),
        absl::StrCat("cluster '", cluster_, "' has ", limits->max(LimitKind::kPendingRequests),
                     " requests waiting for a connection (max_pending_requests)")));
    return;
  }
  host_ = host;
  attempted_owned_.push_back(host);
  attempted_.push_back(host.get());
  host_->AddActiveRequests(1);
  if (local_->monitors != nullptr) {
    monitors_ = local_->monitors;
    monitor_ = monitors_->Find(*host_);
  }
  if (request_complete_) ArmTryTimer();
  pending_ = local_->pool->Acquire(host_, [this](PoolResult r) { OnPoolReady(std::move(r)); });
}

void UpstreamRequest::OnPoolReady(PoolResult result) {
  pending_.Detach();
  pending_slot_.reset();
  if (done_) return;
  if (!result.ok()) {
    // A full pool or a shutdown says nothing about the host.
    if (result.failure == PoolFailure::kConnectFailed ||
        result.failure == PoolFailure::kConnectTimeout) {
      RecordOutcome({.result = CallResult::kConnectFailure});
    }
    EndAttempt(false);
    if (MaybeRetry(Failure::kConnect)) return;
    // Refused or unreachable: the service is down (502). A timeout or a full
    // pool says the service is overloaded or slow (503).
    int status = 502;
    std::string_view flag = "upstream_connect_failed";
    if (result.failure == PoolFailure::kConnectTimeout) {
      status = 503;
      flag = "upstream_connect_timeout";
    } else if (result.failure == PoolFailure::kOverflow) {
      status = 503;
      flag = "upstream_overflow";
    }
    FailOrFallback(
        LocalReply::Json(status, flag, absl::StrCat("cluster '", cluster_, "': ", result.error)));
    return;
  }
  sent_any_ = true;
  lease_ = std::move(result.lease);
  lease_reused_ = lease_.reused();
  connected_ = true;
  // A fresh codec per attempt; the previous one may still be unwinding a call.
  if (codec_ != nullptr) retired_codecs_.push_back(std::move(codec_));
  codec_ = local_->spec->codec->CreateClientCodec(UpstreamLimits(), *this);
  lease_->SetCallbacks(this);
  if (!read_enabled_) lease_->SetReadEnabled(false);

  std::string& out = Scratch();
  EncodeHead(*host_, out);
  if (!replay_.empty() || (request_complete_ && has_body_)) {
    if (!codec_->EncodeRequestBody(stream_id_, replay_, request_complete_, RequestTrailers(),
                                   out)) {
      out.append(replay_);
    }
  }
  WriteUpstream(out);
  if (replay_.size() > route_.retry.replay_buffer_bytes) {
    // Everything buffered before the connection was ready is out; the rest of
    // the body streams and cannot be replayed.
    replay_overflow_ = true;
    std::string().swap(replay_);
  }
  if (request_complete_) {
    request_sent_ = true;
    ArmResponseTimer();
  }
  ArmIdleTimer();  // after the response timer, which may make it unnecessary
  if (!body_writable_ && !lease_->above_high_watermark()) {
    body_writable_ = true;
    sink_.OnUpstreamBodyWritable(true);
  }
}

void UpstreamRequest::EncodeHead(const Host& host, std::string& out) {
  // Only Host changes between attempts, so it is set in place instead of
  // copying the whole head per attempt.
  RequestHead& h = head_;
  switch (route_.host_rewrite.kind) {
    case HostRewrite::Kind::kPassThrough:
      if (!h.authority.empty()) h.headers.Set("host", h.authority);
      break;
    case HostRewrite::Kind::kEndpoint: {
      const std::string& name = host.hostname().empty() ? host.address() : host.hostname();
      bool v6 = name.find(':') != std::string::npos;
      h.headers.Set("host", absl::StrCat(v6 ? "[" : "", name, v6 ? "]" : "", ":", host.port()));
      break;
    }
    case HostRewrite::Kind::kLiteral:
      h.headers.Set("host", route_.host_rewrite.value);
      break;
  }
  BodyFraming framing = BodyFraming::kNone;
  uint64_t length = 0;
  if (chunked_) {
    framing = BodyFraming::kChunked;
  } else if (has_body_) {
    framing = BodyFraming::kContentLength;
    length = *head_.content_length;
  }
  stream_id_ = codec_->EncodeRequestHead(h, framing, length, out);
}

void UpstreamRequest::SendBody(std::string_view data, bool end_stream) {
  if (done_) return;
  body_received_ += data.size();
  if (!connected_) {
    replay_.append(data);
    if (replay_.size() > std::max<size_t>(kPreConnectBuffer, route_.retry.replay_buffer_bytes) &&
        body_writable_) {
      body_writable_ = false;
      sink_.OnUpstreamBodyWritable(false);
    }
  } else {
    if (!replay_overflow_) {
      if (replay_.size() + data.size() <= route_.retry.replay_buffer_bytes) {
        replay_.append(data);
      } else {
        replay_overflow_ = true;
        std::string().swap(replay_);
      }
    }
    WriteBody(data);
  }
  if (end_stream) {
    request_complete_ = true;
    if (host_ != nullptr) ArmTryTimer();  // the attempt under way is now the upstream's
    if (connected_) FinishRequestBody();
  }
}

void UpstreamRequest::ArmTryTimer() {
  // From the whole request being in the gateway's hands: until then a slow
  // upload is the client's time, judged by its body idle timeout, and a
  // per-try timeout would blame the upstream for it.
  if (route_.upstream_timeouts.per_try <= absl::ZeroDuration()) return;
  if (try_timer_ == nullptr) {
    try_timer_ = worker_.dispatcher().CreateTimer([this] {
      if (done_ || headers_passed_) return;
      RecordOutcome({.result = CallResult::kTimeout});
      EndAttempt(false);
      if (MaybeRetry(Failure::kTimeout)) return;
      Fail(LocalReply::Json(504, "upstream_per_try_timeout", "upstream attempt timed out"));
    });
  }
  try_timer_->Enable(route_.upstream_timeouts.per_try);
}

void UpstreamRequest::SendTrailers(HeaderMap trailers) {
  // Only a chunked body can carry them upstream.
  if (done_ || !chunked_) return;
  SanitizeTrailers(trailers);
  request_trailers_ = std::move(trailers);
}

const HeaderMap* UpstreamRequest::RequestTrailers() const {
  return request_trailers_.empty() ? nullptr : &request_trailers_;
}

void UpstreamRequest::WriteUpstream(std::string_view data) {
  written_ += data.size();
  lease_->Write(data);
}

void UpstreamRequest::WriteBody(std::string_view data) {
  if (data.empty() || !lease_) return;
  bool was_queued = lease_->write_queue_bytes() > 0;
  std::string& out = Scratch();
  const bool framed = codec_->EncodeRequestBody(stream_id_, data, false, nullptr, out);
  if (!out.empty()) WriteUpstream(out);
  if (!framed) WriteUpstream(data);  // the body as is (Content-Length): no copy
  // Bytes the upstream has yet to take start its idle clock; bytes queued
  // behind others it has not taken yet are no progress of its own.
  if (!was_queued) ArmIdleTimer();
  if (lease_->above_high_watermark() && body_writable_) {
    body_writable_ = false;
    sink_.OnUpstreamBodyWritable(false);
  }
}

void UpstreamRequest::FinishRequestBody() {
  if (!lease_) return;
  if (has_body_) {
    std::string& out = Scratch();
    // No data, so nothing to write after `out` whatever the answer.
    static_cast<void>(codec_->EncodeRequestBody(stream_id_, {}, true, RequestTrailers(), out));
    if (!out.empty()) WriteUpstream(out);
  }
  request_sent_ = true;
  ArmResponseTimer();
  ArmIdleTimer();  // the upstream owes the answer now, no longer the client its body
}

void UpstreamRequest::OnUpstreamWritable() {
  if (!done_) ArmIdleTimer();
  if (!done_ && !body_writable_) {
    body_writable_ = true;
    sink_.OnUpstreamBodyWritable(true);
  }
}

void UpstreamRequest::Cancel() {
  if (done_) return;
  EndAttempt(false);
  if (retry_timer_ != nullptr) retry_timer_->Disable();
  MarkDone();
}

void UpstreamRequest::SetResponseReadEnabled(bool enabled) {
  // The stream re-states this after every step of the response; only a
  // change matters (an attempt's lease takes the current state when it comes).
  if (enabled == read_enabled_) return;
  read_enabled_ = enabled;
  if (lease_) lease_->SetReadEnabled(enabled);
  // A slow client is not the upstream's fault: no idle clock while paused.
  if (!enabled && idle_timer_ != nullptr) idle_timer_->Disable();
  if (enabled && !done_) ArmIdleTimer();
}

void UpstreamRequest::SendTunnel(std::string_view data) {
  if (done_ || !tunnel_ || !lease_ || data.empty()) return;
  ArmIdleTimer();
  WriteUpstream(data);
  if (lease_->above_high_watermark() && body_writable_) {
    body_writable_ = false;
    sink_.OnUpstreamBodyWritable(false);
  }
}

bool UpstreamRequest::WaitingForClient() const {
  return !tunnel_ && !request_sent_ && lease_ && lease_->write_queue_bytes() == 0;
}

void UpstreamRequest::ArmIdleTimer() {
  absl::Duration idle =
      tunnel_ ? route_.upstream_timeouts.tunnel_idle : route_.upstream_timeouts.idle;
  // Zero means no idle timeout: that also stops an HTTP idle timer armed
  // before a 101 made the exchange a tunnel.
  if (!lease_ || !read_enabled_ || idle <= absl::ZeroDuration() || WaitingForClient()) {
    if (idle_timer_ != nullptr) idle_timer_->Disable();
    return;
  }
  if (!tunnel_ && !headers_passed_ && response_timer_ != nullptr && response_timer_->enabled() &&
      route_.upstream_timeouts.response_headers <= idle) {
    // Until the response head the response timer, which is no later, watches
    // the upstream: most responses then finish without an idle timer at all.
    if (idle_timer_ != nullptr) idle_timer_->Disable();
    return;
  }
  if (idle_timer_ == nullptr) {
    idle_timer_ = worker_.dispatcher().CreateTimer([this] { OnIdleTimeout(); });
  }
  idle_taken_mark_ = written_ - lease_->write_queue_bytes();
  idle_timer_->Enable(idle);
}

void UpstreamRequest::OnIdleTimeout() {
  if (done_ || !lease_) return;
  // Queued request bytes that went out meanwhile are progress: an upstream
  // that reads a large upload slowly is not idle. Checked here rather than
  // per completed write, which would cost a timer update per write.
  if (written_ - lease_->write_queue_bytes() > idle_taken_mark_) {
    ArmIdleTimer();
    return;
  }
  if (!headers_passed_) RecordOutcome({.result = CallResult::kTimeout});
  EndAttempt(false);
  if (tunnel_) {
    MarkDone();
    sink_.OnUpstreamAborted("tunnel_idle_timeout");
  } else if (!headers_passed_) {
    Fail(LocalReply::Json(504, "upstream_idle_timeout", "upstream went idle"));
  } else {
    MarkDone();
    sink_.OnUpstreamAborted("upstream_idle_timeout");
  }
}

void UpstreamRequest::ArmResponseTimer() {
  if (headers_passed_ || route_.upstream_timeouts.response_headers <= absl::ZeroDuration()) return;
  if (response_timer_ == nullptr) {
    response_timer_ = worker_.dispatcher().CreateTimer([this] {
      if (done_ || headers_passed_) return;
      RecordOutcome({.result = CallResult::kTimeout});
      EndAttempt(false);
      Fail(LocalReply::Json(504, "upstream_timeout", "upstream sent no response in time"));
    });
  }
  response_timer_->Enable(route_.upstream_timeouts.response_headers);
}

void UpstreamRequest::OnUpstreamData(std::string_view data) {
  if (done_ || codec_ == nullptr) return;
  response_bytes_ = true;
  if (tunnel_) {
    ArmIdleTimer();
    sink_.OnUpstreamBody(data, false);
    return;
  }
  pending_action_ = Action::kNone;
  FeedResult r = codec_->Feed(data);
  if (done_) return;
  bool leftover = r.consumed < data.size();
  if (pending_action_ == Action::kTunnel) {
    // The codec stopped right after the 101: the rest is the upgraded protocol.
    pending_action_ = Action::kNone;
    tunnel_ = true;
    tunnel_pending_ = false;
    ArmIdleTimer();
    if (leftover) sink_.OnUpstreamBody(data.substr(r.consumed), false);
    return;
  }
  if (pending_action_ == Action::kNone && leftover && !r.paused) {
    pending_action_ = Action::kError;
    error_flag_ = "upstream_protocol_error";
  }
  HandlePendingAction(leftover, /*closed=*/false);
  // After the bytes are parsed: a response they completed needs no idle timer.
  if (!done_) ArmIdleTimer();
}

void UpstreamRequest::HandlePendingAction(bool leftover, bool closed) {
  Action action = std::exchange(pending_action_, Action::kNone);
  switch (action) {
    case Action::kNone:
    case Action::kTunnel:  // handled in OnUpstreamData, where the bytes after the 101 are
      return;
    case Action::kComplete: {
      // Reusable only after a complete, well-framed exchange with nothing
      // extra on the wire and the whole request written.
      bool clean = !leftover && !closed && upstream_keep_alive_ && request_sent_ && lease_ &&
                   lease_->write_queue_bytes() == 0;
      EndAttempt(clean);
      MarkDone();
      if (!response_trailers_.empty()) sink_.OnUpstreamTrailers(std::move(response_trailers_));
      sink_.OnUpstreamBody({}, true);
      return;
    }
    case Action::kRetryStatus:
      EndAttempt(false);
      if (MaybeRetry(Failure::kStatus, retry_status_)) return;
      Fail(LocalReply::Json(502, "upstream_retry_failed", "retry could not be scheduled"));
      return;
    case Action::kError:
      // Nothing is recorded if the head already was.
      RecordOutcome({.result = error_flag_ == "upstream_reset" ? CallResult::kReset
                                                               : CallResult::kProtocolError});
      EndAttempt(false);
      if (!headers_passed_) {
        if (MaybeRetry(Failure::kProtocol)) return;
        Fail(LocalReply::Json(502, error_flag_, "invalid response from upstream"));
      } else {
        MarkDone();
        sink_.OnUpstreamAborted(error_flag_);
      }
      return;
  }
}

void UpstreamRequest::OnUpstreamClosed(bool reset) {
  if (done_) return;
  if (tunnel_) {
    // Either side closing ends the tunnel; a reset is passed on as one.
    EndAttempt(false);
    MarkDone();
    if (reset) {
      sink_.OnUpstreamAborted("upstream_reset");
    } else {
      sink_.OnUpstreamBody({}, true);
    }
    return;
  }
  if (!response_bytes_) {
    // A kept-alive connection the upstream had already closed: the request
    // never reached it. Retry once on another connection if replaying is safe.
    if (lease_reused_ && !stale_retry_used_ && !replay_overflow_ &&
        (IsIdempotentMethod(head_.method) || route_.retry.allow_non_idempotent)) {
      EndAttempt(false);
      stale_retry_used_ = true;
      // Not the host's fault: the attempt's permits go back unjudged.
      route_permit_.reset();
      cluster_permit_.reset();
      monitor_ = nullptr;
      ScheduleAttempt(absl::ZeroDuration());
      return;
    }
    // Before EndAttempt, which lets go of the host's outlier monitor: a reset
    // is judged by outlier detection exactly as by the breakers.
    RecordOutcome({.result = CallResult::kReset});
    EndAttempt(false);
    if (MaybeRetry(Failure::kReset)) return;
    Fail(LocalReply::Json(502, "upstream_reset",
                          "upstream closed the connection before responding"));
    return;
  }
  pending_action_ = Action::kNone;
  if (reset) {
    // Whatever the framing, a reset never ends a response: not even a
    // close-delimited one, which an orderly close would complete.
    pending_action_ = Action::kError;
    error_flag_ = "upstream_reset";
    HandlePendingAction(false, /*closed=*/true);
    return;
  }
  codec_->FeedEof();
  if (done_) return;
  if (pending_action_ == Action::kNone) {
    pending_action_ = Action::kError;
    error_flag_ = "upstream_reset";
  }
  HandlePendingAction(false, /*closed=*/true);
}

void UpstreamRequest::OnResponseHead(StreamId, ResponseHead&& head) {
  if (done_) return;
  // Interim; the final one follows. A 101 is final: it ends HTTP on the connection.
  if (head.status >= 100 && head.status < 200 && head.status != 101) return;
  if (response_timer_ != nullptr) response_timer_->Disable();
  if (try_timer_ != nullptr) try_timer_->Disable();
  if (head.status == 101) {
    if (!AcceptUpgrade(head)) {
      RecordOutcome({.result = CallResult::kProtocolError});
      pending_action_ = Action::kError;
      error_flag_ = "upstream_protocol_error";
      codec_->Pause();
      return;
    }
    RecordOutcome({.result = CallResult::kResponse, .status = 101});
    headers_passed_ = true;
    tunnel_pending_ = true;
    sink_.OnUpstreamHeaders(std::move(head), std::nullopt);
    return;
  }
  RecordOutcome({.result = CallResult::kResponse, .status = head.status});
  // A retry the limits or breakers refuse is not made: this answer stands.
  if (RetriableStatus(head.status) && CanRetry(Failure::kStatus) && ReserveRetry()) {
    retry_status_ = head.status;
    pending_action_ = Action::kRetryStatus;
    codec_->Pause();
    return;
  }
  headers_passed_ = true;
  upstream_keep_alive_ = head.keep_alive;
  std::optional<uint64_t> length;
  if (!head.chunked) length = head.content_length;
  if (head.status == 204 || head.status == 304) length = 0;
  PrepareResponseHeaders(head.headers, {});
  sink_.OnUpstreamHeaders(std::move(head), length);
}

void UpstreamRequest::PrepareResponseHeaders(HeaderMap& headers, std::string_view upgrade) {
  RemoveHopByHop(headers, {"content-length"});
  if (!upgrade.empty()) {
    headers.Add("connection", "upgrade");
    headers.Add("upgrade", upgrade);
  }
  ApplyMutations(route_.response_headers, headers);
  if (hash_.generated_cookie != nullptr) headers.Add("set-cookie", hash_.SetCookie());
  if (!worker_.options().via.empty()) {
    std::string via(headers.Get("via").value_or(""));
    headers.Set("via", absl::StrCat(via, via.empty() ? "" : ", ", "1.1 ", worker_.options().via));
  }
}

bool UpstreamRequest::AcceptUpgrade(ResponseHead& head) {
  // Only an upgrade we offered may be switched to, and only to a protocol we offered.
  if (upgrade_.empty()) return false;
  std::string chosen(head.headers.Get("upgrade").value_or(""));
  absl::string_view name = ProtocolName(absl::StripAsciiWhitespace(chosen));
  bool offered = false;
  for (absl::string_view token : absl::StrSplit(upgrade_, ", ")) {
    if (!name.empty() && absl::EqualsIgnoreCase(ProtocolName(token), name)) offered = true;
  }
  if (!offered || chosen.find(',') != std::string::npos) return false;
  PrepareResponseHeaders(head.headers, chosen);
  return true;
}

void UpstreamRequest::OnResponseBody(StreamId, std::string_view chunk) {
  if (done_ || !headers_passed_) return;
  sink_.OnUpstreamBody(chunk, false);
}

void UpstreamRequest::OnResponseTrailers(StreamId, HeaderMap&& trailers) {
  if (done_ || !headers_passed_) return;
  SanitizeTrailers(trailers);
  response_trailers_ = std::move(trailers);
}

void UpstreamRequest::OnResponseComplete(StreamId) {
  if (done_ || !headers_passed_) return;
  if (tunnel_pending_) {
    pending_action_ = Action::kTunnel;  // the codec pauses itself after an upgrade
    return;
  }
  response_complete_ = true;
  pending_action_ = Action::kComplete;
  // Anything after the response stays unconsumed: its presence makes the
  // connection unusable.
  codec_->Pause();
}

void UpstreamRequest::OnCodecError(const CodecError& error) {
  if (done_) return;
  pending_action_ = Action::kError;
  error_flag_ = error.flag.empty() ? "upstream_protocol_error" : error.flag;
}

bool UpstreamRequest::RetriableStatus(int status) const {
  const RetryPolicy& p = route_.retry;
  if (p.on_5xx && status >= 500) return true;
  if (p.on_gateway_error && status >= 502 && status <= 504) return true;
  return std::find(p.on_statuses.begin(), p.on_statuses.end(), status) != p.on_statuses.end();
}

bool UpstreamRequest::CanRetry(Failure why) const {
  if (done_ || headers_passed_) return false;
  const RetryPolicy& p = route_.retry;
  switch (why) {
    case Failure::kConnect:
      if (!p.on_connect_failure) return false;
      break;
    case Failure::kReset:
    case Failure::kProtocol:
      if (!p.on_reset) return false;
      break;
    case Failure::kTimeout:
      if (!p.on_5xx && !p.on_gateway_error) return false;
      break;
    case Failure::kStatus:
      break;
  }
  if (retries_ >= p.max_retries) return false;
  // Connect failures sent nothing: safe for any method.
  if (why != Failure::kConnect && !IsIdempotentMethod(head_.method) && !p.allow_non_idempotent) {
    return false;
  }
  if (replay_overflow_) return false;
  double allowed =
      std::max<double>(p.budget_min_retries, p.budget_percent / 100.0 * worker_.active_requests);
  uint64_t in_flight = worker_.active_retries - (counted_retry_ ? 1 : 0);
  return static_cast<double>(in_flight) < allowed;
}

bool UpstreamRequest::MaybeRetry(Failure why, int status) {
  if (!CanRetry(why) || !ReserveRetry()) return false;
  ++retries_;
  if (!counted_retry_) {
    counted_retry_ = true;
    ++worker_.active_retries;
  }
  // Full jitter over an exponential ceiling.
  const RetryPolicy& p = route_.retry;
  double ceiling = absl::ToDoubleMilliseconds(p.backoff_base) * std::ldexp(1.0, retries_ - 1);
  ceiling = std::min(ceiling, absl::ToDoubleMilliseconds(p.backoff_max));
  ScheduleAttempt(absl::Milliseconds(worker_.Random() * ceiling));
  return true;
}

void UpstreamRequest::ScheduleAttempt(absl::Duration delay) {
  if (retry_timer_ == nullptr) {
    retry_timer_ = worker_.dispatcher().CreateTimer([this] { StartAttempt(); });
  }
  retry_timer_->Enable(delay);
}

void UpstreamRequest::EndAttempt(bool reusable) {
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
  pending_slot_.reset();
  monitor_ = nullptr;  // an outcome not reported by now is not the host's
  connected_ = false;
}

void UpstreamRequest::Fail(LocalReply reply) {
  if (done_) return;
  EndAttempt(false);
  MarkDone();
  sink_.OnUpstreamFailure(std::move(reply));
}

}  // namespace gateway::internal
