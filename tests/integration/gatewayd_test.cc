// The example configs as gatewayd runs them: examples/gatewayd/quickstart.yaml,
// resilience.yaml and sticky.yaml through gatewayd's demo upstreams and
// StartFromConfig, with every port replaced by a free one (the gateway's
// endpoints follow the demo upstreams through StartOverrides::endpoint_ports);
// the gatewayd binary on quickstart.yaml; `gatewayd --check` on the example
// configs and on a bad demo_upstreams section.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gateway/yaml_config.h"
#include "integration/fault_upstream.h"
#include "integration/gatewayd_examples.h"
#include "integration/gatewayd_process.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

const std::string kSourceDir = GATEWAY_SOURCE_DIR;

using itest::LoadExample;
using itest::StartDemos;

std::optional<itest::HttpResponse> Fetch(uint16_t port, const std::string& target,
                                         std::vector<std::string> extra = {}) {
  auto client = itest::TestClient::Connect(port);
  if (!client) return std::nullopt;
  if (!client->Send(itest::Get(target, std::move(extra)))) return std::nullopt;
  return client->ReadResponse(absl::Seconds(5));
}

TEST_CASE("request_id gives each request a fresh 128-bit hex id and keeps one the client sent") {
  auto config = LoadExample("quickstart.yaml");
  REQUIRE(config.ok());
  auto demos = StartDemos(*config);
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = demos->port_map()});
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = Fetch(port, "/api/users/1");
    REQUIRE(r.has_value());
    std::optional<std::string> id = r->Header("x-request-id");
    REQUIRE(id.has_value());
    CHECK(id->size() == 32);
    CHECK(id->find_first_not_of("0123456789abcdef") == std::string::npos);
    ids.insert(*id);
  }
  CHECK(ids.size() == 3);

  auto client = itest::TestClient::Connect(port);
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(itest::Get("/api/users/1", {"X-Request-Id: from-the-client-0123456789"})));
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  CHECK(r->Header("x-request-id") == std::optional<std::string>("from-the-client-0123456789"));
}

