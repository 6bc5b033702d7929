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
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

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

  auto config = gateway::LoadConfigFile(path);
  if (!config.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(config.status().message()).c_str());
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

  auto running = gateway::StartFromConfig(*config, registry);
  if (!running.ok()) {
    std::fprintf(stderr, "gatewayd: %s\n", std::string(running.status().message()).c_str());
    return 1;
  }
  for (size_t i = 0; i < config->demo_upstreams.size(); ++i) {
    std::printf("gatewayd: demo upstream %s (%s) on 127.0.0.1:%u\n",
                config->demo_upstreams[i].name.c_str(), config->demo_upstreams[i].service.c_str(),
                static_cast<unsigned>((*running)->demo_ports()[i]));
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
    auto next = gateway::LoadConfigFile(path);
    absl::Status status = next.ok() ? (*running)->Reload(*next, registry) : next.status();
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
  (*running)->Wait();
  return 0;
}
