// Body phases that change bodies: replace, append and drop in both
// directions, the declaration they need, and what happens without it.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "gateway/body_buffer.h"
#include "gateway/filter.h"
#include "gateway/testing/harness.h"
#include "unit/core/scripted_filter.h"

namespace gateway::test {
namespace {

using ::gateway::testing::PipelineHarness;
using ::gateway::testing::Request;

using BodyFn = std::function<FilterStatus(FilterContext&, BodyBuffer&, bool)>;

// Declares what it is told to in the headers phases and runs `request_body` /
// `response_body` on the BodyBuffer forms of the body phases.
struct BodyScript {
  bool declare_request = false;
  bool declare_response = false;
  BodyFn request_body;
  BodyFn response_body;
};

class BodyFilter final : public Filter {
 public:
  explicit BodyFilter(BodyScript script) : script_(std::move(script)) {}
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    if (script_.declare_request) REQUIRE(ctx.WillModifyRequestBody());
    return FilterStatus::kContinue;
  }
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, BodyBuffer& body, bool eos) override {
    return script_.request_body ? script_.request_body(ctx, body, eos) : FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    if (script_.declare_response) REQUIRE(ctx.WillModifyResponseBody());
    return FilterStatus::kContinue;
  }
  using Filter::OnResponseBody;  // do not hide the other form
  FilterStatus OnResponseBody(FilterContext& ctx, BodyBuffer& body, bool eos) override {
    return script_.response_body ? script_.response_body(ctx, body, eos) : FilterStatus::kContinue;
  }

 private:
  BodyScript script_;
};

std::shared_ptr<const FilterFactory> Body(BodyScript script) {
  return MakeFilterFactory("body", [script](const Route&) -> std::unique_ptr<Filter> {
    return std::make_unique<BodyFilter>(script);
  });
}

// Answers with the request body it saw and the framing the head announced.
class EchoRequest final : public Filter {
 public:
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk, bool eos) override {
    body_.append(chunk);
    if (!eos) return FilterStatus::kContinue;
    const RequestHead& head = ctx.request();
    LocalReply reply = LocalReply::Text(200, body_);
    reply.headers.Add("x-seen-chunked", head.chunked ? "1" : "0");
    reply.headers.Add("x-seen-length", head.content_length ? std::to_string(*head.content_length)
                                                           : std::string("none"));
    ctx.SendLocalReply(std::move(reply));
    return FilterStatus::kStop;
  }

 private:
  std::string body_;
};

std::shared_ptr<const FilterFactory> Echo() {
  return MakeFilterFactory("echo", [](const Route&) { return std::make_unique<EchoRequest>(); });
}

FilterStatus Upper(FilterContext&, BodyBuffer& body, bool) {
  for (char& c : body.Mutable()) c = absl::ascii_toupper(static_cast<unsigned char>(c));
  return FilterStatus::kContinue;
}

TEST_CASE("a declared request filter replaces each piece before the next filter sees it") {
  PipelineHarness h(
      HelloPipeline({Body({.declare_request = true, .request_body = Upper}), Echo()}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "11"}}), {}, false);
  ex.SendBody("hello ");
  ex.SendBody("world");
  ex.EndRequest();
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.body() == "HELLO WORLD");
  // Later phases see the framing the request goes on with.
  REQUIRE(Header(ex, "x-seen-chunked") == "1");
  REQUIRE(Header(ex, "x-seen-length") == "none");
  REQUIRE(ex.info().request_body_bytes == 11);  // as received
}

TEST_CASE("a declared request filter appends to the last piece of the body") {
  PipelineHarness h(HelloPipeline({Body({.declare_request = true,
                                         .request_body =
                                             [](FilterContext&, BodyBuffer& body, bool eos) {
                                               if (eos) body.Append(" (signed)");
                                               return FilterStatus::kContinue;
                                             }}),
                                   Echo()}));
  auto& ex = h.Send(Request("POST", "/x"), "payload");
  REQUIRE(ex.body() == "payload (signed)");
}

TEST_CASE("a declared request filter drops the request body") {
  PipelineHarness h(HelloPipeline({Body({.declare_request = true,
                                         .request_body =
                                             [](FilterContext&, BodyBuffer& body, bool) {
                                               body.Clear();
                                               return FilterStatus::kContinue;
                                             }}),
                                   Echo()}));
  auto& ex = h.Send(Request("POST", "/x"), "secret");
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.body().empty());
}

TEST_CASE("a request body that is only read keeps its Content-Length") {
  PipelineHarness h(HelloPipeline({Body({}), Echo()}));
  auto& ex = h.Send(Request("POST", "/x"), "as is");
  REQUIRE(ex.body() == "as is");
  REQUIRE(Header(ex, "x-seen-chunked") == "0");
  REQUIRE(Header(ex, "x-seen-length") == "5");
}