TEST_CASE("a demo upstream without a service answers with its own name as the service") {
  auto config = LoadConfigString(
      "demo_upstreams: [{name: solo, port: 19611}]\n"
      "clusters: [{name: c, endpoints: [{address: 127.0.0.1, port: 19611}]}]\n"
      "routes: [{match: {prefix: /}, cluster: c}]\n",
      "demo.yaml", {.sections = {gatewayd::kDemoUpstreamsSection}});
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto demos = StartDemos(*config);
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = demos->port_map()});
  REQUIRE(running.ok());
  auto r = Fetch((*running)->ports().at(0), "/x");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->body == "{\"service\":\"solo\",\"instance\":\"solo\",\"path\":\"/x\"}\n");
  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("quickstart.yaml: round robin over demo users, 404 for unknown services") {
  auto config = LoadExample("quickstart.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto demos = StartDemos(*config);
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = demos->port_map()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);
  REQUIRE(port != 0);

  std::vector<std::string> instances;
  for (int i = 0; i < 4; ++i) {
    auto r = Fetch(port, "/api/users/1");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK_THAT(r->body, Catch::Contains("\"service\":\"users\""));
    CHECK_THAT(r->body, Catch::Contains("\"path\":\"/1\""));
    CHECK(r->Header("x-request-id").has_value());
    instances.push_back(r->body.find("users-1") != std::string::npos ? "users-1" : "users-2");
  }
  // Strict alternation on one worker.
  CHECK(instances[0] != instances[1]);
  CHECK(instances[1] != instances[2]);
  CHECK(instances[2] != instances[3]);

  auto orders = Fetch(port, "/api/orders/7");
  REQUIRE(orders.has_value());
  CHECK(orders->status == 200);
  CHECK_THAT(orders->body, Catch::Contains("\"instance\":\"orders-1\""));

  auto nope = Fetch(port, "/api/nope/1");
  REQUIRE(nope.has_value());
  CHECK(nope->status == 404);
  CHECK(nope->Header("content-type") == std::optional<std::string>("application/json"));

  auto health = Fetch(port, "/healthz");
  REQUIRE(health.has_value());
  CHECK(health->status == 200);

  // Reload: /healthz changes, a broken config changes nothing.
  GatewayConfig next = *config;
  for (RouteSpec& r : next.routes) {
    if (r.name == "health") r.direct_response->body = "reloaded\n";
  }
  REQUIRE((*running)->Reload(next, FilterRegistry::WithBuiltins()).ok());
  health = Fetch(port, "/healthz");
  REQUIRE(health.has_value());
  CHECK(health->body == "reloaded\n");
  next.filters.push_back("no_such_filter");
  CHECK(!(*running)->Reload(next, FilterRegistry::WithBuiltins()).ok());
  auto users = Fetch(port, "/api/users/2");
  REQUIRE(users.has_value());
  CHECK(users->status == 200);

  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("sticky.yaml: repeated requests from one client always name the same instance") {
  auto config = LoadExample("sticky.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto demos = StartDemos(*config);
  CHECK(config->workers == 2);
  // The file's own worker count; only the ports are replaced by free ones.
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .endpoint_ports = demos->port_map()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  REQUIRE((*running)->runtime().workers() == 2);
  uint16_t port = (*running)->ports().at(0);

  auto instance = [&](const std::vector<std::string>& extra) {
    auto r = Fetch(port, "/api/users/1", extra);
    REQUIRE(r.has_value());
    REQUIRE(r->status == 200);
    CHECK_THAT(r->body, Catch::Contains("\"service\":\"users\""));
    size_t at = r->body.find("\"instance\":\"");
    REQUIRE(at != std::string::npos);
    return r->body.substr(at + 12, r->body.find('"', at + 12) - at - 12);
  };
  // A new connection per request, as repeated curl runs make.
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) seen.insert(instance({}));
  INFO("instances: " << seen.size());
  CHECK(seen.size() == 1);
  // The x-user-id header comes first in the cluster's hash_policy: users spread.
  std::set<std::string> users;
  for (int u = 0; u < 20; ++u) {
    std::string first = instance({"X-User-Id: user-" + std::to_string(u)});
    CHECK(instance({"X-User-Id: user-" + std::to_string(u)}) == first);
    users.insert(first);
  }
  CHECK(users.size() > 1);
  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

// Runs `gatewayd --check <config>`: its exit status (-1 if it did not exit)
// and, in `output`, what it printed on stdout and stderr.
int RunCheck(const std::string& binary, const std::string& config, std::string* output) {
  std::string command = "timeout 10 " + binary + " --check " + config + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  output->clear();
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output->append(buf, n);
  int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_CASE("gatewayd --check names file, line and key of broken.yaml") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  const std::string broken = kSourceDir + "/examples/gatewayd/broken.yaml";
  std::string output;
  CHECK(RunCheck(binary, broken, &output) == 1);
  INFO(output);
  CHECK_THAT(output, Catch::Contains(broken + ":12: routes[0].clustr: unknown key"));
}

TEST_CASE("gatewayd --check accepts every example config") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  for (const char* name : {"quickstart.yaml", "rate_limit.yaml", "redis_rate_limit.yaml",
                           "resilience.yaml", "sticky.yaml"}) {
    std::string output;
    int status = RunCheck(binary, kSourceDir + "/examples/gatewayd/" + name, &output);
    INFO(name << ": " << output);
    CHECK(status == 0);
    CHECK_THAT(output, Catch::Contains("config OK"));
  }
}

// Distinct free loopback ports.
std::vector<uint16_t> FreePorts(size_t n) {
  std::set<uint16_t> ports;
  while (ports.size() < n) ports.insert(itest::FreeLoopbackPort());
  return {ports.begin(), ports.end()};
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("gatewayd runs quickstart.yaml: /api/users is answered in turn by its demo upstreams") {
  // The example file with its listener at LISTEN and the demo ports free ones.
  const std::vector<uint16_t> ports = FreePorts(3);
  const std::string yaml =
      absl::StrReplaceAll(ReadFile(kSourceDir + "/examples/gatewayd/quickstart.yaml"),
                          {{"port: 8080", "port: LISTEN"},
                           {"9101", absl::StrCat(ports[0])},
                           {"9102", absl::StrCat(ports[1])},
                           {"9103", absl::StrCat(ports[2])}});
  REQUIRE(yaml.find("LISTEN") != std::string::npos);
  std::string error;
  auto gatewayd = itest::GatewaydProcess::Start(yaml, &error);
  if (gatewayd == nullptr && error.rfind("gatewayd is not built", 0) == 0) {
    WARN(error);
    return;
  }
  INFO(error);
  REQUIRE(gatewayd != nullptr);
  INFO(gatewayd->Log());
  CHECK(gatewayd->WaitForLog(
      absl::StrCat("gatewayd: demo upstream users-2 (users) on 127.0.0.1:", ports[1])));

  std::set<std::string> instances;
  for (int i = 0; i < 4; ++i) {
    auto r = Fetch(gatewayd->port(), "/api/users/1");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK_THAT(r->body, Catch::Contains("\"service\":\"users\""));
    CHECK_THAT(r->body, Catch::Contains("\"path\":\"/1\""));
    instances.insert(r->body.find("users-1") != std::string::npos ? "users-1" : "users-2");
  }
  CHECK(instances.size() == 2);
  auto orders = Fetch(gatewayd->port(), "/api/orders/7");
  REQUIRE(orders.has_value());
  CHECK(orders->body == "{\"service\":\"orders\",\"instance\":\"orders-1\",\"path\":\"/7\"}\n");

  // A reload whose demo_upstreams section is broken is refused like any
  // other bad config, naming the line and key; the running one stays.
  std::string broken = yaml;
  broken.replace(broken.find("service: orders}"), 16, "servce: orders}");
  gatewayd->Reload(broken);
  CHECK(gatewayd->WaitForLog("gatewayd: reload failed, keeping the running config: "));
  CHECK_THAT(gatewayd->Log(), Catch::Contains(":17: demo_upstreams[2].servce: unknown key"));
  orders = Fetch(gatewayd->port(), "/api/orders/7");
  REQUIRE(orders.has_value());
  CHECK(orders->status == 200);

  gatewayd->Signal(SIGTERM);
  CHECK(gatewayd->Exited(std::chrono::seconds(10)));
  CHECK(gatewayd->exit_code() == 0);
}

TEST_CASE("gatewayd --check names file, line and key of a bad demo_upstreams entry") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  char path[] = "/tmp/gatewayd_demo_check_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  auto check = [&](const std::string& yaml) {
    std::ofstream(path) << yaml;
    std::string output;
    CHECK(RunCheck(binary, path, &output) == 1);
    return output;
  };
  CHECK_THAT(check("workers: 1\ndemo_upstreams:\n  - {name: a, port: 9101}\n  - {name: b, port: "
                   "70000}\n"),
             Catch::Contains(std::string(path) + ":4: demo_upstreams[1].port: "));
  CHECK_THAT(check("demo_upstreams:\n  - {name: a, port: 9101, weight: 2}\n"),
             Catch::Contains(std::string(path) + ":2: demo_upstreams[0].weight: unknown key"));
  CHECK_THAT(check("demo_upstreams:\n  - {port: 9101}\n"),
             Catch::Contains(std::string(path) + ":2: demo_upstreams[0].name: missing"));
  CHECK_THAT(check("demo_upstream:\n  - {name: a, port: 9101}\n"),
             Catch::Contains(std::string(path) + ":1: demo_upstream: unknown key"));
  unlink(path);
}

