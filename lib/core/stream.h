// One request/response exchange: routing, the filter chain and the route
// action. Independent of sockets: a `StreamHost` (the HTTP/1.1 connection, or
// the in-process testing harness) feeds it the request and carries out the
// response.
#ifndef GATEWAY_LIB_CORE_STREAM_H_
#define GATEWAY_LIB_CORE_STREAM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/block_cache.h"
#include "gateway/filter.h"
#include "gateway/pipeline.h"
#include "proxy/upstream_request.h"

namespace gateway {
namespace internal {

class Stream;

// Shared between a paused stream and the Resumer it handed out. The stream
// owns the only strong reference; a Resumer sees an expired weak_ptr once the
// stream is gone.
class PauseState {
 public:
  PauseState(Stream* stream, Dispatcher* dispatcher) : stream_(stream), dispatcher_(dispatcher) {}
  Stream* stream() const { return stream_; }
  Dispatcher* dispatcher() const { return dispatcher_; }
  bool acted = false;

 private:
  Stream* stream_;
  Dispatcher* dispatcher_;
};

class StreamHost {
 public:
  virtual ~StreamHost() = default;
  virtual Dispatcher& dispatcher() = 0;
  virtual const ConnectionInfo& connection_info() const = 0;
  // The final response head (after response filters). `body_length` is the
  // exact body size that follows through WriteResponseBody, or nullopt when it
  // is not known in advance (a streamed upstream body). The stream is done
  // with `head`: the host may adjust it (Connection, version) while encoding.
  virtual void WriteResponseHead(ResponseHead& head, std::optional<uint64_t> body_length) = 0;
  virtual void WriteResponseBody(std::string_view data, bool end_stream) = 0;
  // Trailer fields of a streamed body, right before its final
  // WriteResponseBody. A host that cannot send them (no chunked framing) drops them.
  virtual void WriteResponseTrailers(const HeaderMap& trailers) {}
  // Stop/start delivering request body (and the request's end) to the stream.
  virtual void SetRequestBodyPaused(bool paused) = 0;
  // Send "100 Continue" for a request that expects it.
  virtual void SendContinue() = 0;
  // The stream is finished: response handed over or aborted. Called once, last;
  // the host may destroy the stream only on a later loop turn.
  virtual void OnStreamDone(Stream& stream) = 0;
  // The per-loop proxy for `pipeline`'s clusters, or nullptr if it has none.
  virtual ProxyWorker* proxy(const Pipeline& pipeline) { return nullptr; }
};

struct StreamOptions {
  absl::Duration request_timeout = absl::Seconds(60);
};

class Stream final : public FilterContext, public UpstreamResponseSink {
 public:
  Stream(StreamHost& host, std::shared_ptr<const Pipeline> pipeline, RequestHead head,
         const StreamOptions& options);
  ~Stream() override;

  // One per request, freed in bursts (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Stream>::Allocate(size); }
  static void operator delete(void* block, size_t size) { BlockCache<Stream>::Free(block, size); }

  // Normalises, routes, creates the filters and runs request-header phases.
  void Start();
  // Request body bytes as they arrive (only while not paused by the stream).
  void OnRequestBody(std::string_view chunk);
  // Trailer fields of a chunked request, before OnRequestEnd.
  void OnRequestTrailers(HeaderMap trailers);
  // The request ended (after any body).
  void OnRequestEnd();
  // The host gave up on the stream (client gone, timeout, protocol error).
  // Filters get OnDone with `outcome`; nothing more is written by the stream.
  // When the host answers the client itself (a 408 or a codec's 400/413), it
  // passes that answer's status and response flag so OnDone reports them.
  void Abort(RequestOutcome outcome, int status = 0, std::string_view flag = {});

