// Who is to blame for a proxied request that goes wrong, end to end through
// gatewayd's assembly (a YAML config, BuildPipeline, a Runtime) over loopback:
// the upstream idle timeout and the client's body idle timeout each judge
// their own side; an upstream's early answer reaches the client; outlier
// detection sees every failure the breakers see.
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gateway/gateway.h"
#include "gateway/yaml_config.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"

namespace gateway::itest {
namespace {

// A gateway started from YAML as gatewayd starts it, with its cluster
// manager at hand for the resilience stats.
struct Gatewayd {
  std::shared_ptr<ClusterManager> clusters;
  std::unique_ptr<Runtime> runtime;

  uint16_t port() const { return runtime->ports().at(0); }
  const ClusterResilience& resilience(std::string_view cluster) const {
    const ClusterResilience* r = clusters->Resilience(cluster);
    REQUIRE(r != nullptr);
    return *r;
  }
  ~Gatewayd() {
    if (runtime != nullptr) {
      runtime->Drain(absl::Seconds(1));
      runtime->Wait();
    }
  }
};

// `yaml` with every "{NAME}" replaced as `vars` says; listeners get free ports.
std::unique_ptr<Gatewayd> StartGatewayd(const std::string& yaml,
                                        std::vector<std::pair<std::string, std::string>> vars) {
  std::string text = yaml;
  for (const auto& [name, value] : vars) {
    text = absl::StrReplaceAll(text, {{absl::StrCat("{", name, "}"), value}});
  }
  auto config = LoadConfigString(text, "outcomes.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto out = std::make_unique<Gatewayd>();
  auto clusters = ClusterManager::Create(config->clusters);
  INFO(clusters.status().message());
  REQUIRE(clusters.ok());
  out->clusters = *clusters;
  auto pipeline = BuildPipeline(*config, FilterRegistry::WithBuiltins(), out->clusters);
  INFO(pipeline.status().message());
  REQUIRE(pipeline.ok());
  RuntimeOptions options;
  options.workers = 1;
  options.server = config->server;
  for (ListenerOptions& l : options.server.listeners) l.port = 0;
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  INFO(runtime.status().message());
  REQUIRE(runtime.ok());
  out->runtime = std::move(*runtime);
  return out;
}

std::string Port(const FaultUpstream& up) { return absl::StrCat(up.port()); }

bool HasFlag(const HttpResponse& r, std::string_view flag) {
  return absl::StrContains(r.body, absl::StrCat("\"error\":\"", std::string(flag), "\""));
}

std::optional<HttpResponse> Fetch(uint16_t port, const std::string& request) {
  auto client = TestClient::Connect(port);
  if (client == nullptr) return std::nullopt;
  return client->RoundTrip(request);
}

TEST_CASE("a 512 KiB upload at 64 KiB/s outlives a 2 s upstream idle timeout and gets 200") {
  FaultUpstream up;
  REQUIRE(up.ok());
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
server:
  timeouts: {body_idle: 5s, request: 30s}
clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: {PORT}}]
routes:
  - name: upload
    cluster: up
    retry: {max_retries: 0}
    upstream_timeouts: {idle: 2s}
)yaml",
                          {{"PORT", Port(up)}});
  constexpr size_t kBody = 512 * 1024;
  constexpr size_t kPiece = 8 * 1024;  // every 125 ms: 64 KiB/s, 8 s in all
  auto client = TestClient::Connect(gw->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(absl::StrCat("POST /upload HTTP/1.1\r\nHost: test.local\r\n",
                                    "Content-Length: ", kBody, "\r\n\r\n")));
  SteadyTime start = std::chrono::steady_clock::now();
  std::string piece(kPiece, 'u');
  for (size_t sent = 0; sent < kBody; sent += kPiece) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(125 * (sent / kPiece)));
    REQUIRE(client->Send(piece));
    // Nothing comes back early: no 504 from an upstream timer (after the
    // last piece the answer may come at once).
    REQUIRE(client->buffer().empty());
    if (sent + kPiece < kBody) REQUIRE(client->StaysSilent(absl::ZeroDuration()));
  }
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  INFO(r->body);
  CHECK(r->status == 200);
  CHECK(r->Header("x-fault-upstream") == std::optional<std::string>("fault"));
  CHECK(ElapsedSince(start) >= absl::Seconds(7));
  CHECK(up.request_body_bytes() == kBody);
}

TEST_CASE("a slow upload does not use up an attempt's per_try time") {
  FaultUpstream up;
  REQUIRE(up.ok());
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
server:
  timeouts: {body_idle: 5s, request: 30s}
clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: {PORT}}]
    circuit_breaker: {type: consecutive, failure_threshold: 1, open_timeout: 1m}
