#include "core/stream.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/body_framing.h"

namespace gateway {

void Resumer::Resume() {
  auto state = state_.lock();
  if (state == nullptr || state->acted) return;
  state->acted = true;
  state->dispatcher()->Post([weak = state_] {
    if (auto s = weak.lock()) s->stream()->ResumeFromPause(std::nullopt);
  });
}

void Resumer::Reply(LocalReply reply) {
  auto state = state_.lock();
  if (state == nullptr || state->acted) return;
  state->acted = true;
  state->dispatcher()->Post([weak = state_, reply = std::move(reply)]() mutable {
    if (auto s = weak.lock()) s->stream()->ResumeFromPause(std::move(reply));
  });
}

bool Resumer::active() const {
  auto state = state_.lock();
  return state != nullptr && !state->acted;
}

namespace internal {

Stream::Stream(StreamHost& host, std::shared_ptr<const Pipeline> pipeline, RequestHead head,
               const StreamOptions& options)
    : host_(host), pipeline_(std::move(pipeline)), head_(std::move(head)), options_(options) {}

Stream::~Stream() = default;

void Stream::Start() {
  start_ = host_.dispatcher().clock().Monotonic();
  if (head_.path.empty()) {
    StartResponse(LocalReply::Json(head_.method == "CONNECT" ? 501 : 400,
                                   ResponseFlag::kUnsupportedTarget,
                                   "request target form is not supported"));
    return;
  }
  auto normalized = NormalizePath(head_.path, pipeline_->path_policy());
  if (!normalized.ok()) {
    absl::string_view why = normalized.status().message();
    StartResponse(LocalReply::Json(400, ResponseFlag::kInvalidPath,
                                   std::string_view(why.data(), why.size())));
    return;
  }
  head_.path = *std::move(normalized);

  match_ = pipeline_->router().Match(head_);
  if (match_.result == RouteMatch::Result::kNotFound) {
    StartResponse(LocalReply::Json(404, ResponseFlag::kNoRoute, "no route matches this request"));
    return;
  }
  if (match_.result == RouteMatch::Result::kMethodNotAllowed) {
    LocalReply reply = LocalReply::Json(405, ResponseFlag::kMethodNotAllowed,
                                        "method not allowed for this resource");
    reply.headers.Add("allow", match_.allow);
    StartResponse(std::move(reply));
    return;
  }
  info_.route_name = match_.route->name();

  absl::Duration timeout = match_.route->spec().timeout;
  if (timeout <= absl::ZeroDuration()) timeout = options_.request_timeout;
  if (timeout > absl::ZeroDuration()) {
    request_timer_ = host_.dispatcher().CreateTimer([this] {
      if (phase_ == Phase::kDone) return;
      LocalReply reply =
          LocalReply::Json(504, ResponseFlag::kRequestTimeout, "request deadline exceeded");
      if (phase_ == Phase::kRequestHeaders || phase_ == Phase::kRequestBody) {
        pause_.reset();
        response_outcome_ = RequestOutcome::kTimeout;
        StartResponse(std::move(reply));
      } else {
        // A response filter is paused past the deadline. Nothing has been
        // written yet, so the client still gets an answer.
        EndResponseWith(std::move(reply), RequestOutcome::kTimeout);
      }
    });
    request_timer_->Enable(timeout);
  }

  const auto& factories = pipeline_->filters();
  filters_.reserve(factories.size());
  for (const auto& factory : factories) {
    if (auto filter = factory->Create(*match_.route)) filters_.push_back(std::move(filter));
  }
  RunRequestHeaders(0);
}

bool Stream::HandleStatus(FilterStatus status, size_t index) {
  if (stop_reply_) {
    // A reply ends the request phases whatever the filter returned; left
    // pending, it would fire at a later filter or stall the response chain.
    if (pause_taken_) pause_.reset();
    pause_taken_ = false;
    LocalReply reply = std::move(*stop_reply_);
    stop_reply_.reset();
    StartResponse(std::move(reply));
    return false;
  }
  switch (status) {
    case FilterStatus::kContinue:
      if (pause_taken_) pause_.reset();  // paused and changed its mind: the Resumer dies
      pause_taken_ = false;
      return true;
    case FilterStatus::kPause:
      if (!pause_taken_) {
        FailFilter("filter returned kPause without calling Pause()");
        return false;
      }
      pause_taken_ = false;
      paused_index_ = index;
      if (phase_ == Phase::kRequestHeaders || phase_ == Phase::kRequestBody) {
        if (!body_paused_) {
          body_paused_ = true;
          host_.SetRequestBodyPaused(true);
        }
      }
      return false;
    case FilterStatus::kStop:
      if (pause_taken_) pause_.reset();
      pause_taken_ = false;
      FailFilter("filter returned kStop without sending a reply");
      return false;
  }
  return false;
}

void Stream::FailFilter(std::string_view why) {
  LocalReply reply = LocalReply::Json(500, ResponseFlag::kFilterError, why);
  if (phase_ == Phase::kRequestHeaders || phase_ == Phase::kRequestBody) {
    response_outcome_ = RequestOutcome::kError;
    StartResponse(std::move(reply));
  } else {
    EndResponseWith(std::move(reply), RequestOutcome::kError);
  }
}

void Stream::RunRequestHeaders(size_t from) {
  phase_ = Phase::kRequestHeaders;
  for (size_t i = from; i < filters_.size(); ++i) {
    started_filters_ = std::max(started_filters_, i + 1);
    in_phase_ = true;
    FilterStatus status = filters_[i]->OnRequestHeaders(*this);
    in_phase_ = false;
    if (!HandleStatus(status, i)) return;
  }
  request_side_ = RequestSide::kBody;
  phase_ = Phase::kRequestBody;
  // Before the upstream request exists: it takes its framing from the head.
  if (request_body_changes_) ReframeChangedRequestBody(head_);
  if (match_.route->action() == Route::Action::kCluster) {
    if (ProxyWorker* proxy = host_.proxy(*pipeline_)) {
      upstream_ =
          std::make_unique<UpstreamRequest>(*proxy, match_, pipeline_->route_breaker(*match_.route),
                                            head_, host_.connection_info(), *this);
      upstream_->Start();
      if (phase_ != Phase::kRequestBody) return;  // failed at once (unknown cluster, no host)
    }
  }
  if (head_.HasBody() && !request_complete_ && head_.expect_continue && !continue_sent_) {
    continue_sent_ = true;
    host_.SendContinue();
  }
  if (body_paused_) {
    body_paused_ = false;
    host_.SetRequestBodyPaused(false);
  }
  if (request_complete_ && request_side_ != RequestSide::kComplete) {
    OnRequestEnd();
    return;
  }
  MaybeRunAction();
}

void Stream::OnRequestBody(std::string_view chunk) {
  info_.request_body_bytes += chunk.size();
  if (phase_ != Phase::kRequestBody || request_side_ == RequestSide::kHeaders) {
    return;  // replying: discard
  }
  if (pause_ != nullptr) {
    // Only reachable if the host delivered past a pause; keep the bytes in order.
    paused_chunk_.append(chunk);
    return;
  }
  RunRequestBody(0, chunk, false);
}

bool Stream::RunRequestBody(size_t from, std::string_view chunk, bool eos) {
  BodyBuffer body(chunk, body_storage_);
  for (size_t i = from; i < filters_.size(); ++i) {
    in_phase_ = true;
    FilterStatus status = filters_[i]->OnRequestBody(*this, body, eos);
    in_phase_ = false;
    if (!CheckBodyChange(body, request_body_changes_)) return false;
    if (status == FilterStatus::kPause && pause_taken_) {
      // The piece dies with this call; keep a copy for the rest of the chain.
      std::string_view rest = body.view();
      paused_chunk_.assign(rest.data(), rest.size());
      paused_chunk_eos_ = eos;
    }
    if (!HandleStatus(status, i)) return false;
  }
  if (upstream_ != nullptr && phase_ == Phase::kRequestBody) {
    if (eos && !request_trailers_.empty()) upstream_->SendTrailers(std::move(request_trailers_));
    upstream_->SendBody(body.view(), eos);
  }
  return true;
}

bool Stream::CheckBodyChange(const BodyBuffer& body, bool declared) {
  if (!body.modified() || declared || stop_reply_) return true;
  if (pause_taken_) pause_.reset();
  pause_taken_ = false;
  FailFilter(phase_ == Phase::kRequestBody
                 ? "filter changed the request body without WillModifyRequestBody()"
                 : "filter changed the response body without WillModifyResponseBody()");
  return false;
}

void Stream::OnRequestTrailers(HeaderMap trailers) { request_trailers_ = std::move(trailers); }

void Stream::OnRequestEnd() {
  request_complete_ = true;
  if (phase_ != Phase::kRequestBody || request_side_ == RequestSide::kHeaders ||
      pause_ != nullptr) {
    return;
  }
  if (head_.HasBody() && request_side_ != RequestSide::kComplete) {
    // Set before the filters run: an end paused in a filter is not delivered
    // again when it resumes (ResumeFromPause checks this).
    request_side_ = RequestSide::kComplete;
    if (!RunRequestBody(0, {}, true)) return;
  }
  request_side_ = RequestSide::kComplete;
  MaybeRunAction();
}

void Stream::MaybeRunAction() {
  if (phase_ != Phase::kRequestBody || pause_ != nullptr) return;
  if (!request_complete_ || request_side_ != RequestSide::kComplete) return;
  const Route& route = *match_.route;
  switch (route.action()) {
    case Route::Action::kDirectResponse: {
      const DirectResponse& d = *route.spec().direct_response;
      LocalReply reply;
      reply.status = d.status;
      reply.headers = d.headers;
      if (!d.body.empty() && !reply.headers.Has("content-type")) {
        reply.headers.Add("content-type", d.content_type);
      }
      reply.body = d.body;
      StartResponse(std::move(reply));
      return;
    }
    case Route::Action::kRedirect: {
      LocalReply reply;
      reply.status = route.spec().redirect->status;
      reply.headers.Add("location", pipeline_->router().RedirectLocation(route, head_, match_));
      StartResponse(std::move(reply));
      return;
    }
    case Route::Action::kCluster:
      if (upstream_ != nullptr) return;  // the response arrives through the sink
      StartResponse(LocalReply::Json(
          503, ResponseFlag::kNoUpstream,
          absl::StrCat("no upstream is configured for cluster '", route.cluster(), "'")));
      return;
  }
}

void Stream::StartResponse(LocalReply reply) {
  if (phase_ == Phase::kDone || response_) return;
  pause_.reset();
  if (upstream_ != nullptr) upstream_->Cancel();  // a local reply supersedes the upstream
  // Every filter whose OnRequestHeaders ran sees the response, also when a
  // body-phase reply comes from a filter earlier in the chain.
  response_filter_count_ = started_filters_;
  ResponseHead head;
  head.status = reply.status;
  head.headers = std::move(reply.headers);
  response_ = std::move(head);
  response_body_ = std::move(reply.body);
  flag_ = std::move(reply.flag);
  if (!request_complete_) replied_early_ = true;
  if (body_paused_) {
    // The rest of the request body is no longer needed; let the host drain it.
    body_paused_ = false;
    host_.SetRequestBodyPaused(false);
  }
  RunResponseHeaders(0);
}

void Stream::RunResponseHeaders(size_t from) {
  phase_ = Phase::kResponseHeaders;
  for (size_t k = from; k < response_filter_count_; ++k) {
    size_t idx = response_filter_count_ - 1 - k;
    in_phase_ = true;
    FilterStatus status = filters_[idx]->OnResponseHeaders(*this);
    in_phase_ = false;
    if (status == FilterStatus::kStop) status = FilterStatus::kContinue;  // reply replaced
    if (!HandleStatus(status, k)) return;
  }
  if (source_ != ResponseSource::kLocal) {
    StartStreamedBody();
    return;
  }
  RunResponseBody(0);
}

void Stream::RunResponseBody(size_t from) {
  phase_ = Phase::kResponseBody;
  // A declared change may also fill an empty body, where the response has one.
  if (!response_body_.empty() ||
      (response_body_changes_ && ResponseCarriesBody(head_.method, response_->status))) {
    for (size_t k = from; k < response_filter_count_; ++k) {
      size_t idx = response_filter_count_ - 1 - k;
      BodyBuffer body(response_body_);
      in_phase_ = true;
      FilterStatus status = filters_[idx]->OnResponseBody(*this, body, true);
      in_phase_ = false;
      if (!replacement_body_ && !CheckBodyChange(body, response_body_changes_)) return;
      if (replacement_body_) {
        response_body_ = std::move(*replacement_body_);
        replacement_body_.reset();
      }
      if (status == FilterStatus::kStop) status = FilterStatus::kContinue;
      if (!HandleStatus(status, k)) return;
    }
  }
  FinishResponse();
}

void Stream::FinishResponse() {
  response_side_ = ResponseSide::kComplete;
  info_.status = response_->status;
  info_.response_body_bytes = response_body_.size();
  host_.WriteResponseHead(*response_, static_cast<uint64_t>(response_body_.size()));
  if (!response_body_.empty()) host_.WriteResponseBody(response_body_, true);
  Finish(response_outcome_);
}

void Stream::ReplaceResponse(LocalReply reply) {
  if (source_ != ResponseSource::kLocal && response_side_ == ResponseSide::kNone) {
    // A filter replaced the upstream response: its body is not needed.
    source_ = ResponseSource::kLocal;
    held_ = HeldChunk();
    later_ = HeldChunk();
    if (upstream_ != nullptr) upstream_->Cancel();
  }
  response_->status = reply.status;
  response_->reason.clear();  // the old reason phrase belongs to the old status
  response_->headers = std::move(reply.headers);
  if (in_phase_ && phase_ == Phase::kResponseBody) {
    replacement_body_ = std::move(reply.body);
  } else {
    response_body_ = std::move(reply.body);
    replacement_body_.reset();
  }
  flag_ = std::move(reply.flag);
}

void Stream::EndResponseWith(LocalReply reply, RequestOutcome outcome) {
  pause_.reset();
  if (response_started()) {
    // A head is on the wire already: a second one would be read as body. The
    // client can only see the response cut short.
    flag_ = std::move(reply.flag);
    Finish(outcome);
    return;
  }
  ReplaceResponse(std::move(reply));
  response_outcome_ = outcome;
  FinishResponse();
}

void Stream::Finish(RequestOutcome outcome) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  pause_.reset();
  if (upstream_ != nullptr) upstream_->Cancel();
  // Disabled, not destroyed: Finish may run inside the timer's own callback.
  if (request_timer_ != nullptr) request_timer_->Disable();
  info_.outcome = outcome;
  info_.flag = flag_;
  info_.duration = host_.dispatcher().clock().Monotonic() - start_;
  for (auto& filter : filters_) filter->OnDone(info_);
  host_.OnStreamDone(*this);
}

void Stream::Abort(RequestOutcome outcome, int status, std::string_view flag) {
  if (phase_ == Phase::kDone) return;
  if (status != 0) info_.status = status;
  if (!flag.empty()) {
    flag_.assign(flag.data(), flag.size());
  } else if (flag_.empty()) {
    flag_ = ResponseFlagName(outcome == RequestOutcome::kClientGone ? ResponseFlag::kClientGone
                             : outcome == RequestOutcome::kTimeout  ? ResponseFlag::kTimeout
                                                                    : ResponseFlag::kAborted);
  }
  Finish(outcome);
}

void Stream::ResumeFromPause(std::optional<LocalReply> reply) {
  if (phase_ == Phase::kDone || pause_ == nullptr) return;
  pause_.reset();
  size_t next = paused_index_ + 1;
  if (reply) {
    if (phase_ == Phase::kRequestHeaders || phase_ == Phase::kRequestBody) {
      StartResponse(std::move(*reply));
      return;
    }
    ReplaceResponse(std::move(*reply));
  }
  switch (phase_) {
    case Phase::kRequestHeaders:
      RunRequestHeaders(next);
      return;
    case Phase::kRequestBody: {
      std::string chunk = std::move(paused_chunk_);
      paused_chunk_.clear();
      bool eos = paused_chunk_eos_;
      paused_chunk_eos_ = false;
      if (!RunRequestBody(next, chunk, eos)) return;
      if (eos) request_side_ = RequestSide::kComplete;
      if (body_paused_) {
        body_paused_ = false;
        host_.SetRequestBodyPaused(false);
      }
      if (request_complete_ && request_side_ != RequestSide::kComplete) {
        OnRequestEnd();
        return;
      }
      MaybeRunAction();
      return;
    }
    case Phase::kResponseHeaders:
      RunResponseHeaders(next);
      return;
    case Phase::kResponseBody:
      if (source_ != ResponseSource::kLocal) {
        bool eos = false;
        std::string chunk = held_.Take(eos);
        DeliverStreamed(next, chunk, eos);
        if (phase_ == Phase::kDone || pause_ != nullptr) return;
        if (later_.present) {
          std::string later = later_.Take(eos);
          DeliverStreamed(0, later, eos);
        }
        UpdateUpstreamReading();
        return;
      }
      RunResponseBody(next);
      return;
    case Phase::kDone:
      return;
  }
}

void Stream::OnUpstreamHeaders(ResponseHead head, std::optional<uint64_t> content_length) {
  if (phase_ == Phase::kDone || response_) return;
  pause_.reset();
  source_ = ResponseSource::kUpstream;
  if (head.status == 101) {
    source_ = ResponseSource::kTunnel;
    // The deadline covered getting the upgrade; the tunnel has its own idle timeout.
    if (request_timer_ != nullptr) request_timer_->Disable();
  }
  stream_length_ = content_length;
  response_filter_count_ = started_filters_;
  // Only body phases and declared changes need to know; most proxied
  // requests have neither.
  if (response_filter_count_ > 0) {
    stream_has_body_ = ResponseCarriesBody(head_.method, head.status);
  }
  response_ = std::move(head);
  if (!request_complete_) replied_early_ = true;
  RunResponseHeaders(0);
}

void Stream::StartStreamedBody() {
  phase_ = Phase::kResponseBody;
  response_side_ = ResponseSide::kHeadSent;
  info_.status = response_->status;
  if (response_body_changes_) {
    stream_length_ = AnnouncedResponseLength(stream_length_, true, stream_has_body_);
  }
  host_.WriteResponseHead(*response_, stream_length_);
  if (phase_ == Phase::kDone) return;
  if (held_.present) {
    bool eos = false;
    std::string chunk = held_.Take(eos);
    DeliverStreamed(0, chunk, eos);
  }
  UpdateUpstreamReading();
}

void Stream::OnUpstreamTrailers(HeaderMap trailers) {
  if (phase_ == Phase::kDone || source_ == ResponseSource::kLocal) return;
  response_trailers_ = std::move(trailers);
}

void Stream::OnUpstreamBody(std::string_view data, bool end_stream) {
  if (phase_ == Phase::kDone || source_ == ResponseSource::kLocal) return;
  if (response_side_ == ResponseSide::kNone) {
    held_.Append(data, end_stream);
    UpdateUpstreamReading();
    return;
  }
  if (pause_ != nullptr || later_.present) {
    later_.Append(data, end_stream);
    UpdateUpstreamReading();
    return;
  }
  DeliverStreamed(0, data, end_stream);
}

void Stream::DeliverStreamed(size_t from, std::string_view chunk, bool eos) {
  BodyBuffer body(chunk, body_storage_);
  // Tunnel bytes are another protocol, not an HTTP body: filters do not see
  // them. Nor the (empty) end of a response that carries no body.
  if (source_ != ResponseSource::kTunnel && stream_has_body_ && (!chunk.empty() || eos)) {
    for (size_t k = from; k < response_filter_count_; ++k) {
      size_t idx = response_filter_count_ - 1 - k;
      in_phase_ = true;
      FilterStatus status = filters_[idx]->OnResponseBody(*this, body, eos);
      in_phase_ = false;
      // The head is on the wire: a streamed body cannot be replaced any more.
      replacement_body_.reset();
      if (!CheckBodyChange(body, response_body_changes_)) return;
      if (status == FilterStatus::kStop) status = FilterStatus::kContinue;
      if (status == FilterStatus::kPause && pause_taken_) {
        held_.Assign(body.view(), eos);
      }
      if (!HandleStatus(status, k)) {
        UpdateUpstreamReading();
        return;
      }
    }
  }
  std::string_view out = body.view();
  info_.response_body_bytes += out.size();
  if (eos && !response_trailers_.empty()) host_.WriteResponseTrailers(response_trailers_);
  // A piece the filters emptied is nothing to write (and no end either).
  if (!out.empty() || eos) host_.WriteResponseBody(out, eos);
  if (eos && phase_ != Phase::kDone) {
    response_side_ = ResponseSide::kComplete;
    Finish(response_outcome_);
  }
}

void Stream::UpdateUpstreamReading() {
  if (upstream_ == nullptr) return;
  bool blocked = downstream_blocked_ || pause_ != nullptr || held_.present || later_.present ||
                 (source_ != ResponseSource::kLocal && response_side_ == ResponseSide::kNone);
  upstream_->SetResponseReadEnabled(!blocked);
}

void Stream::OnDownstreamWatermark(bool above) {
  downstream_blocked_ = above;
  if (phase_ != Phase::kDone) UpdateUpstreamReading();
}

void Stream::OnUpstreamFailure(LocalReply reply) {
  if (phase_ == Phase::kDone || response_) return;
  StartResponse(std::move(reply));
}

void Stream::OnUpstreamAborted(ResponseFlag flag) {
  if (phase_ == Phase::kDone) return;
  flag_ = ResponseFlagName(flag);
  if (response_side_ == ResponseSide::kNone) {
    EndResponseWith(LocalReply::Json(502, flag, "upstream response was cut short"),
                    RequestOutcome::kError);
    return;
  }
  // The head is on the wire: the client sees the truncation as a closed connection.
  Finish(RequestOutcome::kError);
}

void Stream::OnTunnelData(std::string_view data) {
  if (phase_ == Phase::kDone || !tunneling() || upstream_ == nullptr) return;
  info_.request_body_bytes += data.size();
  upstream_->SendTunnel(data);
}

void Stream::EndTunnel() {
  if (phase_ == Phase::kDone || !tunneling()) return;
  response_side_ = ResponseSide::kComplete;
  Finish(RequestOutcome::kCompleted);
}

void Stream::OnUpstreamBodyWritable(bool writable) {
  if (phase_ != Phase::kRequestBody && !tunneling()) return;
  if (!writable) {
    host_.SetRequestBodyPaused(true);
  } else if (pause_ == nullptr && !body_paused_) {
    host_.SetRequestBodyPaused(false);
  }
}

Resumer Stream::Pause() {
  if (!in_phase_ || pause_taken_) return Resumer();
  pause_taken_ = true;
  pause_ = std::make_shared<PauseState>(this, &host_.dispatcher());
  return Resumer(pause_);
}

void Stream::SendLocalReply(LocalReply reply) {
  if (!in_phase_ || phase_ == Phase::kDone) return;
  if (phase_ == Phase::kResponseHeaders || phase_ == Phase::kResponseBody) {
    ReplaceResponse(std::move(reply));
    return;
  }
  stop_reply_ = std::move(reply);
}

bool Stream::WillModifyRequestBody() {
  if (!in_phase_ || phase_ != Phase::kRequestHeaders) return false;
  request_body_changes_ = true;
  return true;
}

bool Stream::WillModifyResponseBody() {
  // Before the response body phases, which follow the head of a streamed
  // response at once.
  if (!in_phase_ || phase_ == Phase::kResponseBody || phase_ == Phase::kDone) return false;
  response_body_changes_ = true;
  return true;
}

void Stream::SetAttribute(std::string_view key, std::string value) {
  auto it = attributes_.find(key);
  if (it != attributes_.end()) {
    it->second = std::move(value);
  } else {
    attributes_.emplace(std::string(key), std::move(value));
  }
}

std::optional<std::string_view> Stream::GetAttribute(std::string_view key) const {
  auto it = attributes_.find(key);
  if (it == attributes_.end()) return std::nullopt;
  return std::string_view(it->second);
}

}  // namespace internal
}  // namespace gateway
