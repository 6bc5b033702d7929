#include "demo_upstreams.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/config_fields.h"
#include "gateway/filter.h"
#include "gateway/http.h"
#include "gateway/pipeline.h"
#include "gateway/router.h"

namespace gatewayd {
namespace {

using gateway::ConfigNode;
namespace config = gateway::config;

// Answers every request with {"service":..,"instance":..,"path":..}.
class DemoFilter final : public gateway::Filter {
 public:
  explicit DemoFilter(const DemoUpstream* spec) : spec_(spec) {}
  gateway::FilterStatus OnRequestHeaders(gateway::FilterContext& ctx) override {
    gateway::LocalReply reply;
    reply.status = 200;
    reply.headers.Set("content-type", "application/json");
    reply.body = absl::StrCat("{\"service\":\"", gateway::JsonEscape(spec_->service),
                              "\",\"instance\":\"", gateway::JsonEscape(spec_->name),
                              "\",\"path\":\"", gateway::JsonEscape(ctx.request().path), "\"}\n");
    ctx.SendLocalReply(std::move(reply));
    return gateway::FilterStatus::kStop;
  }

 private:
  const DemoUpstream* spec_;
};

const config::FieldTable<DemoUpstream> kDemoUpstream{
    config::Field("name", &DemoUpstream::name, config::String{}).Required(),
    config::Field("port", &DemoUpstream::port, config::Int{.min = 1, .max = 65535}).Required(),
    config::Field("service", &DemoUpstream::service, config::String{}),
};

absl::Status ReadDemoUpstream(const ConfigNode& n, DemoUpstream* d) {
  if (auto s = kDemoUpstream.Read(n, d); !s.ok()) return s;
  if (n.Find("service") == nullptr) d->service = d->name;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<DemoUpstream>> ParseDemoUpstreams(const gateway::GatewayConfig& config) {
  std::vector<DemoUpstream> out;
  if (config.sections.find(kDemoUpstreamsSection) == config.sections.end()) return out;
  const ConfigNode& section = config.section(kDemoUpstreamsSection);
  if (auto s = config::List{ReadDemoUpstream}(section, &out); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::unique_ptr<DemoUpstreams>> DemoUpstreams::Start(std::vector<DemoUpstream> specs,
                                                                    bool ephemeral_ports) {
  std::unique_ptr<DemoUpstreams> out(new DemoUpstreams());
  out->specs_ = std::move(specs);
  for (const DemoUpstream& spec : out->specs_) {
    const DemoUpstream* d = &spec;
    auto router = gateway::Router::Build({gateway::RouteBuilder("demo").Respond(200, "").Build()});
    if (!router.ok()) return router.status();
    auto pipeline =
        gateway::PipelineBuilder{}
            .Routes(*router)
            .Add(gateway::MakeFilterFactory(
                "demo", [d](const gateway::Route&) { return std::make_unique<DemoFilter>(d); }))
            .Build();
    if (!pipeline.ok()) return pipeline.status();
    gateway::RuntimeOptions options;
    options.workers = 1;
    options.server.listeners.push_back(
        {.address = "127.0.0.1", .port = static_cast<uint16_t>(ephemeral_ports ? 0 : d->port)});
    auto runtime = gateway::Runtime::Start(std::move(options), *pipeline);
    if (!runtime.ok()) {
      return absl::Status(runtime.status().code(), absl::StrCat("demo upstream ", d->name, ": ",
                                                                runtime.status().message()));
    }
    out->servers_.push_back(std::move(*runtime));
  }
  return out;
}

DemoUpstreams::~DemoUpstreams() = default;

std::vector<uint16_t> DemoUpstreams::ports() const {
  std::vector<uint16_t> out;
  for (const auto& s : servers_) out.push_back(s->ports().empty() ? 0 : s->ports()[0]);
  return out;
}

std::map<uint16_t, uint16_t> DemoUpstreams::port_map() const {
  std::map<uint16_t, uint16_t> out;
  std::vector<uint16_t> bound = ports();
  for (size_t i = 0; i < specs_.size(); ++i) {
    if (bound[i] != specs_[i].port) out[specs_[i].port] = bound[i];
  }
  return out;
}

void DemoUpstreams::Drain(absl::Duration deadline) {
  for (auto& s : servers_) s->Drain(deadline);
}

void DemoUpstreams::Wait() {
  for (auto& s : servers_) s->Wait();
}

}  // namespace gatewayd
