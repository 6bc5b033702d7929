// The filter chain driven through the public testing harness: phase order,
// filter statuses, pausing and resuming, and OnDone guarantees.
#include <memory>
#include <optional>
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

FilterStatus ReplyWith(FilterContext& ctx, LocalReply reply) {
  ctx.SendLocalReply(std::move(reply));
  return FilterStatus::kStop;
}

TEST_CASE("request filters run in pipeline order and response filters in reverse order") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec), Scripted("b", rec), Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();

  REQUIRE(ex.status() == 200);
  REQUIRE(ex.body() == "hello");
  REQUIRE(rec->events == Names({"a:request_headers", "b:request_headers", "c:request_headers",
                                "c:response_headers", "b:response_headers", "a:response_headers",
                                "c:response_body:hello:eos", "b:response_body:hello:eos",
                                "a:response_body:hello:eos", "a:done", "b:done", "c:done"}));
}

TEST_CASE("kContinue runs the whole chain synchronously inside Send") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec), Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  // No loop turn yet: nothing in the chain waited for one.
  REQUIRE(ex.responded());
  REQUIRE(ex.done());
  REQUIRE(ex.status() == 200);
  REQUIRE(h.dispatcher().armed_timers() == 0);  // the request deadline was cancelled
}

TEST_CASE("kPause suspends the chain until the Resumer resumes it on a later turn") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE(rec->Phase("request_headers") == Names({"a"}));
  REQUIRE(held.active());

  held.Resume();
  REQUIRE_FALSE(held.active());  // a Resumer acts once
  // Resuming from outside the phase is not synchronous either.
  REQUIRE(rec->Phase("request_headers") == Names({"a"}));
  REQUIRE_FALSE(ex.responded());

  h.RunUntilIdle();
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.done());
}

TEST_CASE("kStop with a local reply ends the request phases with that reply") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [](FilterContext& ctx) {
                                              return ReplyWith(
                                                  ctx, LocalReply::Json(401, "unauthorized", "no"));
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 401);
  REQUIRE(Header(ex, "content-type") == "application/json");
  REQUIRE(ex.body() == "{\"error\":\"unauthorized\",\"message\":\"no\",\"status\":401}\n");
  REQUIRE(ex.info().flag == "unauthorized");
  REQUIRE(ex.info().outcome == RequestOutcome::kCompleted);
}

TEST_CASE("a Resumer used inside the pausing phase still resumes only on a later loop turn") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [](FilterContext& ctx) {
                                                   Resumer r = ctx.Pause();
                                                   r.Resume();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(rec->Phase("request_headers") == Names({"a"}));
  REQUIRE_FALSE(ex.responded());
  REQUIRE_FALSE(ex.done());

  h.RunUntilIdle();
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(ex.status() == 200);
}

TEST_CASE("Resumer::Reply ends with a local reply that goes through the response filters") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  held.Reply(LocalReply::Json(403, "denied", "the lookup said no"));
  REQUIRE_FALSE(ex.responded());
  h.RunUntilIdle();

  REQUIRE(ex.status() == 403);
  REQUIRE(ex.info().flag == "denied");
  // c never started, so only b and a see the response, in reverse order.
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}});
}

TEST_CASE("a Resumer outliving its request does nothing") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  Resumer reply_held;
  {
    PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                              {.request_headers =
                                                   [&](FilterContext& ctx) {
                                                     held = ctx.Pause();
                                                     return FilterStatus::kPause;
                                                   }}),
                                     Scripted("b", rec)}));
    auto& ex = h.Send(Request("GET", "/x"));
    h.RunUntilIdle();
    ex.Disconnect();
    REQUIRE(ex.done());
    REQUIRE_FALSE(held.active());

    held.Resume();
    h.RunUntilIdle();
    REQUIRE_FALSE(ex.responded());
    REQUIRE(rec->Phase("request_headers") == Names({"a"}));

    // Paused again on a second request; the harness (and its streams) go away
    // with the Resumer still held.
    h.Send(Request("GET", "/y"));
    reply_held = std::move(held);
  }
  // Both the first request's and the second's resumers now outlive everything.
  REQUIRE_FALSE(held.active());
  REQUIRE_FALSE(reply_held.active());
  held.Resume();
  reply_held.Reply(LocalReply::Text(200, "too late"));
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 2}, {"b", 2}});
}

TEST_CASE("Pause twice in one phase returns an inactive resumer") {
  auto rec = std::make_shared<Recorder>();
  Resumer first;
  bool second_active = true;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              first = ctx.Pause();
                                              Resumer second = ctx.Pause();
                                              second_active = second.active();
                                              second.Reply(LocalReply::Text(418, "must not win"));
                                              return FilterStatus::kPause;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(first.active());
  REQUIRE_FALSE(second_active);
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());

  first.Resume();
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
}

