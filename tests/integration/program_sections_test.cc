// The embedding program's seams of the YAML loader, end to end: a top-level
// section the program claims (LoadOptions::sections) and reads itself to
// start its own upstreams on free ports, and StartOverrides::endpoint_ports
// pointing the configured clusters at them, at start and after Reload. Real
// loopback traffic through StartFromConfig.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/config_fields.h"
#include "gateway/yaml_config.h"
#include "integration/named_upstreams.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

// The program's section: the upstreams it runs itself.
struct Backend {
  std::string name;
  int64_t port = 0;
};

absl::Status ReadBackends(const ConfigNode& section, std::vector<Backend>* out) {
  static const config::FieldTable<Backend> kBackend{
      config::Field("name", &Backend::name, config::String{}).Required(),
      config::Field("port", &Backend::port, config::Int{.min = 1, .max = 65535}).Required(),
  };
  return config::List{kBackend.reader()}(section, out);
}

constexpr char kConfig[] = R"yaml(
listeners: [{address: 127.0.0.1, port: 18095}]
backends:
  - {name: b1, port: 19501}
  - {name: b2, port: 19502}
clusters:
  - {name: one, endpoints: [{address: 127.0.0.1, port: 19501}]}
  - {name: two, endpoints: [{address: localhost, port: 19502}]}
routes:
  - {match: {prefix: /a}, cluster: one}
  - {match: {prefix: /b}, cluster: two}
)yaml";

std::string Instance(uint16_t port, const std::string& path) {
  auto client = itest::TestClient::Connect(port);
  REQUIRE(client != nullptr);
  REQUIRE(client->Send(itest::Get(path)));
  auto r = client->ReadResponse(absl::Seconds(5));
  REQUIRE(r.has_value());
  INFO(r->body);
  REQUIRE(r->status == 200);
  const std::string marker = "\"instance\":\"";
  size_t at = r->body.find(marker);
  REQUIRE(at != std::string::npos);
  at += marker.size();
  return r->body.substr(at, r->body.find('"', at) - at);
}

// A cluster on `localhost` has no hosts until its DNS lookup answers, which
// a new cluster manager (at start and at every reload) starts on its loop: the
// first request may come first and get 503 no_healthy_upstream. Waits (at
// most 5 s) until the route answers, then asks which instance it reached.
std::string InstanceOnceResolved(uint16_t port, const std::string& path) {
  auto deadline = itest::DeadlineAfter(absl::Seconds(5));
  while (itest::MillisLeft(deadline) > 0) {
    auto client = itest::TestClient::Connect(port);
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(itest::Get(path)));
    auto r = client->ReadResponse(absl::Seconds(5));
    REQUIRE(r.has_value());
    if (r->status != 503 || r->body.find("no_healthy_upstream") == std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return Instance(port, path);
}

TEST_CASE(
    "a program's own section starts its upstreams, and endpoint_ports points clusters at them") {
  const LoadOptions options{.sections = {"backends"}};
  auto config = LoadConfigString(kConfig, "program.yaml", options);
  INFO(config.status().message());
  REQUIRE(config.ok());
  std::vector<Backend> backends;
  REQUIRE(ReadBackends(config->section("backends"), &backends).ok());
  REQUIRE(backends.size() == 2);

  std::vector<itest::NamedUpstreams::Spec> specs;
  for (const Backend& b : backends) specs.push_back({b.name, static_cast<uint16_t>(b.port)});
  auto upstreams = itest::NamedUpstreams::Start(std::move(specs));
  REQUIRE(upstreams.ok());
  REQUIRE(upstreams->endpoint_ports().size() == 2);
  auto running = StartFromConfig(
      *config, FilterRegistry::WithBuiltins(),
      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = upstreams->endpoint_ports()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  const uint16_t port = (*running)->ports().at(0);

  CHECK(Instance(port, "/a") == "b1");              // 127.0.0.1:19501 -> b1's port
  CHECK(InstanceOnceResolved(port, "/b") == "b2");  // localhost:19502 -> b2's port

  // A reload keeps the mapping: the routes swap clusters, the ports still follow.
  std::string swapped = kConfig;
  swapped.replace(swapped.find("cluster: one"), 12, "cluster: tmp");
  swapped.replace(swapped.find("cluster: two"), 12, "cluster: one");
  swapped.replace(swapped.find("cluster: tmp"), 12, "cluster: two");
  auto next = LoadConfigString(swapped, "program.yaml", options);
  REQUIRE(next.ok());
  REQUIRE((*running)->Reload(*next, FilterRegistry::WithBuiltins()).ok());
  CHECK(InstanceOnceResolved(port, "/a") == "b2");
  CHECK(Instance(port, "/b") == "b1");

  (*running)->Drain(absl::Seconds(1));
  (*running)->Wait();
}

TEST_CASE("a bad value in a program's section is reported with file, line and key") {
  std::string text = kConfig;
  text.replace(text.find("port: 19502}"), 12, "port: many}");
  auto config = LoadConfigString(text, "program.yaml", {.sections = {"backends"}});
  REQUIRE(config.ok());
  std::vector<Backend> backends;
  absl::Status s = ReadBackends(config->section("backends"), &backends);
  INFO(s.message());
  CHECK(s.message().find("program.yaml:5: backends[1].port: ") == 0);
  // Without the claim the whole section is an unknown key at its line.
  auto unclaimed = LoadConfigString(kConfig, "program.yaml");
  REQUIRE_FALSE(unclaimed.ok());
  INFO(unclaimed.status().message());
  CHECK(unclaimed.status().message().find("program.yaml:3: backends: unknown key") == 0);
}

}  // namespace
}  // namespace gateway
