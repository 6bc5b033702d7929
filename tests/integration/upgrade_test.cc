// Protocol upgrades through the proxy (WebSocket and others): only a real 101
// from the upstream turns the client connection into a byte tunnel.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/yaml_config.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::TestClient;
using itest::TestServer;

constexpr char kSwitching[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

std::string UpgradeRequest(std::string_view target, const std::string& protocol = "websocket",
                           std::vector<std::string> extra = {}) {
  std::vector<std::string> headers = {
      absl::StrCat("Upgrade: ", protocol), "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return itest::Get(target, headers);
}

// A raw upstream: for each connection (at most 8) it reads one request head,
// answers `reply` (+ `greeting` in the same write), then echoes every byte it
// receives until the peer closes, `close_after` bytes were echoed, or 10 s of
// silence.
class EchoUpstream {
 public:
  struct Options {
    std::string reply = kSwitching;
    std::string greeting;
    size_t close_after = SIZE_MAX;  // close our side after echoing this many bytes
    bool echo = true;
  };
  explicit EchoUpstream(Options o) : o_(std::move(o)) {
    fd_ = itest::BindLoopback(&port_, 16);
    thread_ = std::thread([this] {
      for (int i = 0; i < 8; ++i) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        {
          std::lock_guard<std::mutex> lock(mu_);
          conns_.push_back(c);
        }
        Serve(c);
      }
    });
  }
  ~EchoUpstream() {
    shutdown(fd_, SHUT_RDWR);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int c : conns_) shutdown(c, SHUT_RDWR);
    }
    thread_.join();
    close(fd_);
    for (int c : conns_) close(c);
  }
  uint16_t port() const { return port_; }
  std::string head() const {
    std::lock_guard<std::mutex> lock(mu_);
    return head_;
  }
  // The gateway closed its side of the last tunnel.
  bool saw_eof() const { return saw_eof_; }
  size_t echoed() const { return echoed_; }

 private:
  // Waits up to 10 s for input; returns read()'s result (0 on timeout too).
  static ssize_t ReadWithin(int c, char* buf, size_t size) {
    pollfd p{c, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) return 0;
    return read(c, buf, size);
  }
  static bool WriteAll(int c, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = write(c, data.data(), data.size());
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void Serve(int c) {
    std::string in;
    char buf[65536];
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ReadWithin(c, buf, sizeof(buf));
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      head_ = in.substr(0, end + 4);
    }
    std::string rest = in.substr(end + 4);
    if (!WriteAll(c, o_.reply + o_.greeting)) return;
    if (!o_.echo) {
      ssize_t n;
      while ((n = ReadWithin(c, buf, sizeof(buf))) > 0) {
      }
      saw_eof_ = n == 0;
      return;
    }
    if (!rest.empty()) {
      if (!WriteAll(c, rest)) return;
      echoed_ += rest.size();
    }
    while (echoed_ < o_.close_after) {
      ssize_t n = ReadWithin(c, buf, sizeof(buf));
      if (n <= 0) {
        saw_eof_ = n == 0;
        return;
      }
      if (!WriteAll(c, std::string_view(buf, static_cast<size_t>(n)))) return;
      echoed_ += static_cast<size_t>(n);
    }
    shutdown(c, SHUT_RDWR);
  }

  Options o_;
  int fd_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<int> conns_;
  std::string head_;
  std::atomic<bool> saw_eof_{false};
  std::atomic<size_t> echoed_{0};
};

std::unique_ptr<TestServer> ProxyTo(uint16_t port, RouteSpec route) {
  ClusterSpec c;
  c.name = "ws";
  c.endpoints.push_back({.address = "127.0.0.1", .port = port});
  auto cm = ClusterManager::Create({std::move(c)});
  REQUIRE(cm.ok());
  auto router = Router::Build(
      {RouteBuilder("health").Exact("/health").Respond(200, "ok").Build(), std::move(route)});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*cm).Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

std::unique_ptr<TestServer> ProxyTo(uint16_t port) {
  return ProxyTo(port, RouteBuilder("ws").Prefix("/").ToCluster("ws").Build());
}

// Reads until `text` has arrived after the response head, or 5 s pass.
bool ReadEcho(TestClient& client, const std::string& text) {
  auto deadline = itest::DeadlineAfter(absl::Seconds(5));
  while (!absl::StrContains(client.buffer(), text)) {
    if (itest::MillisLeft(deadline) <= 0 || client.closed()) return false;
    client.ReadSome(65536, absl::Milliseconds(50));
  }
  return true;
}

std::string Lower(std::string s) { return absl::AsciiStrToLower(s); }

// A client whose upgrade request was answered 101 through `proxy`.
std::unique_ptr<TestClient> OpenTunnel(const TestServer& proxy) {
  auto client = TestClient::Connect(proxy.port());
  REQUIRE(client->Send(UpgradeRequest("/chat")));
  auto r = client->ReadResponse();
  REQUIRE(r);
  REQUIRE(r->status == 101);
  return client;
}