  bool done() const { return phase_ == Phase::kDone; }
  bool response_started() const { return response_side_ != ResponseSide::kNone; }
  // The whole response was handed to the host (false after a truncation).
  bool response_complete() const { return response_side_ == ResponseSide::kComplete; }
  // The host's output queue went above (true) or back below (false) its
  // watermark: a streamed upstream response stops or resumes reading.
  void OnDownstreamWatermark(bool above);
  bool request_complete() const { return request_complete_; }
  // The upstream answered 101: after the head, bytes flow raw both ways
  // (OnTunnelData / WriteResponseBody) until either side closes.
  bool tunneling() const { return source_ == ResponseSource::kTunnel; }
  // Raw bytes from the client once tunneling.
  void OnTunnelData(std::string_view data);
  // The client closed its side of the tunnel: the upstream side closes too.
  void EndTunnel();
  // True once the response no longer needs the rest of the request body: the
  // host should close the connection after the response unless it can drain.
  bool replied_before_request_end() const { return replied_early_; }
  const RequestHead& head() const { return head_; }
  const RequestInfo& info() const { return info_; }

  // FilterContext.
  RequestHead& request() override { return head_; }
  const Route& route() const override { return *match_.route; }
  const RouteMatch& route_match() const override { return match_; }
  ResponseHead* response() override { return response_ ? &*response_ : nullptr; }
  const ConnectionInfo& connection() const override { return host_.connection_info(); }
  Dispatcher& dispatcher() override { return host_.dispatcher(); }
  void SetAttribute(std::string_view key, std::string value) override;
  std::optional<std::string_view> GetAttribute(std::string_view key) const override;
  Resumer Pause() override;
  void SendLocalReply(LocalReply reply) override;
  bool WillModifyRequestBody() override;
  bool WillModifyResponseBody() override;

  // Called from a posted Resumer callback.
  void ResumeFromPause(std::optional<LocalReply> reply);

 private:
  enum class Phase {
    kRequestHeaders,
    kRequestBody,
    kResponseHeaders,
    kResponseBody,
    kDone,
  };
  // How far the request went through the request filters. Receiving it from
  // the host is separate (request_complete_): the client may finish sending
  // while a header filter is still paused.
  enum class RequestSide : uint8_t {
    kHeaders,   // OnRequestHeaders phases not all passed yet
    kBody,      // every filter passed OnRequestHeaders: body chunks go through
    kComplete,  // the request's end was handed to the body filters
  };
  // What the host was given of the response.
  enum class ResponseSide : uint8_t {
    kNone,      // nothing: a local reply can still replace everything
    kHeadSent,  // the head, and perhaps part of a streamed body
    kComplete,  // all of it (a truncated response never gets here)
  };
  // Where the response body comes from.
  enum class ResponseSource : uint8_t {
    kLocal,     // response_body_: a local reply, or a replaced upstream response
    kUpstream,  // streamed from upstream_, through the response body filters
    kTunnel,    // raw bytes after a 101, which filters do not see
  };
  // A streamed response chunk that cannot go on yet (a paused filter, or the
  // head not written).
  struct HeldChunk {
    std::string data;
    bool eos = false;
    bool present = false;
    void Append(std::string_view more, bool end) {
      data.append(more);
      eos |= end;
      present = true;
    }
    void Assign(std::string_view chunk, bool end) {
      data.assign(chunk.data(), chunk.size());
      eos = end;
      present = true;
    }
    // Empties the holder; returns the bytes and sets `end` to its eos.
    std::string Take(bool& end) {
      std::string out = std::move(data);
      data.clear();
      present = false;
      end = std::exchange(eos, false);
      return out;
    }
  };

  void RunRequestHeaders(size_t from);
  // Delivers one body chunk to filters [from, end). Returns false if paused or stopped.
  bool RunRequestBody(size_t from, std::string_view chunk, bool eos);
  void MaybeRunAction();
  void StartResponse(LocalReply reply);
  void RunResponseHeaders(size_t from_reverse);
  void RunResponseBody(size_t from_reverse);
  void FinishResponse();
  // Replaces the response produced so far (response phases only).
  void ReplaceResponse(LocalReply reply);
  // The response filter chain cannot go on but nothing was written yet: send
  // `reply` as it is, without the remaining response filters.
  void EndResponseWith(LocalReply reply, RequestOutcome outcome);
  void Finish(RequestOutcome outcome);
  // Handles a phase's return value; true if the chain may go on.
  bool HandleStatus(FilterStatus status, size_t index);
  // After a body phase: a change to a body nobody declared fails the filter
  // (unless it replied). True if the chain may go on.
  bool CheckBodyChange(const BodyBuffer& body, bool declared);
  void FailFilter(std::string_view why);

