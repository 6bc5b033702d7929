// HTTP/1.x connection behaviour over real loopback sockets: keep-alive,
// pipelining, chunked bodies, HTTP/1.0, HEAD and Expect.
#include <catch2/catch.hpp>

#include <thread>

#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

std::unique_ptr<TestServer> StartServer(ServerOptions options = LoopbackOptions(),
                                        Recorder* recorder = nullptr) {
  auto server = TestServer::Start(std::move(options), MakeTestPipeline(recorder));
  REQUIRE(server.ok());
  return *std::move(server);
}

TEST_CASE("keep-alive serves several requests on one connection") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  const char* paths[] = {"/a", "/b", "/c", "/", "/a"};
  const char* bodies[] = {"A", "B", "C", "root", "A"};
  for (int i = 0; i < 5; ++i) {
    auto r = client->RoundTrip(Get(paths[i]));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == bodies[i]);
    CHECK_FALSE(r->closes());
  }
  CHECK_FALSE(client->closed());
  GatewayStats stats = server->stats();
  CHECK(stats.connections_accepted == 1);
  CHECK(stats.requests == 5);
  CHECK(server->Stop());
}

TEST_CASE("pipelined requests in one write are answered in order") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/c") + Get("/a") + Get("/b")));
  for (const char* expected : {"C", "A", "B"}) {
    auto r = client->ReadResponse();
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == expected);
  }
  // Still usable afterwards.
  auto r = client->RoundTrip(Get("/"));
  REQUIRE(r.has_value());
  CHECK(r->body == "root");
}

TEST_CASE("pipelined requests behind a paused request keep their order") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/a", {"X-Delay-Ms: 50"}) + Get("/b") +
                       MakeRequest("POST", "/echo", {}, "third")));
  for (const char* expected : {"A", "B", "third"}) {
    auto r = client->ReadResponse();
    REQUIRE(r.has_value());
    CHECK(r->body == expected);
  }
}

TEST_CASE("chunked request bodies are decoded and delivered whole") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  std::string head =
      "POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n";
  SECTION("in one write") {
    auto r = client->RoundTrip(head + "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "hello, world");
  }
  SECTION("split across writes, with an extension and a trailer") {
    REQUIRE(client->Send(head + "3;ext=1\r\nabc"));
    REQUIRE(client->StaysSilent(absl::Milliseconds(20)));  // not answered before the end
    REQUIRE(client->Send("\r\nA\r\n0123456789\r\n"));
    REQUIRE(client->Send("0\r\nX-Trailer: t\r\n\r\n"));
    auto r = client->ReadResponse();
    REQUIRE(r.has_value());
    CHECK(r->body == "abc0123456789");
  }
  // The connection stays usable after a chunked request.
  auto r = client->RoundTrip(Get("/b"));
  REQUIRE(r.has_value());
  CHECK(r->body == "B");
}

TEST_CASE("a long pipelined burst is answered completely and in order") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // Far more than one read and than the connection's input buffer.
  constexpr int kRequests = 5000;
  const char* paths[] = {"/a", "/b", "/c"};
  const char* bodies[] = {"A", "B", "C"};
  std::string burst;
  for (int i = 0; i < kRequests; ++i) burst += Get(paths[i % 3]);
  REQUIRE(burst.size() > 128 * 1024);
  // Send and read concurrently: the gateway stops reading while its output
  // backs up, so a client that only writes could block.
  std::thread writer([&] { client->Send(burst, absl::Seconds(10)); });
  int answered = 0;
  for (; answered < kRequests; ++answered) {
    auto r = client->ReadResponse(absl::Seconds(5));
    if (!r.has_value() || r->body != bodies[answered % 3]) break;
  }
  writer.join();
  CHECK(answered == kRequests);
  CHECK(server->stats().requests == kRequests);
}

TEST_CASE("HTTP/1.0 closes by default") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip("GET /a HTTP/1.0\r\nHost: test.local\r\n\r\n");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "A");
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("HTTP/1.0 with Connection: keep-alive stays open") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  for (const char* path : {"/a", "/b"}) {
    auto r = client->RoundTrip(std::string("GET ") + path +
                               " HTTP/1.0\r\nHost: test.local\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->HasToken("connection", "keep-alive"));
    CHECK_FALSE(r->closes());
  }
  CHECK_FALSE(client->closed());
}

