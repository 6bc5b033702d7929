#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/config_fields.h"
#include "gateway/load_balancer.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

std::string Message(const absl::StatusOr<GatewayConfig>& c) {
  return c.ok() ? std::string("OK") : std::string(c.status().message());
}

TEST_CASE("every section parses") {
  const char* text = R"yaml(
listeners:
  - {address: 127.0.0.1, port: 8081, backlog: 64}
  - {address: "::1", port: 0}
workers: 3
server:
  max_connections: 500
  max_requests_per_connection: 7
  limits: {max_uri_bytes: 100, max_header_bytes: 2000, max_header_count: 20, max_body_bytes: 1000}
  timeouts: {header: 250ms, body_idle: 5s, keepalive_idle: 1m, request: 90s, send: "1m30s"}
proxy:
  trusted_proxies: [10.0.0.0/8, "::1/128"]
  forwarded_headers: false
  via: edge
filters: [request_id]
clusters:
  - name: users
    endpoints:
      - {address: 127.0.0.1, port: 9101, weight: 3}
      - {address: localhost, port: 9102}
    lb: {policy: least_request, panic_threshold_percent: 25, seed: 42}
    pool: {max_connections_per_host: 10, max_idle_per_host: 4, idle_timeout: 30s,
           connect_timeout: 2s, max_requests_per_connection: 100}
    dns_refresh: 1m
    health_check: {path: /ready, host: users.internal, expected_statuses: [200, "300-399"],
                   interval: 2s, unhealthy_interval: 10s, jitter: 100ms, timeout: 300ms,
                   healthy_threshold: 1, unhealthy_threshold: 5}
  - name: orders
    health_check: {type: tcp}
    lb: maglev
    endpoints: [{address: 127.0.0.1, port: 9103}]
routes:
  - name: api
    priority: 10
    match:
      hosts: [api.example.com]
      template: "/api/{service}/{rest=**}"
      methods: [GET, POST]
      headers:
        - {name: x-tenant, exact: acme}
        - {name: x-debug, present: true}
      query:
        - {name: v, prefix: "2"}
    cluster_from_capture: service
    rewrite: {template: "/{rest}"}
    timeout: 3s
    retry: {on_5xx: true, on_statuses: [409], max_retries: 2, backoff_base: 10ms, backoff_max: 100ms}
    upstream_timeouts: {response_headers: 1s, idle: 2s, per_try: 500ms, tunnel_idle: 30s}
    upgrades: [websocket, custom-proto]
    host_rewrite: endpoint
    request_headers: {add: {x-a: "1"}, set: {x-b: "2"}, remove: [x-c]}
    response_headers: {remove: [server]}
  - name: users
    match: {prefix: /users}
    cluster: users
    rewrite: {prefix: /v1/users}
    host_rewrite: {literal: users.internal}
  - name: health
    match: {path: /healthz}
    direct_response: {status: 204, content_type: text/plain}
  - name: old
    match: {regex: "/old/(?P<x>.*)"}
    redirect: {status: 308, path: /new, strip_query: true}
  - name: re
    match: {prefix: /re}
    direct_response: {body: hi}
    rewrite: {regex: "^/re/(.*)$", replacement: "/\\1"}
)yaml";
  auto c = LoadConfigString(text, "all.yaml");
  INFO(Message(c));
  REQUIRE(c.ok());
  REQUIRE(c->server.listeners.size() == 2);
  CHECK(c->server.listeners[0].address == "127.0.0.1");
  CHECK(c->server.listeners[0].port == 8081);
  CHECK(c->server.listeners[0].backlog == 64);
  CHECK(c->server.listeners[1].address == "::1");
  CHECK(c->workers == 3);
  CHECK(c->server.max_connections == 500);
  CHECK(c->server.max_requests_per_connection == 7);
  CHECK(c->server.limits.max_uri_bytes == 100);
  CHECK(c->server.limits.max_header_count == 20);
  CHECK(c->server.limits.max_body_bytes == 1000);
  CHECK(c->server.timeouts.header == absl::Milliseconds(250));
  CHECK(c->server.timeouts.body_idle == absl::Seconds(5));
  CHECK(c->server.timeouts.keepalive_idle == absl::Minutes(1));
  CHECK(c->server.timeouts.send == absl::Seconds(90));
  CHECK(c->proxy.trusted_proxies.size() == 2);
  CHECK(!c->proxy.forwarded_headers);
  CHECK(c->proxy.via == "edge");
  REQUIRE(c->filters.size() == 1);
  CHECK(c->filters[0].name == "request_id");
  CHECK(c->filters[0].config.IsNull());

  REQUIRE(c->clusters.size() == 2);
  const ClusterSpec& users = c->clusters[0];
  CHECK(users.name == "users");
  REQUIRE(users.endpoints.size() == 2);
  CHECK(users.endpoints[0].weight == 3);
  CHECK(users.endpoints[1].address == "localhost");
  CHECK(users.endpoints[1].weight == 1);
  CHECK(users.lb.policy == LbPolicy::kLeastRequest);
  CHECK(users.lb.panic_threshold_percent == 25);
  CHECK(users.lb.seed == 42);
  CHECK(users.pool.max_connections_per_host == 10);
  CHECK(users.pool.idle_timeout == absl::Seconds(30));
  CHECK(users.pool.connect_timeout == absl::Seconds(2));
  CHECK(users.dns_refresh == absl::Minutes(1));
  CHECK(c->clusters[1].lb.policy == LbPolicy::kMaglev);
  REQUIRE(users.health_check.has_value());
  const HealthCheckSpec& hc = *users.health_check;
  CHECK(hc.type == HealthCheckSpec::Type::kHttp);
  CHECK(hc.path == "/ready");
  CHECK(hc.host == "users.internal");
  CHECK(hc.expected_statuses == std::vector<std::pair<int, int>>{{200, 200}, {300, 399}});
  CHECK(hc.interval == absl::Seconds(2));
  CHECK(hc.unhealthy_interval == absl::Seconds(10));
  CHECK(hc.jitter == absl::Milliseconds(100));
  CHECK(hc.timeout == absl::Milliseconds(300));
  CHECK(hc.healthy_threshold == 1);
  CHECK(hc.unhealthy_threshold == 5);
  REQUIRE(c->clusters[1].health_check.has_value());
  CHECK(c->clusters[1].health_check->type == HealthCheckSpec::Type::kTcp);

  REQUIRE(c->routes.size() == 5);
  const RouteSpec& api = c->routes[0];
  CHECK(api.priority == 10);
  CHECK(api.hosts == std::vector<std::string>{"api.example.com"});
  CHECK(api.path.kind == PathMatch::Kind::kTemplate);
  CHECK(api.methods.size() == 2);
  REQUIRE(api.headers.size() == 2);
  CHECK(api.headers[0].kind == HeaderMatcher::Kind::kExact);
  CHECK(api.headers[0].value == "acme");
  CHECK(api.headers[1].kind == HeaderMatcher::Kind::kPresent);
  REQUIRE(api.query.size() == 1);
  CHECK(api.query[0].kind == QueryMatcher::Kind::kPrefix);
  CHECK(api.cluster_from_capture == "service");
  CHECK(api.rewrite.kind == PathRewrite::Kind::kTemplate);
  CHECK(api.rewrite.value == "/{rest}");
  CHECK(api.timeout == absl::Seconds(3));
  CHECK(api.retry.on_5xx);
  CHECK(api.retry.on_statuses == std::vector<int>{409});
  CHECK(api.retry.max_retries == 2);
  CHECK(api.retry.backoff_base == absl::Milliseconds(10));
  CHECK(api.upstream_timeouts.per_try == absl::Milliseconds(500));
  CHECK(api.upstream_timeouts.tunnel_idle == absl::Seconds(30));
  CHECK(api.upgrades == std::vector<std::string>{"websocket", "custom-proto"});
  CHECK(api.host_rewrite.kind == HostRewrite::Kind::kEndpoint);
  REQUIRE(api.request_headers.add.size() == 1);
  CHECK(api.request_headers.add[0].first == "x-a");
  CHECK(api.request_headers.set[0].second == "2");
  CHECK(api.request_headers.remove == std::vector<std::string>{"x-c"});
  CHECK(api.response_headers.remove == std::vector<std::string>{"server"});

  CHECK(c->routes[1].cluster == "users");
  CHECK(c->routes[1].rewrite.kind == PathRewrite::Kind::kReplacePrefix);
  CHECK(c->routes[1].host_rewrite.kind == HostRewrite::Kind::kLiteral);
  CHECK(c->routes[1].host_rewrite.value == "users.internal");
  REQUIRE(c->routes[2].direct_response.has_value());
  CHECK(c->routes[2].direct_response->status == 204);
  CHECK(c->routes[2].path.kind == PathMatch::Kind::kExact);
  REQUIRE(c->routes[3].redirect.has_value());
  CHECK(c->routes[3].redirect->status == 308);
  CHECK(c->routes[3].redirect->strip_query);
  CHECK(c->routes[4].rewrite.kind == PathRewrite::Kind::kRegex);
  CHECK(c->routes[4].rewrite.value == "/\\1");

  auto pipeline = BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr);
  INFO(pipeline.status().message());
  CHECK(pipeline.ok());
}

