// hash_policy in YAML: on routes and as a cluster default, and the errors a
// config that could never produce a key gets (file, line, key).
#include <catch2/catch.hpp>

#include <string>

#include "gateway/yaml_config.h"

namespace gateway {
namespace {

constexpr char kClusters[] = R"yaml(
clusters:
  - name: sticky
    lb: ring_hash
    hash_policy:
      - header: x-user-id
      - cookie: sid
        ttl: 1h
        path: /app
      - client_ip: true
    endpoints: [{address: 127.0.0.1, port: 9101}]
  - name: plain
    endpoints: [{address: 127.0.0.1, port: 9102}]
)yaml";

TEST_CASE("hash_policy parses on clusters and routes, in order") {
  std::string text = std::string(kClusters) + R"yaml(
routes:
  - name: users
    match: {template: "/users/{id}/**"}
    cluster: sticky
    hash_policy:
      - route_capture: id
      - query_parameter: user
      - cookie: session
  - name: default
    match: {prefix: /}
    cluster: sticky
)yaml";
  auto config = LoadConfigString(text, "t.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  const ClusterSpec& c = config->clusters[0];
  REQUIRE(c.hash_policy.size() == 3);
  CHECK(c.hash_policy[0].kind == HashPolicy::Kind::kHeader);
  CHECK(c.hash_policy[0].name == "x-user-id");
  CHECK(c.hash_policy[1].kind == HashPolicy::Kind::kCookie);
  CHECK(c.hash_policy[1].name == "sid");
  CHECK(c.hash_policy[1].cookie_ttl == absl::Hours(1));
  CHECK(c.hash_policy[1].cookie_path == "/app");
  CHECK(c.hash_policy[2].kind == HashPolicy::Kind::kClientIp);
  CHECK(config->clusters[1].hash_policy.empty());

  const RouteSpec& r = config->routes[0];
  REQUIRE(r.hash_policy.size() == 3);
  CHECK(r.hash_policy[0].kind == HashPolicy::Kind::kRouteCapture);
  CHECK(r.hash_policy[0].name == "id");
  CHECK(r.hash_policy[1].kind == HashPolicy::Kind::kQueryParameter);
  CHECK(r.hash_policy[1].name == "user");
  CHECK(r.hash_policy[2].kind == HashPolicy::Kind::kCookie);
  CHECK(!r.hash_policy[2].cookie_ttl.has_value());
  CHECK(config->routes[1].hash_policy.empty());
  CHECK(BuildPipeline(*config, FilterRegistry::WithBuiltins(), nullptr).ok());
}

TEST_CASE("a hash_policy that can never produce a key is an error naming file, line and key") {
  struct Case {
    std::string text;
    const char* expected;
  };
  const std::string route_head =
      std::string(kClusters) + "routes:\n  - name: r\n    match: {prefix: /r}\n";  // line 14-16
  const Case cases[] = {
      // A name is needed.
      {route_head + "    cluster: sticky\n    hash_policy:\n      - header: \"\"\n",
       "t.yaml:19: routes[0].hash_policy[0].header: the name must not be empty"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - query_parameter: \"\"\n",
       "t.yaml:19: routes[0].hash_policy[0].query_parameter: the name must not be empty"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - cookie: \"a b\"\n",
       "t.yaml:19: routes[0].hash_policy[0].cookie: 'a b' is not a valid cookie name"},
      // A cookie ttl without a cookie name; a path without a ttl.
      {route_head + "    cluster: sticky\n    hash_policy:\n      - ttl: 1h\n",
       "t.yaml:19: routes[0].hash_policy[0]: expected one of client_ip, header, cookie"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - {header: x-a, ttl: 1h}\n",
       "t.yaml:19: routes[0].hash_policy[0].ttl: only a cookie policy has a ttl"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - {cookie: sid, path: /}\n",
       "t.yaml:19: routes[0].hash_policy[0].path: only a cookie the gateway sets"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - {cookie: sid, ttl: 1500ms}\n",
       "t.yaml:19: routes[0].hash_policy[0].ttl: must be whole seconds"},
      {route_head +
           "    cluster: sticky\n    hash_policy:\n      - {cookie: sid, ttl: 1h, path: x}\n",
       "t.yaml:19: routes[0].hash_policy[0].path: 'x' must start with '/'"},
      // One kind per entry; client_ip: false means nothing.
      {route_head + "    cluster: sticky\n    hash_policy:\n      - {header: x-a, cookie: b}\n",
       "t.yaml:19: routes[0].hash_policy[0].cookie: one policy per entry"},
      {route_head + "    cluster: sticky\n    hash_policy:\n      - client_ip: false\n",
       "t.yaml:19: routes[0].hash_policy[0].client_ip: only \"true\" is meaningful"},
      {route_head + "    cluster: sticky\n    hash_policy: {header: x-a}\n",
       "t.yaml:18: routes[0].hash_policy: expected a list of hash policies"},
      // A capture the route's path does not define.
      {std::string(kClusters) +
           "routes:\n  - name: r\n    match: {template: \"/u/{id}\"}\n    cluster: sticky\n"
           "    hash_policy:\n      - header: x-a\n      - route_capture: user\n",
       "t.yaml:20: routes[0].hash_policy[1].route_capture: the path has no capture 'user'"},
      // A route capture as a cluster default: routes differ.
      {"clusters:\n  - name: c\n    lb: maglev\n    hash_policy:\n      - route_capture: id\n"
       "    endpoints: [{address: 127.0.0.1, port: 1}]\n",
       "t.yaml:5: clusters[0].hash_policy[0].route_capture: captures differ between routes"},
      // No key would ever be used: the balancer does not hash.
      {"clusters:\n  - name: c\n    lb: round_robin\n    hash_policy: [{header: x-a}]\n"
       "    endpoints: [{address: 127.0.0.1, port: 1}]\n",
       "t.yaml:4: clusters[0].hash_policy: needs an lb policy that hashes"},
      {route_head + "    cluster: plain\n    hash_policy: [{header: x-a}]\n",
       "t.yaml:18: routes[0].hash_policy: cluster \"plain\" does not balance by hash"},
      {"routes:\n  - name: r\n    direct_response: {}\n    hash_policy: [{header: x-a}]\n",
       "t.yaml:4: routes[0].hash_policy: only a cluster route balances"},
  };
  for (const Case& c : cases) {
    auto config = LoadConfigString(c.text, "t.yaml");
    INFO(c.text);
    REQUIRE(!config.ok());
    CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(config.status().message()), Catch::StartsWith(c.expected));
  }
}

}  // namespace
}  // namespace gateway
