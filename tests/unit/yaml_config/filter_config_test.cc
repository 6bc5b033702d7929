// Configurable filters from YAML: the entry forms, ConfigNode errors with
// file, line and key, custom configurable filters, and the rate_limit filter.
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "gateway/config_node.h"
#include "gateway/testing/harness.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

template <typename T>
std::string Message(const absl::StatusOr<T>& v) {
  return v.ok() ? "OK" : std::string(v.status().message());
}

TEST_CASE("filter entries are names, {name: config} or {name, config} mappings") {
  auto c = LoadConfigString(R"yaml(
filters:
  - request_id
  - quota: {per_minute: 10}
  - name: quota
    config:
      per_minute: 20
      header: x-team
)yaml",
                            "g.yaml");
  REQUIRE(c.ok());
  REQUIRE(c->filters.size() == 3);
  CHECK(c->filters[0].name == "request_id");
  CHECK(c->filters[0].config.IsNull());
  CHECK(c->filters[1].name == "quota");
  CHECK(c->filters[1].line == 4);
  const ConfigNode& short_form = c->filters[1].config;
  REQUIRE(short_form.IsMap());
  CHECK(short_form.path() == "filters[1].quota");
  CHECK(short_form.Find("per_minute")->scalar() == "10");
  CHECK(short_form.Find("per_minute")->path() == "filters[1].quota.per_minute");
  const ConfigNode& long_form = c->filters[2].config;
  CHECK(long_form.path() == "filters[2].config");
  CHECK(long_form.Find("header")->scalar() == "x-team");
  CHECK(long_form.Find("header")->line() == 8);
}

TEST_CASE("malformed filter entries are errors with file, line and key") {
  auto bad = LoadConfigString("filters:\n  - {a: 1, b: 2}\n", "g.yaml");
  CHECK_THAT(Message(bad), Catch::StartsWith("g.yaml:2: filters[0]: expected a filter name"));
  auto extra = LoadConfigString("filters:\n  - {name: x, config: {}, extra: 1}\n", "g.yaml");
  CHECK_THAT(Message(extra), Catch::StartsWith("g.yaml:2: filters[0].extra: unknown key"));
  auto dup = LoadConfigString("filters:\n  - x: {a: 1, a: 2}\n", "g.yaml");
  CHECK_THAT(Message(dup), Catch::Contains("filters[0].x.a: duplicate key"));
}

// A user's configurable filter, registered the way a platform team would.
struct Quota {
  int64_t per_minute = 0;
  std::string header = "x-client";
};

absl::StatusOr<Quota> ParseQuota(const ConfigNode& node) {
  Quota q;
  if (auto s = node.ExpectMap({"per_minute", "header"}); !s.ok()) return s;
  if (node.Find("per_minute") == nullptr) return node.Error("per_minute: missing");
  if (auto s = node.ReadInt("per_minute", &q.per_minute, int64_t{1}, int64_t{1000}); !s.ok())
    return s;
  if (auto s = node.Read("header", &q.header); !s.ok()) return s;
  return q;
}

FilterRegistry RegistryWithQuota(std::vector<Quota>* made) {
  FilterRegistry r = FilterRegistry::WithBuiltins();
  r.Register(
      "quota",
      [made](const FilterMakeContext& ctx) -> absl::StatusOr<std::shared_ptr<const FilterFactory>> {
        auto q = ParseQuota(ctx.config);
        if (!q.ok()) return q.status();
        made->push_back(*q);
        return MakeFilterFactory("quota", [](const Route&) { return nullptr; });
      });
  return r;
}

TEST_CASE("a registered configurable filter gets its config and reports errors at the key") {
  std::vector<Quota> made;
  FilterRegistry registry = RegistryWithQuota(&made);
  auto good = LoadConfigString("filters:\n  - quota: {per_minute: 10, header: x-team}\n", "g.yaml");
  REQUIRE(good.ok());
  REQUIRE(BuildPipeline(*good, registry, nullptr).ok());
  REQUIRE(made.size() == 1);
  CHECK(made[0].per_minute == 10);
  CHECK(made[0].header == "x-team");

  auto range = LoadConfigString("filters:\n  - quota:\n      per_minute: 5000\n", "g.yaml");
  REQUIRE(range.ok());
  CHECK(Message(BuildPipeline(*range, registry, nullptr).status()) ==
        "g.yaml:3: filters[0].quota.per_minute: out of range [1, 1000]");

  auto typo = LoadConfigString("filters:\n  - quota: {per_minute: 5, hedaer: x}\n", "g.yaml");
  REQUIRE(typo.ok());
  CHECK_THAT(Message(BuildPipeline(*typo, registry, nullptr).status()),
             Catch::StartsWith("g.yaml:2: filters[0].quota.hedaer: unknown key"));

  auto missing = LoadConfigString("filters: [quota]\n", "g.yaml");
  REQUIRE(missing.ok());
  CHECK(Message(BuildPipeline(*missing, registry, nullptr).status()) ==
        "g.yaml:1: filters[0].quota: expected a mapping");
}