TEST_CASE("lb.policy accepts every built-in policy by its YAML name") {
  for (const auto& [name, policy] : LbPolicyNames()) {
    INFO(std::string(name));
    std::string yaml = "clusters:\n  - name: c\n    lb: {policy: " + std::string(name) +
                       "}\n    endpoints: [{address: 127.0.0.1, port: 1}]\n";
    auto config = LoadConfigString(yaml, "t.yaml");
    REQUIRE(config.ok());
    CHECK(config->clusters[0].lb.policy == policy);
  }
}

TEST_CASE("defaults: one listener on :8080, no routes") {
  auto c = LoadConfigString("workers: 1\n", "d.yaml");
  REQUIRE(c.ok());
  REQUIRE(c->server.listeners.size() == 1);
  CHECK(c->server.listeners[0].port == 8080);
}

TEST_CASE("server edge settings parse: chunk line limit and headers_with_underscores") {
  {
    auto c = LoadConfigString("workers: 1\n", "d.yaml");
    REQUIRE(c.ok());
    CHECK(c->server.limits.max_chunk_line_bytes == 4096);
    CHECK(c->server.limits.headers_with_underscores == HeadersWithUnderscores::kDrop);
  }
  const std::pair<const char*, HeadersWithUnderscores> actions[] = {
      {"allow", HeadersWithUnderscores::kAllow},
      {"drop", HeadersWithUnderscores::kDrop},
      {"reject", HeadersWithUnderscores::kReject},
  };
  for (const auto& [name, action] : actions) {
    auto c = LoadConfigString(absl::StrCat("server:\n  headers_with_underscores: ", name,
                                           "\n  limits: {max_chunk_line_bytes: 512}\n"),
                              "s.yaml");
    INFO(Message(c));
    REQUIRE(c.ok());
    CHECK(c->server.limits.headers_with_underscores == action);
    CHECK(c->server.limits.max_chunk_line_bytes == 512);
  }
}