routes:
  - name: upload
    cluster: up
    retry: {max_retries: 0}
    upstream_timeouts: {per_try: 500ms}
)yaml",
                          {{"PORT", Port(up)}});
  constexpr size_t kBody = 128 * 1024;
  constexpr size_t kPiece = 8 * 1024;  // every 100 ms: 1.6 s in all, over three per_try periods
  auto client = TestClient::Connect(gw->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(absl::StrCat("POST /upload HTTP/1.1\r\nHost: test.local\r\n",
                                    "Content-Length: ", kBody, "\r\n\r\n")));
  SteadyTime start = std::chrono::steady_clock::now();
  std::string piece(kPiece, 'p');
  for (size_t sent = 0; sent < kBody; sent += kPiece) {
    std::this_thread::sleep_until(start + std::chrono::milliseconds(100 * (sent / kPiece)));
    REQUIRE(client->Send(piece));
    // No early 504 (after the last piece the answer may come at once).
    if (sent + kPiece < kBody) REQUIRE(client->StaysSilent(absl::ZeroDuration()));
  }
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  INFO(r->body);
  CHECK(r->status == 200);
  CHECK(up.request_body_bytes() == kBody);
  const BreakerStats s = gw->resilience("up").breaker->stats();
  CHECK(s.state == BreakerState::kClosed);
  CHECK(s.opened == 0);
}

TEST_CASE("a client that stalls mid-body gets 408 and is never counted against the upstream") {
  FaultUpstream up;
  REQUIRE(up.ok());
  // The upstream idle timeout is the shorter one: the client's stall must
  // still be judged by the client's body idle timeout, not by it.
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
server:
  timeouts: {body_idle: 1s}
clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: {PORT}}]
    circuit_breaker: {type: consecutive, failure_threshold: 1, open_timeout: 1m}
    outlier_detection:
      consecutive_5xx: 1
      consecutive_gateway_failure: 1
      base_ejection_time: 1m
      max_ejection_percent: 100
routes:
  - name: stall
    cluster: up
    retry: {on_gateway_error: true, on_reset: true, max_retries: 1}
    upstream_timeouts: {idle: 300ms}
)yaml",
                          {{"PORT", Port(up)}});
  auto client = TestClient::Connect(gw->port());
  REQUIRE(client != nullptr);
  SteadyTime start = std::chrono::steady_clock::now();
  REQUIRE(client->Send(absl::StrCat("PUT /stall HTTP/1.1\r\nHost: test.local\r\n",
                                    "Content-Length: 100000\r\n\r\n", std::string(1000, 'b'))));
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  INFO(r->body);
  CHECK(r->status == 408);
  CHECK(HasFlag(*r, "body_timeout"));
  CHECK(ElapsedSince(start) >= absl::Milliseconds(900));
  CHECK(client->WaitForClose(absl::Seconds(2)));

  const ClusterResilience& res = gw->resilience("up");
  BreakerStats breaker = res.breaker->stats();
  CHECK(breaker.state == BreakerState::kClosed);
  CHECK(breaker.opened == 0);
  CHECK(breaker.rejected == 0);
  OutlierStats outliers = res.outlier_detector->stats();
  CHECK(outliers.ejected == 0);
  CHECK(outliers.ejections_consecutive_gateway_failure == 0);
  CHECK(outliers.ejections_consecutive_5xx == 0);
  CHECK(res.limits->stats().active_retries == 0);
  CHECK(up.accepted() == 1);  // no retry went to the upstream

  // The next request is proxied as usual.
  auto next = Fetch(gw->port(), Get("/after"));
  REQUIRE(next.has_value());
  CHECK(next->status == 200);
  CHECK(next->Header("x-fault-upstream") == std::optional<std::string>("fault"));
  CHECK(res.breaker->state() == BreakerState::kClosed);
}

// Sends `data` on `fd` until it is all sent, the peer stops taking it, or 5 s pass.
void SendUntilRefused(int fd, std::string_view data) {
  SteadyTime deadline = DeadlineAfter(absl::Seconds(5));
  while (!data.empty() && MillisLeft(deadline) > 0) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 50);
      continue;
    }
    return;
  }
}

TEST_CASE("an upstream that answers 413 before reading a 4 MiB upload and closes is relayed") {
  FaultUpstream up({.max_connections = 100,
                    .faults = {"X-Fault-Answer-Before-Body: 1", "X-Fault-Status: 413",
                               "X-Fault-Header: Connection: close"}});
  REQUIRE(up.ok());
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: {PORT}}]
routes:
  - name: upload
    cluster: up
    retry: {max_retries: 0}
)yaml",
                          {{"PORT", Port(up)}});
  constexpr size_t kBody = 4 * 1024 * 1024;
  const std::string request =
      absl::StrCat("POST /upload HTTP/1.1\r\nHost: test.local\r\n", "Content-Length: ", kBody,
                   "\r\n\r\n", std::string(kBody, 'x'));
  constexpr int kRounds = 50;
  int relayed = 0, clean = 0, replied_early = 0;
  for (int i = 0; i < kRounds; ++i) {
    auto client = TestClient::Connect(gw->port());
    REQUIRE(client != nullptr);
    std::thread sender([&, fd = client->fd()] { SendUntilRefused(fd, request); });
    auto r = client->ReadResponse(absl::Seconds(5));
    sender.join();
    if (!r.has_value()) continue;
    if (r->status == 413) ++relayed;
    if (r->closes()) {
      // Replied before the body ended: the rest of it is read and dropped,
      // then the connection closes with a FIN, never a reset that could
      // destroy the answer before the client reads it.
      ++replied_early;
      if (client->WaitForClose(absl::Seconds(5)) && !client->reset()) ++clean;
    } else {
      // The whole body had arrived before the answer: the connection is in
      // step and stays usable.
      auto again = client->RoundTrip(Get("/again"));
      if (again.has_value() && again->status == 413) ++clean;
    }
  }
  CHECK(relayed == kRounds);
  CHECK(clean == kRounds);
  CHECK(replied_early > 0);
  // A connection that failed a write is never reused: one per upload, and one
  // for each follow-up request.
  CHECK(up.accepted() == kRounds + (kRounds - replied_early));
}

