// Limits and invalid input over real sockets: every rejection is one error
// response followed by a close, and nothing after it on that connection is
// ever processed.
#include <catch2/catch.hpp>

#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

ServerOptions SmallLimits() {
  ServerOptions o = LoopbackOptions();
  o.limits.max_uri_bytes = 256;
  o.limits.max_header_bytes = 1024;
  o.limits.max_header_count = 10;
  o.limits.max_body_bytes = 1024;
  return o;
}

std::unique_ptr<TestServer> StartServer(Recorder* recorder = nullptr) {
  auto server = TestServer::Start(SmallLimits(), MakeTestPipeline(recorder));
  REQUIRE(server.ok());
  return *std::move(server);
}

// Sends `request`, expects one response with `status` that closes the
// connection, and then the close itself with no further bytes.
void ExpectRejected(TestServer& server, const std::string& request, int status) {
  auto client = TestClient::Connect(server.port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(request));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == status);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());
}

TEST_CASE("a request target over the URI limit gets 414") {
  auto server = StartServer();
  ExpectRejected(*server, Get("/" + std::string(300, 'x')), 414);
  // Just under the limit is routed normally (404: no such route).
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(Get("/" + std::string(200, 'x')));
  REQUIRE(r.has_value());
  CHECK(r->status == 404);
}

TEST_CASE("a header section over the size limit gets 431") {
  auto server = StartServer();
  ExpectRejected(*server, Get("/a", {"X-Big: " + std::string(2000, 'v')}), 431);
}

TEST_CASE("too many header fields get 431") {
  auto server = StartServer();
  std::vector<std::string> headers;
  for (int i = 0; i < 20; ++i) headers.push_back("X-H" + std::to_string(i) + ": v");
  ExpectRejected(*server, Get("/a", headers), 431);
}

TEST_CASE("a Content-Length over the body limit gets 413 before the body is sent") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // Only the head: the answer must not wait for any of the body.
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: 100000\r\n\r\n"));
  auto r = client->ReadResponse(absl::Seconds(2));
  REQUIRE(r.has_value());
  CHECK(r->status == 413);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("a 413 reaches a client that sends the oversized body without waiting") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // Head and body in one go, as most clients do without Expect: the gateway
  // answers after the head and must not lose its answer to a reset.
  std::string body(200 * 1024, 'b');
  client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
  auto r = client->ReadResponse(absl::Seconds(2));
  REQUIRE(r.has_value());
  CHECK(r->status == 413);
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("a chunked body growing over the limit gets 413") {
  Recorder recorder;
  auto server = StartServer(&recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  std::string request =
      "POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) request += "200\r\n" + std::string(512, 'x') + "\r\n";
  REQUIRE(client->Send(request));
  auto r = client->ReadResponse(absl::Seconds(2));
  REQUIRE(r.has_value());
  CHECK(r->status == 413);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  REQUIRE(recorder.WaitDone(1, absl::Seconds(2)));
  CHECK(recorder.done()[0].outcome == RequestOutcome::kError);
}

TEST_CASE(
    "Content-Length with Transfer-Encoding gets 400 and the smuggled request is never answered") {
  Recorder recorder;
  auto server = StartServer(&recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  std::string smuggled = Get("/b");
  std::string body = "0\r\n\r\n" + smuggled;
  REQUIRE(client->Send(
      "POST /echo HTTP/1.1\r\nHost: test.local\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nTransfer-Encoding: chunked\r\n\r\n" + body));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());  // no second response
  CHECK(recorder.started() == 0);   // neither request reached a filter
  CHECK(server->stats().requests == 0);
}

TEST_CASE("a bad chunk size gets 400 and close") {
  Recorder recorder;
  auto server = StartServer(&recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "zz\r\nhello\r\n0\r\n\r\n" +
                   Get("/b")));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());
  // The request whose body broke ends as an error for its filters.
  REQUIRE(recorder.WaitDone(1, absl::Seconds(2)));
  CHECK(recorder.done().size() == 1);
  CHECK(recorder.done()[0].outcome == RequestOutcome::kError);
}

TEST_CASE("a bad chunk size arriving later in the body gets 400 and close") {
  auto server = StartServer();
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  REQUIRE(
      client->Send("POST /echo HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n"));
  REQUIRE(client->StaysSilent(absl::Milliseconds(20)));
  REQUIRE(client->Send("5x\r\nworld\r\n0\r\n\r\n"));
  auto r = client->ReadResponse();
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("HTTP/1.1 without Host gets 400") {
  auto server = StartServer();
  ExpectRejected(*server, "GET /a HTTP/1.1\r\nUser-Agent: t\r\n\r\n", 400);
}

TEST_CASE("after an invalid request nothing more on that connection is processed") {
  Recorder recorder;
  auto server = StartServer(&recorder);
  auto client = TestClient::Connect(server->port());
  REQUIRE(client != nullptr);
  // A valid request, an invalid one (space before the colon), then a valid one.
  REQUIRE(client->Send(Get("/a") + "GET /b HTTP/1.1\r\nHost : test.local\r\n\r\n" + Get("/c")));
  auto first = client->ReadResponse();
  REQUIRE(first.has_value());
  CHECK(first->status == 200);
  CHECK(first->body == "A");
  auto second = client->ReadResponse();
  REQUIRE(second.has_value());
  CHECK(second->status == 400);
  CHECK(second->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(client->buffer().empty());  // "/c" was never answered
  CHECK(recorder.started() == 1);
}

}  // namespace
}  // namespace gateway::itest