TEST_CASE("errors name file, line and key") {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      // unknown key (typo)
      {"routes:\n  - name: a\n    match: {prefix: /a}\n    clustr: x\n",
       "t.yaml:4: routes[0].clustr: unknown key"},
      {"listners: []\n", "t.yaml:1: listners: unknown key"},
      // wrong type
      {"routes:\n  - name: a\n    direct_response: {}\n  - name: b\n    direct_response: {}\n"
       "  - name: c\n    match:\n      path: [x]\n",
       "t.yaml:8: routes[2].match.path: expected a string"},
      {"listeners:\n  - {port: eighty}\n", "t.yaml:2: listeners[0].port: expected an integer"},
      {"workers: [1]\n", "t.yaml:1: workers: expected an integer"},
      // bad duration
      {"server:\n  timeouts:\n    header: 5 seconds\n",
       "t.yaml:3: server.timeouts.header: invalid duration \"5 seconds\""},
      {"routes:\n  - direct_response: {}\n    timeout: -1s\n",
       "t.yaml:3: routes[0].timeout: invalid duration"},
      // route validation (two actions) reported at the route's line
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\nroutes:\n"
       "  - name: ok\n    direct_response: {}\n  - name: both\n    cluster: c\n"
       "    direct_response: {}\n",
       "t.yaml:7: routes[1]: route 'both'"},
      {"routes:\n  - name: bad\n    match: {regex: \"(\"}\n    direct_response: {}\n",
       "t.yaml:2: routes[0]: "},
      // duplicate cluster
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"
       "  - name: c\n    endpoints: [{address: 127.0.0.1, port: 2}]\n",
       "t.yaml:4: clusters[1].name: duplicate cluster \"c\""},
      // cluster validation
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"
       "    lb: {policy: fastest}\n",
       "t.yaml:4: clusters[0].lb.policy: unknown load balancing policy \"fastest\""},
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"
       "    health_check:\n      expected_statuses: [200, \"5xx\"]\n",
       "t.yaml:5: clusters[0].health_check.expected_statuses[1]: expected a status or a range"},
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\n"
       "    health_check: {type: udp}\n",
       "t.yaml:4: clusters[0].health_check.type: expected http or tcp"},
      {"routes:\n  - name: r\n    cluster: ghost\n",
       "t.yaml:3: routes[0].cluster: unknown cluster \"ghost\""},
      {"clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\nroutes:\n"
       "  - name: r\n    cluster: c\n    upgrades: [h2c]\n",
       "t.yaml:5: routes[0]: route 'r': upgrades: h2c is never forwarded"},
      // server edge settings
      {"server:\n  max_connections: 5\n  headers_with_underscores: fold\n",
       "t.yaml:3: server.headers_with_underscores: unknown action \"fold\" (expected allow, "
       "drop or reject)"},
      {"server:\n  headers_with_underscores: [drop]\n",
       "t.yaml:2: server.headers_with_underscores: expected a string"},
      {"server:\n  limits:\n    max_chunk_line_bytes: 0\n",
       "t.yaml:3: server.limits.max_chunk_line_bytes: must be > 0"},
      {"server:\n  limits:\n    max_chunk_line_bytes: -4\n",
       "t.yaml:3: server.limits.max_chunk_line_bytes: expected a non-negative integer"},
      // syntax error from yaml-cpp
      {"routes: [\n  {name: a\n", "t.yaml:"},
  };
  for (const Case& c : cases) {
    auto config = LoadConfigString(c.text, "t.yaml");
    INFO(c.text);
    REQUIRE(!config.ok());
    CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(config.status().message()), Catch::StartsWith(c.expected));
  }
}

