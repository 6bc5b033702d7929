// The code samples of docs/filters.md, compiled and run, so the guide cannot
// drift from the API. Keep the two in sync.
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/gateway.h"
#include "gateway/testing/harness.h"

namespace docs_examples {
namespace {

using namespace gateway;

// --- "Writing a filter" -----------------------------------------------------

// Refuses requests without an API key and marks every response it saw.
class RequireApiKey final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    auto key = ctx.request().headers.Get("x-api-key");
    if (!key) {
      ctx.SendLocalReply(LocalReply::Json(401, "missing_api_key", "x-api-key is required"));
      return FilterStatus::kStop;
    }
    ctx.SetAttribute("api_key", std::string(*key));
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    ctx.response()->headers.Set("x-api-key-checked", "1");
    return FilterStatus::kContinue;
  }
};

std::shared_ptr<const FilterFactory> MakeRequireApiKey() {
  return MakeFilterFactory("require_api_key",
                           [](const Route&) { return std::make_unique<RequireApiKey>(); });
}

// --- "Pausing" --------------------------------------------------------------

// Asks a (simulated) key service; a timer stands in for the network round trip.
class KeyLookup final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    std::string key(ctx.request().headers.Get("x-api-key").value_or(""));
    // Only the Resumer may outlive this call. The timer is owned by the filter,
    // so it is cancelled if the request ends first.
    timer_ = ctx.dispatcher().CreateTimer([key, resumer = ctx.Pause()]() mutable {
      if (key == "let-me-in") {
        resumer.Resume();
      } else {
        resumer.Reply(LocalReply::Json(403, "unknown_api_key", "the key is not known"));
      }
    });
    timer_->Enable(absl::Milliseconds(20));
    return FilterStatus::kPause;
  }

 private:
  std::unique_ptr<Timer> timer_;
};

std::shared_ptr<const FilterFactory> MakeKeyLookup() {
  return MakeFilterFactory("key_lookup",
                           [](const Route&) { return std::make_unique<KeyLookup>(); });
}

// --- "Changing bodies" ------------------------------------------------------

// Wraps JSON responses in {"data": ...}, piece by piece, without buffering.
class JsonEnvelope final : public Filter {
 public:
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    auto type = ctx.response()->headers.Get("content-type");
    wrap_ = type && type->starts_with("application/json") && ctx.WillModifyResponseBody();
    return FilterStatus::kContinue;
  }
  using Filter::OnResponseBody;  // do not hide the other form
  FilterStatus OnResponseBody(FilterContext& ctx, BodyBuffer& body, bool end_of_stream) override {
    if (!wrap_) return FilterStatus::kContinue;
    if (first_) body.Prepend("{\"data\":");
    first_ = false;
    if (end_of_stream) body.Append("}");
    return FilterStatus::kContinue;
  }

 private:
  bool wrap_ = false;
  bool first_ = true;
};

std::shared_ptr<const Pipeline> EnvelopePipeline(std::string body, std::string content_type) {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("all").Prefix("/").Respond(200, body, content_type).Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline =
      PipelineBuilder{}
          .Routes(*router)
          .Add(MakeFilterFactory("json_envelope",
                                 [](const Route&) { return std::make_unique<JsonEnvelope>(); }))
          .Build();
  REQUIRE(pipeline.ok());
  return *pipeline;
}

TEST_CASE("docs: the JSON envelope wraps JSON responses and leaves others alone") {
  testing::PipelineHarness json(EnvelopePipeline("[1,2]", "application/json"));
  auto& wrapped = json.Send(testing::Request("GET", "/"));
  REQUIRE(wrapped.status() == 200);
  REQUIRE(wrapped.body() == "{\"data\":[1,2]}");
  REQUIRE(wrapped.info().response_body_bytes == wrapped.body().size());

  testing::PipelineHarness text(EnvelopePipeline("plain", "text/plain"));
  REQUIRE(text.Send(testing::Request("GET", "/")).body() == "plain");
}

