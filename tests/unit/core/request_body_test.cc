// Request body phases and Expect: 100-continue through the harness.
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

TEST_CASE("request body chunks reach every filter in order with end_of_stream last") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec), Scripted("b", rec)}));
  auto head = GENERATE(as<std::string>{}, "content-length", "chunked");
  auto& ex = head == "chunked"
                 ? h.Send(Request("POST", "/x", {{"transfer-encoding", "chunked"}}), {}, false)
                 : h.Send(Request("POST", "/x", {{"content-length", "6"}}), {}, false);
  ex.SendBody("abc");
  ex.SendBody("def");
  REQUIRE_FALSE(ex.responded());  // the route action waits for the whole request
  ex.EndRequest();
  h.RunUntilIdle();

  REQUIRE(ex.status() == 200);
  REQUIRE(rec->events == Names({"a:request_headers", "b:request_headers", "a:request_body:abc",
                                "b:request_body:abc", "a:request_body:def", "b:request_body:def",
                                "a:request_body::eos", "b:request_body::eos", "b:response_headers",
                                "a:response_headers", "b:response_body:hello:eos",
                                "a:response_body:hello:eos", "a:done", "b:done"}));
  REQUIRE(ex.info().request_body_bytes == 6);
}

TEST_CASE("a request without a body gets no body phase") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(rec->Phase("request_body").empty());
}

TEST_CASE(
    "pausing in a body phase holds the body and resuming delivers the chunk to later filters") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  int pauses = 0;
  std::string c_body;
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec),
       Scripted("b", rec,
                {.request_body =
                     [&](FilterContext& ctx, std::string_view, bool) {
                       if (pauses++ > 0) return FilterStatus::kContinue;
                       held = ctx.Pause();
                       return FilterStatus::kPause;
                     }}),
       Scripted("c", rec, {.request_body = [&](FilterContext&, std::string_view chunk, bool) {
                  c_body.append(chunk);
                  return FilterStatus::kContinue;
                }})}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "9"}}), {}, false);
  ex.SendBody("abc");
  REQUIRE(ex.body_paused());
  REQUIRE(rec->Phase("request_body") == Names({"a", "b"}));

  // Bytes that arrive meanwhile are held by the host, not handed to filters.
  ex.SendBody("def");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE(ex.body_paused());
  REQUIRE(rec->Phase("request_body") == Names({"a", "b"}));
  REQUIRE_FALSE(ex.responded());

  held.Resume();
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.body_paused());
  REQUIRE(c_body == "abcdef");
  REQUIRE(rec->Saw("c:request_body:abc"));
  REQUIRE(rec->Saw("c:request_body::eos"));
  REQUIRE(rec->events.back() == "c:done");
  REQUIRE(ex.status() == 200);
}

TEST_CASE("pausing on the end of the request body holds the route action until resumed") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(
      HelloPipeline({Scripted("a", rec,
                              {.request_body =
                                   [&](FilterContext& ctx, std::string_view, bool eos) {
                                     if (!eos) return FilterStatus::kContinue;
                                     held = ctx.Pause();
                                     return FilterStatus::kPause;
                                   }}),
                     Scripted("b", rec)}));
  auto& ex = h.Send(Request("POST", "/x"), "payload");
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE_FALSE(rec->Saw("b:request_body::eos"));

  held.Resume();
  h.RunUntilIdle();
  REQUIRE(rec->Saw("b:request_body::eos"));
  REQUIRE(ex.status() == 200);
}

TEST_CASE("body sent right after a resume is delivered after the body held during the pause") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  int pauses = 0;
  std::string c_body;
  PipelineHarness h(HelloPipeline(
      {Scripted("b", rec,
                {.request_body =
                     [&](FilterContext& ctx, std::string_view, bool) {
                       if (pauses++ > 0) return FilterStatus::kContinue;
                       held = ctx.Pause();
                       return FilterStatus::kPause;
                     }}),
       Scripted("c", rec, {.request_body = [&](FilterContext&, std::string_view chunk, bool) {
                  c_body.append(chunk);
                  return FilterStatus::kContinue;
                }})}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "9"}}), {}, false);
  ex.SendBody("abc");
  ex.SendBody("def");  // held
  held.Resume();
  // Arrives on the same loop turn as the resume, before the held bytes are handed over.
  h.dispatcher().Post([&] {
    ex.SendBody("ghi");
    ex.EndRequest();
  });
  h.RunUntilIdle();
  REQUIRE(c_body == "abcdefghi");
  REQUIRE(ex.status() == 200);
}