TEST_CASE("cluster resilience sections parse into the cluster's structs") {
  const char* text = R"yaml(
clusters:
  - name: users
    endpoints: [{address: 127.0.0.1, port: 9101}]
    failure_classifier:
      server_errors: false
      failure_statuses: [429, 503]
      success_statuses: [501]
      connect_failures: false
      resets: false
      timeouts: false
      protocol_errors: false
      slow_call_duration: 750ms
    circuit_breaker:
      type: sliding_window
      window: time
      window_size: 40
      window_duration: 10s
      window_buckets: 10
      minimum_calls: 8
      failure_rate_threshold: 25.5
      slow_call_rate_threshold: 60
      half_open_calls: 4
      open_duration: 5s
      open_backoff_multiplier: 1.5
      max_open_duration: 2m
    limits: {max_connections: 64, max_pending_requests: 0, max_requests: 128, max_retries: 2}
    outlier_detection:
      consecutive_5xx: 3
      consecutive_gateway_failure: 0
      base_ejection_time: 10s
      max_ejection_time: 1m
      ejection_count_decay: 0
      max_ejection_percent: 50
      return_on_active_check: false
    fallback:
      on: [circuit_open, upstream_overflow]
      status: 200
      headers: {content-type: application/json, x-fallback: users}
      body: "{}"
  - name: orders
    endpoints: [{address: 127.0.0.1, port: 9102}]
    circuit_breaker:
      type: consecutive
      failure_threshold: 3
      success_threshold: 2
      half_open_max_calls: 4
      open_timeout: 15s
    fallback: {cluster: backup}
  - name: backup
    endpoints: [{address: 127.0.0.1, port: 9103}]
)yaml";
  auto c = LoadConfigString(text, "r.yaml");
  INFO(Message(c));
  REQUIRE(c.ok());
  REQUIRE(c->clusters.size() == 3);

  const ClusterResilienceSpec& users = c->clusters[0].resilience;
  CHECK(!users.classifier.server_errors);
  CHECK(users.classifier.failure_statuses == std::vector<int>{429, 503});
  CHECK(users.classifier.success_statuses == std::vector<int>{501});
  CHECK(!users.classifier.connect_failures);
  CHECK(!users.classifier.resets);
  CHECK(!users.classifier.timeouts);
  CHECK(!users.classifier.protocol_errors);
  CHECK(users.classifier.slow_call_duration == absl::Milliseconds(750));
  const auto* window = std::get_if<SlidingWindowBreakerConfig>(&users.breaker);
  REQUIRE(window != nullptr);
  CHECK(window->window == SlidingWindowBreakerConfig::Window::kTime);
  CHECK(window->window_size == 40);
  CHECK(window->window_duration == absl::Seconds(10));
  CHECK(window->window_buckets == 10);
  CHECK(window->minimum_calls == 8);
  CHECK(window->failure_rate_threshold == 25.5);
  CHECK(window->slow_call_rate_threshold == 60);
  CHECK(window->half_open_calls == 4);
  CHECK(window->open_duration == absl::Seconds(5));
  CHECK(window->open_backoff_multiplier == 1.5);
  CHECK(window->max_open_duration == absl::Minutes(2));
  CHECK(users.limits.max_connections == 64);
  CHECK(users.limits.max_pending_requests == 0);
  CHECK(users.limits.max_requests == 128);
  CHECK(users.limits.max_retries == 2);
  REQUIRE(users.outlier_detection.has_value());
  const OutlierDetectionConfig& od = *users.outlier_detection;
  CHECK(od.consecutive_5xx == 3);
  CHECK(od.consecutive_gateway_failure == 0);
  CHECK(od.base_ejection_time == absl::Seconds(10));
  CHECK(od.max_ejection_time == absl::Minutes(1));
  CHECK(od.ejection_count_decay == absl::ZeroDuration());
  CHECK(od.max_ejection_percent == 50);
  CHECK(!od.return_on_active_check);
  REQUIRE(c->clusters[0].fallback.has_value());
  const FallbackSpec& reply = *c->clusters[0].fallback;
  CHECK(reply.on == std::vector<std::string>{"circuit_open", "upstream_overflow"});
  CHECK(reply.cluster.empty());
  CHECK(reply.status == 200);
  CHECK(reply.headers == std::vector<std::pair<std::string, std::string>>{
                             {"content-type", "application/json"}, {"x-fallback", "users"}});
  CHECK(reply.body == "{}");

  const ClusterSpec& orders = c->clusters[1];
  const auto* consecutive =
      std::get_if<ConsecutiveFailureBreakerConfig>(&orders.resilience.breaker);
  REQUIRE(consecutive != nullptr);
  CHECK(consecutive->failure_threshold == 3);
  CHECK(consecutive->success_threshold == 2);
  CHECK(consecutive->half_open_max_calls == 4);
  CHECK(consecutive->open_timeout == absl::Seconds(15));
  REQUIRE(orders.fallback.has_value());
  CHECK(orders.fallback->cluster == "backup");  // defined further down
  CHECK(orders.fallback->on == FallbackSpec{}.on);

  // Without the keys: no breaker, default limits, no outlier detection, no fallback.
  const ClusterSpec& backup = c->clusters[2];
  CHECK(std::holds_alternative<std::monostate>(backup.resilience.breaker));
  CHECK(backup.resilience.limits.max_requests == ConcurrencyLimitsConfig{}.max_requests);
  CHECK(!backup.resilience.outlier_detection.has_value());
  CHECK(!backup.fallback.has_value());

  // What the loader accepts, the cluster manager builds.
  auto manager = ClusterManager::Create(c->clusters);
  INFO(manager.status().message());
  REQUIRE(manager.ok());
  const ClusterResilience* built = (*manager)->Resilience("users");
  REQUIRE(built != nullptr);
  CHECK(built->breaker != nullptr);
  CHECK(built->limits->max(LimitKind::kRequests) == 128);
  CHECK(built->outlier_detector != nullptr);
  CHECK((*manager)->Resilience("backup")->breaker == nullptr);
}