TEST_CASE("a filter registered without config refuses one") {
  auto c = LoadConfigString("filters:\n  - request_id: {prefix: x}\n", "g.yaml");
  REQUIRE(c.ok());
  CHECK(Message(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).status()) ==
        "g.yaml:2: filters[0].request_id: this filter takes no config");
}

TEST_CASE("ConfigNode typed accessors explain what they expected") {
  auto n = ParseConfigNode("a: x\nb: -1\nc: 1.5\nd: 5 seconds\ne: [1, [2]]\nf: maybe\n", "t.yaml",
                           "root");
  REQUIRE(n.ok());
  CHECK(Message(n->Find("a")->AsInt()) == "t.yaml:1: root.a: expected an integer");
  CHECK(Message(n->Find("b")->AsUint()) == "t.yaml:2: root.b: expected a non-negative integer");
  CHECK(*n->Find("c")->AsDouble() == 1.5);
  CHECK_THAT(Message(n->Find("d")->AsDuration()), Catch::Contains("invalid duration"));
  CHECK(Message(n->Find("e")->AsStringList()) == "t.yaml:5: root.e[1]: expected a string");
  CHECK(Message(n->Find("f")->AsBool()) == "t.yaml:6: root.f: expected true or false");
  CHECK(n->Find("nope") == nullptr);
  bool untouched = true;
  CHECK(n->Read("nope", &untouched).ok());
  CHECK(untouched);
}

TEST_CASE("rate_limit config from YAML builds the filter with every rule") {
  auto c = LoadConfigString(R"yaml(
proxy:
  trusted_proxies: [10.0.0.0/8]
filters:
  - rate_limit:
      headers: both
      dry_run: false
      status: 429
      rules:
        - name: login
          routes: [login]
          methods: [POST]
          key: [client_ip]
          sliding_window_log: {limit: 5, window: 1m}
        - name: per-client
          key: [{header: x-client-id}, route]
          skip_if_key_missing: false
          token_bucket: {rate: 100, per: 1s, burst: 200, max_keys: 1000}
        - name: per-user
          key: [{attribute: identity}]
          cost: 2
          gcra: {limit: 10, period: 1s, burst: 4}
        - name: service
          clusters: [users]
          fixed_window: {limit: 1000, window: 1m}
        - name: smooth
          key: [cluster, path, method]
          sliding_window: {limit: 50, window: 10s}
        - name: in-flight
          key: [client_ip]
          concurrency: {max_in_flight: 8, retry_after: 2s}
)yaml",
                            "rl.yaml");
  REQUIRE(c.ok());
  auto config = ParseRateLimitFilterConfig(c->filters[0].config, *c);
  REQUIRE(config.ok());
  CHECK(config->headers == RateLimitHeaders::kBoth);
  CHECK(config->trusted_proxies == std::vector<std::string>{"10.0.0.0/8"});
  REQUIRE(config->rules.size() == 6);
  const RateLimitRule& login = config->rules[0];
  CHECK(login.routes == std::vector<std::string>{"login"});
  CHECK(login.methods == std::vector<std::string>{"POST"});
  REQUIRE(login.key.size() == 1);
  CHECK(login.key[0].source == RateLimitKeyPart::Source::kClientIp);
  const auto& log = std::get<SlidingWindowLogConfig>(*login.local);
  CHECK(log.limit == 5);
  CHECK(log.window == absl::Minutes(1));
  const RateLimitRule& client = config->rules[1];
  CHECK_FALSE(client.skip_if_key_missing);
  CHECK(client.key[0].source == RateLimitKeyPart::Source::kHeader);
  CHECK(client.key[0].name == "x-client-id");
  CHECK(client.key[1].source == RateLimitKeyPart::Source::kRoute);
  const auto& tb = std::get<TokenBucketConfig>(*client.local);
  CHECK(tb.rate == 100);
  CHECK(tb.burst == 200);
  CHECK(tb.max_keys == 1000);
  CHECK(config->rules[2].cost == 2);
  CHECK(config->rules[2].key[0].source == RateLimitKeyPart::Source::kAttribute);
  CHECK(std::get<GcraConfig>(*config->rules[2].local).burst == 4);
  CHECK(config->rules[3].clusters == std::vector<std::string>{"users"});
  CHECK(std::holds_alternative<FixedWindowConfig>(*config->rules[3].local));
  CHECK(config->rules[4].key.size() == 3);
  CHECK(std::holds_alternative<SlidingWindowCounterConfig>(*config->rules[4].local));
  CHECK(std::get<ConcurrencyConfig>(*config->rules[5].local).retry_after == absl::Seconds(2));
  CHECK(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).ok());
}