// Sends what the process writes on stderr (fd 2) to a temporary file until
// destroyed, so a test can read the gateway's log lines.
class StderrCapture {
 public:
  StderrCapture() {
    char path[] = "/tmp/gatewayd_test_stderr_XXXXXX";
    fd_ = mkstemp(path);
    if (fd_ < 0) return;
    unlink(path);
    fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    if (fd_ < 0) return;
    fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  std::string Read() const {
    fflush(stderr);
    std::string out;
    char buf[512];
    ssize_t n;
    for (off_t at = 0; (n = pread(fd_, buf, sizeof(buf), at)) > 0; at += n) out.append(buf, n);
    return out;
  }

 private:
  int fd_ = -1;
  int saved_ = -1;
};

TEST_CASE("resilience.yaml: users are served, a dead cluster opens its breaker and falls back") {
  auto config = LoadExample("resilience.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto demos = StartDemos(*config);
  // Nothing may listen on the inventory endpoint, whatever runs on this machine.
  for (ClusterSpec& c : config->clusters) {
    if (c.name == "inventory") c.endpoints.at(0).port = itest::ClosedPort();
  }
  StderrCapture log;
  REQUIRE(log.ok());
  auto running =
      StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = demos->port_map()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);

  auto users = Fetch(port, "/api/users/1");
  REQUIRE(users.has_value());
  CHECK(users->status == 200);
  CHECK_THAT(users->body, Catch::Contains("\"service\":\"users\""));

  // Two connect failures per request (one retry): the third failure opens
  // the breaker; every answer is the configured fallback.
  for (int i = 0; i < 4; ++i) {
    auto r = Fetch(port, "/api/inventory/7");
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == "{\"items\":[],\"stale\":true}\n");
    CHECK(r->Header("x-fallback") == std::optional<std::string>("inventory"));
  }
  CHECK(itest::Eventually([&] {
    return log.Read().find("gatewayd: circuit breaker 'inventory': closed -> open") !=
           std::string::npos;
  }));
  INFO(log.Read());
  // Logged once, not once per refused request.
  std::string lines = log.Read();
  size_t first = lines.find("'inventory': closed -> open");
  CHECK(lines.find("'inventory': closed -> open", first + 1) == std::string::npos);

  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("StartFromConfig logs a route breaker's transitions once") {
  const char* text = R"yaml(
clusters:
  - name: dead
    endpoints: [{address: 127.0.0.1, port: 1}]
routes:
  - name: orders
    cluster: dead
    retry: {max_retries: 0}
    circuit_breaker: {type: consecutive, failure_threshold: 2, open_timeout: 1m}
)yaml";
  auto config = LoadConfigString(text, "route_breaker.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  config->clusters.at(0).endpoints.at(0).port = itest::ClosedPort();
  StderrCapture log;
  REQUIRE(log.ok());
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
  INFO(running.status().message());
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);