TEST_CASE("a route's circuit breaker parses into RouteSpec::breaker with its own classifier") {
  const char* text = R"yaml(
routes:
  - name: checkout
    direct_response: {status: 200}
    circuit_breaker:
      type: consecutive
      failure_threshold: 2
      open_timeout: 1s
      failure_classifier: {failure_statuses: [429]}
  - name: search
    direct_response: {status: 200}
    circuit_breaker: {type: sliding_window, window_size: 10, minimum_calls: 5}
  - name: plain
    direct_response: {status: 200}
)yaml";
  auto c = LoadConfigString(text, "r.yaml");
  INFO(Message(c));
  REQUIRE(c.ok());
  REQUIRE(c->routes.size() == 3);
  const auto* checkout = std::get_if<ConsecutiveFailureBreakerConfig>(&c->routes[0].breaker);
  REQUIRE(checkout != nullptr);
  CHECK(checkout->failure_threshold == 2);
  CHECK(checkout->open_timeout == absl::Seconds(1));
  CHECK(checkout->classifier.failure_statuses == std::vector<int>{429});
  const auto* search = std::get_if<SlidingWindowBreakerConfig>(&c->routes[1].breaker);
  REQUIRE(search != nullptr);
  CHECK(search->window == SlidingWindowBreakerConfig::Window::kCount);
  CHECK(search->window_size == 10);
  CHECK(search->minimum_calls == 5);
  CHECK(std::holds_alternative<std::monostate>(c->routes[2].breaker));
}

