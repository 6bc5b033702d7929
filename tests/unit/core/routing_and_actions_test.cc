// What the stream does around the filters: path normalisation, routing errors,
// route actions, per-route typed config and the context filters see.
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

TEST_CASE("no matching route gives a 404 JSON error flagged no_route and creates no filters") {
  auto rec = std::make_shared<Recorder>();
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("api").Prefix("/api").Respond(200, "api").Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {Scripted("a", rec)}));
  auto& ex = h.Send(Request("GET", "/other"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 404);
  REQUIRE(Header(ex, "content-type") == "application/json");
  REQUIRE_THAT(ex.body(), Catch::StartsWith("{\"error\":\"no_route\","));
  REQUIRE_THAT(ex.body(), Catch::Contains("\"status\":404"));
  REQUIRE(ex.info().flag == "no_route");
  REQUIRE(ex.info().route_name.empty());
  REQUIRE(ex.done());
  REQUIRE(rec->created.empty());
}

TEST_CASE("a path matching only with another method gives 405 with an Allow header") {
  auto rec = std::make_shared<Recorder>();
  std::vector<RouteSpec> routes;
  routes.push_back(
      RouteBuilder("users").Exact("/users").Methods({"GET", "HEAD"}).Respond(200, "u").Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {Scripted("a", rec)}));
  auto& ex = h.Send(Request("DELETE", "/users"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 405);
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"method_not_allowed\""));
  REQUIRE(ex.info().flag == "method_not_allowed");
  std::string allow = Header(ex, "allow");
  REQUIRE_THAT(allow, Catch::Contains("GET") && Catch::Contains("HEAD"));
  REQUIRE_THAT(allow, !Catch::Contains("DELETE"));
  REQUIRE(rec->created.empty());

  auto& ok = h.Send(Request("GET", "/users"));
  REQUIRE(ok.status() == 200);
}

TEST_CASE("a path climbing above the root gives 400 invalid_path before any filter runs") {
  auto rec = std::make_shared<Recorder>();
  PipelineHarness h(HelloPipeline({Scripted("a", rec)}));
  // %2e is an encoded '.', so this is "/a/../../x".
  auto& ex = h.Send(Request("GET", "/a/%2e%2e/%2e%2e/x"));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 400);
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"invalid_path\""));
  REQUIRE(ex.info().flag == "invalid_path");
  REQUIRE(rec->created.empty());
}

TEST_CASE("filters see the normalised path that routing used") {
  auto rec = std::make_shared<Recorder>();
  std::string seen;
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("b").Exact("/b/c").Respond(200, "bc").Build());
  PipelineHarness h(BuildPipeline(std::move(routes),
                                  {Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              seen = ctx.request().path;
                                              return FilterStatus::kContinue;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/a/../b//c"));
  REQUIRE(ex.status() == 200);
  REQUIRE(seen == "/b/c");
}

TEST_CASE("a rejected encoded slash gives 400 invalid_path under the default policy") {
  PipelineHarness h(HelloPipeline({}));
  auto& ex = h.Send(Request("GET", "/a%2Fb"));
  REQUIRE(ex.status() == 400);
  REQUIRE(ex.info().flag == "invalid_path");
}

TEST_CASE("a direct-response route answers with its status and body and content type") {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("health")
                       .Exact("/healthz")
                       .Respond(201, "{\"up\":true}", "application/json")
                       .Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {}));
  auto& ex = h.Send(Request("GET", "/healthz"));
  REQUIRE(ex.status() == 201);
  REQUIRE(ex.body() == "{\"up\":true}");
  REQUIRE(Header(ex, "content-type") == "application/json");
  REQUIRE(ex.info().flag.empty());
  REQUIRE(ex.info().route_name == "health");
  REQUIRE(ex.info().outcome == RequestOutcome::kCompleted);
}

TEST_CASE("a redirect route answers with its status and a Location header") {
  auto rec = std::make_shared<Recorder>();
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("moved")
                       .Exact("/old")
                       .RedirectTo(Redirect{.status = 308, .path = "/new"})
                       .Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {Scripted("a", rec)}));
  auto& ex = h.Send(Request("GET", "/old", {{"host", "example.com"}}));
  REQUIRE(ex.status() == 308);
  REQUIRE_THAT(Header(ex, "location"), Catch::EndsWith("/new"));
  // Response filters see redirects like any other response.
  REQUIRE(rec->Phase("response_headers") == Names({"a"}));
}

