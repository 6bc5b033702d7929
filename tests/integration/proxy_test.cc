// Reverse proxying over loopback: a proxy gateway in front of upstream
// gateways (and a FaultUpstream), all started by the tests. Upstream faults
// have their own file, upstream_faults_test.cc.
#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::ClosedPort;
using itest::HttpResponse;
using itest::MakeRequest;
using itest::TestClient;
using itest::TestServer;

// Upstream filter: answers with what the upstream saw, one "name: value" per line.
class InspectFilter final : public Filter {
 public:
  explicit InspectFilter(std::string id) : id_(std::move(id)) {}
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    if (ctx.request().HasBody()) return FilterStatus::kContinue;
    Reply(ctx);
    return FilterStatus::kStop;
  }
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk, bool eos) override {
    body_.append(chunk);
    if (!eos) return FilterStatus::kContinue;
    Reply(ctx);
    return FilterStatus::kStop;
  }

 private:
  void Reply(FilterContext& ctx) {
    const RequestHead& h = ctx.request();
    std::string out = absl::StrCat("id: ", id_, "\nmethod: ", h.method, "\npath: ", h.path,
                                   "\nquery: ", h.query, "\n");
    for (const auto& f : h.headers) absl::StrAppend(&out, "h-", f.name, ": ", f.value, "\n");
    absl::StrAppend(&out, "body: ", body_, "\n");
    LocalReply r = LocalReply::Text(200, out);
    r.headers.Add("connection", "x-hop");
    r.headers.Add("x-hop", "must-not-pass");
    ctx.SendLocalReply(std::move(r));
  }
  std::string id_;
  std::string body_;
};

std::unique_ptr<TestServer> StartUpstream(std::string id, std::string big = {}) {
  std::vector<RouteSpec> routes = {
      RouteBuilder("fail").Exact("/fail").Respond(503, "down").Build(),
      RouteBuilder("all").Prefix("/").Respond(200, "unused").Build(),
  };
  if (!big.empty()) {
    routes.insert(
        routes.begin(),
        RouteBuilder("big").Exact("/big").Respond(200, big, "application/octet-stream").Build());
  }
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}
                      .Routes(*router)
                      .Add(MakeFilterFactory("inspect",
                                             [id](const Route& r) -> std::unique_ptr<Filter> {
                                               if (r.name() != "all") return nullptr;
                                               return std::make_unique<InspectFilter>(id);
                                             }))
                      .Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

ClusterSpec Cluster(std::string name, std::vector<uint16_t> ports) {
  ClusterSpec c;
  c.name = std::move(name);
  for (uint16_t p : ports) c.endpoints.push_back({.address = "127.0.0.1", .port = p});
  c.pool.connect_timeout = absl::Seconds(1);
  return c;
}

std::unique_ptr<TestServer> StartProxy(std::vector<ClusterSpec> clusters,
                                       std::vector<RouteSpec> routes, ProxyOptions proxy = {}) {
  auto cm = ClusterManager::Create(std::move(clusters));
  REQUIRE(cm.ok());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*cm).Proxy(std::move(proxy)).Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

// The value of line `key` (case-insensitive) in an InspectFilter body.
std::optional<std::string> Line(std::string body, std::string key) {
  std::string original = body;
  for (char& c : body) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  for (char& c : key) c = absl::ascii_tolower(static_cast<unsigned char>(c));
  std::string prefix = absl::StrCat(key, ": ");
  size_t pos = body.find(absl::StrCat("\n", prefix));
  if (body.rfind(prefix, 0) == 0) {
    pos = 0;
  } else if (pos == std::string::npos) {
    return std::nullopt;
  } else {
    ++pos;
  }
  size_t end = body.find('\n', pos);
  return original.substr(pos + prefix.size(), end - pos - prefix.size());
}