TEST_CASE("a declared response filter replaces the body of a direct response") {
  PipelineHarness h(HelloPipeline(
      {Body({.declare_response = true, .response_body = [](FilterContext&, BodyBuffer& body, bool) {
               body.Replace("goodbye, world");
               return FilterStatus::kContinue;
             }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.body() == "goodbye, world");
  REQUIRE(ex.info().response_body_bytes == 14);
}

TEST_CASE("response filters see the body as the filters after them left it") {
  std::string a_saw;
  PipelineHarness h(HelloPipeline(
      {Body({.response_body =
                 [&](FilterContext&, BodyBuffer& body, bool) {
                   a_saw = std::string(body.view());
                   return FilterStatus::kContinue;
                 }}),
       Body({.declare_response = true, .response_body = [](FilterContext&, BodyBuffer& body, bool) {
               body.Prepend("<<");
               body.Append(">>");
               return FilterStatus::kContinue;
             }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(a_saw == "<<hello>>");
  REQUIRE(ex.body() == "<<hello>>");
}

TEST_CASE("a declared response filter drops the response body") {
  PipelineHarness h(HelloPipeline(
      {Body({.declare_response = true, .response_body = [](FilterContext&, BodyBuffer& body, bool) {
               body.Clear();
               return FilterStatus::kContinue;
             }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.body().empty());
  REQUIRE(ex.info().response_body_bytes == 0);
}

TEST_CASE("a declared response filter may fill an empty response body") {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("empty").Prefix("/").Respond(200, "").Build());
  PipelineHarness h(BuildPipeline(
      std::move(routes), {Body({.declare_response = true,
                                .response_body = [](FilterContext&, BodyBuffer& body, bool eos) {
                                  REQUIRE(eos);
                                  body.Append("filled");
                                  return FilterStatus::kContinue;
                                }})}));
  REQUIRE(h.Send(Request("GET", "/x")).body() == "filled");
}

TEST_CASE("changing a request body without declaring it fails with filter_error") {
  PipelineHarness h(HelloPipeline({Body({.request_body = Upper}), Echo()}));
  auto& ex = h.Send(Request("POST", "/x"), "payload");
  REQUIRE(ex.status() == 500);
  REQUIRE(ex.info().flag == "filter_error");
  REQUIRE(ex.info().outcome == RequestOutcome::kError);
}

TEST_CASE("changing a response body without declaring it fails with filter_error") {
  PipelineHarness h(HelloPipeline({Body({.response_body = Upper})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 500);
  REQUIRE(ex.info().flag == "filter_error");
  REQUIRE_THAT(ex.body(), Catch::Contains("WillModifyResponseBody"));
}

TEST_CASE("a body change can be declared only before that body's phases") {
  struct Late final : Filter {
    FilterStatus OnRequestHeaders(FilterContext& ctx) override {
      in_request_headers = ctx.WillModifyResponseBody();
      return FilterStatus::kContinue;
    }
    using Filter::OnRequestBody;  // do not hide the other form
    FilterStatus OnRequestBody(FilterContext& ctx, BodyBuffer&, bool) override {
      request_in_body = ctx.WillModifyRequestBody();
      return FilterStatus::kContinue;
    }
    FilterStatus OnResponseHeaders(FilterContext& ctx) override {
      request_in_response = ctx.WillModifyRequestBody();
      return FilterStatus::kContinue;
    }
    using Filter::OnResponseBody;  // do not hide the other form
    FilterStatus OnResponseBody(FilterContext& ctx, BodyBuffer&, bool) override {
      response_in_body = ctx.WillModifyResponseBody();
      return FilterStatus::kContinue;
    }
    bool in_request_headers = false;
    bool request_in_body = true;
    bool request_in_response = true;
    bool response_in_body = true;
  };
  Late* late = nullptr;
  PipelineHarness h(HelloPipeline({MakeFilterFactory("late", [&](const Route&) {
    auto f = std::make_unique<Late>();
    late = f.get();
    return f;
  })}));
  auto& ex = h.Send(Request("POST", "/x"), "body");
  REQUIRE(ex.status() == 200);
  CHECK(late->in_request_headers);  // early is fine
  CHECK_FALSE(late->request_in_body);
  CHECK_FALSE(late->request_in_response);
  CHECK_FALSE(late->response_in_body);
}

TEST_CASE("a changed piece held by a pause goes on changed after Resume") {
  Resumer held;
  PipelineHarness h(HelloPipeline({Body({.declare_request = true,
                                         .request_body =
                                             [&](FilterContext& ctx, BodyBuffer& body, bool eos) {
                                               body.Replace(eos ? "[end]" : "[piece]");
                                               held = ctx.Pause();
                                               return FilterStatus::kPause;
                                             }}),
                                   Echo()}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "3"}}), {}, false);
  ex.SendBody("abc");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  held.Resume();
  h.RunUntilIdle();
  held.Resume();
  h.RunUntilIdle();
  REQUIRE(ex.body() == "[piece][end]");
}

}  // namespace
}  // namespace gateway::test