TEST_CASE("a WebSocket upgrade answered 101 turns the connection into a tunnel both ways") {
  EchoUpstream up({});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client->Send(UpgradeRequest("/chat")));
  auto r = client->ReadResponse();
  REQUIRE(r);
  CHECK(r->status == 101);
  CHECK(r->HasToken("connection", "upgrade"));
  CHECK(r->Header("upgrade") == "websocket");
  CHECK(r->Header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  CHECK_FALSE(r->Header("content-length").has_value());
  CHECK_FALSE(r->Header("transfer-encoding").has_value());

  std::string seen = Lower(up.head());
  CHECK(absl::StrContains(seen, "\r\nupgrade: websocket\r\n"));
  CHECK(absl::StrContains(seen, "\r\nconnection: upgrade\r\n"));
  CHECK(absl::StrContains(seen, "\r\nsec-websocket-key: dghlihnhbxbszsbub25jzq==\r\n"));

  // Bytes that are not HTTP pass untouched in both directions, several times.
  for (int i = 0; i < 3; ++i) {
    std::string frame = absl::StrCat("\x81\x05hello-", i, "\r\n\r\nGET / HTTP/1.1\r\n\r\n");
    REQUIRE(client->Send(frame));
    REQUIRE(ReadEcho(*client, frame));
    client->TakeBuffer();
  }
}

TEST_CASE("bytes right behind the upgrade request and right behind the 101 are not lost") {
  EchoUpstream up({.greeting = "server-first"});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  // The client does not wait for the 101 before its first frame.
  REQUIRE(client->Send(UpgradeRequest("/chat") + "early-bytes"));
  auto r = client->ReadResponse();
  REQUIRE(r);
  CHECK(r->status == 101);
  REQUIRE(ReadEcho(*client, "server-firstearly-bytes"));
}

TEST_CASE("an upgrade answered without 101 keeps the proxied connection in HTTP mode") {
  EchoUpstream up({.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno", .echo = false});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client->Send(UpgradeRequest("/chat")));
  auto r = client->ReadResponse();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "no");
  CHECK_FALSE(r->Header("upgrade").has_value());
  // What follows is parsed and routed as HTTP, not passed through.
  auto health = client->RoundTrip(itest::Get("/health"));
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "ok");
}

TEST_CASE("closing the client side of a tunnel closes the upstream side") {
  EchoUpstream up({});
  auto proxy = ProxyTo(up.port());
  auto client = OpenTunnel(*proxy);
  REQUIRE(client->Send("last words"));
  REQUIRE(ReadEcho(*client, "last words"));
  client->ShutdownWrite();
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  CHECK(itest::Eventually([&] { return up.saw_eof(); }, absl::Seconds(5)));
}

TEST_CASE("closing the upstream side of a tunnel closes the client connection after its bytes") {
  EchoUpstream up({.close_after = 4});
  auto proxy = ProxyTo(up.port());
  auto client = OpenTunnel(*proxy);
  REQUIRE(client->Send("bye!"));
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  CHECK(client->buffer() == "bye!");
}

TEST_CASE("an idle tunnel is closed on both sides after the tunnel idle timeout") {
  EchoUpstream up({});
  RouteSpec route = RouteBuilder("ws").Prefix("/").ToCluster("ws").Build();
  route.upstream_timeouts.tunnel_idle = absl::Milliseconds(300);
  auto proxy = ProxyTo(up.port(), std::move(route));
  auto client = OpenTunnel(*proxy);
  auto start = itest::DeadlineAfter(absl::ZeroDuration());
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  CHECK(itest::ElapsedSince(start) >= absl::Milliseconds(250));
  CHECK(itest::Eventually([&] { return up.saw_eof(); }, absl::Seconds(5)));
}

TEST_CASE("a busy tunnel outlives the route deadline and the upstream idle timeout") {
  EchoUpstream up({});
  RouteSpec route = RouteBuilder("ws").Prefix("/").ToCluster("ws").Build();
  route.timeout = absl::Milliseconds(200);
  route.upstream_timeouts.idle = absl::Milliseconds(200);
  route.upstream_timeouts.tunnel_idle = absl::Seconds(5);
  auto proxy = ProxyTo(up.port(), std::move(route));
  auto client = OpenTunnel(*proxy);
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string msg = absl::StrCat("tick-", i);
    REQUIRE(client->Send(msg));
    REQUIRE(ReadEcho(*client, msg));
  }
  CHECK_FALSE(client->closed());
}