TEST_CASE("resilience errors name file, line and key path") {
  struct Case {
    std::string text;
    const char* expected;
  };
  // Lines 1-3; the cluster's own keys start on line 4.
  const std::string kCluster =
      "clusters:\n  - name: c\n    endpoints: [{address: 127.0.0.1, port: 1}]\n";
  const Case cases[] = {
      // unknown keys
      {kCluster + "    circuit_breaker:\n      type: consecutive\n      failure_treshold: 3\n",
       "t.yaml:6: clusters[0].circuit_breaker.failure_treshold: unknown key (expected one of: "
       "type, failure_threshold, success_threshold, half_open_max_calls, open_timeout)"},
      {kCluster + "    circuit_breaker: {type: consecutive, window_size: 10}\n",
       "t.yaml:4: clusters[0].circuit_breaker.window_size: unknown key"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n"
                  "      failure_classifier: {}\n",
       "t.yaml:6: clusters[0].circuit_breaker.failure_classifier: unknown key"},
      {kCluster + "    limits:\n      max_conections: 5\n",
       "t.yaml:5: clusters[0].limits.max_conections: unknown key"},
      {kCluster + "    outlier_detection:\n      consecutive_500: 5\n",
       "t.yaml:5: clusters[0].outlier_detection.consecutive_500: unknown key"},
      {kCluster + "    failure_classifier:\n      statuses: [429]\n",
       "t.yaml:5: clusters[0].failure_classifier.statuses: unknown key"},
      {kCluster + "    fallback:\n      reply: 503\n",
       "t.yaml:5: clusters[0].fallback.reply: unknown key"},
      {kCluster + "    breaker: {type: consecutive}\n",
       "t.yaml:4: clusters[0].breaker: unknown key"},
      // breaker types
      {kCluster + "    circuit_breaker:\n      type: rolling\n",
       "t.yaml:5: clusters[0].circuit_breaker.type: expected consecutive or sliding_window, not "
       "\"rolling\""},
      {kCluster + "    circuit_breaker:\n      failure_threshold: 3\n",
       "t.yaml:5: clusters[0].circuit_breaker.type: missing"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n      window: sliding\n",
       "t.yaml:6: clusters[0].circuit_breaker.window: expected count or time, not \"sliding\""},
      {"routes:\n  - name: r\n    direct_response: {}\n    circuit_breaker: {type: bulkhead}\n",
       "t.yaml:4: routes[0].circuit_breaker.type: expected consecutive or sliding_window"},
      // wrong types and bad durations
      {kCluster + "    circuit_breaker:\n      type: consecutive\n      failure_threshold: many\n",
       "t.yaml:6: clusters[0].circuit_breaker.failure_threshold: expected an integer"},
      {kCluster + "    circuit_breaker:\n      type: consecutive\n      open_timeout: 30 seconds\n",
       "t.yaml:6: clusters[0].circuit_breaker.open_timeout: invalid duration \"30 seconds\""},
      {kCluster + "    outlier_detection:\n      base_ejection_time: soon\n",
       "t.yaml:5: clusters[0].outlier_detection.base_ejection_time: invalid duration \"soon\""},
      {kCluster + "    failure_classifier:\n      slow_call_duration: -1s\n",
       "t.yaml:5: clusters[0].failure_classifier.slow_call_duration: invalid duration"},
      {kCluster + "    failure_classifier:\n      failure_statuses: [429, 700]\n",
       "t.yaml:5: clusters[0].failure_classifier.failure_statuses[1]: out of range [100, 599]"},
      {kCluster + "    failure_classifier:\n      resets: sometimes\n",
       "t.yaml:5: clusters[0].failure_classifier.resets: expected true or false"},
      {kCluster + "    fallback:\n      on: circuit_open\n",
       "t.yaml:5: clusters[0].fallback.on: expected a list of strings"},
      // values the structs' Validate() rejects, at the key that holds them
      {kCluster + "    circuit_breaker:\n      type: consecutive\n      failure_threshold: 0\n",
       "t.yaml:6: clusters[0].circuit_breaker.failure_threshold: consecutive breaker "
       "failure_threshold must be in [1, 2147483648], got 0"},
      {kCluster + "    circuit_breaker:\n      type: consecutive\n      open_timeout: 0\n",
       "t.yaml:6: clusters[0].circuit_breaker.open_timeout: consecutive breaker open_timeout"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n      window_size: 10\n",
       // minimum_calls keeps its default (20): the error points at what the file set
       "t.yaml:6: clusters[0].circuit_breaker.window_size: sliding-window breaker minimum_calls "
       "(20) must not exceed window_size (10)"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n      window_size: 10\n"
                  "      minimum_calls: 11\n",
       "t.yaml:7: clusters[0].circuit_breaker.minimum_calls: sliding-window breaker"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n"
                  "      failure_rate_threshold: 0\n",
       "t.yaml:6: clusters[0].circuit_breaker.failure_rate_threshold: sliding-window breaker"},
      {kCluster + "    circuit_breaker:\n      type: sliding_window\n      open_duration: 10m\n",
       "t.yaml:6: clusters[0].circuit_breaker.open_duration: sliding-window breaker "
       "max_open_duration must be in [open_duration, infinity)"},
      {kCluster +
           "    circuit_breaker: {type: sliding_window}\n    limits:\n      max_requests: 0\n",
       "t.yaml:6: clusters[0].limits.max_requests: concurrency limits max_requests must be at "
       "least 1"},
      {kCluster + "    outlier_detection:\n      max_ejection_percent: 150\n",
       "t.yaml:5: clusters[0].outlier_detection.max_ejection_percent: outlier detection "
       "max_ejection_percent must be in [0, 100], got 150"},
      {kCluster + "    fallback:\n      on: [circuit_open, bogus]\n",
       "t.yaml:5: clusters[0].fallback.on: on: unknown flag 'bogus'"},
      {kCluster + "    fallback:\n      on: []\n",
       "t.yaml:5: clusters[0].fallback.on: on: names no flag"},
      {kCluster + "    fallback:\n      status: 150\n",
       "t.yaml:5: clusters[0].fallback.status: status must be 200-599, got 150"},
      {kCluster + "    fallback:\n      headers: {\"bad name\": x}\n",
       "t.yaml:5: clusters[0].fallback.headers: headers: invalid header 'bad name'"},
      {kCluster + "    fallback:\n      cluster: ghost\n",
       "t.yaml:5: clusters[0].fallback.cluster: unknown cluster \"ghost\""},
      {kCluster + "    fallback:\n      cluster: c\n",
       "t.yaml:5: clusters[0].fallback.cluster: names the cluster itself"},
      {kCluster + "    fallback:\n      cluster: c\n      body: sorry\n",
       "t.yaml:5: clusters[0].fallback: cluster and a reply"},
      {"routes:\n  - name: r\n    direct_response: {}\n    circuit_breaker:\n"
       "      type: sliding_window\n      half_open_calls: 0\n",
       "t.yaml:6: routes[0].circuit_breaker.half_open_calls: sliding-window breaker "
       "half_open_calls must be in [1, 255], got 0"},
  };
  for (const Case& c : cases) {
    auto config = LoadConfigString(c.text, "t.yaml");
    INFO(c.text);
    REQUIRE(!config.ok());
    CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(config.status().message()), Catch::StartsWith(c.expected));
  }
}

