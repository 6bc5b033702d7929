// A scripted fake upstream: an `UpstreamPool` that answers from a script
// instead of sockets, so response filters, retries and fallbacks can be
// tested in-process and deterministically on a `SimulatedDispatcher`.
//
//   auto upstream = std::make_shared<testing::ScriptedUpstream>();
//   upstream->Then(testing::ScriptedAttempt::ConnectFailure())
//       .Then(testing::ScriptedAttempt().Respond(200, "hello"));
//   ClusterSpec users{.name = "users", .endpoints = {{"10.0.0.1", 80}, {"10.0.0.2", 80}}};
//   users.pool_factory = upstream->factory();
//   ... build the pipeline with a ClusterManager holding `users` ...
//   testing::PipelineHarness h(pipeline);
//   auto& ex = h.Send(testing::Request("GET", "/users/1"));
//   h.RunUntilIdle();
//   REQUIRE(ex.status() == 200);
//   REQUIRE(upstream->attempts().size() == 2);  // the second went to the other host
//
// Each `Acquire` of any pool the factory makes takes the next attempt of the
// script, in order, whatever the host; an Acquire past the end of the script
// fails with kConnectFailed ("script exhausted"). Everything the proxy writes
// on an attempt's connection is recorded in `attempts()`.
//
// Single-threaded: the script, the pools and the record belong to the loop of
// the harness (one dispatcher); do not share one ScriptedUpstream between
// worker threads. Make it with std::make_shared (factory() and MakePool()
// share it with the pools). Unlike the TCP pool's, a scripted pool's leases
// must not outlive it (the harness destroys requests before pools). Like the real pool, it never
// calls back inside a call: the lease arrives on a later loop turn, and so does every byte and
// close.
#ifndef GATEWAY_TESTING_FAKE_UPSTREAM_H_
#define GATEWAY_TESTING_FAKE_UPSTREAM_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "gateway/upstream_pool.h"

namespace gateway::testing {

// What one attempt (one Acquire) meets: how the connection goes, then the
// upstream's steps in order.
class ScriptedAttempt {
 public:
  // Connects (on the next loop turn unless ConnectAfter), then runs the steps.
  ScriptedAttempt() = default;
  // Acquire fails with kConnectFailed (refused) after `after`.
  static ScriptedAttempt ConnectFailure(absl::Duration after = absl::ZeroDuration());
  // Acquire fails with kConnectTimeout after `after` (the pool's connect timeout).
  static ScriptedAttempt ConnectTimeout(absl::Duration after = absl::Seconds(5));

  // The connection is handed out `delay` after Acquire.
  ScriptedAttempt& ConnectAfter(absl::Duration delay);
  // Start the steps as soon as the connection is handed out instead of once
  // the whole request arrived (an early answer, e.g. a 413 mid-upload).
  ScriptedAttempt& RespondEarly();
  // Waits `delay` before the next step.
  ScriptedAttempt& Wait(absl::Duration delay);
  // Sends raw bytes.
  ScriptedAttempt& Send(std::string bytes);
  // Sends a response head: the status line (reason from the status) and the
  // headers as given. Framing is the caller's: add content-length or
  // transfer-encoding, or neither for a body that ends with Close().
  ScriptedAttempt& Head(int status,
                        const std::vector<std::pair<std::string, std::string>>& headers = {});
  // Sends one piece of body, as raw bytes (chunk framing is the caller's).
  ScriptedAttempt& Body(std::string piece) { return Send(std::move(piece)); }
  // A complete response: head with content-length, then the body.
  ScriptedAttempt& Respond(int status, std::string body = {},
                           std::vector<std::pair<std::string, std::string>> headers = {});
  // The upstream closes its side (FIN); the connection is done.
  ScriptedAttempt& Close();
  // The connection is reset (e.g. mid-body); the connection is done.
  ScriptedAttempt& Reset();

  struct Step {
    enum class Kind { kWait, kSend, kClose, kReset };
    Kind kind;
    absl::Duration delay = absl::ZeroDuration();
    std::string bytes;
  };
  enum class Connect { kConnect, kFail, kTimeout };

  Connect connect() const { return connect_; }
  absl::Duration connect_delay() const { return connect_delay_; }
  bool respond_early() const { return respond_early_; }
  const std::vector<Step>& steps() const { return steps_; }

 private:
  Connect connect_ = Connect::kConnect;
  absl::Duration connect_delay_ = absl::ZeroDuration();
  bool respond_early_ = false;
  std::vector<Step> steps_;
};

// The script shared by every pool its factory makes, and what happened.
class ScriptedUpstream : public std::enable_shared_from_this<ScriptedUpstream> {
 public:
  ScriptedUpstream() = default;
  ScriptedUpstream(const ScriptedUpstream&) = delete;
  ScriptedUpstream& operator=(const ScriptedUpstream&) = delete;

  // Appends one attempt to the script.
  ScriptedUpstream& Then(ScriptedAttempt attempt);

  // One Acquire, in order.
  struct AttemptRecord {
    std::string host;               // "address:port" the proxy asked for
    bool connected = false;         // a lease was handed out
    std::string request;            // every byte the proxy wrote on the connection
    bool request_complete = false;  // a whole request (head and framed body) arrived
    bool released = false;          // the lease came back reusable (Release)
    bool closed_by_proxy = false;   // the lease was dropped without Release
  };
  const std::vector<AttemptRecord>& attempts() const { return attempts_; }
  // Attempts of the script not used yet.
  size_t remaining() const { return script_.size() - next_; }

  // A factory whose pools read this script. Holds a reference to it.
  std::shared_ptr<const UpstreamPoolFactory> factory();
  // One pool on `dispatcher`, for tests that use a pool directly.
  std::unique_ptr<UpstreamPool> MakePool(Dispatcher& dispatcher);

  // For the pools: the next attempt and its record's index.
  const ScriptedAttempt* Next(const Host& host, size_t* index);
  AttemptRecord& record(size_t index) { return attempts_[index]; }

 private:
  std::deque<ScriptedAttempt> script_;  // a deque: connections point into it
  size_t next_ = 0;
  std::vector<AttemptRecord> attempts_;
};

}  // namespace gateway::testing

#endif  // GATEWAY_TESTING_FAKE_UPSTREAM_H_
