// Filters: the extension point of the request pipeline.
//
// For every request that matches a route, each `FilterFactory` of the pipeline
// creates one `Filter`. The stream owns its filters and destroys them after
// `OnDone`. All phases run on the stream's loop thread, one at a time:
//
//   OnRequestHeaders -> OnRequestBody* -> [route action] ->
//   OnResponseHeaders -> OnResponseBody* -> OnDone
//
// Request phases run in pipeline order, response phases in reverse order over
// the filters whose OnRequestHeaders ran. `OnDone` runs exactly once for every
// created filter, whatever happened (completed, local reply, client gone,
// timeout, error).
//
// Each phase returns a `FilterStatus`:
//   kContinue  the next filter runs (synchronously).
//   kPause     the phase is suspended; the filter must have called ctx.Pause()
//              and later uses the `Resumer` to continue or reply. While paused
//              no later filter runs and the connection reads no further body.
//   kStop      the filter called ctx.SendLocalReply(); no later request phase
//              runs, the reply goes through the response phases.
//
// Never synchronous: a Resumer used inside the phase that paused still takes
// effect on a later loop turn, after the phase has returned.
//
// The `FilterContext&` passed to a phase is valid only during that call. The
// only object that may outlive a call is the move-only `Resumer`; once the
// request is gone, using it does nothing.
//
// Body phases get the body as a `BodyBuffer` they may change (replace, append,
// drop), provided the filter declared it in the headers phase of that
// direction (`WillModifyRequestBody`, `WillModifyResponseBody`): the proxy
// then forwards that body without a Content-Length, chunked (close-delimited
// to an HTTP/1.0 client). A change to a body nobody declared is a contract
// violation: 500 `filter_error`, or, once the response head is on the wire,
// the response is cut short and the connection closed.
#ifndef GATEWAY_FILTER_H_
#define GATEWAY_FILTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "gateway/body_buffer.h"
#include "gateway/dispatcher.h"
#include "gateway/http.h"
#include "gateway/router.h"

namespace gateway {

enum class FilterStatus { kContinue, kPause, kStop };

namespace internal {
class PauseState;
}  // namespace internal

// Continues a paused request. Move-only; obtained from FilterContext::Pause().
// Use it only on the loop thread of the request that created it. Each Resumer
// acts at most once; later calls, and calls after the request ended, do nothing.
// Dropping a Resumer without using it leaves the request paused until one of its
// timeouts ends it.
class Resumer {
 public:
  Resumer() = default;
  Resumer(Resumer&&) noexcept = default;
  Resumer& operator=(Resumer&&) noexcept = default;
  Resumer(const Resumer&) = delete;
  Resumer& operator=(const Resumer&) = delete;
  ~Resumer() = default;

  // Continues with the next filter (or the route action), on a later loop turn.
  void Resume();
  // Ends the request phases with a local reply instead, on a later loop turn.
  void Reply(LocalReply reply);
  // True while the request is alive and this resumer has not acted yet.
  bool active() const;

  explicit Resumer(std::weak_ptr<internal::PauseState> state) : state_(std::move(state)) {}

 private:
  std::weak_ptr<internal::PauseState> state_;
};

// Addresses of the downstream connection.
struct ConnectionInfo {
  std::string peer_address;  // "127.0.0.1" or "::1"
  uint16_t peer_port = 0;
  std::string local_address;
  uint16_t local_port = 0;
  uint64_t id = 0;  // unique per process
};

// How a request ended, for OnDone and the access log.
enum class RequestOutcome {
  kCompleted,   // a response was sent in full
  kClientGone,  // the client closed or reset before the response was sent
  kTimeout,     // a request timeout ended it
  kError,       // protocol error or internal failure
};

struct RequestInfo {
  int status = 0;                    // status sent, 0 if none
  std::string_view flag;             // response flag ("" for a normal response)
  std::string_view route_name;       // "" if no route matched
  uint64_t request_body_bytes = 0;   // as received from the client
  uint64_t response_body_bytes = 0;  // as sent to the client (after body filters)
  absl::Duration duration;           // from the first byte of the head to the end
  RequestOutcome outcome = RequestOutcome::kCompleted;
};

class FilterContext {
 public:
  virtual ~FilterContext() = default;