TEST_CASE("server.drain_timeout sets the drain deadline and bad values name file and line") {
  auto def = LoadConfigString("listeners: [{port: 0}]\n", "d.yaml");
  REQUIRE(def.ok());
  CHECK(def->drain_timeout == absl::Seconds(5));
  auto set = LoadConfigString("server:\n  drain_timeout: 250ms\n", "d.yaml");
  REQUIRE(set.ok());
  CHECK(set->drain_timeout == absl::Milliseconds(250));
  auto zero = LoadConfigString("server: {drain_timeout: 0}\n", "d.yaml");
  REQUIRE(zero.ok());
  CHECK(zero->drain_timeout == absl::ZeroDuration());
  CHECK_THAT(Message(LoadConfigString("server:\n  drain_timeout: soon\n", "d.yaml")),
             Catch::StartsWith("d.yaml:2: server.drain_timeout: invalid duration \"soon\""));
  CHECK(Message(LoadConfigString("server:\n  drain_timeout: 2h\n", "d.yaml")) ==
        "d.yaml:2: server.drain_timeout: must be at most 1h");
}

TEST_CASE("server validation is reported with the file") {
  auto c = LoadConfigString("listeners: []\n", "s.yaml");
  REQUIRE(!c.ok());
  CHECK_THAT(std::string(c.status().message()), Catch::StartsWith("s.yaml:1: listeners: "));
}