  // UpstreamResponseSink: the proxied response.
  void OnUpstreamHeaders(ResponseHead head, std::optional<uint64_t> content_length) override;
  void OnUpstreamTrailers(HeaderMap trailers) override;
  void OnUpstreamBody(std::string_view data, bool end_stream) override;
  void OnUpstreamFailure(LocalReply reply) override;
  void OnUpstreamAborted(ResponseFlag flag) override;
  void OnUpstreamBodyWritable(bool writable) override;
  void StartStreamedBody();
  // Runs response body filters [from, end) on a streamed chunk and writes it.
  void DeliverStreamed(size_t from, std::string_view chunk, bool eos);
  void UpdateUpstreamReading();

  StreamHost& host_;
  std::shared_ptr<const Pipeline> pipeline_;
  RequestHead head_;
  StreamOptions options_;
  RouteMatch match_;
  std::vector<std::unique_ptr<Filter>> filters_;
  size_t started_filters_ = 0;  // how many saw OnRequestHeaders
  // Node-based so a view returned by GetAttribute survives setting other keys.
  std::map<std::string, std::string, std::less<>> attributes_;

  Phase phase_ = Phase::kRequestHeaders;
  bool in_phase_ = false;     // inside a filter call
  bool pause_taken_ = false;  // Pause() called in the current call
  std::shared_ptr<PauseState> pause_;
  size_t paused_index_ = 0;
  std::string paused_chunk_;  // body chunk held while a body phase is paused
  bool paused_chunk_eos_ = false;
  std::optional<LocalReply> stop_reply_;  // set by SendLocalReply in a phase
  // Filters declared they may change the body (see filter.h): the framing
  // sent ahead of it cannot announce a length.
  bool request_body_changes_ = false;
  bool response_body_changes_ = false;
  // Where a body piece goes once a filter writes to it. One string serves
  // both directions: request body phases end before response body phases
  // start, and a piece never outlives the call that runs its phases.
  std::string body_storage_;

  RequestSide request_side_ = RequestSide::kHeaders;
  bool request_complete_ = false;  // the host delivered the request's end
  bool body_paused_ = false;       // the host was asked to hold the body for a paused filter
  bool continue_sent_ = false;
  bool replied_early_ = false;
  ResponseSide response_side_ = ResponseSide::kNone;
  ResponseSource source_ = ResponseSource::kLocal;

  std::optional<ResponseHead> response_;
  std::string response_body_;
  // A body given by SendLocalReply inside OnResponseBody: applied after that
  // call returns, because its `chunk` views `response_body_`.
  std::optional<std::string> replacement_body_;
  size_t response_filter_count_ = 0;
  // Reported in OnDone when the response is written (a 504 from the request
  // deadline is kTimeout, a filter_error 500 is kError).
  RequestOutcome response_outcome_ = RequestOutcome::kCompleted;

  RequestInfo info_;
  std::string flag_;
  absl::Duration start_;
  std::unique_ptr<Timer> request_timer_;

  // Proxied requests.
  std::unique_ptr<UpstreamRequest> upstream_;
  std::optional<uint64_t> stream_length_;
  // False for HEAD, 1xx, 204, 304; worked out only when filters are there.
  bool stream_has_body_ = true;
  HeldChunk held_;   // streamed chunk held by a paused filter or before the head
  HeldChunk later_;  // streamed bytes that arrived meanwhile
  bool downstream_blocked_ = false;
  // Passed through, not shown to filters.
  HeaderMap request_trailers_;
  HeaderMap response_trailers_;
};

}  // namespace internal
}  // namespace gateway

#endif  // GATEWAY_LIB_CORE_STREAM_H_
