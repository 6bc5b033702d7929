// One proxied request: admits it, picks hosts, buffers the body for replay,
// retries per the route's policy or falls back, and hands the response to a
// sink. Each try on the wire is an UpstreamAttempt (upstream_attempt.h).
// Lives on one loop; owned by the stream.
#ifndef GATEWAY_LIB_PROXY_UPSTREAM_REQUEST_H_
#define GATEWAY_LIB_PROXY_UPSTREAM_REQUEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "common/block_cache.h"
#include "gateway/call_outcome.h"
#include "gateway/circuit_breaker.h"
#include "gateway/codec.h"
#include "gateway/concurrency_limit.h"
#include "gateway/filter.h"
#include "gateway/hash_policy.h"
#include "gateway/router.h"
#include "gateway/upstream_pool.h"
#include "proxy/proxy_worker.h"
#include "proxy/upstream_attempt.h"

namespace gateway::internal {

// What the upstream exchange tells the stream. Calls never re-enter the
// UpstreamRequest method that caused them in a way that destroys it: the
// owner may destroy the request only after the call returns... except where
// noted, the owner may call back into the request from these methods.
class UpstreamResponseSink {
 public:
  virtual ~UpstreamResponseSink() = default;
  // The final response head. `content_length` is known for Content-Length
  // framed bodies; nullopt means the length is unknown (chunked/close).
  virtual void OnUpstreamHeaders(ResponseHead head, std::optional<uint64_t> content_length) = 0;
  // Trailer fields of a chunked response, right before the final OnUpstreamBody.
  virtual void OnUpstreamTrailers(HeaderMap trailers) = 0;
  // Response body; the last call has end_stream set (its data may be empty).
  virtual void OnUpstreamBody(std::string_view data, bool end_stream) = 0;
  // The exchange failed before any response head was passed on.
  virtual void OnUpstreamFailure(LocalReply reply) = 0;
  // The exchange failed after the head was passed on: the response is cut short.
  virtual void OnUpstreamAborted(ResponseFlag flag) = 0;
  // Request-body flow control: false asks to stop delivering request body.
  virtual void OnUpstreamBodyWritable(bool writable) = 0;
};

// The request side of a proxied exchange: admission (limits, breakers),
// host choice, the replay buffer, retries and fallback, and the response
// head's preparation for the client. Each try on the wire is the
// UpstreamAttempt it owns; the attempt reports back here and this class
// decides what happens next.
class UpstreamRequest final : public UpstreamAttemptCallbacks {
 public:
  // `head` is the stream's request head, which outlives this request: it is
  // edited in place into the upstream request (path rewrite, hop-by-hop
  // fields removed, forwarding fields added) rather than copied.
  // `route_breaker` is the matched route's breaker (Pipeline::route_breaker),
  // or null; it outlives this request (the stream holds its pipeline).
  UpstreamRequest(ProxyWorker& worker, const RouteMatch& match, CircuitBreaker* route_breaker,
                  RequestHead& head, const ConnectionInfo& peer, UpstreamResponseSink& sink);
  ~UpstreamRequest() override;

  // One per proxied request, freed in bursts (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<UpstreamRequest>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<UpstreamRequest>::Free(block, size);
  }

  // Starts the first attempt (the request head is final).
  void Start();
  // Request body after the request filters. May be called before a connection
  // is ready; the bytes are buffered (bounded, with OnUpstreamBodyWritable).
  void SendBody(std::string_view data, bool end_stream);
  // Trailer fields of a chunked request body; before SendBody's end_stream.
  void SendTrailers(HeaderMap trailers);
  // Stops all upstream activity (the stream ended or replied itself). Safe
  // inside this request's own callbacks; destroy the object later.
  void Cancel();
  // Downstream backpressure: stop/restart reading the upstream response.
  void SetResponseReadEnabled(bool enabled);
  // After a 101 was passed on: raw bytes from the client for the upstream.
  // Flow control as for the body (OnUpstreamBodyWritable).
  void SendTunnel(std::string_view data);

 private:
  enum class Failure { kConnect, kReset, kStatus, kTimeout, kProtocol };

  // UpstreamAttemptCallbacks.
  void OnAttemptConnectFailed(PoolFailure failure, const std::string& error) override;
  void OnAttemptConnected() override;
  HeadVerdict OnAttemptResponseHead(ResponseHead& head) override;
  void OnAttemptHeadPassed(ResponseHead&& head, std::optional<uint64_t> content_length) override;
  void OnAttemptBody(std::string_view data) override;
  void OnAttemptComplete(bool reusable, HeaderMap& trailers) override;
  void OnAttemptRetriableStatus(int status) override;
  void OnAttemptError(ResponseFlag flag) override;
  void OnAttemptClosedEarly(bool reused) override;
  void OnAttemptTunnelClosed(bool reset) override;
  void OnAttemptTimeout(AttemptTimeout which) override;
  void OnAttemptWritable() override;

