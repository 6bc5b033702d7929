// `Gateway`: the HTTP server side of the library, attached to a libuv loop
// that the caller owns and runs.
//
// A Gateway never runs, stops or closes the loop it is given. Every method must
// be called on the loop's thread; every callback it makes runs there too.
// Destroying a Gateway closes its listeners and connections at once (in-flight
// requests end with outcome kClientGone); the loop must run afterwards (even
// one `uv_run(loop, UV_RUN_NOWAIT)`) to release the handles. Use `Drain` first
// for a graceful stop.
#ifndef GATEWAY_SERVER_H_
#define GATEWAY_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/codec.h"
#include "gateway/dispatcher.h"
#include "gateway/pipeline.h"

namespace gateway {

struct ListenerOptions {
  std::string address = "0.0.0.0";  // IPv4 or IPv6 literal ("::" for all IPv6)
  uint16_t port = 8080;             // 0 picks a free port; see Gateway::ports()
  int backlog = 1024;
  // Set SO_REUSEPORT so several loops can accept on the same port (Runtime sets it).
  bool reuse_port = false;
};

// Timeouts on by default. Zero disables one.
struct ServerTimeouts {
  // From the first byte of a request to the end of its header section: 408 and close.
  absl::Duration header = absl::Seconds(10);
  // Longest gap between two pieces of a request body: 408 and close.
  absl::Duration body_idle = absl::Seconds(30);
  // Idle keep-alive connection between requests: closed silently.
  absl::Duration keepalive_idle = absl::Seconds(60);
  // Whole request, from first byte to the last byte of the response; routes may
  // set their own. 504 if no response started yet, otherwise the connection closes.
  absl::Duration request = absl::Seconds(60);
  // Longest time a response write may stay blocked on a client that does not read.
  absl::Duration send = absl::Seconds(30);
};

struct ServerOptions {
  std::vector<ListenerOptions> listeners;
  CodecLimits limits;
  ServerTimeouts timeouts;
  // Connections beyond this are accepted and closed at once (no accept spin).
  size_t max_connections = 10000;
  // Requests served on one connection before it is closed; 0 means unlimited.
  size_t max_requests_per_connection = 0;
  // The clock for timestamps and durations (timers follow the loop's own time).
  const Clock* clock = nullptr;  // nullptr: SystemClock()
  // Makes every connection's codec (gateway/codec.h), with `limits`. Must not
  // be null. The default speaks HTTP/1.1; a user factory may wrap it or speak
  // another protocol, and the connection, streams and filters stay the same.
  std::shared_ptr<const ServerCodecFactory> codec = Http1ServerCodecFactory();

  absl::Status Validate() const;
};

struct GatewayStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // over max_connections
  uint64_t active_connections = 0;
  uint64_t requests = 0;  // request heads parsed
  uint64_t active_requests = 0;
  // Header and trailer fields whose name contains '_' (CodecLimits::
  // headers_with_underscores): left out under kDrop, and requests answered
  // 400 under kReject.
  uint64_t underscore_headers_dropped = 0;
  uint64_t underscore_requests_rejected = 0;
};

class Gateway {
 public:
  // Binds and starts listening on `loop`. Fails if the options are invalid or a
  // listener cannot bind (the status names the address). If SIGPIPE still has
  // its default action it is set to ignored: a write to a connection the peer
  // reset must fail, not end the process. A handler you installed is kept.
  static absl::StatusOr<std::unique_ptr<Gateway>> Create(uv_loop_t* loop, ServerOptions options,
                                                         std::shared_ptr<const Pipeline> pipeline);

  virtual ~Gateway() = default;

  // Requests that start after this call use `pipeline`; in-flight ones finish
  // on the one they started with.
  virtual void SetPipeline(std::shared_ptr<const Pipeline> pipeline) = 0;

  // Graceful stop: closes the listeners, closes idle connections, lets in-flight
  // requests finish (their responses carry Connection: close) and closes every
  // connection still open after `deadline`. `done` runs once, on a later loop
  // turn, when no connection is left.
  virtual void Drain(absl::Duration deadline, absl::AnyInvocable<void()> done) = 0;

  // The bound port of each listener, in `ServerOptions::listeners` order.
  virtual std::vector<uint16_t> ports() const = 0;

  virtual GatewayStats stats() const = 0;
  virtual Dispatcher& dispatcher() = 0;
};

}  // namespace gateway

#endif  // GATEWAY_SERVER_H_
