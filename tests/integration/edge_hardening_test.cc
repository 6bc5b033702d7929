// Edge hardening through gatewayd's assembly (LoadConfigString +
// StartFromConfig, a Runtime over loopback): chunk-line limits, header names
// with underscores, and the Date field on every response.
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gateway/testing/harness.h"
#include "gateway/yaml_config.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::Eventually;
using itest::MakeRequest;
using itest::TestClient;

// A raw HTTP/1.1 upstream on loopback: records every request head it reads
// (bodiless requests only) and answers each with `answer(head)`, keeping the
// connection open.
class RecordingUpstream {
 public:
  explicit RecordingUpstream(std::function<std::string(const std::string&)> answer)
      : answer_(std::move(answer)) {
    listener_ = itest::BindLoopback(&port_, 64);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~RecordingUpstream() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& t : connections_) t.join();
    close(listener_);
  }
  uint16_t port() const { return port_; }
  std::vector<std::string> heads() {
    std::lock_guard<std::mutex> lock(mu_);
    return heads_;
  }

 private:
  bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    while (!stop_) {
      if (poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }
  void AcceptLoop() {
    while (Readable(listener_)) {
      int fd = accept(listener_, nullptr, nullptr);
      if (fd >= 0) connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }
  void Serve(int fd) {
    std::string in;
    char buf[16 * 1024];
    while (Readable(fd)) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
        std::string head = in.substr(0, end + 4);
        in.erase(0, end + 4);
        {
          std::lock_guard<std::mutex> lock(mu_);
          heads_.push_back(head);
        }
        std::string out = answer_(head);
        if (send(fd, out.data(), out.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(out.size())) {
          break;
        }
      }
    }
    close(fd);
  }

  std::function<std::string(const std::string&)> answer_;
  int listener_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // only the acceptor thread adds
  std::mutex mu_;
  std::vector<std::string> heads_;
};

std::string Ok(const std::string&) { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"; }

// `server_yaml` is the body of the `server:` section (indented by 2), or "".
std::string Config(uint16_t upstream_port, const std::string& server_yaml = "") {
  return absl::StrCat(R"(listeners:
  - {address: 127.0.0.1, port: 0}
workers: 1
)",
                      server_yaml.empty() ? "" : "server:\n", server_yaml,
                      R"(clusters:
  - name: up
    endpoints: [{address: 127.0.0.1, port: )",
                      upstream_port, R"(}]
  - name: dead
    endpoints: [{address: 127.0.0.1, port: )",
                      itest::ClosedPort(), R"(}]
routes:
  - name: health
    match: {path: /healthz}
    direct_response: {status: 200, body: "ok\n"}
  - name: get-only
    match: {path: /get-only, methods: [GET]}
    direct_response: {status: 204}
  - name: moved
    match: {path: /moved}
    redirect: {status: 301, host: example.com, path: /new}
  - name: dead
    match: {prefix: /dead}
    cluster: dead
  - name: up
    match: {prefix: /up}
    cluster: up
)");
}

std::unique_ptr<ConfiguredGateway> Start(const std::string& yaml) {
  auto config = LoadConfigString(yaml, "edge.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(), {.ephemeral_ports = true});
  INFO(running.status().message());
  REQUIRE(running.ok());
  return std::move(*running);
}

std::string ChunkedPost(const std::string& target, const std::string& chunk_line) {
  return absl::StrCat("POST ", target,
                      " HTTP/1.1\r\nHost: test.local\r\nTransfer-Encoding: chunked\r\n\r\n",
                      chunk_line, "\r\nhello\r\n0\r\n\r\n");
}

// "5;" and an extension, `line_bytes` in all.
std::string ChunkLine(size_t line_bytes) { return "5;" + std::string(line_bytes - 2, 'e'); }

bool HeadHasField(std::string head, std::string name) {
  head = absl::AsciiStrToLower(head);
  return absl::StrContains(head, absl::StrCat("\r\n", absl::AsciiStrToLower(name), ":"));
}

// The response's Date parses as an IMF-fixdate within a minute of now.
void CheckDate(const itest::HttpResponse& r) {
  std::optional<std::string> date = r.Header("date");
  REQUIRE(date.has_value());
  INFO("Date: " << *date);
  CHECK(date->size() == 29);
  absl::Time t;
  std::string err;
  REQUIRE(absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", *date, absl::UTCTimeZone(), &t, &err));
  CHECK(absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", t, absl::UTCTimeZone()) == *date);
  CHECK(absl::AbsDuration(absl::Now() - t) < absl::Minutes(1));
}

TEST_CASE("a chunk extension over 4 KiB gets 400 and the connection closes") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port()));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(ChunkedPost("/up/x", ChunkLine(4097)));
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(absl::StrContains(r->body, "invalid_framing"));
  CHECK(r->closes());
  CHECK(client->WaitForClose(absl::Seconds(2)));
  // At the limit the body goes through.
  auto ok_client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(ok_client != nullptr);
  auto ok = ok_client->RoundTrip(ChunkedPost("/healthz", ChunkLine(4096)));
  REQUIRE(ok.has_value());
  CHECK(ok->status == 200);
}

TEST_CASE("server.limits.max_chunk_line_bytes sets the chunk line limit") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port(), "  limits: {max_chunk_line_bytes: 100}\n"));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto ok = client->RoundTrip(ChunkedPost("/healthz", ChunkLine(100)));
  REQUIRE(ok.has_value());
  CHECK(ok->status == 200);
  auto r = client->RoundTrip(ChunkedPost("/healthz", ChunkLine(101)));
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(client->WaitForClose(absl::Seconds(2)));
}

