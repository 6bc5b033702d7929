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

UpstreamRequest::UpstreamRequest(ProxyWorker& worker, const RouteMatch& match,
                                 CircuitBreaker* route_breaker, RequestHead& head,
                                 const ConnectionInfo& peer, UpstreamResponseSink& sink)
    : worker_(worker),
      route_breaker_(route_breaker),
      route_(match.route->spec()),
      head_(head),
      peer_(peer),
      cluster_(match.cluster()),
      sink_(sink),
      attempt_(worker.dispatcher(), match.route->spec(), *this) {
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
    Fail(LocalReply::Json(404, ResponseFlag::kUnknownCluster,
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
  if (route_breaker_ != nullptr) {
    route_permit_ = route_breaker_->TryAcquire();
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
    answer.flag = ResponseFlagName(ResponseFlag::kFallback);
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
    FailOrFallback(LocalReply::Json(503, ResponseFlag::kNoHealthyUpstream,
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
  attempted_owned_.push_back(host);
  attempted_.push_back(host.get());
  if (local_->monitors != nullptr) {
    monitors_ = local_->monitors;
    monitor_ = monitors_->Find(*host);
  }
  attempt_.Start(std::move(host), *local_->pool, *local_->spec->codec, request_complete_);
}

void UpstreamRequest::OnAttemptConnectFailed(PoolFailure failure, const std::string& error) {
  pending_slot_.reset();
  if (done_) return;
  // A full pool or a shutdown says nothing about the host.
  if (failure == PoolFailure::kConnectFailed || failure == PoolFailure::kConnectTimeout) {
    RecordOutcome({.result = CallResult::kConnectFailure});
  }
  EndAttempt(false);
  if (MaybeRetry(Failure::kConnect)) return;
  // Refused or unreachable: the service is down (502). A timeout or a full
  // pool says the service is overloaded or slow (503).
  int status = 502;
  ResponseFlag flag = ResponseFlag::kUpstreamConnectFailed;
  if (failure == PoolFailure::kConnectTimeout) {
    status = 503;
    flag = ResponseFlag::kUpstreamConnectTimeout;
  } else if (failure == PoolFailure::kOverflow) {
    status = 503;
    flag = ResponseFlag::kUpstreamOverflow;
  }
  FailOrFallback(LocalReply::Json(status, flag, absl::StrCat("cluster '", cluster_, "': ", error)));
}

void UpstreamRequest::OnAttemptConnected() {
  pending_slot_.reset();
  if (done_) return;
  sent_any_ = true;
  std::string& out = EncodeScratch();
  EncodeHead(attempt_.host(), out);
  if (!replay_.empty() || (request_complete_ && has_body_)) {
    if (!attempt_.codec().EncodeRequestBody(attempt_.stream_id(), replay_, request_complete_,
                                            RequestTrailers(), out)) {
      out.append(replay_);
    }
  }
  attempt_.Write(out);
  if (replay_.size() > route_.retry.replay_buffer_bytes) {
    // Everything buffered before the connection was ready is out; the rest of
    // the body streams and cannot be replayed.
    replay_overflow_ = true;
    std::string().swap(replay_);
  }
  if (request_complete_) attempt_.MarkRequestSent();
  attempt_.ArmIdleTimer();  // after the response timer, which may make it unnecessary
  if (!body_writable_ && !attempt_.above_high_watermark()) {
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
  attempt_.EncodeHead(h, framing, length, out);
}

void UpstreamRequest::SendBody(std::string_view data, bool end_stream) {
  if (done_) return;
  body_received_ += data.size();
  if (!attempt_.connected()) {
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
    if (attempt_.SendBody(data)) CheckBodyWritable();
  }
  if (end_stream) {
    request_complete_ = true;
    if (attempt_.active()) attempt_.ArmTryTimer();  // the attempt under way is now the upstream's
    if (attempt_.connected()) FinishRequestBody();
  }
}

void UpstreamRequest::CheckBodyWritable() {
  if (attempt_.above_high_watermark() && body_writable_) {
    body_writable_ = false;
    sink_.OnUpstreamBodyWritable(false);
  }
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

void UpstreamRequest::FinishRequestBody() { attempt_.FinishRequest(has_body_, RequestTrailers()); }

void UpstreamRequest::OnAttemptWritable() {
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

void UpstreamRequest::SetResponseReadEnabled(bool enabled) { attempt_.SetReadEnabled(enabled); }

void UpstreamRequest::SendTunnel(std::string_view data) {
  if (done_) return;
  if (attempt_.SendTunnel(data)) CheckBodyWritable();
}

void UpstreamRequest::OnAttemptTimeout(AttemptTimeout which) {
  if (done_) return;
  switch (which) {
    case AttemptTimeout::kResponseHead:
      RecordOutcome({.result = CallResult::kTimeout});
      EndAttempt(false);
      Fail(LocalReply::Json(504, ResponseFlag::kUpstreamTimeout,
                            "upstream sent no response in time"));
      return;
    case AttemptTimeout::kPerTry:
      RecordOutcome({.result = CallResult::kTimeout});
      EndAttempt(false);
      if (MaybeRetry(Failure::kTimeout)) return;
      Fail(LocalReply::Json(504, ResponseFlag::kUpstreamPerTryTimeout,
                            "upstream attempt timed out"));
      return;
    case AttemptTimeout::kIdle: {
      const bool passed = attempt_.head_passed();
      const bool tunnel = attempt_.tunnel();
      if (!passed) RecordOutcome({.result = CallResult::kTimeout});
      EndAttempt(false);
      if (tunnel) {
        MarkDone();
        sink_.OnUpstreamAborted(ResponseFlag::kTunnelIdleTimeout);
      } else if (!passed) {
        Fail(LocalReply::Json(504, ResponseFlag::kUpstreamIdleTimeout, "upstream went idle"));
      } else {
        MarkDone();
        sink_.OnUpstreamAborted(ResponseFlag::kUpstreamIdleTimeout);
      }
      return;
    }
  }
}

void UpstreamRequest::OnAttemptComplete(bool reusable, HeaderMap& trailers) {
  EndAttempt(reusable);
  MarkDone();
  if (!trailers.empty()) sink_.OnUpstreamTrailers(std::move(trailers));
  sink_.OnUpstreamBody({}, true);
}

void UpstreamRequest::OnAttemptRetriableStatus(int status) {
  EndAttempt(false);
  if (MaybeRetry(Failure::kStatus, status)) return;
  Fail(LocalReply::Json(502, ResponseFlag::kUpstreamRetryFailed, "retry could not be scheduled"));
}

void UpstreamRequest::OnAttemptError(ResponseFlag flag) {
  // Nothing is recorded if the head already was.
  RecordOutcome({.result = flag == ResponseFlag::kUpstreamReset ? CallResult::kReset
                                                                : CallResult::kProtocolError});
  EndAttempt(false);
  if (!attempt_.head_passed()) {
    if (MaybeRetry(Failure::kProtocol)) return;
    Fail(LocalReply::Json(502, flag, "invalid response from upstream"));
  } else {
    MarkDone();
    sink_.OnUpstreamAborted(flag);
  }
}

void UpstreamRequest::OnAttemptTunnelClosed(bool reset) {
  EndAttempt(false);
  MarkDone();
  if (reset) {
    sink_.OnUpstreamAborted(ResponseFlag::kUpstreamReset);
  } else {
    sink_.OnUpstreamBody({}, true);
  }
}

void UpstreamRequest::OnAttemptClosedEarly(bool reused) {
  // A kept-alive connection the upstream had already closed: the request
  // never reached it. Retry once on another connection if replaying is safe.
  if (reused && !stale_retry_used_ && !replay_overflow_ &&
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
  Fail(LocalReply::Json(502, ResponseFlag::kUpstreamReset,
                        "upstream closed the connection before responding"));
}

HeadVerdict UpstreamRequest::OnAttemptResponseHead(ResponseHead& head) {
  if (head.status == 101) {
    if (!AcceptUpgrade(head)) {
      RecordOutcome({.result = CallResult::kProtocolError});
      return HeadVerdict::kReject;
    }
    RecordOutcome({.result = CallResult::kResponse, .status = 101});
    return HeadVerdict::kPass;
  }
  RecordOutcome({.result = CallResult::kResponse, .status = head.status});
  // A retry the limits or breakers refuse is not made: this answer stands.
  if (RetriableStatus(head.status) && CanRetry(Failure::kStatus) && ReserveRetry()) {
    return HeadVerdict::kRetry;
  }
  PrepareResponseHeaders(head.headers, {});
  return HeadVerdict::kPass;
}

void UpstreamRequest::OnAttemptHeadPassed(ResponseHead&& head,
                                          std::optional<uint64_t> content_length) {
  sink_.OnUpstreamHeaders(std::move(head), content_length);
}

void UpstreamRequest::OnAttemptBody(std::string_view data) {
  if (done_) return;
  sink_.OnUpstreamBody(data, false);
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
bool UpstreamRequest::RetriableStatus(int status) const {
  const RetryPolicy& p = route_.retry;
  if (p.on_5xx && status >= 500) return true;
  if (p.on_gateway_error && status >= 502 && status <= 504) return true;
  return std::find(p.on_statuses.begin(), p.on_statuses.end(), status) != p.on_statuses.end();
}

bool UpstreamRequest::CanRetry(Failure why) const {
  if (done_ || attempt_.head_passed()) return false;
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
  attempt_.End(reusable);
  pending_slot_.reset();
  monitor_ = nullptr;  // an outcome not reported by now is not the host's
}

void UpstreamRequest::Fail(LocalReply reply) {
  if (done_) return;
  EndAttempt(false);
  MarkDone();
  sink_.OnUpstreamFailure(std::move(reply));
}

}  // namespace gateway::internal
