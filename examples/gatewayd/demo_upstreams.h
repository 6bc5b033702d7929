// gatewayd's `demo_upstreams:` section (docs/config.md): in-process HTTP
// servers answering every request with
//   {"service":"<service>","instance":"<name>","path":"<path>"}
// so that an example config runs with nothing else installed. They belong to
// this program, not to the library: gatewayd claims the section through
// LoadOptions::sections and points the gateway at the servers' ports through
// StartOverrides::endpoint_ports.
#ifndef GATEWAYD_DEMO_UPSTREAMS_H_
#define GATEWAYD_DEMO_UPSTREAMS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/runtime.h"
#include "gateway/yaml_config.h"

namespace gatewayd {

// The top-level key gatewayd claims; pass it in LoadOptions::sections.
inline constexpr char kDemoUpstreamsSection[] = "demo_upstreams";

struct DemoUpstream {
  std::string name;
  uint16_t port = 0;
  std::string service;  // defaults to `name`
};

// The entries of `config`'s demo_upstreams section, empty if the file has
// none. Errors name file, line and key ("demo_upstreams[1].port: ...");
// unknown keys are errors.
absl::StatusOr<std::vector<DemoUpstream>> ParseDemoUpstreams(const gateway::GatewayConfig& config);

// Running demo servers, each a one-worker Runtime on 127.0.0.1.
class DemoUpstreams {
 public:
  // Binds each at its configured port, or at a free one if `ephemeral_ports`.
  static absl::StatusOr<std::unique_ptr<DemoUpstreams>> Start(std::vector<DemoUpstream> specs,
                                                              bool ephemeral_ports);
  ~DemoUpstreams();

  const std::vector<DemoUpstream>& specs() const { return specs_; }
  // Bound port of each server, in config order.
  std::vector<uint16_t> ports() const;
  // Configured port -> bound port where they differ, for
  // StartOverrides::endpoint_ports.
  std::map<uint16_t, uint16_t> port_map() const;
  void Drain(absl::Duration deadline);
  void Wait();

 private:
  DemoUpstreams() = default;

  std::vector<DemoUpstream> specs_;  // never resized after Start: filters point into it
  std::vector<std::unique_ptr<gateway::Runtime>> servers_;
};

}  // namespace gatewayd

#endif  // GATEWAYD_DEMO_UPSTREAMS_H_