TEST_CASE("rate_limit YAML errors name file, line and key") {
  auto error = [](const std::string& rules) {
    auto c = LoadConfigString("filters:\n  - rate_limit:\n      rules:\n" + rules, "rl.yaml");
    REQUIRE(c.ok());
    return Message(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).status());
  };
  CHECK(error("        - name: a\n          fixed_window: {limit: many}\n") ==
        "rl.yaml:5: filters[0].rate_limit.rules[0].fixed_window.limit: expected a non-negative "
        "integer");
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1, windw: 1s}\n"),
             Catch::StartsWith("rl.yaml:5: filters[0].rate_limit.rules[0].fixed_window.windw: "
                               "unknown key"));
  CHECK_THAT(error("        - name: a\n"),
             Catch::StartsWith("rl.yaml:4: filters[0].rate_limit.rules[0]: missing algorithm"));
  CHECK_THAT(error("        - name: a\n          gcra: {limit: 1}\n          fixed_window: "
                   "{limit: 1}\n"),
             Catch::Contains("rules[0].fixed_window: a rule has exactly one algorithm"));
  CHECK_THAT(error("        - name: a\n          key: [ip]\n          gcra: {limit: 1}\n"),
             Catch::Contains("rules[0].key[0]: unknown key part \"ip\""));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "        - name: a\n          fixed_window: {limit: 1}\n"),
             Catch::StartsWith("rl.yaml:6: filters[0].rate_limit.rules[1].name: duplicate rule"));
  CHECK_THAT(error("        - name: a\n          cost: 3\n          fixed_window: {limit: 2}\n"),
             Catch::StartsWith("rl.yaml:4: filters[0].rate_limit.rules[0]: rule \"a\": cost 3"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1, window: 10us}\n"),
             Catch::Contains("rules[0].fixed_window: fixed_window: window must be in [1ms"));
  auto c = LoadConfigString("filters:\n  - rate_limit: {headers: loud, rules: []}\n", "rl.yaml");
  REQUIRE(c.ok());
  CHECK(Message(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).status()) ==
        "rl.yaml:2: filters[0].rate_limit.headers: expected ietf, legacy, both or none");
  auto no_config = LoadConfigString("filters: [rate_limit]\n", "rl.yaml");
  REQUIRE(no_config.ok());
  CHECK_THAT(Message(BuildPipeline(*no_config, FilterRegistry::WithBuiltins(), nullptr).status()),
             Catch::Contains("rate_limit needs a config with rules"));
}

TEST_CASE("rate_limit on_limit YAML is parsed and its errors name file, line and key") {
  auto parse = [](const std::string& on_limit) {
    auto c = LoadConfigString(
        "filters:\n  - rate_limit:\n      rules:\n        - name: a\n"
        "          fixed_window: {limit: 1}\n          on_limit: " +
            on_limit + "\n",
        "rl.yaml");
    REQUIRE(c.ok());
    return ParseRateLimitFilterConfig(c->filters.at(0).config, *c);
  };
  auto ok =
      parse("{status: 503, body: \"busy\", content_type: text/html, headers: {x-a: b, x-c: d}}");
  REQUIRE(ok.ok());
  const RateLimitResponse& r = ok->rules.at(0).on_limit;
  CHECK(r.status == 503);
  CHECK(r.body == std::optional<std::string>("busy"));
  CHECK(r.content_type == "text/html");
  CHECK(r.headers == std::vector<std::pair<std::string, std::string>>{{"x-a", "b"}, {"x-c", "d"}});
  CHECK(parse("{}")->rules.at(0).on_limit.status == 0);
  CHECK(Message(parse("{status: 200}").status()) ==
        "rl.yaml:6: filters[0].rate_limit.rules[0].on_limit.status: out of range [400, 599]");
  CHECK_THAT(Message(parse("{stauts: 503}").status()),
             Catch::StartsWith("rl.yaml:6: filters[0].rate_limit.rules[0].on_limit.stauts: "
                               "unknown key"));
  CHECK(Message(parse("{headers: {Content-Length: \"5\"}}").status()) ==
        "rl.yaml:6: filters[0].rate_limit.rules[0].on_limit.headers.Content-Length: header "
        "'Content-Length' is set by the gateway");
  CHECK_THAT(Message(parse("{headers: [x-a]}").status()),
             Catch::Contains("on_limit.headers: expected a map of header names to values"));
}

TEST_CASE("a rate_limit filter built from YAML limits requests") {
  auto c = LoadConfigString(R"yaml(
filters:
  - rate_limit:
      rules:
        - name: tiny
          fixed_window: {limit: 2, window: 1h}
routes:
  - name: all
    direct_response: {status: 200, body: ok}
)yaml",
                            "rl.yaml");
  REQUIRE(c.ok());
  auto pipeline = BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr);
  REQUIRE(pipeline.ok());
  testing::PipelineHarness h(*pipeline);
  int statuses[3];
  for (int& status : statuses) {
    auto& ex = h.Send(testing::Request("GET", "/"));
    h.RunUntilIdle();
    status = ex.status();
  }
  CHECK(statuses[0] == 200);
  CHECK(statuses[1] == 200);
  CHECK(statuses[2] == 429);
}

}  // namespace
}  // namespace gateway