TEST_CASE("a Resumer acts only once: a Reply after Resume does nothing") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              held = ctx.Pause();
                                              return FilterStatus::kPause;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  held.Resume();
  held.Reply(LocalReply::Text(403, "no"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
}

TEST_CASE("a filter that pauses but returns kContinue goes on and its Resumer is dead") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE_FALSE(held.active());
  held.Reply(LocalReply::Text(403, "no"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
}

TEST_CASE("returning kPause without calling Pause gives 500 filter_error") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec),
       Scripted("b", rec, {.request_headers = [](FilterContext&) { return FilterStatus::kPause; }}),
       Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 500);
  REQUIRE(Header(ex, "content-type") == "application/json");
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"filter_error\""));
  REQUIRE(ex.info().flag == "filter_error");
  REQUIRE(ex.info().outcome == RequestOutcome::kError);
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}});
}

TEST_CASE("returning kStop without a local reply gives 500 filter_error") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline(
      {Scripted("a", rec, {.request_headers = [](FilterContext&) { return FilterStatus::kStop; }}),
       Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 500);
  REQUIRE(ex.info().flag == "filter_error");
  REQUIRE(rec->Phase("request_headers") == Names({"a"}));
  REQUIRE(ex.done());
}

TEST_CASE("a local reply skips later request filters but earlier filters' response phases run") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_headers =
                                                 [](FilterContext& ctx) {
                                                   return ReplyWith(
                                                       ctx, LocalReply::Text(429, "slow down"));
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 429);
  REQUIRE(ex.body() == "slow down");
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE(rec->Phase("response_body") == Names({"b", "a"}));
  // c was created, never started, and still gets OnDone.
  REQUIRE(rec->created["c"] == 1);
  REQUIRE(rec->done["c"] == 1);
}

TEST_CASE("a local reply sent with kContinue still ends the request phases") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [](FilterContext& ctx) {
                                                   ctx.SendLocalReply(LocalReply::Text(403, "no"));
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 403);
  REQUIRE(rec->Phase("request_headers") == Names({"a"}));
}

TEST_CASE("a local reply sent with kPause wins over the pause and the response completes") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  bool take_pause = GENERATE(false, true);
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   if (take_pause) held = ctx.Pause();
                                                   ctx.SendLocalReply(LocalReply::Text(403, "no"));
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.done());
  REQUIRE(ex.status() == 403);
  REQUIRE(ex.body() == "no");
  REQUIRE(rec->Phase("request_headers") == Names({"a", "b"}));
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE_FALSE(held.active());
  h.RunUntilIdle();
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"b", 1}, {"c", 1}});
}

TEST_CASE("factories returning nullptr skip their filter for that request") {
  auto rec = std::make_shared<Recorder>();
  int skip_calls = 0;
  auto skipping = MakeFilterFactory("skip", [&skip_calls](const Route&) -> std::unique_ptr<Filter> {
    ++skip_calls;
    return nullptr;
  });
  PipelineHarness h(HelloPipeline({Scripted("a", rec), skipping, Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(skip_calls == 1);
  REQUIRE(rec->Phase("request_headers") == Names({"a", "c"}));
  REQUIRE(rec->Phase("response_headers") == Names({"c", "a"}));
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}, {"c", 1}});
}

// --- OnDone exactly once, in every outcome ----------------------------------

std::map<std::string, int> AllOnce() { return {{"a", 1}, {"b", 1}, {"c", 1}}; }

TEST_CASE("OnDone runs exactly once for every filter when the request completes") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec), Scripted("b", rec), Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));  // no stale deadline fires later
  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["a"].outcome == RequestOutcome::kCompleted);
  REQUIRE(rec->last_done["a"].status == 200);
  REQUIRE(rec->last_done["a"].route_name == "hello");
  REQUIRE(ex.info().status == 200);
  // OnDone is the last call each filter gets.
  REQUIRE(rec->events.back() == "c:done");
}

TEST_CASE("OnDone runs exactly once for every created filter after a local reply") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [](FilterContext& ctx) {
                                                   return ReplyWith(
                                                       ctx, LocalReply::Json(403, "denied", "no"));
                                                 }}),
                                   Scripted("b", rec), Scripted("c", rec)}));
  h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));
  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["c"].status == 403);
  REQUIRE(rec->last_done["c"].flag == "denied");
}

TEST_CASE(
    "OnDone runs exactly once when the client disconnects while a filter is paused in headers") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  ex.Disconnect();
  ex.Disconnect();  // a second report changes nothing
  held.Resume();
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));

  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["a"].outcome == RequestOutcome::kClientGone);
  REQUIRE(rec->last_done["a"].flag == "client_gone");
  REQUIRE_FALSE(ex.responded());
  REQUIRE(rec->Phase("response_headers").empty());
}

