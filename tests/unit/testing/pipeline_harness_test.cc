// The pieces of the public harness that users build their filter tests from.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/filter.h"
#include "gateway/testing/harness.h"

namespace gateway::testing {
namespace {

TEST_CASE("Request splits the target and fills host and body framing from the headers") {
  RequestHead head =
      Request("POST", "/api/users?id=7&x", {{"Content-Length", "12"}, {"Expect", "100-continue"}});
  REQUIRE(head.method == "POST");
  REQUIRE(head.target == "/api/users?id=7&x");
  REQUIRE(head.path == "/api/users");
  REQUIRE(head.query == "id=7&x");
  REQUIRE(head.authority == "localhost");
  REQUIRE(head.headers.Get("host") == std::optional<std::string_view>("localhost"));
  REQUIRE(head.content_length == std::optional<uint64_t>(12));
  REQUIRE_FALSE(head.chunked);
  REQUIRE(head.expect_continue);
  REQUIRE(head.HasBody());

  RequestHead chunked =
      Request("PUT", "/up", {{"host", "api.example.com"}, {"transfer-encoding", "chunked"}});
  REQUIRE(chunked.authority == "api.example.com");
  REQUIRE(chunked.headers.Count("host") == 1);
  REQUIRE(chunked.chunked);
  REQUIRE(chunked.HasBody());

  RequestHead plain = Request("GET", "/");
  REQUIRE_FALSE(plain.HasBody());
  REQUIRE(plain.query.empty());
}

TEST_CASE("Request leaves a malformed Content-Length unset instead of failing") {
  RequestHead head = Request("POST", "/x", {{"content-length", "twelve"}});
  REQUIRE_FALSE(head.content_length.has_value());
}

TEST_CASE("SingleFilterPipeline runs the filter on a catch-all route answered directly") {
  struct Tagger final : Filter {
    FilterStatus OnResponseHeaders(FilterContext& ctx) override {
      ctx.response()->headers.Add("x-tagged", "yes");
      return FilterStatus::kContinue;
    }
  };
  auto pipeline = SingleFilterPipeline(
      MakeFilterFactory("tagger", [](const Route&) { return std::make_unique<Tagger>(); }), 202,
      "accepted");
  REQUIRE(pipeline != nullptr);
  PipelineHarness h(pipeline);
  auto& ex = h.Send(Request("DELETE", "/any/path"));
  h.RunUntilIdle();
  REQUIRE(ex.responded());
  REQUIRE(ex.done());
  REQUIRE(ex.status() == 202);
  REQUIRE(ex.body() == "accepted");
  REQUIRE(ex.headers().Get("x-tagged") == std::optional<std::string_view>("yes"));
  REQUIRE(ex.info().outcome == RequestOutcome::kCompleted);
}

TEST_CASE("Send with a body sets Content-Length and delivers it") {
  struct Collect final : Filter {
    explicit Collect(std::string* out) : out_(out) {}
    using Filter::OnRequestBody;  // do not hide the other form
    FilterStatus OnRequestBody(FilterContext&, std::string_view chunk, bool) override {
      out_->append(chunk);
      return FilterStatus::kContinue;
    }
    std::string* out_;
  };
  std::string got;
  PipelineHarness h(SingleFilterPipeline(MakeFilterFactory(
      "collect", [&got](const Route&) { return std::make_unique<Collect>(&got); })));
  auto& ex = h.Send(Request("POST", "/x"), "payload");
  REQUIRE(ex.status() == 200);
  REQUIRE(got == "payload");
  REQUIRE(ex.info().request_body_bytes == 7);
}

TEST_CASE("exchanges of one harness are independent and live as long as the harness") {
  PipelineHarness h(SingleFilterPipeline(
      MakeFilterFactory("noop", [](const Route&) { return std::make_unique<Filter>(); })));
  auto& first = h.Send(Request("GET", "/1"));
  auto& second = h.Send(Request("POST", "/2", {{"content-length", "3"}}), {}, false);
  REQUIRE(first.done());
  REQUIRE_FALSE(second.done());
  second.SendBody("abc");
  second.EndRequest();
  REQUIRE(second.done());
  REQUIRE(first.status() == 200);
  REQUIRE(second.status() == 200);
}

TEST_CASE("a disconnected exchange ignores further body and end of request") {
  PipelineHarness h(SingleFilterPipeline(
      MakeFilterFactory("noop", [](const Route&) { return std::make_unique<Filter>(); })));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "3"}}), {}, false);
  ex.Disconnect();
  REQUIRE(ex.done());
  REQUIRE(ex.info().outcome == RequestOutcome::kClientGone);
  ex.SendBody("abc");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE(ex.info().request_body_bytes == 0);
}

}  // namespace
}  // namespace gateway::testing