TEST_CASE("a cluster route without an upstream gives 503 no_upstream") {
  auto rec = std::make_shared<Recorder>();
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("users").Prefix("/users").ToCluster("users").Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {Scripted("a", rec)}));
  auto& ex = h.Send(Request("GET", "/users/1"));
  REQUIRE(ex.status() == 503);
  REQUIRE_THAT(ex.body(), Catch::Contains("\"error\":\"no_upstream\""));
  REQUIRE_THAT(ex.body(), Catch::Contains("users"));
  REQUIRE(ex.info().flag == "no_upstream");
  REQUIRE(rec->Phase("response_headers") == Names({"a"}));
}

struct GreetingConfig : RouteFilterConfig {
  explicit GreetingConfig(std::string g) : greeting(std::move(g)) {}
  std::string greeting;
};
struct OtherConfig : RouteFilterConfig {};

class GreetingFilter final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    const auto* config = ctx.route().FilterConfig<GreetingConfig>("greeter");
    greeting_ = config != nullptr ? config->greeting : "<none>";
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    ctx.response()->headers.Set("x-greeting", greeting_);
    return FilterStatus::kContinue;
  }

 private:
  std::string greeting_;
};

TEST_CASE("a filter reads its per-route typed config") {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("en")
                       .Prefix("/en")
                       .Config("greeter", std::make_shared<GreetingConfig>("hello"))
                       .Respond(200, "en")
                       .Build());
  routes.push_back(RouteBuilder("fr")
                       .Prefix("/fr")
                       .Config("greeter", std::make_shared<GreetingConfig>("bonjour"))
                       .Respond(200, "fr")
                       .Build());
  // Config of the wrong type, or under another filter's name, reads as absent.
  routes.push_back(RouteBuilder("wrong-type")
                       .Prefix("/wrong")
                       .Config("greeter", std::make_shared<OtherConfig>())
                       .Respond(200, "w")
                       .Build());
  routes.push_back(RouteBuilder("other-name")
                       .Prefix("/other")
                       .Config("someone-else", std::make_shared<GreetingConfig>("hi"))
                       .Respond(200, "o")
                       .Build());
  PipelineHarness h(
      BuildPipeline(std::move(routes), {MakeFilterFactory("greeter", [](const Route&) {
                      return std::make_unique<GreetingFilter>();
                    })}));

  REQUIRE(Header(h.Send(Request("GET", "/en")), "x-greeting") == "hello");
  REQUIRE(Header(h.Send(Request("GET", "/fr")), "x-greeting") == "bonjour");
  REQUIRE(Header(h.Send(Request("GET", "/wrong")), "x-greeting") == "<none>");
  REQUIRE(Header(h.Send(Request("GET", "/other")), "x-greeting") == "<none>");
}

TEST_CASE("a factory can skip routes that carry no config for its filter") {
  auto rec = std::make_shared<Recorder>();
  auto factory = MakeFilterFactory("greeter", [rec](const Route& route) -> std::unique_ptr<Filter> {
    if (route.FilterConfig<GreetingConfig>("greeter") == nullptr) return nullptr;
    return std::make_unique<ScriptedFilter>("greeter", Script{}, rec);
  });
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("with")
                       .Prefix("/with")
                       .Config("greeter", std::make_shared<GreetingConfig>("hi"))
                       .Respond(200, "w")
                       .Build());
  routes.push_back(RouteBuilder("without").Prefix("/").Respond(200, "o").Build());
  PipelineHarness h(BuildPipeline(std::move(routes), {factory}));
  h.Send(Request("GET", "/without"));
  REQUIRE(rec->done.empty());
  h.Send(Request("GET", "/with"));
  REQUIRE(rec->done["greeter"] == 1);
}

