// gatewayd: a standalone gateway driven by a YAML file (docs/config.md).
//
//   gatewayd [--check] CONFIG
//
// --check validates CONFIG and exits (0 and "config OK", or 1 and the error).
// Otherwise serves until SIGINT/SIGTERM, then drains for up to
// `server.drain_timeout` (5 seconds by default) and exits.
// SIGHUP reloads CONFIG: clusters, routes, filters and proxy options change for
// new requests; listeners, server options, workers and demo upstreams do not.
// A config that fails to load is reported and the running one kept.
//
// `demo_upstreams:` is gatewayd's own section (demo_upstreams.h), claimed
// from the library's loader through LoadOptions::sections.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "demo_upstreams.h"
#include "gateway/yaml_config.h"

namespace {

int Usage() {
  std::fprintf(stderr, "usage: gatewayd [--check] CONFIG\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  bool check = false;
  std::string path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--check") == 0) {
      check = true;
    } else if (argv[i][0] == '-' || !path.empty()) {
      return Usage();
    } else {
      path = argv[i];
    }
  }
  if (path.empty()) return Usage();

  const gateway::LoadOptions load_options{.sections = {gatewayd::kDemoUpstreamsSection}};
  auto config = gateway::LoadConfigFile(path, load_options);
  if (!config.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  auto demo_specs = gatewayd::ParseDemoUpstreams(*config);
  if (!demo_specs.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(demo_specs.status().message()).c_str());
    return 1;
  }
  gateway::FilterRegistry registry = gateway::FilterRegistry::WithBuiltins();
  if (check) {
    // Also resolve filter names and compile the router, without sockets.
    auto pipeline = gateway::BuildPipeline(*config, registry, nullptr);
    if (!pipeline.ok()) {
      std::fprintf(stderr, "gatewayd: %s\n", std::string(pipeline.status().message()).c_str());
      return 1;
    }
    std::printf("config OK\n");
    return 0;
  }

  // Block the stop signals before any worker starts so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // Before the gateway, so its first requests and health checks find them.
  auto demos = gatewayd::DemoUpstreams::Start(*std::move(demo_specs), /*ephemeral_ports=*/false);
  if (!demos.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(demos.status().message()).c_str());
    return 1;
  }
  auto running =
      gateway::StartFromConfig(*config, registry, {.endpoint_ports = (*demos)->port_map()});
  if (!running.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(running.status().message()).c_str());
    return 1;
  }
  const std::vector<gatewayd::DemoUpstream>& specs = (*demos)->specs();
  for (size_t i = 0; i < specs.size(); ++i) {
    std::printf("gatewayd: demo upstream %s (%s) on 127.0.0.1:%u\n", specs[i].name.c_str(),
                specs[i].service.c_str(), static_cast<unsigned>((*demos)->ports()[i]));
  }
  auto ports = (*running)->ports();
  for (size_t i = 0; i < ports.size(); ++i) {
    std::printf("gatewayd: listening on %s:%u (%d workers)\n",
                config->server.listeners[i].address.c_str(), static_cast<unsigned>(ports[i]),
                (*running)->runtime().workers());
  }
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&signals, &sig) == 0 && sig == SIGHUP) {
    // The demo upstreams keep running as started; the new file's section is
    // still checked.
    auto next = gateway::LoadConfigFile(path, load_options);
    absl::Status status = next.ok() ? gatewayd::ParseDemoUpstreams(*next).status() : next.status();
    if (status.ok()) status = (*running)->Reload(*next, registry);
    if (status.ok()) {
      std::printf("gatewayd: reloaded %s\n", path.c_str());
    } else {
      std::fprintf(stderr, "gatewayd: reload failed, keeping the running config: %s\n",
                   std::string(status.message()).c_str());
    }
    std::fflush(stdout);
  }
  std::printf("gatewayd: signal %d, draining\n", sig);
  std::fflush(stdout);
  // The drain deadline of the config the process started with: a reload does
  // not change server options.
  (*running)->Drain(config->drain_timeout);
  (*demos)->Drain(config->drain_timeout);
  (*running)->Wait();
  (*demos)->Wait();
  // The gateway first, so nothing is sent to a demo upstream that is gone.
  running->reset();
  demos->reset();
  return 0;
}