TEST_CASE("a body filter's local reply ends the request before the body is complete") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec),
       Scripted("b", rec,
                {.request_body =
                     [](FilterContext& ctx, std::string_view chunk, bool) {
                       ctx.SendLocalReply(LocalReply::Json(413, "body_too_large", "too big"));
                       return FilterStatus::kStop;
                     }}),
       Scripted("c", rec)}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "100"}}), {}, false);
  ex.SendBody("0123456789");
  REQUIRE(ex.status() == 413);
  REQUIRE(ex.done());
  REQUIRE_FALSE(rec->Saw("c:request_body:0123456789"));
  REQUIRE(rec->Phase("response_headers") == Names({"c", "b", "a"}));
  // The rest of the body is ignored.
  ex.SendBody("more");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE(rec->Phase("request_body") == Names({"a", "b"}));
}

TEST_CASE("Expect: 100-continue is sent only after the request header filters pass") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("b", rec)}));
  auto& ex = h.Send(
      Request("POST", "/upload", {{"content-length", "5"}, {"expect", "100-continue"}}), {}, false);
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.sent_continue());

  held.Resume();
  h.RunUntilIdle();
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(ex.sent_continue());
  REQUIRE_FALSE(ex.responded());

  ex.SendBody("hello");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
}

TEST_CASE("Expect: 100-continue is not sent when a request filter replies first") {
  auto rec = std::make_shared<Recorder>();
  bool async = GENERATE(false, true);
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              if (async) {
                                                held = ctx.Pause();
                                                return FilterStatus::kPause;
                                              }
                                              ctx.SendLocalReply(
                                                  LocalReply::Json(401, "unauthorized", "no"));
                                              return FilterStatus::kStop;
                                            }})}));
  auto& ex = h.Send(
      Request("POST", "/upload", {{"content-length", "5"}, {"expect", "100-continue"}}), {}, false);
  if (async) held.Reply(LocalReply::Json(401, "unauthorized", "no"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 401);
  REQUIRE_FALSE(ex.sent_continue());
}

TEST_CASE("Expect: 100-continue is not sent for a request without a body") {
  PipelineHarness h(HelloPipeline({}));
  auto& ex = h.Send(Request("GET", "/x", {{"expect", "100-continue"}}));
  REQUIRE(ex.status() == 200);
  REQUIRE_FALSE(ex.sent_continue());
}

TEST_CASE("a client that stops sending its body gets 504 when the request deadline passes") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec), Scripted("b", rec)}),
                    {.request_timeout = absl::Seconds(5)});
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "10"}}), {}, false);
  ex.SendBody("01234");
  h.Advance(absl::Seconds(5));
  REQUIRE(ex.status() == 504);
  REQUIRE(ex.info().outcome == RequestOutcome::kTimeout);
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}});
}

TEST_CASE("Resumer::Reply from a body-phase pause answers without the rest of the body") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_body =
                                                 [&](FilterContext& ctx, std::string_view, bool) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "10"}}), {}, false);
  ex.SendBody("01234");
  held.Reply(LocalReply::Json(422, "invalid_body", "the first bytes were enough"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 422);
  REQUIRE(ex.info().flag == "invalid_body");
  REQUIRE_FALSE(rec->Saw("c:request_body:01234"));
  REQUIRE(rec->Phase("response_headers") == Names({"c", "b", "a"}));
  ex.SendBody("56789");
  ex.EndRequest();
  h.RunUntilIdle();
  REQUIRE(rec->Phase("request_body") == Names({"a", "b"}));
}

}  // namespace
}  // namespace gateway::test