  // Takes the request's kRequests slot and the first attempt's breaker
  // permits; on refusal fails (or falls back) and returns false.
  bool Admit();
  // Route breaker first, then the cluster's; false if either refuses.
  bool AcquireBreakerPermits();
  // What a retry needs besides policy and budget: the request's kRetries slot
  // and fresh breaker permits, held for the next attempt.
  bool ReserveRetry();
  // The current attempt's outcome, to its breaker permits and host monitor.
  void RecordOutcome(CallOutcome outcome);
  // done_ is set: slots, permits and monitor go.
  void MarkDone();
  // Fail, unless the cluster's fallback covers `reply.flag`.
  void FailOrFallback(LocalReply reply);
  // The balancer's key for this request (hash_), from the request as the
  // client sent it; nothing unless the cluster's balancer hashes.
  void ComputeHashKey(const RouteMatch& match, const ConnectionInfo& peer);
  void StartAttempt();
  void FinishRequestBody();
  // Stops producing request body while the attempt's connection is full.
  void CheckBodyWritable();
  const HeaderMap* RequestTrailers() const;
  // Ends the current attempt's connection and host accounting.
  void EndAttempt(bool reusable);
  // Retries if policy, budget and replay allow; returns false otherwise.
  bool MaybeRetry(Failure why, int status = 0);
  bool CanRetry(Failure why) const;
  bool RetriableStatus(int status) const;
  void ScheduleAttempt(absl::Duration delay);
  void Fail(LocalReply reply);
  void EncodeHead(const Host& host, std::string& out);
  // Checks a 101 against the offered protocols and sets the tunnel's headers.
  bool AcceptUpgrade(ResponseHead& head);
  // Hop-by-hop removal, the route's mutations and Via, for the client.
  void PrepareResponseHeaders(HeaderMap& headers, std::string_view upgrade);

  ProxyWorker& worker_;
  CircuitBreaker* const route_breaker_;
  const RouteSpec& route_;
  RequestHead& head_;           // the stream's head, edited into the upstream request
  const ConnectionInfo& peer_;  // the client connection's, which outlives the stream
  std::string cluster_;
  UpstreamResponseSink& sink_;

  ProxyWorker::ClusterLocal* local_ = nullptr;
  bool counted_request_ = false;  // in worker_.active_requests
  bool done_ = false;

  // Resilience. Slots: the request's (kRequests, until done), its retry's
  // (kRetries, from the first retry on) and the attempt's wait for a
  // connection (kPendingRequests). Breaker permits belong to the current
  // attempt, or to the next one once reserved (permits_ready_).
  std::optional<ConcurrencyLimits::Permit> request_slot_;
  std::optional<ConcurrencyLimits::Permit> retry_slot_;
  std::optional<ConcurrencyLimits::Permit> pending_slot_;
  std::optional<CircuitBreaker::Permit> route_permit_;
  std::optional<CircuitBreaker::Permit> cluster_permit_;
  bool permits_ready_ = false;
  std::shared_ptr<const OutlierDetector::MonitorSet> monitors_;
  OutlierDetector::HostMonitor* monitor_ = nullptr;  // the current attempt's host
  bool fallback_used_ = false;
  // Computed once, before the head is edited; every attempt picks with it.
  HashKeyResult hash_;
  bool sent_any_ = false;  // some attempt wrote request bytes
  // Inline room for a first try and one retry: no allocation per request.
  absl::InlinedVector<const Host*, 2> attempted_;
  absl::InlinedVector<HostPtr, 2> attempted_owned_;  // keeps the pointers above valid
  uint32_t attempts_ = 0;
  uint32_t retries_ = 0;
  bool stale_retry_used_ = false;
  bool counted_retry_ = false;

  // Request body: everything received so far while it can still be replayed.
  std::string replay_;
  bool replay_overflow_ = false;
  uint64_t body_received_ = 0;
  bool request_complete_ = false;
  bool body_writable_ = true;
  bool chunked_ = false;
  bool has_body_ = false;
  HeaderMap request_trailers_;

  // Upgrades: the protocols offered upstream (empty: not an upgrade request).
  std::string upgrade_;

  std::unique_ptr<Timer> retry_timer_;
  // The try on the wire; reused for every try.
  UpstreamAttempt attempt_;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_PROXY_UPSTREAM_REQUEST_H_