TEST_CASE(
    "OnDone runs exactly once when the client disconnects while a filter is paused in the body") {
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
  auto& ex = h.Send(Request("POST", "/x", {{"content-length", "4"}}), {}, false);
  ex.SendBody("data");
  REQUIRE(ex.body_paused());
  ex.Disconnect();
  held.Resume();
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));

  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["b"].outcome == RequestOutcome::kClientGone);
  REQUIRE(rec->Phase("request_body") == Names({"a", "b"}));
}

TEST_CASE(
    "OnDone runs exactly once when the client disconnects while a filter is paused in the "
    "response") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.response_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}));
  auto& ex = h.Send(Request("GET", "/x"));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  ex.Disconnect();
  held.Resume();
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));

  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["a"].outcome == RequestOutcome::kClientGone);
  REQUIRE_FALSE(ex.responded());
  REQUIRE(rec->Phase("response_headers") == Names({"c", "b"}));
}

TEST_CASE("OnDone runs exactly once when the request deadline passes and the client gets 504") {
  auto rec = std::make_shared<Recorder>();
  Resumer held;
  PipelineHarness h(HelloPipeline({Scripted("a", rec),
                                   Scripted("b", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   held = ctx.Pause();
                                                   return FilterStatus::kPause;
                                                 }}),
                                   Scripted("c", rec)}),
                    {.request_timeout = absl::Seconds(10)});
  auto& ex = h.Send(Request("GET", "/x"));
  h.Advance(absl::Seconds(10) - absl::Milliseconds(1));
  REQUIRE_FALSE(ex.responded());

  h.Advance(absl::Milliseconds(1));
  REQUIRE(ex.status() == 504);
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"request_timeout\""));
  REQUIRE(ex.info().flag == "request_timeout");
  REQUIRE(ex.info().outcome == RequestOutcome::kTimeout);
  REQUIRE(ex.info().duration == absl::Seconds(10));
  // The paused filter and those before it see the 504 on its way out.
  REQUIRE(rec->Phase("response_headers") == Names({"b", "a"}));
  REQUIRE_FALSE(held.active());

  held.Resume();
  h.RunUntilIdle();
  h.Advance(absl::Minutes(5));
  REQUIRE(rec->done == AllOnce());
  REQUIRE(rec->last_done["c"].status == 504);
}

TEST_CASE("a route's own timeout overrides the default request deadline") {
  auto rec = std::make_shared<Recorder>();
  std::vector<RouteSpec> routes;
  routes.push_back(
      RouteBuilder("quick").Prefix("/").Timeout(absl::Seconds(2)).Respond(200, "ok").Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {Scripted("a", rec,
                                                               {.request_headers =
                                                                    [](FilterContext& ctx) {
                                                                      ctx.Pause();
                                                                      return FilterStatus::kPause;
                                                                    }})}),
                    {.request_timeout = absl::Seconds(60)});
  auto& ex = h.Send(Request("GET", "/x"));
  h.Advance(absl::Seconds(2));
  REQUIRE(ex.status() == 504);
}

TEST_CASE("RequestInfo reports duration on the manual clock and byte counts") {
  auto rec = std::make_shared<Recorder>();
  // An asynchronous filter: a timer stands in for a remote lookup.
  std::unique_ptr<Timer> timer;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              timer = ctx.dispatcher().CreateTimer(
                                                  [r = ctx.Pause()]() mutable { r.Resume(); });
                                              timer->Enable(absl::Milliseconds(250));
                                              return FilterStatus::kPause;
                                            }})}));
  auto& ex = h.Send(Request("POST", "/x"), "abc");
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  h.Advance(absl::Milliseconds(249));
  REQUIRE_FALSE(ex.responded());
  h.Advance(absl::Milliseconds(1));
  REQUIRE(ex.status() == 200);
  REQUIRE(ex.info().duration == absl::Milliseconds(250));
  REQUIRE(ex.info().request_body_bytes == 3);
  REQUIRE(ex.info().response_body_bytes == 5);
  REQUIRE(ex.info().route_name == "hello");
  REQUIRE(rec->last_done["a"].duration == absl::Milliseconds(250));
}

TEST_CASE("destroying the harness ends requests still in flight with OnDone") {
  auto rec = std::make_shared<Recorder>();
  {
    PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [](FilterContext& ctx) {
                                                ctx.Pause();
                                                return FilterStatus::kPause;
                                              }})}));
    h.Send(Request("GET", "/x"));
    REQUIRE(rec->done.empty());
  }
  REQUIRE(rec->done == std::map<std::string, int>{{"a", 1}});
  REQUIRE(rec->last_done["a"].outcome == RequestOutcome::kClientGone);
}

}  // namespace
}  // namespace gateway::test
