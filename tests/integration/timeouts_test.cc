// Slow and idle clients over real sockets: the header, body-idle, keep-alive
// and send timeouts, and slowloris clients not starving others.
#include <catch2/catch.hpp>

#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

constexpr absl::Duration kHeaderTimeout = absl::Milliseconds(200);
constexpr absl::Duration kBodyIdleTimeout = absl::Milliseconds(200);
constexpr absl::Duration kKeepaliveTimeout = absl::Milliseconds(200);

ServerOptions ShortTimeouts() {
  ServerOptions o = LoopbackOptions();
  o.timeouts.header = kHeaderTimeout;
  o.timeouts.body_idle = kBodyIdleTimeout;
  o.timeouts.keepalive_idle = kKeepaliveTimeout;
  return o;
}

std::unique_ptr<TestServer> StartServer(ServerOptions options, Recorder* recorder = nullptr,
                                        std::string big_body = {}) {
  auto server =
      TestServer::Start(std::move(options), MakeTestPipeline(recorder, std::move(big_body)));
  REQUIRE(server.ok());
  return *std::move(server);
}

TEST_CASE("a partial request head times out with 408 and close") {
  auto server = StartServer(ShortTimeouts());
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  SteadyTime start = std::chrono::steady_clock::now();
  REQUIRE(client->Send("GET /a HTTP/1.1\r\nHost: test.local\r\nX-Partial: "));
  auto r = client->ReadResponse(absl::Seconds(3));
  absl::Duration waited = ElapsedSince(start);
  REQUIRE(r.has_value());
  CHECK(r->status == 408);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(waited >= kHeaderTimeout - absl::Milliseconds(5));
  CHECK(waited < absl::Seconds(2));
}

TEST_CASE("the header timeout covers the whole head, not each byte") {
  auto server = StartServer(ShortTimeouts());
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // One byte every 20 ms: each gap is far below the timeout, the total is not.
  std::string head = "GET /a HTTP/1.1\r\nHost: test.local\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa";
  SteadyTime start = std::chrono::steady_clock::now();
  bool closed = false;
  for (char c : head) {
    if (!client->Send(std::string_view(&c, 1))) break;
    if (!client->StaysSilent(absl::Milliseconds(20))) {
      closed = true;
      break;
    }
    if (ElapsedSince(start) > absl::Seconds(2)) break;
  }
  REQUIRE(closed);
  auto r = client->ReadResponse(absl::Seconds(1));
  REQUIRE(r.has_value());
  CHECK(r->status == 408);
  CHECK(ElapsedSince(start) < absl::Seconds(1));
}

TEST_CASE("the header timeout applies to a later request on a kept-alive connection") {
  ServerOptions options = ShortTimeouts();
  options.timeouts.keepalive_idle = absl::Seconds(5);  // only the header timer may fire
  auto server = StartServer(std::move(options));
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto first = client->RoundTrip(Get("/a"));
  REQUIRE(first.has_value());
  REQUIRE(first->status == 200);
  SteadyTime start = std::chrono::steady_clock::now();
  REQUIRE(client->Send("GET /b HTTP/1.1\r\nHost: te"));
  auto r = client->ReadResponse(absl::Seconds(3));
  REQUIRE(r.has_value());
  CHECK(r->status == 408);
  CHECK(client->WaitForClose(absl::Seconds(1)));
  absl::Duration waited = ElapsedSince(start);
  CHECK(waited >= kHeaderTimeout - absl::Milliseconds(5));
  CHECK(waited < absl::Seconds(1));
}

TEST_CASE("a connection that sends nothing is closed after the header timeout") {
  auto server = StartServer(ShortTimeouts());
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());  // no 408 for a request that never started
}