TEST_CASE("an upstream response with a chunk extension over 4 KiB is cut short") {
  // The head is on its way to the client before the body is parsed, so the
  // only way left to say "broken" is to cut the response: the bad chunk and
  // everything after it never reach the client (a 502 is possible only while
  // nothing has been sent, as for any other broken upstream framing).
  RecordingUpstream up([](const std::string&) {
    return absl::StrCat("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ChunkLine(5000),
                        "\r\nhello\r\n0\r\n\r\n");
  });
  auto gw = Start(Config(up.port()));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(itest::Get("/up/x")));
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  INFO(client->buffer());
  CHECK_FALSE(absl::StrContains(client->buffer(), "eeee"));
  CHECK_FALSE(absl::StrContains(client->buffer(), "hello"));
  CHECK_FALSE(absl::StrContains(client->buffer(), "0\r\n\r\n"));
}

const std::vector<std::string> kUnderscoreFields = {"Transfer_Encoding: chunked",
                                                    "Content_Length: 5", "X-Kept: yes"};

TEST_CASE("Transfer_Encoding and Content_Length never reach the upstream by default") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port()));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(MakeRequest("GET", "/up/x", kUnderscoreFields));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  std::vector<std::string> heads = up.heads();
  REQUIRE(heads.size() == 1);
  INFO(heads[0]);
  CHECK_FALSE(HeadHasField(heads[0], "transfer_encoding"));
  CHECK_FALSE(HeadHasField(heads[0], "content_length"));
  CHECK(HeadHasField(heads[0], "x-kept"));
  CHECK(Eventually([&] { return gw->runtime().stats().underscore_headers_dropped == 2; }));
  CHECK(gw->runtime().stats().underscore_requests_rejected == 0);
}

TEST_CASE("headers_with_underscores: reject answers 400 and counts the request") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port(), "  headers_with_underscores: reject\n"));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(MakeRequest("GET", "/up/x", kUnderscoreFields));
  REQUIRE(r.has_value());
  CHECK(r->status == 400);
  CHECK(absl::StrContains(r->body, "underscore_in_header"));
  CHECK(client->WaitForClose(absl::Seconds(2)));
  CHECK(up.heads().empty());
  CHECK(Eventually([&] { return gw->runtime().stats().underscore_requests_rejected == 1; }));
}

TEST_CASE("headers_with_underscores: allow passes Transfer_Encoding to the upstream") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port(), "  headers_with_underscores: allow\n"));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto r = client->RoundTrip(MakeRequest("GET", "/up/x", kUnderscoreFields));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  std::vector<std::string> heads = up.heads();
  REQUIRE(heads.size() == 1);
  INFO(heads[0]);
  CHECK(absl::StrContains(heads[0], "\r\nTransfer_Encoding: chunked\r\n"));
  CHECK(absl::StrContains(heads[0], "\r\nContent_Length: 5\r\n"));
  // Still no body and no framing of its own for the upstream to misread.
  CHECK_FALSE(HeadHasField(heads[0], "transfer-encoding"));
  CHECK(gw->runtime().stats().underscore_headers_dropped == 0);
}

TEST_CASE("every kind of local reply carries a valid Date") {
  RecordingUpstream up(Ok);
  auto gw = Start(Config(up.port()));
  const uint16_t port = gw->ports().at(0);
  struct Case {
    const char* what;
    std::string request;
    int status;
  };
  const Case cases[] = {
      {"direct response", itest::Get("/healthz"), 200},
      {"direct response without body", itest::Get("/get-only"), 204},
      {"redirect", itest::Get("/moved"), 301},
      {"no route", itest::Get("/nothing-here"), 404},
      {"method not allowed", MakeRequest("DELETE", "/get-only"), 405},
      {"upstream unreachable", itest::Get("/dead/x"), 502},
      {"codec error", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"malformed request line", "GET  / HTTP/1.1\r\n\r\n", 400},
      {"body too large", MakeRequest("POST", "/healthz", {"Content-Length: 99999999999"}), 413},
      {"HEAD of a direct response", MakeRequest("HEAD", "/healthz"), 200},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto client = TestClient::Connect(port);
    REQUIRE(client != nullptr);
    auto r = client->RoundTrip(c.request, absl::Seconds(5), absl::StartsWith(c.request, "HEAD"));
    REQUIRE(r.has_value());
    CHECK(r->status == c.status);
    CheckDate(*r);
  }
}

