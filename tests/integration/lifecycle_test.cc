// Connection lifecycle over real sockets: the connection limit, graceful
// drain, the drain deadline, IPv6 listeners and clients that disappear.
#include <catch2/catch.hpp>

#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

std::unique_ptr<TestServer> StartServer(ServerOptions options, Recorder* recorder = nullptr) {
  auto server = TestServer::Start(std::move(options), MakeTestPipeline(recorder));
  REQUIRE(server.ok());
  return *std::move(server);
}

TEST_CASE("connections beyond max_connections are closed at once and counted") {
  ServerOptions options = LoopbackOptions();
  options.max_connections = 2;
  auto server = StartServer(std::move(options));
  auto c1 = TestClient::Connect(server->port());
  auto c2 = TestClient::Connect(server->port());
  REQUIRE(c1 != nullptr);
  REQUIRE(c2 != nullptr);
  // Make sure both are accepted before the third arrives.
  REQUIRE(c1->RoundTrip(Get("/a")).has_value());
  REQUIRE(c2->RoundTrip(Get("/a")).has_value());

  auto c3 = TestClient::Connect(server->port());
  REQUIRE(c3 != nullptr);  // the kernel completes the handshake
  c3->Send(Get("/a"));
  CHECK(c3->WaitForClose(absl::Seconds(2)));
  CHECK(c3->buffer().empty());

  GatewayStats stats = server->stats();
  CHECK(stats.connections_rejected == 1);
  CHECK(stats.active_connections == 2);

  // The admitted connections are unaffected, and a slot freed is usable again.
  auto r = c1->RoundTrip(Get("/b"));
  REQUIRE(r.has_value());
  CHECK(r->body == "B");
  c2.reset();
  REQUIRE(Eventually([&] { return server->stats().active_connections == 1; }));
  auto c4 = TestClient::Connect(server->port());
  REQUIRE(c4 != nullptr);
  auto r4 = c4->RoundTrip(Get("/c"));
  REQUIRE(r4.has_value());
  CHECK(r4->body == "C");
  CHECK(server->stats().connections_rejected == 1);
}

TEST_CASE("graceful drain finishes the in-flight request and closes the rest") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto busy = TestClient::Connect(server->port());
  auto idle = TestClient::Connect(server->port());
  REQUIRE(busy != nullptr);
  REQUIRE(idle != nullptr);
  auto warm = idle->RoundTrip(Get("/a"));
  REQUIRE(warm.has_value());
  CHECK_FALSE(warm->closes());

  REQUIRE(busy->Send(Get("/b", {"X-Delay-Ms: 300"})));
  REQUIRE(recorder.WaitStarted(2, absl::Seconds(2)));
  server->StartDrain(absl::Seconds(5));

  // The idle keep-alive connection is closed without a response.
  CHECK(idle->WaitForClose(absl::Seconds(1)));
  CHECK(idle->buffer().empty());
  // New connections are refused.
  int error = 0;
  auto late = TestClient::Connect(server->port(), TestClient::Options{}, &error);
  if (late != nullptr) {
    // Accepted by the kernel before the listener closed: it must not be served.
    late->Send(Get("/a"));
    CHECK(late->WaitForClose(absl::Seconds(1)));
    CHECK(late->buffer().empty());
  } else {
    CHECK(error == ECONNREFUSED);
  }
  CHECK_FALSE(server->drained());

  // The in-flight request completes, marked as the connection's last.
  auto r = busy->ReadResponse(absl::Seconds(2));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "B");
  CHECK(r->closes());
  CHECK(busy->WaitForClose(absl::Seconds(1)));
  CHECK(server->WaitDrained(absl::Seconds(2)));

  REQUIRE(recorder.WaitDone(2, absl::Seconds(1)));
  for (const auto& d : recorder.done()) CHECK(d.outcome == RequestOutcome::kCompleted);
  CHECK(server->stats().active_connections == 0);
  CHECK(server->Stop());
}

TEST_CASE("drain of idle connections calls done promptly and leaves the loop free") {
  auto server = StartServer(LoopbackOptions());
  auto idle = TestClient::Connect(server->port());
  REQUIRE(idle != nullptr);
  REQUIRE(idle->RoundTrip(Get("/a")).has_value());
  SteadyTime start = std::chrono::steady_clock::now();
  server->StartDrain(absl::Seconds(30));
  REQUIRE(server->WaitDrained(absl::Seconds(2)));
  CHECK(ElapsedSince(start) < absl::Seconds(1));
  CHECK(idle->WaitForClose(absl::Seconds(1)));
  // No armed timer may keep an embedding application's loop alive until the
  // deadline: every handle of the drained gateway is inactive.
  bool any_active = true;
  REQUIRE(server->RunOnLoop([&any_active](Gateway* gw) {
    any_active = false;
    uv_walk(
        gw->dispatcher().loop(),
        [](uv_handle_t* h, void* arg) {
          if (h->type == UV_ASYNC) return;  // the test server's own handle
          if (uv_is_active(h) && uv_has_ref(h)) *static_cast<bool*>(arg) = true;
        },
        &any_active);
  }));
  CHECK_FALSE(any_active);
}

