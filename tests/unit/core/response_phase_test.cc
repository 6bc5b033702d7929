// Response phases: modifying and replacing the response, pausing and resuming,
// and failures after the response was produced.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/filter.h"
#include "gateway/testing/harness.h"
#include "unit/core/scripted_filter.h"

namespace gateway::test {
namespace {

using ::gateway::testing::PipelineHarness;
using ::gateway::testing::Request;

TEST_CASE("a response filter can modify the response headers") {
  auto rec = std::make_shared<Recorder>();
  int a_saw_status = 0;
  std::string a_saw_header;
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec,
                {.response_headers =
                     [&](FilterContext& ctx) {
                       a_saw_status = ctx.response()->status;
                       a_saw_header =
                           std::string(ctx.response()->headers.Get("x-from-b").value_or(""));
                       return FilterStatus::kContinue;
                     }}),
       Scripted("b", rec, {.response_headers = [](FilterContext& ctx) {
                  ctx.response()->headers.Add("x-from-b", "1");
                  ctx.response()->headers.Remove("content-type");
                  return FilterStatus::kContinue;
                }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(Header(ex, "x-from-b") == "1");
  REQUIRE(Header(ex, "content-type") == "<absent>");
  // b runs before a in the response direction and a sees its change.
  REQUIRE(a_saw_status == 200);
  REQUIRE(a_saw_header == "1");
}

TEST_CASE("a response filter can replace the response with SendLocalReply") {
  auto rec = std::make_shared<Recorder>();
  int a_saw_status = 0;
  std::string a_saw_body;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.response_headers =
                                                 [&](FilterContext& ctx) {
                                                   a_saw_status = ctx.response()->status;
                                                   return FilterStatus::kContinue;
                                                 },
                                             .response_body =
                                                 [&](FilterContext&, std::string_view chunk, bool) {
                                                   a_saw_body = std::string(chunk);
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec, {.response_headers = [](FilterContext& ctx) {
                                              ctx.SendLocalReply(
                                                  LocalReply::Json(502, "bad_gateway_body",
                                                                   "upstream said nonsense"));
                                              return FilterStatus::kStop;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 502);
  REQUIRE(Header(ex, "content-type") == "application/json");
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"bad_gateway_body\""));
  REQUIRE(ex.info().flag == "bad_gateway_body");
  // The remaining response filters see the replacement.
  REQUIRE(a_saw_status == 502);
  REQUIRE(a_saw_body == ex.body());
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
}

TEST_CASE("replacing the response inside OnResponseBody keeps that call's chunk valid") {
  auto rec = std::make_shared<Recorder>();
  const std::string original(200, 'o');  // long enough to live on the heap
  std::string seen_after_reply;
  std::string a_saw;
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("big").Prefix("/").Respond(200, original).Build());
  PipelineHarness h(BuildPipeline(
      std::move(routes),
      {Scripted("a", rec,
                {.response_body =
                     [&](FilterContext&, std::string_view chunk, bool) {
                       a_saw = std::string(chunk);
                       return FilterStatus::kContinue;
                     }}),
       Scripted("b", rec, {.response_body = [&](FilterContext& ctx, std::string_view chunk, bool) {
                  ctx.SendLocalReply(LocalReply::Text(451, std::string(300, 'r')));
                  seen_after_reply = std::string(chunk);  // still this call's chunk
                  return FilterStatus::kStop;
                }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(seen_after_reply == original);
  REQUIRE(ex.status() == 451);
  REQUIRE(ex.body() == std::string(300, 'r'));
  REQUIRE(a_saw == ex.body());
  REQUIRE(ex.info().response_body_bytes == 300);
}

TEST_CASE("a response-phase pause holds the response until resumed") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec), Scripted("b", rec, {.response_headers = [&](FilterContext& ctx) {
                                      held = ctx.Pause();
                                      ctx.response()->headers.Add("x-b", "paused");
                                      return FilterStatus::kPause;
                                    }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE(rec->Phase("response_headers") == Names({"b"}));

  held.Resume();
  REQUIRE_FALSE(ex.responded());
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
  REQUIRE(Header(ex, "x-b") == "paused");
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE(ex.done());
}

TEST_CASE("a pause in OnResponseBody holds the body until resumed") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec),
       Scripted("b", rec, {.response_body = [&](FilterContext& ctx, std::string_view, bool) {
                  held = ctx.Pause();
                  return FilterStatus::kPause;
                }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE(rec->Phase("response_body") == Names({"b"}));
  held.Resume();
  h.RunUntilIdle();
  REQUIRE(rec->Phase("response_body") == Names({"b", "a"}));
  REQUIRE(ex.body() == "hello");
}

TEST_CASE("Resumer::Reply from a response phase replaces the response") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  int a_saw_status = 0;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.response_headers =
                                                 [&](FilterContext& ctx) {
                                                   a_saw_status = ctx.response()->status;
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec, {.response_headers = [&](FilterContext& ctx) {
                                              held = ctx.Pause();
                                              return FilterStatus::kPause;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  held.Reply(LocalReply::Json(403, "response_denied", "no"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 403);
  REQUIRE_THAT(ex.body(), Catch::Contains("response_denied"));
  REQUIRE(ex.info().flag == "response_denied");
  REQUIRE(a_saw_status == 403);
}

TEST_CASE("returning kPause without Pause in a response phase still sends 500 filter_error") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec), Scripted("b", rec, {.response_headers = [](FilterContext&) {
                                      return FilterStatus::kPause;
                                    }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.done());
  REQUIRE(ex.status() == 500);
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"filter_error\""));
  REQUIRE(ex.info().flag == "filter_error");
  REQUIRE(ex.info().outcome == RequestOutcome::kError);
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}});
}

TEST_CASE("the request deadline passing while a response filter is paused sends 504") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(
      HelloPipeline({Scripted("a", rec), Scripted("b", rec,
                                                  {.response_headers =
                                                       [](FilterContext& ctx) {
                                                         ctx.Pause();  // never resumed
                                                         return FilterStatus::kPause;
                                                       }})}),
      {.request_timeout = absl::Seconds(30)});
  auto& ex = h.Send(Request("GET", "/x"));
  h.Advance(absl::Seconds(30));
  REQUIRE(ex.done());
  REQUIRE(ex.status() == 504);
  REQUIRE(ex.info().flag == "request_timeout");
  REQUIRE(ex.info().outcome == RequestOutcome::kTimeout);
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}});
}

TEST_CASE("SendLocalReply outside a phase and Pause outside a phase do nothing") {
  auto rec = std::make_shared<Recorder>();
  FilterContext* leaked = nullptr;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              leaked = &ctx;
                                              ctx.Pause();
                                              return FilterStatus::kPause;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  // Misuse on purpose: the context is only valid during the call, but the
  // stream is still alive here, so these must be harmless no-ops.
  REQUIRE_FALSE(leaked->Pause().active());
  leaked->SendLocalReply(LocalReply::Text(418, "teapot"));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
}

}  // namespace
}  // namespace gateway::test