TEST_CASE(
    "an upstream that stops taking an upload gets 504 after its idle timeout and is counted") {
  // Reads nothing of the body for 20 s: the gateway's writes queue up, the
  // client's body is paused, and the wait is on the upstream.
  FaultUpstream up({.receive_buffer = 64 * 1024, .faults = {"X-Fault-Read-Delay-Ms: 20000"}});
  REQUIRE(up.ok());
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
server:
  timeouts: {body_idle: 10s}
clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: {PORT}}]
    circuit_breaker: {type: consecutive, failure_threshold: 1, open_timeout: 1m}
routes:
  - name: upload
    cluster: up
    retry: {max_retries: 0}
    upstream_timeouts: {idle: 500ms}
)yaml",
                          {{"PORT", Port(up)}});
  constexpr size_t kBody = 16 * 1024 * 1024;
  const std::string request =
      absl::StrCat("POST /upload HTTP/1.1\r\nHost: test.local\r\n", "Content-Length: ", kBody,
                   "\r\n\r\n", std::string(kBody, 'x'));
  auto client = TestClient::Connect(gw->port());
  REQUIRE(client != nullptr);
  SteadyTime start = std::chrono::steady_clock::now();
  std::thread sender([&, fd = client->fd()] { SendUntilRefused(fd, request); });
  auto r = client->ReadResponse(absl::Seconds(8));
  sender.join();
  REQUIRE(r.has_value());
  INFO(r->body);
  CHECK(r->status == 504);
  CHECK(HasFlag(*r, "upstream_idle_timeout"));
  CHECK(ElapsedSince(start) < absl::Seconds(5));
  CHECK(up.request_body_bytes() == 0);
  // The upstream's timeout, judged as the upstream's failure.
  CHECK(gw->resilience("up").breaker->state() == BreakerState::kOpen);
}

TEST_CASE("a host that resets every request is ejected, then returns after its ejection time") {
  FaultUpstream good1({.name = "good1"});
  FaultUpstream good2({.name = "good2"});
  FaultUpstream bad({.name = "bad", .faults = {"X-Fault-Reset-After: 0"}});
  REQUIRE(good1.ok());
  REQUIRE(good2.ok());
  REQUIRE(bad.ok());
  auto gw = StartGatewayd(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
clusters:
  - name: trio
    endpoints:
      - {address: 127.0.0.1, port: {GOOD1}}
      - {address: 127.0.0.1, port: {BAD}}
      - {address: 127.0.0.1, port: {GOOD2}}
    outlier_detection:
      consecutive_5xx: 0
      consecutive_gateway_failure: 3
      base_ejection_time: 500ms
      max_ejection_time: 500ms
      max_ejection_percent: 34
routes:
  - name: trio
    cluster: trio
    retry: {on_connect_failure: false, max_retries: 0}
)yaml",
                          {{"GOOD1", Port(good1)}, {"GOOD2", Port(good2)}, {"BAD", Port(bad)}});
  const std::string bad_name = absl::StrCat("127.0.0.1:", bad.port());
  const OutlierDetector& detector = *gw->resilience("trio").outlier_detector;

  int resets = 0;
  for (int i = 0; i < 15; ++i) {
    auto r = Fetch(gw->port(), Get("/"));
    REQUIRE(r.has_value());
    if (r->status == 502) {
      CHECK(HasFlag(*r, "upstream_reset"));
      ++resets;
    } else {
      CHECK(r->status == 200);
    }
  }
  // The threshold's three resets, then nothing more reaches the bad host.
  CHECK(resets == 3);
  CHECK(bad.requests() == 3);
  CHECK(detector.IsEjected(bad_name));
  CHECK(detector.stats().ejections_consecutive_gateway_failure == 1);
  for (int i = 0; i < 6; ++i) CHECK(Fetch(gw->port(), Get("/"))->status == 200);
  CHECK(bad.requests() == 3);

  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  // Back at the first request after the ejection time.
  int later_resets = 0;
  for (int i = 0; i < 6; ++i) {
    if (Fetch(gw->port(), Get("/"))->status == 502) ++later_resets;
  }
  CHECK(later_resets >= 1);
  CHECK(bad.requests() > 3);
  CHECK(detector.stats().returned_expired == 1);
}

}  // namespace
}  // namespace gateway::itest
