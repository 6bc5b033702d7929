// In-process test harness: runs a pipeline (router + filters + route actions)
// without sockets, on a simulated loop with a manual clock, so filters can be
// unit-tested deterministically. A pipeline with clusters proxies as it would
// in a server, through each cluster's pool factory: give the clusters a
// `ScriptedUpstream` (gateway/testing/fake_upstream.h) to script the upstream.
//
//   testing::PipelineHarness h(pipeline);
//   auto& ex = h.Send(testing::Request("GET", "/api/users/1"));
//   h.RunUntilIdle();
//   REQUIRE(ex.status() == 200);
//
// Everything runs on the calling thread. Time only moves when the test calls
// `Advance`; posted callbacks and due timers run in `RunUntilIdle`/`Advance`.
#ifndef GATEWAY_TESTING_HARNESS_H_
#define GATEWAY_TESTING_HARNESS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "gateway/clock.h"
#include "gateway/dispatcher.h"
#include "gateway/filter.h"
#include "gateway/pipeline.h"

namespace gateway::internal {
class ProxyWorker;
}  // namespace gateway::internal

namespace gateway::testing {

// A clock that moves only when told to. Thread-safe reads.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));
  ~ManualClock() override;
  absl::Time Now() const override;
  absl::Duration Monotonic() const override;
  void Advance(absl::Duration d);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// A dispatcher driven by hand against a ManualClock.
class SimulatedDispatcher final : public Dispatcher {
 public:
  explicit SimulatedDispatcher(ManualClock& clock);
  ~SimulatedDispatcher() override;

  const Clock& clock() const override { return clock_; }
  void Post(absl::AnyInvocable<void()> callback) override;
  void PostFromAnyThread(absl::AnyInvocable<void()> callback) override;
  std::unique_ptr<Timer> CreateTimer(absl::AnyInvocable<void()> callback) override;
  uv_loop_t* loop() override { return nullptr; }

  // Runs posted callbacks and timers due now until nothing is left to run.
  void RunUntilIdle();
  // Moves the clock forward by `d`, firing timers in deadline order as it goes.
  void Advance(absl::Duration d);
  // Timers currently armed.
  size_t armed_timers() const;

  struct Impl;

 private:
  ManualClock& clock_;
  std::shared_ptr<Impl> impl_;
};

// Convenience constructor of a request head. `target` may carry a query.
RequestHead Request(
    std::string_view method, std::string_view target,
    std::initializer_list<std::pair<std::string_view, std::string_view>> headers = {});

// One request in flight through the harness.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // The response, once the stream produced it.
  virtual bool responded() const = 0;
  virtual int status() const = 0;  // 0 until responded
  virtual const HeaderMap& headers() const = 0;
  virtual const std::string& body() const = 0;
  // True once the stream finished (OnDone ran for every filter).
  virtual bool done() const = 0;
  virtual const RequestInfo& info() const = 0;
  // True if a "100 Continue" was sent.
  virtual bool sent_continue() const = 0;
  // True while the request body is paused by a filter.
  virtual bool body_paused() const = 0;

  // Drives the request side: body pieces and the end of the request.
  virtual void SendBody(std::string_view chunk) = 0;
  virtual void EndRequest() = 0;
  // The client goes away (outcome kClientGone).
  virtual void Disconnect() = 0;
};

struct HarnessOptions {
  absl::Duration request_timeout = absl::Seconds(60);
  ConnectionInfo connection{.peer_address = "127.0.0.1",
                            .peer_port = 40000,
                            .local_address = "127.0.0.1",
                            .local_port = 8080,
                            .id = 1};
};

class PipelineHarness {
 public:
  explicit PipelineHarness(std::shared_ptr<const Pipeline> pipeline, HarnessOptions options = {});
  ~PipelineHarness();

  // Starts a request. With `end_request` (the default) the request ends after
  // `body`; otherwise drive it with the returned Exchange. Filters run
  // synchronously up to their first pause, then as the simulated loop runs.
  // The exchange lives as long as the harness.
  Exchange& Send(RequestHead head, std::string_view body = {}, bool end_request = true);

  void RunUntilIdle() { dispatcher_.RunUntilIdle(); }
  void Advance(absl::Duration d) { dispatcher_.Advance(d); }
  ManualClock& clock() { return clock_; }
  SimulatedDispatcher& dispatcher() { return dispatcher_; }

 private:
  struct ExchangeImpl;
  ManualClock clock_;
  SimulatedDispatcher dispatcher_;
  std::shared_ptr<const Pipeline> pipeline_;
  HarnessOptions options_;
  // The loop's proxy state (pools, balancers), made on the first proxied
  // request; it outlives the exchanges, whose upstream requests use it.
  std::unique_ptr<internal::ProxyWorker> proxy_;
  std::vector<std::unique_ptr<ExchangeImpl>> exchanges_;
};

// Runs one filter on a catch-all route answered directly with `status`/`body`.
std::shared_ptr<const Pipeline> SingleFilterPipeline(std::shared_ptr<const FilterFactory> filter,
                                                     int status = 200, std::string body = "ok");

}  // namespace gateway::testing

#endif  // GATEWAY_TESTING_HARNESS_H_