// --- "Per-route configuration" ----------------------------------------------

struct QuotaConfig : RouteFilterConfig {
  explicit QuotaConfig(int n) : per_minute(n) {}
  int per_minute;
};

class QuotaFilter final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    if (const auto* quota = ctx.route().FilterConfig<QuotaConfig>("quota")) {
      limit_ = std::to_string(quota->per_minute);
    }
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    ctx.response()->headers.Set("x-ratelimit-limit", limit_);
    return FilterStatus::kContinue;
  }

 private:
  std::string limit_;
};

TEST_CASE("docs: the API key filter refuses requests without a key and marks responses") {
  auto router = Router::Build({RouteBuilder("users").Prefix("/users").ToCluster("users").Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(MakeRequireApiKey()).Build();
  REQUIRE(pipeline.ok());

  testing::PipelineHarness h(*pipeline);
  auto& refused = h.Send(testing::Request("GET", "/users/1"));
  REQUIRE(refused.status() == 401);
  REQUIRE(refused.info().flag == "missing_api_key");
  REQUIRE(refused.headers().Get("x-api-key-checked").has_value());

  auto& passed = h.Send(testing::Request("GET", "/users/1", {{"x-api-key", "k"}}));
  REQUIRE(passed.status() == 503);  // no upstream behind the cluster in this test
  REQUIRE(passed.headers().Get("x-api-key-checked").has_value());
}

TEST_CASE("unknown keys are refused after the lookup") {
  testing::PipelineHarness h(testing::SingleFilterPipeline(MakeKeyLookup()));
  auto& ex = h.Send(testing::Request("GET", "/", {{"x-api-key", "nope"}}));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());  // the lookup is still running
  h.Advance(absl::Milliseconds(20));
  REQUIRE(ex.status() == 403);
  REQUIRE(ex.info().flag == "unknown_api_key");
}

TEST_CASE("docs: a known key passes the lookup and a client leaving mid-lookup is harmless") {
  testing::PipelineHarness h(testing::SingleFilterPipeline(MakeKeyLookup()));
  auto& ok = h.Send(testing::Request("GET", "/", {{"x-api-key", "let-me-in"}}));
  auto& gone = h.Send(testing::Request("GET", "/", {{"x-api-key", "let-me-in"}}));
  gone.Disconnect();
  h.Advance(absl::Milliseconds(20));
  REQUIRE(ok.status() == 200);
  REQUIRE(gone.done());
  REQUIRE_FALSE(gone.responded());
  REQUIRE(gone.info().outcome == RequestOutcome::kClientGone);
}

TEST_CASE("docs: per-route quota config and a factory skipping routes without it") {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("search")
                       .Prefix("/search")
                       .Config("quota", std::make_shared<QuotaConfig>(60))
                       .Respond(200, "results")
                       .Build());
  routes.push_back(RouteBuilder("rest").Prefix("/").Respond(200, "rest").Build());
  auto router = Router::Build(std::move(routes));
  REQUIRE(router.ok());
  auto pipeline =
      PipelineBuilder{}
          .Routes(*router)
          .Add(MakeFilterFactory("quota",
                                 [](const Route& route) -> std::unique_ptr<Filter> {
                                   if (route.FilterConfig<QuotaConfig>("quota") == nullptr)
                                     return nullptr;
                                   return std::make_unique<QuotaFilter>();
                                 }))
          .Build();
  REQUIRE(pipeline.ok());
  testing::PipelineHarness h(*pipeline);
  REQUIRE(h.Send(testing::Request("GET", "/search?q=x")).headers().Get("x-ratelimit-limit") ==
          std::optional<std::string_view>("60"));
  REQUIRE_FALSE(h.Send(testing::Request("GET", "/other")).headers().Has("x-ratelimit-limit"));
}

}  // namespace
}  // namespace docs_examples