TEST_CASE(
    "proxied request reaches the upstream with hop-by-hop headers removed and forwarding added") {
  auto up = StartUpstream("u1");
  auto proxy = StartProxy({Cluster("users", {up->port()})},
                          {RouteBuilder("users").Prefix("/api/users").ToCluster("users").Build()});
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client);
  auto r = client->RoundTrip(
      MakeRequest("GET", "/api/users/1?x=2",
                  {"Connection: keep-alive, X-Secret", "X-Secret: drop-me", "Keep-Alive: timeout=5",
                   "X-Forwarded-For: 6.6.6.6", "X-Custom: kept"}));
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(Line(r->body, "id") == "u1");
  CHECK(Line(r->body, "path") == "/api/users/1");
  CHECK(Line(r->body, "query") == "x=2");
  CHECK(Line(r->body, "h-x-custom") == "kept");
  CHECK_FALSE(Line(r->body, "h-X-Secret").has_value());
  CHECK_FALSE(Line(r->body, "h-Keep-Alive").has_value());
  CHECK_FALSE(Line(r->body, "h-Connection").has_value());
  // The peer is not a trusted proxy: its X-Forwarded-For is replaced, not extended.
  CHECK(Line(r->body, "h-x-forwarded-for") == "127.0.0.1");
  CHECK(Line(r->body, "h-x-forwarded-proto") == "http");
  CHECK(Line(r->body, "h-x-forwarded-host") == "test.local");
  CHECK(Line(r->body, "h-via") == "1.1 gateway");
  CHECK(Line(r->body, "h-host") == "test.local");
  CHECK(r->Header("via") == "1.1 gateway");
}

