// Test helpers for the filter-chain tests: a filter whose phases are scripted
// by the test and which records every call it gets, plus small builders for
// routers and pipelines.
#ifndef GATEWAY_TESTS_UNIT_CORE_SCRIPTED_FILTER_H_
#define GATEWAY_TESTS_UNIT_CORE_SCRIPTED_FILTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/filter.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"
#include "gateway/testing/harness.h"

namespace gateway::test {

// What OnDone was told, copied (RequestInfo holds views into the stream).
struct DoneRecord {
  int status = 0;
  std::string flag;
  std::string route_name;
  RequestOutcome outcome = RequestOutcome::kCompleted;
  uint64_t request_body_bytes = 0;
  uint64_t response_body_bytes = 0;
  absl::Duration duration;
};

// Everything the scripted filters of one test saw, in call order.
struct Recorder {
  std::vector<std::string> events;
  std::map<std::string, int> created;  // filters created, by name
  std::map<std::string, int> done;     // OnDone calls, by name
  std::map<std::string, DoneRecord> last_done;

  // Events of one kind, e.g. Phase("request_headers") -> {"a", "b"}.
  std::vector<std::string> Phase(std::string_view phase) const {
    std::vector<std::string> names;
    for (const std::string& e : events) {
      size_t colon = e.find(':');
      std::string_view rest = std::string_view(e).substr(colon + 1);
      if (rest.substr(0, rest.find(':')) == phase) names.push_back(e.substr(0, colon));
    }
    return names;
  }
  bool Saw(std::string_view event) const {
    for (const std::string& e : events) {
      if (e == event) return true;
    }
    return false;
  }
};

// The behaviour of one scripted filter; an empty function means kContinue.
struct Script {
  std::function<FilterStatus(FilterContext&)> request_headers;
  std::function<FilterStatus(FilterContext&, std::string_view, bool)> request_body;
  std::function<FilterStatus(FilterContext&)> response_headers;
  std::function<FilterStatus(FilterContext&, std::string_view, bool)> response_body;
};

class ScriptedFilter final : public Filter {
 public:
  ScriptedFilter(std::string name, Script script, std::shared_ptr<Recorder> recorder)
      : name_(std::move(name)), script_(std::move(script)), recorder_(std::move(recorder)) {}

  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    Record("request_headers");
    return script_.request_headers ? script_.request_headers(ctx) : FilterStatus::kContinue;
  }
  using Filter::OnRequestBody;  // do not hide the other form
  FilterStatus OnRequestBody(FilterContext& ctx, std::string_view chunk,
                             bool end_of_stream) override {
    Record("request_body", chunk, end_of_stream);
    return script_.request_body ? script_.request_body(ctx, chunk, end_of_stream)
                                : FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    Record("response_headers");
    return script_.response_headers ? script_.response_headers(ctx) : FilterStatus::kContinue;
  }
  using Filter::OnResponseBody;  // do not hide the other form
  FilterStatus OnResponseBody(FilterContext& ctx, std::string_view chunk,
                              bool end_of_stream) override {
    Record("response_body", chunk, end_of_stream);
    return script_.response_body ? script_.response_body(ctx, chunk, end_of_stream)
                                 : FilterStatus::kContinue;
  }
  void OnDone(const RequestInfo& info) override {
    recorder_->events.push_back(name_ + ":done");
    ++recorder_->done[name_];
    recorder_->last_done[name_] = DoneRecord{
        .status = info.status,
        .flag = std::string(info.flag),
        .route_name = std::string(info.route_name),
        .outcome = info.outcome,
        .request_body_bytes = info.request_body_bytes,
        .response_body_bytes = info.response_body_bytes,
        .duration = info.duration,
    };
  }

 private:
  void Record(std::string_view phase) {
    recorder_->events.push_back(name_ + ":" + std::string(phase));
  }
  void Record(std::string_view phase, std::string_view chunk, bool eos) {
    recorder_->events.push_back(name_ + ":" + std::string(phase) + ":" + std::string(chunk) +
                                (eos ? ":eos" : ""));
  }

  std::string name_;
  Script script_;
  std::shared_ptr<Recorder> recorder_;
};

// A factory of scripted filters named `name`, recording into `recorder`.
inline std::shared_ptr<const FilterFactory> Scripted(std::string name,
                                                     std::shared_ptr<Recorder> recorder,
                                                     Script script = {}) {
  return MakeFilterFactory(name, [name, recorder, script](const Route&) -> std::unique_ptr<Filter> {
    ++recorder->created[name];
    return std::make_unique<ScriptedFilter>(name, script, recorder);
  });
}

inline std::shared_ptr<const Router> BuildRouter(std::vector<RouteSpec> routes) {
  auto router = Router::Build(std::move(routes));
  INFO(router.status().ToString());
  REQUIRE(router.ok());
  return *std::move(router);
}

inline std::shared_ptr<const Pipeline> BuildPipeline(
    std::vector<RouteSpec> routes, std::vector<std::shared_ptr<const FilterFactory>> filters,
    PathPolicy paths = {}) {
  PipelineBuilder builder;
  builder.Routes(BuildRouter(std::move(routes))).Paths(paths);
  for (auto& f : filters) builder.Add(std::move(f));
  auto pipeline = builder.Build();
  INFO(pipeline.status().ToString());
  REQUIRE(pipeline.ok());
  return *std::move(pipeline);
}

// One catch-all route answering 200 "hello" directly.
inline std::vector<RouteSpec> HelloRoute() {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("hello").Prefix("/").Respond(200, "hello").Build());
  return routes;
}

inline std::shared_ptr<const Pipeline> HelloPipeline(
    std::vector<std::shared_ptr<const FilterFactory>> filters) {
  return BuildPipeline(HelloRoute(), std::move(filters));
}

// A header of the response, or "<absent>", for readable assertions.
inline std::string Header(const testing::Exchange& ex, std::string_view name) {
  auto v = ex.headers().Get(name);
  return v ? std::string(*v) : std::string("<absent>");
}

inline std::vector<std::string> Names(std::initializer_list<const char*> names) {
  return std::vector<std::string>(names.begin(), names.end());
}

}  // namespace gateway::test

#endif  // GATEWAY_TESTS_UNIT_CORE_SCRIPTED_FILTER_H_
