// gatewayd's assembly (StartFromConfig) on examples/gatewayd/quickstart.yaml,
// with every port replaced by a free one, and `gatewayd --check`.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <set>
#include <string>

#include "gateway/yaml_config.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

const std::string kSourceDir = GATEWAY_SOURCE_DIR;

std::optional<itest::HttpResponse> Fetch(uint16_t port, const std::string& target) {
  auto client = itest::TestClient::Connect(port);
  if (!client) return std::nullopt;
  if (!client->Send(itest::Get(target))) return std::nullopt;
  return client->ReadResponse(absl::Seconds(5));
}

TEST_CASE("quickstart.yaml: round robin over demo users, 404 for unknown services") {
  auto config = LoadConfigFile(kSourceDir + "/examples/gatewayd/quickstart.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
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

TEST_CASE("gatewayd --check names file, line and key of broken.yaml") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  const std::string broken = kSourceDir + "/examples/gatewayd/broken.yaml";
  std::string command = "timeout 10 " + binary + " --check " + broken + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  int status = pclose(pipe);
  INFO(output);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(output, Catch::Contains(broken + ":12: routes[0].clustr: unknown key"));

  command =
      "timeout 10 " + binary + " --check " + kSourceDir + "/examples/gatewayd/quickstart.yaml 2>&1";
  pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  output.clear();
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  status = pclose(pipe);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(output, Catch::Contains("config OK"));
}

}  // namespace
}  // namespace gateway
