// The codec seam end to end: a user codec factory installed in ServerOptions
// and in a cluster's ClusterSpec is the one every proxied request and response
// goes through. The user codecs wrap the built-in HTTP/1.1 ones, count what
// passes and mark the messages they encode or parse, so the client and the
// upstream can see which codec carried them.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway {
namespace {

using itest::MakeRequest;
using itest::TestClient;
using itest::TestServer;

// Shared by the codecs of every loop (they run on the servers' loop threads).
struct Counts {
  std::atomic<int> server_codecs{0};
  std::atomic<int> client_codecs{0};
  std::atomic<int> request_heads{0};      // parsed by the server codec
  std::atomic<int> requests_complete{0};  // parsed by the server codec
  std::atomic<int> response_heads_encoded{0};
  std::atomic<int> response_bodies_encoded{0};
  std::atomic<int> request_heads_encoded{0};  // by the client codec
  std::atomic<int> request_bodies_encoded{0};
  std::atomic<int> response_heads{0};  // parsed by the client codec
  std::atomic<int> responses_complete{0};

  std::mutex mu;
  // Stream ids in the order the server codecs reported them, per codec.
  std::map<int, std::vector<StreamId>> server_ids;
  std::vector<StreamId> client_ids;
};

class CountingServerCodec final : public ServerCodec, private ServerCodecCallbacks {
 public:
  CountingServerCodec(const CodecLimits& limits, ServerCodecCallbacks& callbacks, Counts& counts)
      : inner_(Http1ServerCodecFactory()->CreateServerCodec(limits, *this)),
        callbacks_(callbacks),
        counts_(counts),
        number_(++counts.server_codecs) {}

  FeedResult Feed(std::string_view data) override { return inner_->Feed(data); }
  void FeedEof() override { inner_->FeedEof(); }
  void Pause() override { inner_->Pause(); }
  void Resume() override { inner_->Resume(); }
  bool paused() const override { return inner_->paused(); }
  void SetStreamReadEnabled(StreamId id, bool enabled) override {
    inner_->SetStreamReadEnabled(id, enabled);
  }
  bool idle() const override { return inner_->idle(); }
  void EncodeResponseHead(StreamId id, const ResponseHead& head, BodyFraming framing,
                          uint64_t body_length, std::string& out) override {
    ++counts_.response_heads_encoded;
    ResponseHead marked = head;
    marked.headers.Add("x-server-codec", absl::StrCat(number_, "/", id));
    inner_->EncodeResponseHead(id, marked, framing, body_length, out);
  }
  void EncodeResponseBody(StreamId id, std::string_view data, bool end_stream,
                          const HeaderMap* trailers, std::string& out) override {
    ++counts_.response_bodies_encoded;
    inner_->EncodeResponseBody(id, data, end_stream, trailers, out);
  }
  void EncodeContinue(StreamId id, std::string& out) override { inner_->EncodeContinue(id, out); }
  void ResetStream(StreamId id, std::string& out) override { inner_->ResetStream(id, out); }

 private:
  void OnRequestHead(StreamId id, RequestHead&& head) override {
    ++counts_.request_heads;
    {
      std::lock_guard<std::mutex> lock(counts_.mu);
      counts_.server_ids[number_].push_back(id);
    }
    callbacks_.OnRequestHead(id, std::move(head));
  }
  void OnRequestBody(StreamId id, std::string_view chunk) override {
    callbacks_.OnRequestBody(id, chunk);
  }
  void OnRequestTrailers(StreamId id, HeaderMap&& trailers) override {
    callbacks_.OnRequestTrailers(id, std::move(trailers));
  }
  void OnRequestComplete(StreamId id) override {
    ++counts_.requests_complete;
    callbacks_.OnRequestComplete(id);
  }
  void OnFieldDropped(std::string_view name) override { callbacks_.OnFieldDropped(name); }
  void OnCodecError(const CodecError& error) override { callbacks_.OnCodecError(error); }