TEST_CASE("the drain deadline closes connections that are still busy") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto stuck = TestClient::Connect(server->port());
  REQUIRE(stuck != nullptr);
  REQUIRE(stuck->Send(Get("/a", {"X-Delay-Ms: 10000"})));
  REQUIRE(recorder.WaitStarted(1, absl::Seconds(2)));
  SteadyTime start = std::chrono::steady_clock::now();
  server->StartDrain(absl::Milliseconds(200));
  CHECK(stuck->WaitForClose(absl::Seconds(2)));
  CHECK(stuck->buffer().empty());
  CHECK(server->WaitDrained(absl::Seconds(2)));
  absl::Duration took = ElapsedSince(start);
  CHECK(took >= absl::Milliseconds(190));
  CHECK(took < absl::Seconds(2));
  REQUIRE(recorder.WaitDone(1, absl::Seconds(1)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kClientGone);
}

TEST_CASE("an IPv6 listener on ::1 serves requests") {
  // Skip where the machine has no IPv6 loopback.
  int probe = socket(AF_INET6, SOCK_STREAM, 0);
  bool have_v6 = false;
  if (probe >= 0) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    have_v6 = bind(probe, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(probe);
  }
  if (!have_v6) {
    WARN("IPv6 loopback unavailable; skipping");
    return;
  }
  auto server = StartServer(LoopbackOptions("::1"));
  TestClient::Options copt;
  copt.address = "::1";
  auto client = TestClient::Connect(server->port(), copt);
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/a"));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "A");
  // An IPv4 client cannot reach the v6-only listener.
  CHECK(TestClient::Connect(server->port()) == nullptr);
}

TEST_CASE("a client that disconnects mid-request ends it as client-gone") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  SECTION("while the request body is incomplete") {
    auto client = TestClient::Connect(server->port());
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(
        "POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100\r\n\r\nonly part"));
    REQUIRE(recorder.WaitStarted(1, absl::Seconds(2)));
    client.reset();
  }
  SECTION("with a reset while a filter holds the request") {
    auto client = TestClient::Connect(server->port());
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(Get("/a", {"X-Delay-Ms: 10000"})));
    REQUIRE(recorder.WaitStarted(1, absl::Seconds(2)));
    client->CloseWithReset();
  }
  REQUIRE(recorder.WaitDone(1, absl::Seconds(2)));
  auto done = recorder.done();
  REQUIRE(done.size() == 1);
  CHECK(done[0].outcome == RequestOutcome::kClientGone);
  CHECK(done[0].status == 0);
  CHECK(Eventually([&] { return server->stats().active_connections == 0; }));
  CHECK(server->stats().active_requests == 0);
}

TEST_CASE("destroying the gateway with requests in flight ends them as client-gone") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/a", {"X-Delay-Ms: 10000"})));
  REQUIRE(recorder.WaitStarted(1, absl::Seconds(2)));
  CHECK(server->Stop());  // destroys the gateway without a drain
  CHECK(client->WaitForClose(absl::Seconds(2)));
  REQUIRE(recorder.WaitDone(1, absl::Seconds(1)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kClientGone);
}

TEST_CASE("a pipeline swap applies to new requests while in-flight ones finish on the old") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/a", {"X-Delay-Ms: 100"})));
  REQUIRE(recorder.WaitStarted(1, absl::Seconds(2)));

  auto router = Router::Build({RouteBuilder("a2").Exact("/a").Respond(200, "A2").Build()});
  REQUIRE(router.ok());
  auto next = PipelineBuilder{}.Routes(*router).Build();
  REQUIRE(next.ok());
  REQUIRE(server->RunOnLoop([p = *next](Gateway* gw) { gw->SetPipeline(p); }));

  auto in_flight = client->ReadResponse();
  REQUIRE(in_flight.has_value());
  CHECK(in_flight->body == "A");
  auto after = client->RoundTrip(Get("/a"));
  REQUIRE(after.has_value());
  CHECK(after->body == "A2");
  CHECK(recorder.started() == 1);  // the new pipeline has no recording filter
}

TEST_CASE("file descriptors return to baseline after many connections and errors") {
  // libuv opens a few process-wide descriptors on the first loop; count from
  // after one.
  REQUIRE(StartServer(LoopbackOptions())->Stop());
  int baseline = OpenFileDescriptors();
  {
    ServerOptions options = LoopbackOptions();
    options.max_connections = 20;
    options.timeouts.header = absl::Milliseconds(100);
    auto server = StartServer(std::move(options));
    std::vector<std::unique_ptr<TestClient>> clients;
    for (int i = 0; i < 30; ++i) {
      auto c = TestClient::Connect(server->port());
      REQUIRE(c != nullptr);
      switch (i % 5) {
        case 0:
          c->Send(Get("/a"));
          break;
        case 1:
          c->Send("GET /a HTTP/1.1\r\nHost");
          break;  // times out
        case 2:
          c->Send("BROKEN\r\n\r\n");
          break;
        case 3:
          c->CloseWithReset();
          continue;
        case 4:
          break;  // idle
      }
      clients.push_back(std::move(c));
    }
    for (auto& c : clients) c->WaitForClose(absl::Milliseconds(300));
    clients.clear();
    REQUIRE(Eventually([&] { return server->stats().active_connections == 0; }));
    CHECK(server->Stop());
  }
  CHECK(OpenFileDescriptors() == baseline);
}

}  // namespace
}  // namespace gateway::itest