TEST_CASE("a request body that stops arriving times out with 408") {
  Recorder recorder;
  auto server = StartServer(ShortTimeouts(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  SteadyTime start = std::chrono::steady_clock::now();
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 10\r\n\r\nhello"));
  auto r = client->ReadResponse(absl::Seconds(3));
  REQUIRE(r.has_value());
  CHECK(r->status == 408);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(ElapsedSince(start) >= kBodyIdleTimeout - absl::Milliseconds(5));
  REQUIRE(recorder.WaitDone(1, absl::Seconds(2)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kTimeout);
  // OnDone (and so the access log) sees what the client got.
  CHECK(recorder.done()[0].status == 408);
  CHECK(recorder.done()[0].flag == "body_timeout");
}

TEST_CASE("a body the codec rejects reports the codec's status and flag to OnDone") {
  Recorder recorder;
  auto server = StartServer(ShortTimeouts(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\nzz\r\n"));
  auto r = client->ReadResponse(absl::Seconds(3));
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  REQUIRE(recorder.WaitDone(1, absl::Seconds(2)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kError);
  CHECK(recorder.done()[0].status == 400);
  CHECK(recorder.done()[0].flag == "invalid_framing");
  CHECK(r->body.find(recorder.done()[0].flag) != std::string::npos);
}

TEST_CASE("a body that keeps trickling in is not cut by the body idle timeout") {
  auto server = StartServer(ShortTimeouts());
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // 10 pieces 50 ms apart: 500 ms in total, each gap well under 200 ms.
  REQUIRE(client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 10\r\n\r\n"));
  for (int i = 0; i < 10; ++i) {
    REQUIRE(client->StaysSilent(absl::Milliseconds(50)));
    REQUIRE(client->Send(std::string(1, static_cast<char>('0' + i))));
  }
  auto r = client->ReadResponse(absl::Seconds(2));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "0123456789");
}

TEST_CASE("an idle keep-alive connection is closed after the keep-alive timeout") {
  auto server = StartServer(ShortTimeouts());
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/a"));
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);
  CHECK_FALSE(r->closes());
  SteadyTime idle_since = std::chrono::steady_clock::now();
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());  // closed silently
  CHECK(ElapsedSince(idle_since) >= kKeepaliveTimeout - absl::Milliseconds(20));
  // Until then it served requests: activity resets nothing but the idle clock.
  CHECK(server->stats().active_connections == 0);
}

TEST_CASE("a reused keep-alive connection frees its idle state after a second and still serves") {
  // Past its first request a connection keeps its codec for a second of
  // keep-alive wait (kIdleWait), then frees it and waits out the rest.
  ServerOptions options = LoopbackOptions();
  options.timeouts.keepalive_idle = absl::Milliseconds(1600);
  auto server = StartServer(options);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  std::string body;
  for (int i = 0; i < 3; ++i) {
    auto r = client->RoundTrip(Get("/a"));
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    body = r->body;
  }
  // Across the switch to the second stage: still open, and the request after
  // it is parsed by a fresh codec.
  CHECK(client->StaysSilent(absl::Milliseconds(1200)));
  auto r = client->RoundTrip(Get("/a"));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == body);
  // Idle again: the whole keep-alive timeout passes (both stages) before the close.
  SteadyTime idle_since = std::chrono::steady_clock::now();
  CHECK(client->WaitForClose(absl::Seconds(4)));
  absl::Duration waited = ElapsedSince(idle_since);
  CHECK(waited >= absl::Milliseconds(1580));
  CHECK(waited < absl::Milliseconds(3000));
}

TEST_CASE("slowloris clients do not delay a concurrent normal client") {
  ServerOptions options = LoopbackOptions();
  options.timeouts.header = absl::Seconds(5);  // the slow clients stay for the whole test
  auto server = StartServer(std::move(options));
  std::vector<std::unique_ptr<TestClient>> slow;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(TestClient::Connect(server->port()));
    REQUIRE(slow.back() != nullptr);
    REQUIRE(slow.back()->Send("GET /a HTTP/1.1\r\nHost: test.local\r\n"));
  }
  auto normal = TestClient::Connect(server->port());
  REQUIRE(normal != nullptr);
  absl::Duration worst = absl::ZeroDuration();
  for (int round = 0; round < 10; ++round) {
    for (auto& s : slow) REQUIRE(s->Send("X-Drip: 1\r\n"));
    SteadyTime start = std::chrono::steady_clock::now();
    auto r = normal->RoundTrip(Get("/b"));
    worst = std::max(worst, ElapsedSince(start));
    REQUIRE(r.has_value());
    CHECK(r->body == "B");
  }
  CHECK(worst < absl::Milliseconds(100));
  // None of the slow clients got anything: their heads are still incomplete.
  for (auto& s : slow) CHECK(s->buffer().empty());
  CHECK(server->stats().active_connections == 51);
}

TEST_CASE("a client that stops reading is disconnected after the send timeout") {
  ServerOptions options = LoopbackOptions();
  options.timeouts.send = absl::Milliseconds(200);
  Recorder recorder;
  auto server = StartServer(std::move(options), &recorder, std::string(8 << 20, 'z'));
  TestClient::Options copt;
  copt.receive_buffer = 16 * 1024;
  auto client = TestClient::Connect(server->port(), copt);
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/big")));
  // Never read: the kernel buffers fill and the gateway's write stalls.
  REQUIRE(recorder.WaitDone(1, absl::Seconds(3)));
  // The connection is gone within a bounded time.
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = server->stats().active_connections == 0;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(gone);
}

TEST_CASE("a large response to a slow reader arrives intact") {
  ServerOptions options = LoopbackOptions();
  // Shorter than the whole transfer: a reader that keeps making progress must
  // not be cut off by the send timeout.
  options.timeouts.send = absl::Milliseconds(300);
  // Bigger than the most the kernel buffers on loopback (tcp_wmem's 4 MiB
  // maximum), so the gateway's own write stays queued while the client reads.
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  auto server = StartServer(std::move(options), nullptr, big);
  TestClient::Options copt;
  copt.receive_buffer = 32 * 1024;
  auto client = TestClient::Connect(server->port(), copt);
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/big")));
  SteadyTime start = std::chrono::steady_clock::now();
  // Read in small pieces with pauses (about 8 MB/s): around a second in all,
  // several send timeouts long.
  while (client->buffer().find("\r\n\r\n") == std::string::npos ||
         client->buffer().size() < big.size()) {
    size_t n = client->ReadSome(16 * 1024, absl::Seconds(1));
    if (n == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (ElapsedSince(start) > absl::Seconds(20)) break;
  }
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body.size() == big.size());
  CHECK(r->body == big);
  CHECK(ElapsedSince(start) > absl::Milliseconds(600));  // it really was slow
}

}  // namespace
}  // namespace gateway::itest