  std::unique_ptr<ServerCodec> inner_;
  ServerCodecCallbacks& callbacks_;
  Counts& counts_;
  const int number_;
};

class CountingClientCodec final : public ClientCodec, private ClientCodecCallbacks {
 public:
  CountingClientCodec(const CodecLimits& limits, ClientCodecCallbacks& callbacks, Counts& counts)
      : inner_(Http1ClientCodecFactory()->CreateClientCodec(limits, *this)),
        callbacks_(callbacks),
        counts_(counts) {
    ++counts.client_codecs;
  }

  FeedResult Feed(std::string_view data) override { return inner_->Feed(data); }
  void FeedEof() override { inner_->FeedEof(); }
  void Pause() override { inner_->Pause(); }
  void Resume() override { inner_->Resume(); }
  bool paused() const override { return inner_->paused(); }
  void SetStreamReadEnabled(StreamId id, bool enabled) override {
    inner_->SetStreamReadEnabled(id, enabled);
  }
  uint32_t available_streams() const override { return inner_->available_streams(); }
  StreamId EncodeRequestHead(const RequestHead& head, BodyFraming framing, uint64_t body_length,
                             std::string& out) override {
    ++counts_.request_heads_encoded;
    RequestHead marked = head;
    marked.headers.Add("x-client-codec", "counting");
    StreamId id = inner_->EncodeRequestHead(marked, framing, body_length, out);
    std::lock_guard<std::mutex> lock(counts_.mu);
    counts_.client_ids.push_back(id);
    return id;
  }
  bool EncodeRequestBody(StreamId id, std::string_view data, bool end_stream,
                         const HeaderMap* trailers, std::string& out) override {
    ++counts_.request_bodies_encoded;
    return inner_->EncodeRequestBody(id, data, end_stream, trailers, out);
  }
  void ResetStream(StreamId id, std::string& out) override { inner_->ResetStream(id, out); }

 private:
  void OnResponseHead(StreamId id, ResponseHead&& head) override {
    ++counts_.response_heads;
    head.headers.Add("x-client-codec-parsed", std::to_string(head.status));
    callbacks_.OnResponseHead(id, std::move(head));
  }
  void OnResponseBody(StreamId id, std::string_view chunk) override {
    callbacks_.OnResponseBody(id, chunk);
  }
  void OnResponseTrailers(StreamId id, HeaderMap&& trailers) override {
    callbacks_.OnResponseTrailers(id, std::move(trailers));
  }
  void OnResponseComplete(StreamId id) override {
    ++counts_.responses_complete;
    callbacks_.OnResponseComplete(id);
  }
  void OnCodecError(const CodecError& error) override { callbacks_.OnCodecError(error); }

  std::unique_ptr<ClientCodec> inner_;
  ClientCodecCallbacks& callbacks_;
  Counts& counts_;
};

class CountingServerFactory final : public ServerCodecFactory {
 public:
  explicit CountingServerFactory(Counts& counts) : counts_(counts) {}
  std::unique_ptr<ServerCodec> CreateServerCodec(const CodecLimits& limits,
                                                 ServerCodecCallbacks& callbacks) const override {
    return std::make_unique<CountingServerCodec>(limits, callbacks, counts_);
  }

 private:
  Counts& counts_;
};

class CountingClientFactory final : public ClientCodecFactory {
 public:
  explicit CountingClientFactory(Counts& counts) : counts_(counts) {}
  std::unique_ptr<ClientCodec> CreateClientCodec(const CodecLimits& limits,
                                                 ClientCodecCallbacks& callbacks) const override {
    return std::make_unique<CountingClientCodec>(limits, callbacks, counts_);
  }