TEST_CASE("a busy tunnel with tunnel_idle 0 outlives many HTTP idle timeouts of its route") {
  EchoUpstream up({});
  // gatewayd's assembly: tunnel_idle 0 is YAML's "no idle timeout".
  auto config = LoadConfigString(absl::StrCat(R"yaml(
listeners: [{address: 127.0.0.1, port: 8080}]
clusters:
  - name: ws
    endpoints: [{address: 127.0.0.1, port: )yaml",
                                              up.port(), R"yaml(}]
routes:
  - name: ws
    cluster: ws
    upstream_timeouts: {idle: 200ms, tunnel_idle: 0}
)yaml"),
                                 "tunnel.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  REQUIRE(config->routes.at(0).upstream_timeouts.tunnel_idle == absl::ZeroDuration());
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
  INFO(running.status().message());
  REQUIRE(running.ok());
  auto client = TestClient::Connect((*running)->ports().at(0));
  REQUIRE(client->Send(UpgradeRequest("/chat")));
  auto r = client->ReadResponse();
  REQUIRE(r);
  REQUIRE(r->status == 101);
  // Bytes every 100 ms for 1.2 s, six times the HTTP idle timeout ...
  for (int i = 0; i < 12; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string msg = absl::StrCat("tick-", i);
    REQUIRE(client->Send(msg));
    REQUIRE(ReadEcho(*client, msg));
  }
  // ... and, with no tunnel idle timeout at all, a silence of three of them.
  CHECK(client->StaysSilent(absl::Milliseconds(600)));
  REQUIRE(client->Send("still-there"));
  CHECK(ReadEcho(*client, "still-there"));
  CHECK_FALSE(client->closed());
  client.reset();
  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("megabytes pass through a tunnel both ways intact") {
  EchoUpstream up({});
  auto proxy = ProxyTo(up.port());
  auto client = OpenTunnel(*proxy);
  std::string big;
  for (int i = 0; big.size() < 4 * 1024 * 1024; ++i) absl::StrAppend(&big, i, ",");
  // Send in slices and read the echo as it comes, so neither side's buffers
  // fill up and both directions' flow control is exercised.
  size_t sent = 0;
  auto deadline = itest::DeadlineAfter(absl::Seconds(20));
  while (client->buffer().size() < big.size() && itest::MillisLeft(deadline) > 0) {
    if (sent < big.size() && sent < client->buffer().size() + 1024 * 1024) {
      size_t n = std::min<size_t>(256 * 1024, big.size() - sent);
      REQUIRE(client->Send(std::string_view(big).substr(sent, n)));
      sent += n;
    }
    client->ReadSome(1 << 20, absl::Milliseconds(20));
  }
  REQUIRE(client->buffer().size() == big.size());
  CHECK(client->buffer() == big);
}

TEST_CASE("Upgrade: h2c is never forwarded and the request is proxied as plain HTTP") {
  EchoUpstream up({.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .echo = false});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  auto r =
      client->RoundTrip(itest::Get("/x", {"Upgrade: h2c", "Connection: Upgrade, HTTP2-Settings",
                                          "HTTP2-Settings: AAMAAABkAAQ"}));
  REQUIRE(r);
  CHECK(r->status == 200);
  std::string seen = Lower(up.head());
  CHECK_FALSE(absl::StrContains(seen, "\r\nupgrade:"));
  CHECK_FALSE(absl::StrContains(seen, "http2-settings"));
  CHECK_FALSE(absl::StrContains(seen, "connection: upgrade"));
}

TEST_CASE("an upgrade to a protocol the route does not allow is not forwarded") {
  EchoUpstream up({.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .echo = false});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(UpgradeRequest("/x", "custom-proto"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_FALSE(absl::StrContains(Lower(up.head()), "\r\nupgrade:"));
}

TEST_CASE("a route with no upgrades allowed strips WebSocket upgrades") {
  EchoUpstream up({.reply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", .echo = false});
  RouteSpec route = RouteBuilder("ws").Prefix("/").ToCluster("ws").Build();
  route.upgrades.clear();
  auto proxy = ProxyTo(up.port(), std::move(route));
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(UpgradeRequest("/x"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_FALSE(absl::StrContains(Lower(up.head()), "\r\nupgrade:"));
}

TEST_CASE("a 101 to a request that asked for no upgrade is a 502, never a tunnel") {
  EchoUpstream up({.greeting = "raw-bytes", .echo = false});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(itest::Get("/x"));
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(absl::StrContains(r->body, "upstream_protocol_error"));
  CHECK_FALSE(absl::StrContains(r->body, "raw-bytes"));
}

TEST_CASE("a 101 switching to a protocol that was not offered is a 502") {
  EchoUpstream up({.reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n"
                            "Connection: Upgrade\r\n\r\n",
                   .echo = false});
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(UpgradeRequest("/chat"));
  REQUIRE(r);
  CHECK(r->status == 502);
}

TEST_CASE("a health request answers while a tunnel is open on another connection") {
  EchoUpstream up({});
  auto proxy = ProxyTo(up.port());
  auto ws = OpenTunnel(*proxy);
  auto client = TestClient::Connect(proxy->port());
  auto start = itest::DeadlineAfter(absl::ZeroDuration());
  auto health = client->RoundTrip(itest::Get("/health"));
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(itest::ElapsedSince(start) < absl::Milliseconds(100));
}

}  // namespace
}  // namespace gateway
