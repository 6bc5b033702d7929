// The reverse proxy against misbehaving upstreams, over real loopback: one
// test per "Upstream faults" behaviour of ROBUSTNESS.md, and DNS answers that
// fail, change or are slow to come.
//
// Every test runs a gateway with two clusters: "faulty" (a FaultUpstream
// steered by X-Fault-* request headers, or a port that refuses or never
// answers) behind the catch-all route, and "healthy" behind /healthy. While a
// fault is in progress, CheckHealthyRouteIsFast times GETs on the healthy
// route: the one timing bound here (well under 100 ms per request on
// loopback), also used for the answers ROBUSTNESS.md calls fast.
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gateway/runtime.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

constexpr absl::Duration kFast = absl::Milliseconds(100);

// Answers DNS names from a table the test edits; a name missing from the
// table fails to resolve. While blocked, each call waits until unblocked (at
// most 2 s), like a resolver whose server does not answer.
class FakeResolver final : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view name) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(2), [this] { return !blocked_; });
    auto it = answers_.find(std::string(name));
    if (it == answers_.end()) {
      return absl::NotFoundError(absl::StrCat("no such name: ", std::string(name)));
    }
    return it->second;
  }

  void Set(std::string name, std::vector<std::string> addresses) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_[std::move(name)] = std::move(addresses);
  }
  void Block() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = true;
  }
  void Unblock() {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = false;
    cv_.notify_all();
  }
  // Waits until Resolve has been entered at least `n` times.
  bool WaitCalls(int n, absl::Duration timeout = absl::Seconds(5)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return calls_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<std::string>> answers_;
  int calls_ = 0;
  bool blocked_ = false;
};

struct RigSpec {
  // Where cluster "faulty" points: by default at the rig's FaultUpstream.
  std::string faulty_address = "127.0.0.1";
  std::optional<uint16_t> faulty_port;
  // More clusters, each routed from "/<name>/".
  std::vector<std::pair<std::string, uint16_t>> more_clusters;
  std::shared_ptr<Resolver> resolver;
  PoolOptions pool;  // for every cluster but "healthy"
  RetryPolicy retry;
  UpstreamTimeouts timeouts;
  int faulty_send_buffer = 0;
  int faulty_receive_buffer = 0;
  uint64_t max_request_body = CodecLimits{}.max_body_bytes;
};

// The gateway under test and its upstreams. Members are destroyed bottom-up:
// the gateway stops before the upstreams and the recorder go.
struct Rig {
  explicit Rig(const RigSpec& spec)
      : faulty({.name = "faulty",
                .send_buffer = spec.faulty_send_buffer,
                .receive_buffer = spec.faulty_receive_buffer}),
        healthy({.name = "healthy"}) {}

  uint16_t port() const { return proxy->port(); }
  // Waits until `n` requests on the faulty route have finished.
  bool WaitFaultyDone(size_t n) {
    return Eventually([&] {
      std::vector<Recorder::Done> done = recorder.done();
      return static_cast<size_t>(std::count_if(
                 done.begin(), done.end(), [](const auto& d) { return d.route == "faulty"; })) >= n;
    });
  }
  // The response flag of the last finished request on the faulty route.
  std::string LastFaultyFlag() const {
    std::vector<Recorder::Done> done = recorder.done();
    for (auto it = done.rbegin(); it != done.rend(); ++it) {
      if (it->route == "faulty") return it->flag;
    }
    return "";
  }

  FaultUpstream faulty;
  FaultUpstream healthy;
  Recorder recorder;
  // Resolves the clusters' DNS names; outlives the manager.
  std::unique_ptr<ControlThread> control = ControlThread::Start();
  std::shared_ptr<ClusterManager> clusters;
  std::unique_ptr<TestServer> proxy;
};