  // Two connect failures (502) open the route breaker; it refuses the third request (503).
  for (int status : {502, 502, 503}) {
    auto r = Fetch(port, "/x");
    REQUIRE(r.has_value());
    CHECK(r->status == status);
  }
  CHECK(itest::Eventually([&] {
    return log.Read().find("gatewayd: circuit breaker 'orders': closed -> open") !=
           std::string::npos;
  }));
  std::string lines = log.Read();
  INFO(lines);
  size_t first = lines.find("'orders': closed -> open");
  CHECK(lines.find("'orders': closed -> open", first + 1) == std::string::npos);

  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("a configuration reload starts a route breaker afresh, closed, and logs it again") {
  const char* text = R"yaml(
clusters:
  - name: dead
    endpoints: [{address: 127.0.0.1, port: 1}]
routes:
  - name: orders
    cluster: dead
    retry: {max_retries: 0}
    circuit_breaker: {type: consecutive, failure_threshold: 2, open_timeout: 1h}
)yaml";
  auto config = LoadConfigString(text, "route_breaker_reload.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  config->clusters.at(0).endpoints.at(0).port = itest::ClosedPort();
  StderrCapture log;
  REQUIRE(log.ok());
  // One worker: a reload is in effect for the next connection.
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
  INFO(running.status().message());
  REQUIRE(running.ok());
  uint16_t port = (*running)->ports().at(0);
  auto opens = [&] {
    const std::string lines = log.Read();
    size_t n = 0;
    for (size_t at = lines.find("'orders': closed -> open"); at != std::string::npos;
         at = lines.find("'orders': closed -> open", at + 1)) {
      ++n;
    }
    return n;
  };

  // Opened by two connect failures (502), it refuses the third request (503)
  // and keeps refusing: its open timeout is far beyond the test.
  for (int status : {502, 502, 503, 503}) {
    auto r = Fetch(port, "/x");
    REQUIRE(r.has_value());
    CHECK(r->status == status);
    // The response flag, in the JSON body of the gateway's own reply.
    CHECK(r->body.find(status == 503
                           ? "\"error\":\"circuit_open\""
                           : "\"error\":\"upstream_connect_failed\"") != std::string::npos);
  }
  CHECK(itest::Eventually([&] { return opens() == 1; }));

  // The same file again, as on SIGHUP: the new pipeline's breaker is closed.
  REQUIRE((*running)->Reload(*config, FilterRegistry::WithBuiltins()).ok());
  for (int status : {502, 502, 503}) {
    auto r = Fetch(port, "/x");
    REQUIRE(r.has_value());
    CHECK(r->status == status);
  }
  CHECK(itest::Eventually([&] { return opens() == 2; }));
  INFO(log.Read());
  CHECK(opens() == 2);

  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

}  // namespace
}  // namespace gateway