TEST_CASE("Connection: close on HTTP/1.1 closes after the response") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/a", {"Connection: close"}));
  REQUIRE(r.has_value());
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("a request followed by a half-close is answered before the close") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/a")));
  client->ShutdownWrite();
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "A");
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("pipelined requests followed by a half-close are all answered") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // The first request is still held by a filter when the FIN arrives.
  REQUIRE(client->Send(Get("/a", {"X-Delay-Ms: 50"}) + Get("/b") + Get("/c")));
  client->ShutdownWrite();
  for (const char* expected : {"A", "B", "C"}) {
    auto r = client->ReadResponse();
    REQUIRE(r.has_value());
    CHECK(r->body == expected);
  }
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("max_requests_per_connection closes after the last allowed request") {
  ServerOptions options = LoopbackOptions();
  options.max_requests_per_connection = 2;
  auto server = StartServer(std::move(options));
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto first = client->RoundTrip(Get("/a"));
  REQUIRE(first.has_value());
  CHECK_FALSE(first->closes());
  auto second = client->RoundTrip(Get("/b"));
  REQUIRE(second.has_value());
  CHECK(second->body == "B");
  CHECK(second->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("HEAD gets the headers without a body") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(MakeRequest("HEAD", "/"), absl::Seconds(5), /*head_request=*/true);
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->Header("content-length") == "4");
  // No body bytes follow: the next response starts right after the head.
  auto next = client->RoundTrip(Get("/b"));
  REQUIRE(next.has_value());
  CHECK(next->status == 200);
  CHECK(next->body == "B");
}

TEST_CASE("Expect: 100-continue gets 100 Continue and then the final response") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
                   "Expect: 100-continue\r\n\r\n"));
  auto interim = client->ReadResponse();
  REQUIRE(interim.has_value());
  CHECK(interim->status == 100);
  REQUIRE(client->Send("hello"));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "hello");
  // Exactly one final response: nothing else is pending on the connection.
  CHECK(client->StaysSilent(absl::Milliseconds(20)));
  CHECK(client->buffer().empty());
}

TEST_CASE("an Upgrade request answered without 101 keeps the connection in HTTP mode") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/a", {"Connection: Upgrade", "Upgrade: websocket"}) + Get("/b")));
  auto first = client->ReadResponse();
  REQUIRE(first.has_value());
  CHECK(first->status == 200);
  CHECK(first->body == "A");
  // The bytes after it are parsed, routed and answered as a request.
  auto second = client->ReadResponse();
  REQUIRE(second.has_value());
  CHECK(second->body == "B");
  CHECK(recorder.started() == 2);
}

TEST_CASE("a request past its route deadline gets 504") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  SteadyTime start = std::chrono::steady_clock::now();
  auto r = client->RoundTrip(Get("/deadline", {"X-Delay-Ms: 5000"}));
  REQUIRE(r.has_value());
  CHECK(r->status == 504);
  CHECK(ElapsedSince(start) < absl::Seconds(2));
  REQUIRE(recorder.WaitDone(1, absl::Seconds(1)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kTimeout);
  // The connection is still usable, and a fast request on the route is fine.
  auto ok = client->RoundTrip(Get("/deadline"));
  REQUIRE(ok.has_value());
  CHECK(ok->body == "in time");
}

TEST_CASE("a reply sent before the request body ends never parses that body as a request") {
  Recorder recorder;
  auto server = StartServer(LoopbackOptions(), &recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  std::string smuggled = Get("/a");
  // No route: 404 at once, while the body (a request in disguise) is still
  // on its way.
  REQUIRE(client->Send("POST /nowhere HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
                       std::to_string(smuggled.size()) + "\r\n\r\n"));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 404);
  CHECK(r->closes());
  REQUIRE(client->Send(smuggled));
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());
  CHECK(recorder.started() == 0);
}

TEST_CASE("an unknown expectation gets 417") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(
      "POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 5\r\n"
      "Expect: something-else\r\n\r\nhello");
  REQUIRE(r.has_value());
  CHECK(r->status == 417);
}

}  // namespace
}  // namespace gateway::itest
