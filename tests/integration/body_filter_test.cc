// Filters that change bodies, through a Runtime over loopback: the framing
// the client and the upstream get when a body may change, and what stays as
// it was (bodies only read, HEAD, 204, 304).
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/body_buffer.h"
#include "gateway/cluster.h"
#include "gateway/runtime.h"
#include "integration/fault_upstream.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

// Upstream side: answers a request with a body with the framing its codec
// parsed and the body it read, one "key=value" per line.
class FramingEcho final : public Filter {
 public:
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk, bool eos) override {
    body_.append(chunk);
    if (!eos) return FilterStatus::kContinue;
    const RequestHead& head = ctx.request();
    std::string length =
        head.content_length ? std::to_string(*head.content_length) : std::string("none");
    ctx.SendLocalReply(
        LocalReply::Text(200, absl::StrCat("chunked=", head.chunked ? "1" : "0",
                                           "\nlength=", length, "\nbody=", body_, "\n")));
    return FilterStatus::kStop;
  }

 private:
  std::string body_;
};

std::unique_ptr<TestServer> StartUpstream() {
  auto router = Router::Build({
      RouteBuilder("no-content").Exact("/204").Respond(204, "").Build(),
      RouteBuilder("not-modified").Exact("/304").Respond(304, "").Build(),
      RouteBuilder("all").Prefix("/").Respond(200, "hello upstream").Build(),
  });
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}
                      .Routes(*router)
                      .Add(MakeFilterFactory(
                          "echo", [](const Route&) { return std::make_unique<FramingEcho>(); }))
                      .Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

// Gateway side: does what the request's "x-body-op" says.
//   upper       declares a response change, uppercases every piece
//   append      declares a response change, appends " [appended]" at the end
//   drop        declares a request change, drops the request body
//   rewrite     declares a request change, replaces the request body
//   undeclared  uppercases the response without declaring it
class BodyOps final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    op_ = std::string(ctx.request().headers.Get("x-body-op").value_or(""));
    if (op_ == "drop" || op_ == "rewrite") REQUIRE(ctx.WillModifyRequestBody());
    return FilterStatus::kContinue;
  }
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext&, BodyBuffer& body, bool eos) override {
    if (op_ == "drop") body.Clear();
    if (op_ == "rewrite") {
      body.Clear();
      if (eos) body.Append("a rewritten body, longer than the one the client sent");
    }
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    if (op_ == "upper" || op_ == "append") REQUIRE(ctx.WillModifyResponseBody());
    return FilterStatus::kContinue;
  }
  using Filter::OnResponseBody;  // do not hide the other form
  FilterStatus OnResponseBody(FilterContext&, BodyBuffer& body, bool eos) override {
    if (op_ == "upper" || op_ == "undeclared") {
      for (char& c : body.Mutable()) c = absl::ascii_toupper(static_cast<unsigned char>(c));
    }
    if (op_ == "append" && eos) body.Append(" [appended]");
    return FilterStatus::kContinue;
  }

 private:
  std::string op_;
};

ClusterSpec Cluster(std::string name, uint16_t port) {
  ClusterSpec c;
  c.name = std::move(name);
  c.endpoints.push_back({.address = "127.0.0.1", .port = port});
  c.pool.connect_timeout = absl::Seconds(1);
  return c;
}

struct Setup {
  std::unique_ptr<TestServer> upstream = StartUpstream();
  FaultUpstream fault;
  std::unique_ptr<Runtime> runtime;
  uint16_t port = 0;

  Setup() {
    REQUIRE(fault.ok());
    auto cm =
        ClusterManager::Create({Cluster("up", upstream->port()), Cluster("fault", fault.port())});
    REQUIRE(cm.ok());
    auto router = Router::Build({
        RouteBuilder("fault").Prefix("/fault").ToCluster("fault").Build(),
        RouteBuilder("all").Prefix("/").ToCluster("up").Build(),
    });
    REQUIRE(router.ok());
    auto pipeline =
        PipelineBuilder{}
            .Routes(*router)
            .Clusters(*cm)
            .Add(MakeFilterFactory("ops", [](const Route&) { return std::make_unique<BodyOps>(); }))
            .Build();
    REQUIRE(pipeline.ok());
    RuntimeOptions options;
    options.workers = 1;
    options.server = LoopbackOptions();
    auto rt = Runtime::Start(std::move(options), *pipeline);
    REQUIRE(rt.ok());
    runtime = std::move(*rt);
    port = runtime->ports()[0];
  }
  ~Setup() {
    runtime->Drain(absl::Seconds(1));
    runtime->Wait();
  }
};