std::unique_ptr<Rig> StartRig(RigSpec spec = {}) {
  auto rig = std::make_unique<Rig>(spec);
  REQUIRE(rig->faulty.ok());
  REQUIRE(rig->healthy.ok());
  std::vector<ClusterSpec> clusters = {
      {.name = "healthy", .endpoints = {{.address = "127.0.0.1", .port = rig->healthy.port()}}},
      {.name = "faulty",
       .endpoints = {{.address = spec.faulty_address,
                      .port = spec.faulty_port.value_or(rig->faulty.port())}},
       .pool = spec.pool},
  };
  std::vector<RouteSpec> routes = {
      RouteBuilder("healthy").Prefix("/healthy").ToCluster("healthy").Build(),
  };
  for (const auto& [name, port] : spec.more_clusters) {
    clusters.push_back(
        {.name = name, .endpoints = {{.address = "127.0.0.1", .port = port}}, .pool = spec.pool});
    routes.push_back(RouteBuilder(name)
                         .Prefix(absl::StrCat("/", name, "/"))
                         .ToCluster(name)
                         .Retry(spec.retry)
                         .UpstreamTimeout(spec.timeouts)
                         .Build());
  }
  routes.push_back(RouteBuilder("faulty")
                       .Prefix("/")
                       .ToCluster("faulty")
                       .Retry(spec.retry)
                       .UpstreamTimeout(spec.timeouts)
                       .Build());
  absl::StatusOr<std::shared_ptr<ClusterManager>> cm;
  rig->control->Run([&](Dispatcher& d) {
    cm = ClusterManager::Create(std::move(clusters), {.loop = d.loop(), .resolver = spec.resolver});
  });
  REQUIRE(cm.ok());
  rig->clusters = *cm;
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline =
      PipelineBuilder{}
          .Routes(*router)
          .Clusters(rig->clusters)
          .Add(MakeFilterFactory("recorder",
                                 [r = &rig->recorder](const Route&) -> std::unique_ptr<Filter> {
                                   return std::make_unique<RecordingDelayFilter>(r);
                                 }))
          .Build();
  REQUIRE(pipeline.ok());
  ServerOptions options = LoopbackOptions();
  options.limits.max_body_bytes = spec.max_request_body;
  auto server = TestServer::Start(std::move(options), *pipeline);
  REQUIRE(server.ok());
  rig->proxy = std::move(*server);
  return rig;
}

struct Timed {
  std::optional<HttpResponse> response;
  absl::Duration took;
};

Timed TimedRoundTrip(TestClient& client, std::string_view request) {
  SteadyTime start = std::chrono::steady_clock::now();
  std::optional<HttpResponse> r = client.RoundTrip(request);
  return {std::move(r), ElapsedSince(start)};
}

// GETs on the healthy route, on a connection of their own, each answered in
// well under 100 ms: whatever the fault in progress, the loop is not blocked
// and other clusters are unaffected.
void CheckHealthyRouteIsFast(uint16_t port) {
  auto client = TestClient::Connect(port);
  REQUIRE(client != nullptr);
  for (int i = 0; i < 3; ++i) {
    Timed t = TimedRoundTrip(*client, Get("/healthy"));
    REQUIRE(t.response.has_value());
    CHECK(t.response->status == 200);
    CHECK(t.response->Header("x-fault-upstream") == "healthy");
    CHECK(t.took < kFast);
  }
}

bool HasJsonFlag(const HttpResponse& r, std::string_view flag) {
  return r.Header("content-type") == "application/json" &&
         absl::StrContains(r.body, absl::StrCat("\"error\":\"", std::string(flag), "\""));
}

// The data of the complete chunks at the start of a chunked body, and
// whether the last chunk (size 0) was among them.
struct Dechunked {
  std::string data;
  bool complete = false;
};
Dechunked Dechunk(std::string_view body) {
  Dechunked out;
  size_t pos = 0;
  for (int i = 0; i < 100000; ++i) {
    size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    uint64_t size = 0;
    std::string size_text(body.substr(pos, eol - pos));
    if (!absl::SimpleHexAtoi(size_text, &size)) break;
    if (size == 0) {
      out.complete = true;
      break;
    }
    if (body.size() < eol + 2 + size + 2) break;
    out.data.append(body.substr(eol + 2, size));
    pos = eol + 2 + size + 2;
  }
  return out;
}

TEST_CASE("a refused upstream connection answers 502 fast with a JSON flag") {
  auto rig = StartRig({.faulty_port = ClosedPort()});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  for (int i = 0; i < 2; ++i) {  // the client connection stays usable
    Timed t = TimedRoundTrip(*client, Get("/x"));
    REQUIRE(t.response.has_value());
    CHECK(t.response->status == 502);
    CHECK(HasJsonFlag(*t.response, "upstream_connect_failed"));
    CHECK(t.took < kFast);
  }
  CheckHealthyRouteIsFast(rig->port());
}

