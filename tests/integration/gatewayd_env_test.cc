// gatewayd with ${VAR} references in its config: values come from the
// process environment, and an unset variable stops `--check` with file, line
// and key.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "integration/fault_upstream.h"
#include "integration/gatewayd_process.h"
#include "integration/test_client.h"

namespace gateway::itest {
namespace {

// Block style: in a flow collection ({...}, [...]) a ${VAR} must be quoted.
constexpr char kEnvYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
workers: 1
clusters:
  - name: up
    endpoints:
      - address: ${GW_E2E_UPSTREAM_HOST:-127.0.0.1}
        port: ${GW_E2E_UPSTREAM_PORT}
routes:
  - name: all
    match: {prefix: /}
    cluster: up
    response_headers:
      add:
        x-env: ${GW_E2E_TAG}
)yaml";

TEST_CASE("gatewayd proxies to an upstream whose port comes from the environment") {
  FaultUpstream upstream;
  std::string error;
  auto p = GatewaydProcess::Start(
      kEnvYaml, &error,
      {absl::StrCat("GW_E2E_UPSTREAM_PORT=", upstream.port()), "GW_E2E_TAG=from-env"});
  INFO(error);
  REQUIRE(p != nullptr);
  auto client = TestClient::Connect(p->port());
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(Get("/env")));
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  CHECK(r->Header("x-fault-upstream") == std::optional<std::string>("fault"));
  CHECK(r->Header("x-env") == std::optional<std::string>("from-env"));
  CHECK(upstream.requests() == 1);
}

TEST_CASE("gatewayd --check reports an unset variable with file, line and key") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  char dir[] = "/tmp/gateway-env-check.XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string config = std::string(dir) + "/env.yaml";
  std::string yaml = kEnvYaml;
  yaml.replace(yaml.find("LISTEN"), 6, "0");
  std::ofstream(config) << yaml;
  // GW_E2E_TAG is set, the port is not: the error is about the port's line.
  std::string command = absl::StrCat("env -u GW_E2E_UPSTREAM_PORT GW_E2E_TAG=x timeout 10 ", binary,
                                     " --check ", config, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  int status = pclose(pipe);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  INFO(output);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK_THAT(output,
             Catch::Contains(config + ":8: clusters[0].endpoints[0].port: environment variable "
                                      "GW_E2E_UPSTREAM_PORT is not set"));
}

}  // namespace
}  // namespace gateway::itest