  // The request head. Request phases may modify it (headers, path). After
  // the last filter's OnRequestHeaders the proxy edits this same head into
  // the upstream request (rewritten path, hop-by-hop fields removed,
  // forwarding fields added), so later phases see it as it was sent; changes
  // made then are not reliably forwarded (only a retry would re-send them).
  virtual RequestHead& request() = 0;
  // The route this request matched and the match details (captures, rewritten path).
  virtual const Route& route() const = 0;
  virtual const RouteMatch& route_match() const = 0;
  // The response head, in response phases only (nullptr before).
  virtual ResponseHead* response() = 0;
  virtual const ConnectionInfo& connection() const = 0;
  // The stream's loop: timers, posting, the clock.
  virtual Dispatcher& dispatcher() = 0;

  // Request attributes shared between filters of one request (for example an
  // identity set by an auth filter and read by a rate limiter).
  virtual void SetAttribute(std::string_view key, std::string value) = 0;
  virtual std::optional<std::string_view> GetAttribute(std::string_view key) const = 0;

  // Suspends the current phase; return kPause from it. Calling Pause outside a
  // phase, or twice in one phase, returns an inactive Resumer.
  virtual Resumer Pause() = 0;
  // Replies locally; return kStop from a request phase. In response phases the
  // reply replaces the response if its head has not been sent yet.
  virtual void SendLocalReply(LocalReply reply) = 0;

  // Declares that body phases of this request may change the request body
  // (any filter's, from then on). Only in OnRequestHeaders, before the head
  // can go upstream: the request is then forwarded without Content-Length,
  // with a chunked body, and `request()` shows that framing. A request
  // without a body keeps none. Returns false, changing nothing, elsewhere.
  virtual bool WillModifyRequestBody() = 0;
  // Declares that body phases may change the response body. In request
  // phases or OnResponseHeaders, before the response head is written: a
  // streamed response is then sent without Content-Length (chunked, or
  // close-delimited to an HTTP/1.0 client); a local reply's length is counted
  // after the body phases anyway. A proxied response that carries no body
  // (to HEAD, 1xx, 204, 304) is left as it is and its body phases do not
  // run. Returns false, changing nothing, elsewhere.
  virtual bool WillModifyResponseBody() = 0;
};

class Filter {
 public:
  virtual ~Filter() = default;

  virtual FilterStatus OnRequestHeaders(FilterContext& ctx) { return FilterStatus::kContinue; }
  // Called only for requests with a body, in arrival order; the last call has
  // end_of_stream set (its piece may be empty). `body` is this piece as the
  // filters before this one left it, valid during the call; what it holds on
  // return goes to the next filter, then upstream. Writing to it needs
  // WillModifyRequestBody() in OnRequestHeaders. The default calls the
  // read-only form below.
  virtual FilterStatus OnRequestBody(FilterContext& ctx, BodyBuffer& body, bool end_of_stream) {
    return OnRequestBody(ctx, body.view(), end_of_stream);
  }
  virtual FilterStatus OnResponseHeaders(FilterContext& ctx) { return FilterStatus::kContinue; }
  // As OnRequestBody, for responses with a body, in reverse pipeline order;
  // what `body` holds on return goes to the client. Writing to it needs
  // WillModifyResponseBody() before the response head was written.
  virtual FilterStatus OnResponseBody(FilterContext& ctx, BodyBuffer& body, bool end_of_stream) {
    return OnResponseBody(ctx, body.view(), end_of_stream);
  }
  // Read-only forms of the body phases, kept for filters that only look at
  // bodies: override either form, not both. `chunk` is valid during the call.
  virtual FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk,
                                     bool end_of_stream) {
    return FilterStatus::kContinue;
  }
  virtual FilterStatus OnResponseBody(FilterContext& ctx, std::string_view chunk,
                                      bool end_of_stream) {
    return FilterStatus::kContinue;
  }
  // Exactly once per filter, last. No context: the request is over.
  virtual void OnDone(const RequestInfo& info) {}
};

// Creates the filters of one kind. Shared by all workers: `Create` must be
// safe to call concurrently. It runs on the request's loop, after routing.
class FilterFactory {
 public:
  virtual ~FilterFactory() = default;
  virtual std::string_view name() const = 0;
  // A filter for one request on `route`, or nullptr to skip this request.
  virtual std::unique_ptr<Filter> Create(const Route& route) const = 0;
};

// A factory from a name and a callable `std::unique_ptr<Filter>(const Route&)`.
std::shared_ptr<const FilterFactory> MakeFilterFactory(
    std::string name, absl::AnyInvocable<std::unique_ptr<Filter>(const Route&) const> create);

}  // namespace gateway

#endif  // GATEWAY_FILTER_H_
