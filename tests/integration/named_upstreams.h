// Loopback HTTP servers that name themselves: each a one-worker `Runtime` on
// 127.0.0.1 at a free port answering every request with
//   {"instance":"<name>","path":"<path>"}
// so a test can tell which endpoint a balancer chose. `endpoint_ports()`
// maps the port a test's YAML gives each one to the port it got, for
// StartOverrides::endpoint_ports.
//
// Header-only because the integration glob compiles only *_test.cc files.
#ifndef GATEWAY_TESTS_INTEGRATION_NAMED_UPSTREAMS_H_
#define GATEWAY_TESTS_INTEGRATION_NAMED_UPSTREAMS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gateway/filter.h"
#include "gateway/http.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"
#include "gateway/runtime.h"

namespace gateway::itest {

class NamedUpstreams {
 public:
  struct Spec {
    std::string name;
    uint16_t config_port = 0;  // the port the test's YAML names
  };

  static absl::StatusOr<NamedUpstreams> Start(std::vector<Spec> specs) {
    NamedUpstreams out;
    for (Spec& spec : specs) {
      auto router = Router::Build({RouteBuilder("named").Respond(200, "").Build()});
      if (!router.ok()) return router.status();
      auto pipeline = PipelineBuilder{}
                          .Routes(*router)
                          .Add(MakeFilterFactory("named",
                                                 [name = spec.name](const Route&) {
                                                   return std::make_unique<NameFilter>(name);
                                                 }))
                          .Build();
      if (!pipeline.ok()) return pipeline.status();
      RuntimeOptions options;
      options.workers = 1;
      options.server.listeners.push_back({.address = "127.0.0.1", .port = 0});
      auto runtime = Runtime::Start(std::move(options), *pipeline);
      if (!runtime.ok()) return runtime.status();
      out.ports_[spec.config_port] = (*runtime)->ports().at(0);
      out.servers_.push_back(std::move(*runtime));
    }
    return out;
  }

  // Configured port -> bound port.
  const std::map<uint16_t, uint16_t>& endpoint_ports() const { return ports_; }

 private:
  class NameFilter final : public Filter {
   public:
    explicit NameFilter(std::string name) : name_(std::move(name)) {}
    FilterStatus OnRequestHeaders(FilterContext& ctx) override {
      LocalReply reply;
      reply.status = 200;
      reply.headers.Set("content-type", "application/json");
      reply.body = absl::StrCat("{\"instance\":\"", JsonEscape(name_), "\",\"path\":\"",
                                JsonEscape(ctx.request().path), "\"}\n");
      ctx.SendLocalReply(std::move(reply));
      return FilterStatus::kStop;
    }

   private:
    std::string name_;
  };

  std::map<uint16_t, uint16_t> ports_;
  std::vector<std::unique_ptr<Runtime>> servers_;
};

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_NAMED_UPSTREAMS_H_
