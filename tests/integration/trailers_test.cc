// Trailer fields of chunked messages pass through the proxy in both
// directions; hop-by-hop and head-only fields among them do not.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::TestClient;

// Answers one connection: reads a request up to the end of its chunked body
// (the blank line after the last chunk and trailers) or its head if it has no
// body, keeps the raw bytes, and sends `response`.
class CaptureUpstream {
 public:
  explicit CaptureUpstream(std::string response) : response_(std::move(response)) {
    fd_ = itest::BindLoopback(&port_, 4);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      for (int i = 0; i < 1000 && !Complete(in); ++i) {  // bounded
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 5000) != 1) break;
        ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        request_ = in;
      }
      (void)!write(c, response_.data(), response_.size());
      pollfd p{c, POLLIN, 0};
      poll(&p, 1, 5000);  // until the gateway closes or gives up on us
      close(c);
    });
  }
  ~CaptureUpstream() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }
  std::string request() const {
    std::lock_guard<std::mutex> lock(mu_);
    return request_;
  }

 private:
  static bool Complete(const std::string& in) {
    size_t head = in.find("\r\n\r\n");
    if (head == std::string::npos) return false;
    if (!absl::StrContains(absl::AsciiStrToLower(in.substr(0, head)), "transfer-encoding")) {
      return true;
    }
    size_t last = in.find("\r\n0\r\n", head);
    return last != std::string::npos && in.find("\r\n\r\n", last + 2) != std::string::npos;
  }

  std::string response_;
  int fd_;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mu_;
  std::string request_;
};

std::unique_ptr<itest::TestServer> ProxyTo(uint16_t port) {
  ClusterSpec c;
  c.name = "c";
  c.endpoints.push_back({.address = "127.0.0.1", .port = port});
  auto cm = ClusterManager::Create({std::move(c)});
  REQUIRE(cm.ok());
  auto router = Router::Build({RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*cm).Build();
  REQUIRE(pipeline.ok());
  auto server = itest::TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

std::string Lower(std::string s) { return absl::AsciiStrToLower(s); }

TEST_CASE("response trailers of a chunked upstream response reach the client") {
  CaptureUpstream up(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Status\r\n\r\n"
      "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\nGrpc-Message: fine\r\nConnection: x-secret\r\n"
      "X-Secret: no\r\nContent-Type: text/plain\r\n\r\n");
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client->Send(itest::MakeRequest("GET", "/")));
  auto deadline = itest::DeadlineAfter(absl::Seconds(5));
  while (!absl::StrContains(client->buffer(), "\r\n0\r\n") ||
         !absl::EndsWith(client->buffer(), "\r\n\r\n")) {
    INFO(client->buffer());
    REQUIRE((itest::MillisLeft(deadline) > 0 && !client->closed()));
    client->ReadSome(4096, absl::Milliseconds(20));
  }
  std::string got = Lower(client->buffer());
  std::string trailers = got.substr(got.find("\r\n0\r\n") + 5);
  CHECK(absl::StrContains(got, "hello"));
  CHECK(absl::StrContains(trailers, "grpc-status: 0\r\n"));
  CHECK(absl::StrContains(trailers, "grpc-message: fine\r\n"));
  // Hop-by-hop and head-only fields are not passed on as trailers.
  CHECK_FALSE(absl::StrContains(trailers, "x-secret"));
  CHECK_FALSE(absl::StrContains(trailers, "connection"));
  CHECK_FALSE(absl::StrContains(trailers, "content-type"));
  CHECK_FALSE(client->closed());
}

TEST_CASE("request trailers of a chunked request body reach the upstream") {
  CaptureUpstream up("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(
      "POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\ndata\r\n0\r\nX-Checksum: abc123\r\nTE: trailers\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  std::string seen = Lower(up.request());
  size_t last = seen.find("\r\n0\r\n");
  REQUIRE(last != std::string::npos);
  std::string trailers = seen.substr(last + 5);
  CHECK(absl::StrContains(seen, "\r\n4\r\ndata\r\n"));
  CHECK(absl::StrContains(trailers, "x-checksum: abc123\r\n"));
  CHECK_FALSE(absl::StrContains(trailers, "te:"));
}

TEST_CASE("trailers are dropped for an HTTP/1.0 client, whose response cannot carry them") {
  CaptureUpstream up(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n");
  auto proxy = ProxyTo(up.port());
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client->Send("GET / HTTP/1.0\r\nHost: t\r\n\r\n"));
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  std::string got = Lower(client->buffer());
  CHECK(absl::EndsWith(got, "\r\n\r\nhello"));
  CHECK_FALSE(absl::StrContains(got, "grpc-status"));
}

}  // namespace
}  // namespace gateway