TEST_CASE("a trusted proxy's X-Forwarded-For is extended") {
  auto up = StartUpstream("u1");
  auto proxy = StartProxy({Cluster("c", {up->port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()},
                          ProxyOptions{.trusted_proxies = {"127.0.0.0/8"}});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(MakeRequest("GET", "/", {"X-Forwarded-For: 10.1.2.3"}));
  REQUIRE(r);
  CHECK(Line(r->body, "h-x-forwarded-for") == "10.1.2.3, 127.0.0.1");
}

TEST_CASE("request bodies are streamed to the upstream, chunked and with Content-Length") {
  auto up = StartUpstream("u1");
  auto proxy = StartProxy({Cluster("c", {up->port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(MakeRequest("POST", "/p", {}, "hello body"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(Line(r->body, "body") == "hello body");
  std::string chunked =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  r = client->RoundTrip(chunked);
  REQUIRE(r);
  CHECK(Line(r->body, "body") == "hello world");
}

TEST_CASE("round robin spreads requests over the cluster's hosts and reuses connections") {
  auto a = StartUpstream("a");
  auto b = StartUpstream("b");
  auto proxy = StartProxy({Cluster("c", {a->port(), b->port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  int seen_a = 0, seen_b = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = client->RoundTrip(MakeRequest("GET", "/x"));
    REQUIRE(r);
    REQUIRE(r->status == 200);
    if (Line(r->body, "id") == "a") ++seen_a;
    if (Line(r->body, "id") == "b") ++seen_b;
  }
  CHECK(seen_a == 10);
  CHECK(seen_b == 10);
  // Keep-alive upstream connections: one per host, not one per request.
  CHECK(a->stats().connections_accepted == 1);
  CHECK(b->stats().connections_accepted == 1);
}

TEST_CASE("the service named in the path picks the cluster and an unknown service is a 404") {
  auto users = StartUpstream("users");
  auto proxy = StartProxy(
      {Cluster("user", {users->port()})},
      {RouteBuilder("svc")
           .Template("/api/{service}/{rest=**}")
           .ToClusterFromCapture("service")
           .Rewrite(PathRewrite{.kind = PathRewrite::Kind::kTemplate, .value = "/{rest}"})
           .Build()});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(MakeRequest("GET", "/api/user/1"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(Line(r->body, "id") == "users");
  CHECK(Line(r->body, "path") == "/1");
  r = client->RoundTrip(MakeRequest("GET", "/api/nope/1"));
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(r->body.find("unknown_cluster") != std::string::npos);
}

TEST_CASE("a failed host is retried on another host when the route allows it") {
  auto good = StartUpstream("good");
  auto proxy = StartProxy({Cluster("c", {ClosedPort(), good->port()})},
                          {RouteBuilder("all")
                               .Prefix("/")
                               .ToCluster("c")
                               .Retry(RetryPolicy{.max_retries = 1})
                               .Build()});
  auto client = TestClient::Connect(proxy->port());
  for (int i = 0; i < 6; ++i) {
    auto r = client->RoundTrip(MakeRequest("GET", "/"));
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(Line(r->body, "id") == "good");
  }
}

TEST_CASE("an upstream 503 is retried on gateway errors and passed on when retries run out") {
  auto a = StartUpstream("a");
  auto proxy = StartProxy({Cluster("c", {a->port()})},
                          {RouteBuilder("all")
                               .Prefix("/")
                               .ToCluster("c")
                               .Retry(RetryPolicy{.on_gateway_error = true, .max_retries = 2})
                               .Build()});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(MakeRequest("GET", "/fail"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->body == "down");
  // One try plus two retries reached the upstream.
  CHECK(a->stats().requests == 3);
}

TEST_CASE("a 4 MiB upstream response streams through intact") {
  std::string big(4 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  auto up = StartUpstream("u", big);
  auto proxy = StartProxy({Cluster("c", {up->port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(MakeRequest("GET", "/big"), absl::Seconds(10));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body.size() == big.size());
  CHECK(r->body == big);
}

TEST_CASE("hop-by-hop headers of the upstream response do not reach the client") {
  itest::FaultUpstream up;
  REQUIRE(up.ok());
  auto proxy = StartProxy({Cluster("c", {up.port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  auto r = client->RoundTrip(
      MakeRequest("GET", "/",
                  {"X-Fault-Header: Connection: x-hop", "X-Fault-Header: X-Hop: secret",
                   "X-Fault-Header: Keep-Alive: timeout=5", "X-Fault-Header: X-Fine: yes"}));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == itest::FaultBody(2));
  CHECK(r->Header("x-fine") == "yes");
  CHECK_FALSE(r->Header("x-hop").has_value());
  CHECK_FALSE(r->Header("keep-alive").has_value());
  CHECK_FALSE(r->closes());
}

TEST_CASE("a clean keep-alive upstream connection is reused") {
  itest::FaultUpstream up;
  REQUIRE(up.ok());
  auto proxy = StartProxy({Cluster("c", {up.port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  for (int i = 0; i < 5; ++i) {
    auto r = client->RoundTrip(MakeRequest("GET", "/"));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(up.accepted() == 1);
  CHECK(up.requests() == 5);
}

TEST_CASE("a streamed response chunk reaches the client while the upstream waits to send more") {
  // Server-sent events and long polls: the head and the first event must not
  // wait for more body bytes to fill a buffer.
  itest::FaultUpstream up;
  REQUIRE(up.ok());
  auto proxy = StartProxy({Cluster("c", {up.port()})},
                          {RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  auto client = TestClient::Connect(proxy->port());
  REQUIRE(client->Send(
      MakeRequest("GET", "/events",
                  {"X-Fault-Chunked: 1", "X-Fault-Body-Bytes: 1000", "X-Fault-Stall-After: 13"})));
  const std::string first = itest::FaultBody(13);
  auto deadline = itest::DeadlineAfter(absl::Seconds(3));
  while (client->buffer().find(first) == std::string::npos && itest::MillisLeft(deadline) > 0) {
    client->ReadSome(4096, absl::Milliseconds(20));
  }
  CHECK(client->buffer().find("HTTP/1.1 200") == 0);
  CHECK(client->buffer().find(first) != std::string::npos);
  CHECK_FALSE(client->closed());
}

}  // namespace
}  // namespace gateway