TEST_CASE("unknown filter names fail the pipeline build") {
  auto c = LoadConfigString("filters: [request_id, nope]\n", "f.yaml");
  REQUIRE(c.ok());
  auto p = BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr);
  REQUIRE(!p.ok());
  CHECK_THAT(std::string(p.status().message()), Catch::Contains("f.yaml:1: filters[1]"));
  CHECK_THAT(std::string(p.status().message()), Catch::Contains("nope"));
}

// A program's own section, as an embedding program would read it.
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

constexpr char kWithBackends[] = R"yaml(workers: 1
backends:
  - {name: a, port: 9001}
  - name: b
    port: ${BACKEND_B_PORT:-9002}
routes:
  - {match: {prefix: /}, direct_response: {status: 204}}
)yaml";

TEST_CASE("a section the program claims is kept for it, with file, line and key path") {
  auto c = LoadConfigString(kWithBackends, "s.yaml", {.sections = {"backends", "absent"}});
  INFO(Message(c));
  REQUIRE(c.ok());
  CHECK(c->sections.size() == 1);  // "absent" is not in the file
  CHECK(c->section("absent").IsNull());
  const ConfigNode& section = c->section("backends");
  CHECK(section.line() == 3);
  CHECK(section.path() == "backends");
  std::vector<Backend> backends;
  REQUIRE(ReadBackends(section, &backends).ok());
  REQUIRE(backends.size() == 2);
  CHECK(backends[0].name == "a");
  CHECK(backends[1].port == 9002);  // ${VAR:-default} applies to program sections too
  CHECK(c->routes.size() == 1);     // the rest of the file as without the section
}

TEST_CASE("errors in a claimed section read like the loader's: file, line and key") {
  std::string text = kWithBackends;
  text.replace(text.find("9001"), 4, "0");
  auto c = LoadConfigString(text, "s.yaml", {.sections = {"backends"}});
  REQUIRE(c.ok());  // the loader does not read the section
  std::vector<Backend> backends;
  absl::Status s = ReadBackends(c->section("backends"), &backends);
  INFO(s.message());
  CHECK(absl::StartsWith(s.message(), "s.yaml:3: backends[0].port: "));

  text = kWithBackends;
  text.replace(text.find(", port: 9001"), 12, ", prot: 9001");
  c = LoadConfigString(text, "s.yaml", {.sections = {"backends"}});
  REQUIRE(c.ok());
  s = ReadBackends(c->section("backends"), &backends);
  INFO(s.message());
  CHECK(absl::StartsWith(s.message(), "s.yaml:3: backends[0].prot: unknown key"));
}

TEST_CASE("a top-level section nobody claims is an unknown key naming file and line") {
  auto c = LoadConfigString(kWithBackends, "s.yaml");
  INFO(Message(c));
  REQUIRE_FALSE(c.ok());
  CHECK(absl::StartsWith(c.status().message(), "s.yaml:2: backends: unknown key"));
  // Another program's claim does not make it known.
  c = LoadConfigString(kWithBackends, "s.yaml", {.sections = {"demo_upstreams"}});
  REQUIRE_FALSE(c.ok());
  INFO(Message(c));
  CHECK(absl::StartsWith(c.status().message(), "s.yaml:2: backends: unknown key"));
  // The list of expected keys names the claimed one.
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("demo_upstreams"));
}

TEST_CASE("claiming a key the loader reads itself is refused") {
  auto c = LoadConfigString(kWithBackends, "s.yaml", {.sections = {"backends", "routes"}});
  REQUIRE_FALSE(c.ok());
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("\"routes\" is read by"));
}

TEST_CASE("missing file") {
  auto c = LoadConfigFile("/nonexistent/gateway.yaml");
  REQUIRE(!c.ok());
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("/nonexistent/gateway.yaml"));
}

}  // namespace
}  // namespace gateway