TEST_CASE("attributes set by one filter are shared with later filters and response phases") {
  auto rec = std::make_shared<Recorder>();
  std::optional<std::string> b_saw, b_missing, a_saw_in_response;
  auto get = [](FilterContext& ctx, std::string_view key) -> std::optional<std::string> {
    auto v = ctx.GetAttribute(key);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  };
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [&](FilterContext& ctx) {
                                                   ctx.SetAttribute("identity", "alice");
                                                   return FilterStatus::kContinue;
                                                 },
                                             .response_headers =
                                                 [&](FilterContext& ctx) {
                                                   a_saw_in_response = get(ctx, "identity");
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec, {.request_headers = [&](FilterContext& ctx) {
                                              b_saw = get(ctx, "identity");
                                              b_missing = get(ctx, "nobody-set-this");
                                              ctx.SetAttribute("identity",
                                                               "alice@tenant");  // overwrite
                                              return FilterStatus::kContinue;
                                            }})}));
  auto& ex = h.Send(Request("GET", "/x"));
  REQUIRE(ex.status() == 200);
  REQUIRE(b_saw == "alice");
  REQUIRE_FALSE(b_missing.has_value());
  REQUIRE(a_saw_in_response == "alice@tenant");

  // Attributes belong to one request.
  std::optional<std::string> next_request;
  PipelineHarness h2(HelloPipeline({Scripted("x", rec, {.request_headers = [&](FilterContext& ctx) {
                                               next_request = get(ctx, "identity");
                                               return FilterStatus::kContinue;
                                             }})}));
  h2.Send(Request("GET", "/x"));
  REQUIRE_FALSE(next_request.has_value());
}

TEST_CASE("an attribute view stays valid while other attributes are set") {
  auto rec = std::make_shared<Recorder>();
  std::string read_back;
  PipelineHarness h(HelloPipeline({Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                              ctx.SetAttribute("identity", "alice");
                                              std::string_view id = *ctx.GetAttribute("identity");
                                              for (int i = 0; i < 64; ++i) {
                                                ctx.SetAttribute("k" + std::to_string(i), "v");
                                              }
                                              read_back = std::string(id);
                                              return FilterStatus::kContinue;
                                            }})}));
  h.Send(Request("GET", "/x"));
  REQUIRE(read_back == "alice");
}

TEST_CASE("request changes made by a filter are visible to later filters") {
  auto rec = std::make_shared<Recorder>();
  std::string seen;
  PipelineHarness h(HelloPipeline({Scripted("a", rec,
                                            {.request_headers =
                                                 [](FilterContext& ctx) {
                                                   ctx.request().headers.Set("x-user", "alice");
                                                   return FilterStatus::kContinue;
                                                 }}),
                                   Scripted("b", rec, {.request_headers = [&](FilterContext& ctx) {
                                              seen = std::string(
                                                  ctx.request().headers.Get("x-user").value_or(""));
                                              return FilterStatus::kContinue;
                                            }})}));
  h.Send(Request("GET", "/x"));
  REQUIRE(seen == "alice");
}

TEST_CASE("the context exposes the route and its captures and the connection but no response yet") {
  auto rec = std::make_shared<Recorder>();
  std::string route_name, id, peer;
  uint16_t local_port = 0;
  bool response_was_null = false;
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("user").Template("/users/{id}").Respond(200, "u").Build());
  PipelineHarness h(BuildPipeline(
      std::move(routes), {Scripted("a", rec, {.request_headers = [&](FilterContext& ctx) {
                                     route_name = ctx.route().name();
                                     id = std::string(ctx.route_match().Capture("id").value_or(""));
                                     peer = ctx.connection().peer_address;
                                     local_port = ctx.connection().local_port;
                                     response_was_null = ctx.response() == nullptr;
                                     return FilterStatus::kContinue;
                                   }})}));
  auto& ex = h.Send(Request("GET", "/users/42"));
  REQUIRE(ex.status() == 200);
  REQUIRE(route_name == "user");
  REQUIRE(id == "42");
  REQUIRE(peer == "127.0.0.1");
  REQUIRE(local_port == 8080);
  REQUIRE(response_was_null);
}

}  // namespace
}  // namespace gateway::test