// A plain GET on `client` still works and is framed by Content-Length.
void RequireConnectionStillWorks(TestClient& client) {
  auto r = client.RoundTrip(Get("/plain"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "hello upstream");
  CHECK(r->Header("content-length") == "14");
  CHECK_FALSE(r->chunked);
}

TEST_CASE("a filter that uppercases a Content-Length response sends it chunked, keep-alive") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  auto r = client->RoundTrip(Get("/text", {"x-body-op: upper"}));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "HELLO UPSTREAM");
  CHECK(r->chunked);
  CHECK_FALSE(r->Header("content-length").has_value());
  CHECK_FALSE(r->closes());
  RequireConnectionStillWorks(*client);
}

TEST_CASE("a filter that appends to a chunked upstream response sends the whole body chunked") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  auto r = client->RoundTrip(
      Get("/fault", {"x-body-op: append", "X-Fault-Chunked: 1", "X-Fault-Body-Bytes: 5000"}));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->chunked);
  CHECK(r->body == FaultBody(5000) + " [appended]");
  CHECK_FALSE(r->closes());
  RequireConnectionStillWorks(*client);
}

TEST_CASE("a filter that drops a request body: the upstream reads an empty chunked body") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  auto r = client->RoundTrip(MakeRequest("POST", "/echo", {"x-body-op: drop"}, "secret stuff"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "chunked=1\nlength=none\nbody=\n");
  RequireConnectionStillWorks(*client);
}

TEST_CASE("a filter that rewrites a request body: the upstream reads the new body, chunked") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  const std::string expected =
      "chunked=1\nlength=none\nbody=a rewritten body, longer than the one the client sent\n";
  auto r = client->RoundTrip(MakeRequest("POST", "/echo", {"x-body-op: rewrite"}, "short"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == expected);
  // A chunked request body the same way.
  r = client->RoundTrip(
      "POST /echo HTTP/1.1\r\nHost: h\r\nx-body-op: rewrite\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->body == expected);
  // A body only read keeps its length.
  r = client->RoundTrip(MakeRequest("POST", "/echo", {}, "kept as is"));
  REQUIRE(r);
  CHECK(r->body == "chunked=0\nlength=10\nbody=kept as is\n");
  RequireConnectionStillWorks(*client);
}

TEST_CASE("HEAD, 204 and 304 responses keep their framing when a filter declared a change") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  auto r = client->RoundTrip(MakeRequest("HEAD", "/text", {"x-body-op: upper"}), absl::Seconds(5),
                             /*head_request=*/true);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->Header("content-length") == "14");
  CHECK_FALSE(r->Header("transfer-encoding").has_value());
  for (std::string_view path : {"/204", "/304"}) {
    r = client->RoundTrip(Get(path, {"x-body-op: upper"}));
    REQUIRE(r);
    CHECK(r->status == (path == "/204" ? 204 : 304));
    CHECK_FALSE(r->Header("transfer-encoding").has_value());
    CHECK_FALSE(r->Header("content-length").has_value());
  }
  // Nothing was left on the connection: the next response parses.
  RequireConnectionStillWorks(*client);
}

TEST_CASE("an HTTP/1.0 client gets a changed response body delimited by the close") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  auto r = client->RoundTrip(
      "GET /text HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nx-body-op: upper\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "HELLO UPSTREAM");
  CHECK_FALSE(r->Header("content-length").has_value());
  CHECK_FALSE(r->Header("transfer-encoding").has_value());
  CHECK(client->closed());
}

TEST_CASE("a streamed response changed without a declaration is cut short, never reframed") {
  Setup s;
  auto client = TestClient::Connect(s.port);
  REQUIRE(client);
  REQUIRE(client->Send(Get("/text", {"x-body-op: undeclared"})));
  REQUIRE(client->WaitForClose(absl::Seconds(5)));
  // One head (the upstream's, with its length) and none of the changed bytes.
  const std::string& got = client->buffer();
  CHECK(got.find("HTTP/1.1 200") == 0);
  CHECK(got.find("HTTP/1.1", 1) == std::string::npos);
  CHECK(got.find("HELLO") == std::string::npos);
}

}  // namespace
}  // namespace gateway::itest