TEST_CASE("an upstream connect timeout answers 503 while other routes keep answering") {
  BlackholeListener blackhole;
  if (!blackhole.ok()) {
    WARN("this kernel answers SYNs to a full accept queue; the timeout path is not reachable");
    return;
  }
  PoolOptions pool;
  pool.connect_timeout = absl::Milliseconds(300);
  auto rig = StartRig(
      {.faulty_port = blackhole.port(), .pool = pool, .retry = {.on_connect_failure = false}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x")));
  CheckHealthyRouteIsFast(rig->port());  // while the connect hangs
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 503);
  CHECK(HasJsonFlag(*r, "upstream_connect_timeout"));
}

TEST_CASE("an upstream that sends no response head in time gives 504 and loses its connection") {
  auto rig = StartRig({.timeouts = {.response_headers = absl::Milliseconds(300)}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x", {"X-Fault-Delay-Head-Ms: 5000"})));
  CheckHealthyRouteIsFast(rig->port());  // while the upstream is silent
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 504);
  CHECK(HasJsonFlag(*r, "upstream_timeout"));
  // The gateway closed the connection it gave up on, long before the upstream
  // would have answered...
  CHECK(Eventually([&] { return rig->faulty.peer_closes() == 1; }));
  // ...so the next request needs a new one.
  r = client->RoundTrip(Get("/x"));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(rig->faulty.accepted() == 2);
}

TEST_CASE("an upstream that closes without answering gives 502") {
  auto rig = StartRig();
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/x", {"X-Fault-Close: 1"}));
  REQUIRE(r.has_value());
  CHECK(r->status == 502);
  CHECK(HasJsonFlag(*r, "upstream_reset"));
  CHECK(rig->faulty.requests() == 1);  // a fresh connection: nothing to retry
}

TEST_CASE("a connection that failed is closed and never handed out again") {
  auto rig = StartRig({.timeouts = {.response_headers = absl::Milliseconds(300)}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/x"));
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);  // one clean connection in the pool
  struct Fault {
    const char* header;
    int status;
  };
  const Fault faults[] = {
      {"X-Fault-Delay-Head-Ms: 5000", 504},
      {"X-Fault-Reset-After: 5", 502},  // inside the status line
      {"X-Fault-Garbage: 1", 502},
      {"X-Fault-Bad: two-cl", 502},
  };
  int accepted = rig->faulty.accepted();
  for (const Fault& f : faults) {
    INFO(f.header);
    r = client->RoundTrip(Get("/x", {f.header}));
    REQUIRE(r.has_value());
    CHECK(r->status == f.status);
    CHECK(rig->faulty.accepted() == accepted);  // the fault came on the pooled connection
    r = client->RoundTrip(Get("/x"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(rig->faulty.accepted() == ++accepted);  // which was not pooled again
  }
}

TEST_CASE("a response cut short closes the client connection without a fake end") {
  auto rig = StartRig();
  struct Cut {
    std::vector<std::string> headers;
    bool chunked;
    bool all_data;  // only the end of the message is missing
  };
  const Cut cuts[] = {
      {{"X-Fault-Reset-After: 50000"}, false, false},
      {{"X-Fault-Reset-After: 50000", "X-Fault-Chunked: 1"}, true, false},
      {{"X-Fault-Fin-Before-Length: 1"}, false, false},
      {{"X-Fault-Missing-Last-Chunk: 1"}, true, true},
      // A close-delimited body ends with the connection, but a reset is not an end.
      {{"X-Fault-Reset-After: 50000", "X-Fault-Close-Delimited: 1"}, true, false},
  };
  constexpr size_t kLength = 100000;
  size_t finished = 0;
  for (const Cut& cut : cuts) {
    INFO(cut.headers.front());
    std::vector<std::string> headers = cut.headers;
    headers.push_back(absl::StrCat("X-Fault-Body-Bytes: ", kLength));
    auto client = TestClient::Connect(rig->port());
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(Get("/x", headers)));
    CheckHealthyRouteIsFast(rig->port());
    REQUIRE(client->WaitForClose(absl::Seconds(5)));
    const std::string& got = client->buffer();
    size_t head_end = got.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    std::string head = absl::AsciiStrToLower(got.substr(0, head_end));
    std::string body = got.substr(head_end + 4);
    CHECK(absl::StartsWith(head, "http/1.1 200 "));
    if (cut.chunked) {
      CHECK(absl::StrContains(head, "transfer-encoding: chunked"));
      Dechunked d = Dechunk(body);
      CHECK_FALSE(d.complete);  // no last chunk made up by the gateway
      if (cut.all_data) {
        CHECK(d.data.size() == kLength);
      } else {
        CHECK(d.data.size() < kLength);
      }
      CHECK(d.data == FaultBody(d.data.size()));
    } else {
      CHECK(absl::StrContains(head, absl::StrCat("content-length: ", kLength)));
      CHECK(body.size() < kLength);
      CHECK(body == FaultBody(body.size()));
    }
    REQUIRE(rig->WaitFaultyDone(++finished));
    std::string flag = rig->LastFaultyFlag();
    CHECK((flag == "upstream_reset" || flag == "upstream_truncated"));
  }
}

TEST_CASE("clients that reset during large responses leave the gateway serving") {
  // Writing to a socket the peer reset raises SIGPIPE, which would end the process.
  auto rig = StartRig();
  for (int i = 0; i < 20; ++i) {
    auto client = TestClient::Connect(rig->port());
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(Get("/x", {"X-Fault-Body-Bytes: 8388608"})));
    client->ReadSome(1024, absl::Milliseconds(100));
    client->CloseWithReset();
  }
  CheckHealthyRouteIsFast(rig->port());
}

TEST_CASE("an upstream that stalls mid-body is cut off after the idle timeout") {
  auto rig = StartRig({.timeouts = {.idle = absl::Milliseconds(200)}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x", {"X-Fault-Stall-After: 3", "X-Fault-Body-Bytes: 10"})));
  CheckHealthyRouteIsFast(rig->port());
  REQUIRE(client->WaitForClose(absl::Seconds(4)));
  CHECK(absl::StrContains(client->buffer(), "Content-Length: 10\r\n"));
  CHECK(absl::EndsWith(client->buffer(), "\r\n\r\nabc"));  // the head, 3 bytes, the close
  REQUIRE(rig->WaitFaultyDone(1));
  CHECK(rig->LastFaultyFlag() == "upstream_idle_timeout");
}

TEST_CASE("after a timely head the idle timeout takes over from a shorter response timeout") {
  // Until the head only the response timer runs; the idle timer must start
  // with the body.
  auto rig = StartRig(
      {.timeouts = {.response_headers = absl::Milliseconds(150), .idle = absl::Milliseconds(300)}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x", {"X-Fault-Stall-After: 3", "X-Fault-Body-Bytes: 10"})));
  REQUIRE(client->WaitForClose(absl::Seconds(4)));
  CHECK(absl::StartsWith(client->buffer(), "HTTP/1.1 200"));
  CHECK(absl::EndsWith(client->buffer(), "\r\n\r\nabc"));
  REQUIRE(rig->WaitFaultyDone(1));
  CHECK(rig->LastFaultyFlag() == "upstream_idle_timeout");
}

TEST_CASE("an invalid upstream response is answered with 502 and never forwarded raw") {
  auto rig = StartRig();
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  const std::vector<std::string> faults = {
      "X-Fault-Bad: status-line", "X-Fault-Bad: no-colon",    "X-Fault-Bad: nul-in-value",
      "X-Fault-Bad: cr-in-value", "X-Fault-Bad: lf-in-value", "X-Fault-Bad: cl-and-te",
      "X-Fault-Bad: two-cl",      "X-Fault-Garbage: 1",       "X-Fault-Oversized-Headers: 128",
  };
  for (const std::string& fault : faults) {
    INFO(fault);
    auto r = client->RoundTrip(Get("/x", {fault}));
    REQUIRE(r.has_value());
    CHECK(r->status == 502);
    CHECK(HasJsonFlag(*r, "upstream_protocol_error"));
    CHECK_FALSE(absl::StrContains(r->body, "secret"));
    CHECK_FALSE(r->Header("x-secret").has_value());
    CHECK_FALSE(r->Header("x-bad").has_value());
    CHECK_FALSE(r->Header("x-filler-0").has_value());
    CHECK(client->buffer().empty());
    CheckHealthyRouteIsFast(rig->port());
  }
  // Each was read once (no retry) and its connection closed by the gateway.
  CHECK(rig->faulty.requests() == static_cast<int>(faults.size()));
  CHECK(Eventually([&] { return rig->faulty.peer_closes() == static_cast<int>(faults.size()); }));
}

TEST_CASE(
    "bytes after a complete response, or a body on 204, 304 or HEAD, are dropped with their "
    "connection") {
  auto rig = StartRig();
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/x"));
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);  // one clean connection in the pool
  struct Case {
    const char* method;
    const char* header;
    int status;
  };
  const Case cases[] = {
      {"GET", "X-Fault-Extra: 1", 200},
      {"GET", "X-Fault-Body-On-204: 1", 204},
      {"GET", "X-Fault-Body-On-304: 1", 304},
      {"HEAD", "X-Fault-Body-On-Head: 1", 200},
  };
  for (const Case& c : cases) {
    INFO(c.header);
    int accepted = rig->faulty.accepted();
    int closes = rig->faulty.peer_closes();
    bool head = std::string_view(c.method) == "HEAD";
    r = client->RoundTrip(MakeRequest(c.method, "/x", {c.header}), absl::Seconds(5), head);
    REQUIRE(r.has_value());
    CHECK(r->status == c.status);
    CHECK(r->Header("x-fault-upstream") == "faulty");
    if (c.status == 200) {
      CHECK(r->body == (head ? "" : "ab"));
      CHECK(r->Header("content-length") == "2");
    }
    CHECK(rig->faulty.accepted() == accepted);  // it came on the pooled connection
    CheckHealthyRouteIsFast(rig->port());
    r = client->RoundTrip(Get("/x"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "ab");
    CHECK(client->buffer().empty());                // nothing extra reached the client
    CHECK(rig->faulty.accepted() == accepted + 1);  // the next one needed a new connection
    CHECK(Eventually([&] { return rig->faulty.peer_closes() == closes + 1; }));
  }
}

TEST_CASE("a GET on a pooled connection the upstream dropped is retried once on a fresh one") {
  // No retry policy: the stale-connection retry is independent of it.
  auto rig = StartRig({.retry = {.on_connect_failure = false, .max_retries = 0}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  for (int i = 0; i < 2; ++i) {  // the second reuses the connection, which is dropped
    auto r = client->RoundTrip(Get("/x", {"X-Fault-Drop-Reused: 1"}));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
  }
  CHECK(rig->faulty.accepted() == 2);
  CHECK(rig->faulty.requests() == 3);
}

TEST_CASE("a POST on a pooled connection the upstream dropped is not retried and gets 502") {
  auto rig = StartRig({.retry = {.on_connect_failure = false, .max_retries = 0}});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  std::string post = MakeRequest("POST", "/x", {"X-Fault-Drop-Reused: 1"}, "payload");
  auto r = client->RoundTrip(post);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  r = client->RoundTrip(post);
  REQUIRE(r.has_value());
  CHECK(r->status == 502);
  CHECK(HasJsonFlag(*r, "upstream_reset"));
  CHECK(rig->faulty.accepted() == 1);
  CHECK(rig->faulty.requests() == 2);  // the upstream read it whole, once
}

// The most the kernel may hold between a client and an upstream when one of
// them stops: the gateway's two sockets at their autotuning maximum (one
// receive buffer, one send buffer), plus the small buffers the test sets.
uint64_t KernelBufferBound(int small_buffers) {
  auto max_of = [](const char* path) -> uint64_t {
    std::ifstream f(path);
    uint64_t min = 0, def = 0, max = 0;
    f >> min >> def >> max;
    return f ? max : 0;
  };
  uint64_t rmem = max_of("/proc/sys/net/ipv4/tcp_rmem");
  uint64_t wmem = max_of("/proc/sys/net/ipv4/tcp_wmem");
  if (rmem == 0 || wmem == 0) return 0;
  // Buffers are charged with overhead, so each holds less payload than its size.
  return rmem + wmem + 4 * static_cast<uint64_t>(small_buffers);
}

TEST_CASE("a 64 MiB download to a client that does not read stalls the upstream, not memory") {
  constexpr uint64_t kSize = 64 << 20;
  constexpr int kSmallBuffer = 64 * 1024;
  // What the gateway may hold itself: the 256 KiB response watermark, read
  // chunks and slack.
  constexpr uint64_t kGatewayAllowance = 2 << 20;
  auto rig = StartRig({.faulty_send_buffer = kSmallBuffer});
  TestClient::Options options;
  options.receive_buffer = kSmallBuffer;
  auto client = TestClient::Connect(rig->port(), options);
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x", {absl::StrCat("X-Fault-Body-Bytes: ", kSize)})));

  // Without reading, wait until the upstream's writes stop making progress
  // (300 ms without a byte); bounded at 20 s.
  uint64_t sent = 0;
  int quiet = 0;
  for (int i = 0; i < 400 && quiet < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    uint64_t now = rig->faulty.body_bytes_sent();
    quiet = now == sent && now > 0 ? quiet + 1 : 0;
    sent = now;
  }
  REQUIRE(quiet >= 6);
  INFO("upstream stalled after " << sent << " bytes");
  CHECK(sent < kSize);
  uint64_t bound = KernelBufferBound(kSmallBuffer);
  if (bound > 0 && bound + kGatewayAllowance < kSize) {
    CHECK(sent <= bound + kGatewayAllowance);
  } else {
    WARN("socket buffer limits are too large for a bound below the download size");
  }
  CheckHealthyRouteIsFast(rig->port());

  // Reading resumes the flow: every byte arrives, in order.
  SteadyTime deadline = DeadlineAfter(absl::Seconds(60));
  size_t head_end = std::string::npos;
  for (int i = 0; i < 1000 && head_end == std::string::npos; ++i) {
    REQUIRE(client->ReadSome(64 * 1024, absl::Seconds(5)) > 0);
    head_end = client->buffer().find("\r\n\r\n");
  }
  REQUIRE(head_end != std::string::npos);
  std::string head = client->TakeBuffer();
  std::string first = head.substr(head_end + 4);
  head.resize(head_end);
  CHECK(absl::StrContains(head, absl::StrCat("Content-Length: ", kSize)));
  uint64_t received = 0;
  bool intact = true;
  auto consume = [&](std::string_view data) {
    for (size_t k = 0; k < data.size() && intact; ++k) {
      intact = data[k] == FaultBodyByte(received + k);
    }
    received += data.size();
  };
  consume(first);
  for (int i = 0; i < 10'000'000 && received < kSize && intact; ++i) {
    if (std::chrono::steady_clock::now() > deadline) break;
    if (client->ReadSome(256 * 1024, absl::Seconds(5)) == 0) break;
    consume(client->TakeBuffer());
  }
  CHECK(intact);
  CHECK(received == kSize);
}

TEST_CASE("a 64 MiB upload to an upstream that does not read stalls the client, not memory") {
  constexpr uint64_t kSize = 64 << 20;
  constexpr int kSmallBuffer = 64 * 1024;
  // The pre-connect buffer and upstream write watermark (64 + 256 KiB), read
  // chunks and slack.
  constexpr uint64_t kGatewayAllowance = 2 << 20;
  auto rig = StartRig({.faulty_receive_buffer = kSmallBuffer, .max_request_body = kSize});
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  setsockopt(client->fd(), SOL_SOCKET, SO_SNDBUF, &kSmallBuffer, sizeof(kSmallBuffer));
  REQUIRE(client->Send(absl::StrCat("POST /x HTTP/1.1\r\nHost: test.local\r\n",
                                    "X-Fault-Read-Delay-Ms: 20000\r\n", "Content-Length: ", kSize,
                                    "\r\n\r\n")));

  // Send without blocking until 300 ms pass without the socket taking a
  // byte; bounded by the body size.
  uint64_t sent = 0;
  bool stalled = false;
  std::string piece;
  while (sent < kSize && !stalled) {
    if (piece.empty()) piece = FaultBody(std::min<uint64_t>(256 * 1024, kSize - sent), sent);
    ssize_t n = ::send(client->fd(), piece.data(), piece.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<uint64_t>(n);
      piece.erase(0, static_cast<size_t>(n));
      continue;
    }
    REQUIRE((n < 0 && (errno == EAGAIN || errno == EINTR)));
    pollfd p{client->fd(), POLLOUT, 0};
    stalled = poll(&p, 1, 300) == 0;
  }
  REQUIRE(stalled);
  INFO("client stalled after " << sent << " bytes");
  CHECK(sent < kSize);
  uint64_t bound = KernelBufferBound(kSmallBuffer);
  if (bound > 0 && bound + kGatewayAllowance < kSize) {
    CHECK(sent <= bound + kGatewayAllowance);
  } else {
    WARN("socket buffer limits are too large for a bound below the upload size");
  }
  CHECK(rig->faulty.request_body_bytes() == 0);
  CheckHealthyRouteIsFast(rig->port());

  // Once the upstream reads, the rest flows and every byte arrives.
  rig->faulty.ReleaseReadDelays();
  REQUIRE(client->Send(piece, absl::Seconds(60)));
  sent += piece.size();
  for (int i = 0; i < 100000 && sent < kSize; ++i) {
    std::string next = FaultBody(std::min<uint64_t>(1 << 20, kSize - sent), sent);
    REQUIRE(client->Send(next, absl::Seconds(60)));
    sent += next.size();
  }
  auto r = client->ReadResponse(absl::Seconds(30));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(rig->faulty.request_body_bytes() == kSize);
}

TEST_CASE("a response whose trailers carry framing fields is cut short, never passed on") {
  // Valid trailers are passed on (trailers_test.cc); Content-Length among
  // them could reframe the message for whoever reads it next.
  auto rig = StartRig();
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/x", {"X-Fault-Trailers: invalid", "X-Fault-Body-Bytes: 1000"})));
  CheckHealthyRouteIsFast(rig->port());
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  std::string raw = absl::AsciiStrToLower(client->buffer());
  size_t head_end = raw.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  CHECK(absl::StartsWith(raw, "http/1.1 200 "));
  Dechunked d = Dechunk(std::string_view(raw).substr(head_end + 4));
  CHECK_FALSE(d.complete);  // no last chunk, so no trailer section at all
  CHECK(d.data == FaultBody(d.data.size()));
  CHECK_FALSE(absl::StrContains(raw.substr(head_end), "content-length"));
  REQUIRE(rig->WaitFaultyDone(1));
  CHECK(rig->LastFaultyFlag() == "upstream_protocol_error");
  // The connection is not reused.
  CHECK(Eventually([&] { return rig->faulty.peer_closes() == 1; }));
}

TEST_CASE("file descriptors return to baseline after a burst of upstream faults") {
  // libuv opens a few process-wide descriptors on the first loop; count from
  // after one.
  REQUIRE(StartRig()->proxy->Stop());
  int baseline = OpenFileDescriptors();
  {
    BlackholeListener blackhole;  // counted: it is gone again before the end
    PoolOptions pool;
    pool.connect_timeout = absl::Milliseconds(200);
    auto rig = StartRig({.more_clusters = {{"refused", ClosedPort()}, {"hang", blackhole.port()}},
                         .pool = pool,
                         .timeouts = {.response_headers = absl::Milliseconds(200)}});
    const std::vector<std::vector<std::string>> faults = {
        {},
        {"X-Fault-Close: 1"},
        {"X-Fault-Delay-Head-Ms: 5000"},
        {"X-Fault-Reset-After: 5"},
        {"X-Fault-Reset-After: 30000", "X-Fault-Body-Bytes: 100000"},
        {"X-Fault-Fin-Before-Length: 1", "X-Fault-Body-Bytes: 100000"},
        {"X-Fault-Missing-Last-Chunk: 1"},
        {"X-Fault-Trailers: invalid"},
        {"X-Fault-Stall-After: 3", "X-Fault-Body-Bytes: 10"},
        {"X-Fault-Garbage: 1"},
        {"X-Fault-Bad: cl-and-te"},
        {"X-Fault-Oversized-Headers: 128"},
        {"X-Fault-Extra: 1"},
        {"X-Fault-Body-On-204: 1"},
        {"X-Fault-Drop-Reused: 1"},
    };
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int round = 0; round < 3; ++round) {
      for (const auto& headers : faults) {
        auto c = TestClient::Connect(rig->port());
        REQUIRE(c != nullptr);
        REQUIRE(c->Send(Get("/x", headers)));
        clients.push_back(std::move(c));
      }
      for (const char* path : {"/refused/x", "/hang/x"}) {
        auto c = TestClient::Connect(rig->port());
        REQUIRE(c != nullptr);
        REQUIRE(c->Send(Get(path)));
        clients.push_back(std::move(c));
      }
      // A client that leaves while its upstream is still silent.
      auto gone = TestClient::Connect(rig->port());
      REQUIRE(gone != nullptr);
      REQUIRE(gone->Send(Get("/x", {"X-Fault-Delay-Head-Ms: 5000"})));
      gone->CloseWithReset();
    }
    for (auto& c : clients) c->ReadResponse(absl::Seconds(3));
    CheckHealthyRouteIsFast(rig->port());
    clients.clear();
    CHECK(Eventually([&] { return rig->proxy->stats().active_connections == 0; }));
    CHECK(rig->proxy->Stop());
  }
  CHECK(OpenFileDescriptors() == baseline);
}

TEST_CASE("new requests follow a changed DNS answer after RefreshDns") {
  auto resolver = std::make_shared<FakeResolver>();
  resolver->Set("svc.test", {"127.0.0.1"});
  auto rig = StartRig({.faulty_address = "svc.test", .resolver = resolver});
  // Same port, another loopback address: only the DNS answer tells them apart.
  FaultUpstream moved({.address = "127.0.0.2", .port = rig->faulty.port(), .name = "moved"});
  REQUIRE(moved.ok());
  REQUIRE(Eventually([&] { return !rig->clusters->Hosts("faulty")->hosts().empty(); }));
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/x"));
  REQUIRE(r.has_value());
  CHECK(r->Header("x-fault-upstream") == "faulty");

  uint64_t version = rig->clusters->Version("faulty");
  resolver->Set("svc.test", {"127.0.0.2"});
  rig->clusters->RefreshDns();
  REQUIRE(Eventually([&] { return rig->clusters->Version("faulty") != version; }));
  for (int i = 0; i < 3; ++i) {
    r = client->RoundTrip(Get("/x"));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->Header("x-fault-upstream") == "moved");
  }
  CHECK(rig->faulty.requests() == 1);
  CHECK(moved.requests() == 3);
  CheckHealthyRouteIsFast(rig->port());
}

TEST_CASE("a name that never resolved answers 503 fast until it resolves") {
  auto resolver = std::make_shared<FakeResolver>();  // knows no name yet
  auto rig = StartRig({.faulty_address = "svc.test", .resolver = resolver});
  REQUIRE(resolver->WaitCalls(1));
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  for (int i = 0; i < 2; ++i) {
    Timed t = TimedRoundTrip(*client, Get("/x"));
    REQUIRE(t.response.has_value());
    CHECK(t.response->status == 503);
    CHECK(HasJsonFlag(*t.response, "no_healthy_upstream"));
    CHECK(t.took < kFast);
  }
  CHECK(rig->faulty.accepted() == 0);

  resolver->Set("svc.test", {"127.0.0.1"});
  rig->clusters->RefreshDns();
  REQUIRE(Eventually([&] { return !rig->clusters->Hosts("faulty")->hosts().empty(); }));
  auto r = client->RoundTrip(Get("/x"));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
}

TEST_CASE("a resolver that blocks for seconds never blocks the loop") {
  auto resolver = std::make_shared<FakeResolver>();
  resolver->Set("svc.test", {"127.0.0.1"});
  resolver->Block();  // every lookup hangs (up to 2 s) until unblocked
  auto rig = StartRig({.faulty_address = "svc.test", .resolver = resolver});
  REQUIRE(resolver->WaitCalls(1));  // the first lookup is hanging now
  CheckHealthyRouteIsFast(rig->port());
  auto client = TestClient::Connect(rig->port());
  REQUIRE(client != nullptr);
  Timed t = TimedRoundTrip(*client, Get("/x"));
  REQUIRE(t.response.has_value());
  CHECK(t.response->status == 503);  // no answer yet
  CHECK(t.took < kFast);

  resolver->Unblock();
  REQUIRE(Eventually([&] { return !rig->clusters->Hosts("faulty")->hosts().empty(); }));
  // A refresh that hangs again changes nothing for requests: the last answer serves.
  resolver->Block();
  rig->clusters->RefreshDns();
  REQUIRE(resolver->WaitCalls(2));
  CheckHealthyRouteIsFast(rig->port());
  t = TimedRoundTrip(*client, Get("/x"));
  REQUIRE(t.response.has_value());
  CHECK(t.response->status == 200);
  CHECK(t.took < kFast);
  resolver->Unblock();
}

}  // namespace
}  // namespace gateway::itest