 private:
  Counts& counts_;
};

// Upstream: echoes the request's x-client-codec field and its body.
std::unique_ptr<TestServer> StartUpstream() {
  class Echo final : public Filter {
   public:
    FilterStatus OnRequestHeaders(FilterContext& ctx) override {
      seen_ = std::string(ctx.request().headers.Get("x-client-codec").value_or("none"));
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
      ctx.SendLocalReply(LocalReply::Text(200, absl::StrCat("codec=", seen_, " body=", body_)));
    }
    std::string seen_;
    std::string body_;
  };
  auto router = Router::Build({RouteBuilder("all").Prefix("/").Respond(200, "unused").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}
                      .Routes(*router)
                      .Add(MakeFilterFactory("echo",
                                             [](const Route&) -> std::unique_ptr<Filter> {
                                               return std::make_unique<Echo>();
                                             }))
                      .Build();
  REQUIRE(pipeline.ok());
  auto server = TestServer::Start(itest::LoopbackOptions(), *pipeline);
  REQUIRE(server.ok());
  return std::move(*server);
}

TEST_CASE("codec factories in ServerOptions and ClusterSpec carry every proxied request") {
  Counts counts;
  auto up = StartUpstream();

  ClusterSpec cluster;
  cluster.name = "c";
  cluster.endpoints.push_back({.address = "127.0.0.1", .port = up->port()});
  cluster.codec = std::make_shared<CountingClientFactory>(counts);
  auto cm = ClusterManager::Create({cluster});
  REQUIRE(cm.ok());
  auto router = Router::Build({RouteBuilder("all").Prefix("/").ToCluster("c").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*cm).Build();
  REQUIRE(pipeline.ok());
  ServerOptions options = itest::LoopbackOptions();
  options.codec = std::make_shared<CountingServerFactory>(counts);
  auto proxy = TestServer::Start(options, *pipeline);
  REQUIRE(proxy.ok());

  auto client = TestClient::Connect((*proxy)->port());
  REQUIRE(client);
  auto r = client->RoundTrip(MakeRequest("GET", "/a"));
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "codec=counting body=");            // the client codec encoded it
  CHECK(r->Header("x-client-codec-parsed") == "200");  // the client codec parsed it
  CHECK(r->Header("x-server-codec") == "1/1");         // the server codec encoded it

  // A chunked body and a Content-Length body, on the same connection.
  r = client->RoundTrip(
      "POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "codec=counting body=hello world");
  r = client->RoundTrip(MakeRequest("POST", "/c", {}, "abc"));
  REQUIRE(r);
  CHECK(r->body == "codec=counting body=abc");
  CHECK(r->Header("x-client-codec-parsed") == "200");
  client.reset();

  // The proxy's server side parsed and answered all three requests through
  // the user codec; each upstream attempt made its own client codec.
  CHECK(counts.server_codecs >= 1);
  CHECK(counts.request_heads == 3);
  CHECK(counts.requests_complete == 3);
  CHECK(counts.response_heads_encoded == 3);
  CHECK(counts.response_bodies_encoded >= 3);
  CHECK(counts.client_codecs == 3);
  CHECK(counts.request_heads_encoded == 3);
  CHECK(counts.request_bodies_encoded >= 2);
  CHECK(counts.response_heads == 3);
  CHECK(counts.responses_complete == 3);
  std::lock_guard<std::mutex> lock(counts.mu);
  // HTTP/1.1 numbers a codec's streams 1, 2, 3...
  int streams = 0;
  for (const auto& [codec, ids] : counts.server_ids) {
    for (size_t i = 0; i < ids.size(); ++i) CHECK(ids[i] == i + 1);
    streams += static_cast<int>(ids.size());
  }
  CHECK(streams == 3);
  CHECK(counts.client_ids == std::vector<StreamId>{1, 1, 1});  // a fresh codec per attempt
}

TEST_CASE("a null codec factory is rejected by ServerOptions and ClusterSpec validation") {
  ServerOptions options = itest::LoopbackOptions();
  CHECK(options.codec != nullptr);  // HTTP/1.1 by default
  options.codec = nullptr;
  absl::Status s = options.Validate();
  CHECK(absl::IsInvalidArgument(s));
  CHECK(absl::StrContains(s.message(), "codec"));

  ClusterSpec cluster;
  cluster.name = "c";
  cluster.endpoints.push_back({.address = "127.0.0.1", .port = 1});
  CHECK(cluster.codec != nullptr);
  cluster.codec = nullptr;
  s = cluster.Validate();
  CHECK(absl::IsInvalidArgument(s));
  CHECK(absl::StrContains(s.message(), "codec"));
}

}  // namespace
}  // namespace gateway