TEST_CASE("proxied responses keep the upstream's Date and get one when it sends none") {
  const std::string kUpstreamDate = "Sun, 06 Nov 1994 08:49:37 GMT";
  RecordingUpstream up([&](const std::string& head) {
    if (absl::StrContains(head, "/up/dated")) {
      return absl::StrCat("HTTP/1.1 200 OK\r\nDate: ", kUpstreamDate,
                          "\r\nContent-Length: 2\r\n\r\nok");
    }
    return Ok(head);
  });
  auto gw = Start(Config(up.port()));
  auto client = TestClient::Connect(gw->ports().at(0));
  REQUIRE(client != nullptr);
  auto dated = client->RoundTrip(itest::Get("/up/dated"));
  REQUIRE(dated.has_value());
  CHECK(dated->Header("date") == kUpstreamDate);
  size_t dates = 0;
  for (const auto& [name, value] : dated->headers) dates += absl::EqualsIgnoreCase(name, "date");
  CHECK(dates == 1);
  auto undated = client->RoundTrip(itest::Get("/up/undated"));
  REQUIRE(undated.has_value());
  CheckDate(*undated);
}

TEST_CASE("Date follows the server's clock and changes with its second") {
  testing::ManualClock clock;  // Tue, 14 Nov 2023 22:13:20 GMT
  ServerOptions options = itest::LoopbackOptions();
  options.clock = &clock;
  auto router = Router::Build({RouteBuilder("all").Prefix("/").Respond(200, "ok").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Build();
  REQUIRE(pipeline.ok());
  auto server = itest::TestServer::Start(std::move(options), *pipeline);
  REQUIRE(server.ok());
  auto client = TestClient::Connect((*server)->port());
  REQUIRE(client != nullptr);
  auto date = [&]() -> std::optional<std::string> {
    auto r = client->RoundTrip(itest::Get("/"));
    if (!r.has_value()) return std::nullopt;
    return r->Header("date");
  };
  CHECK(date() == "Tue, 14 Nov 2023 22:13:20 GMT");
  clock.Advance(absl::Milliseconds(999));
  CHECK(date() == "Tue, 14 Nov 2023 22:13:20 GMT");
  clock.Advance(absl::Milliseconds(1));
  CHECK(date() == "Tue, 14 Nov 2023 22:13:21 GMT");
  clock.Advance(absl::Hours(48));
  CHECK(date() == "Thu, 16 Nov 2023 22:13:21 GMT");
}

int RunCheck(const std::string& yaml, std::string* output) {
  char path[] = "/tmp/edge_check_XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  if (fd < 0) return -1;
  bool written = write(fd, yaml.data(), yaml.size()) == static_cast<ssize_t>(yaml.size());
  close(fd);
  int status = -1;
  if (written) {
    std::string command = absl::StrCat(GATEWAYD_BINARY, " --check ", path, " 2>&1");
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe != nullptr) {
      char buf[4096];
      while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output->append(buf, n);
      int rc = pclose(pipe);
      status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    }
  }
  *output = absl::StrReplaceAll(*output, {{path, "FILE"}});
  unlink(path);
  return status;
}

TEST_CASE("gatewayd --check names file, line and key of bad edge settings") {
  if (access(GATEWAYD_BINARY, X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << GATEWAYD_BINARY);
    return;
  }
  const uint16_t port = itest::ClosedPort();
  std::string out;
  CHECK(RunCheck(Config(port, "  headers_with_underscores: fold\n"), &out) == 1);
  CHECK_THAT(out,
             Catch::Contains("FILE:5: server.headers_with_underscores: unknown action \"fold\""));
  out.clear();
  CHECK(RunCheck(Config(port, "  limits:\n    max_chunk_line_bytes: 0\n"), &out) == 1);
  CHECK_THAT(out, Catch::Contains("FILE:6: server.limits.max_chunk_line_bytes: must be > 0"));
  out.clear();
  CHECK(RunCheck(Config(port, "  limits: {max_chunk_line_bytes: lots}\n"), &out) == 1);
  CHECK_THAT(out, Catch::Contains("FILE:5: server.limits.max_chunk_line_bytes:"));
  out.clear();
  CHECK(RunCheck(Config(port, "  headers_with_underscores: drop\n"), &out) == 0);
  CHECK_THAT(out, Catch::Contains("config OK"));
}

}  // namespace
}  // namespace gateway
