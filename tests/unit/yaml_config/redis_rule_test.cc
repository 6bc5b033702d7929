// rate_limit rules kept in Redis, from YAML: what they build and how their
// errors read. Nothing here connects (no loop creates a limiter).
#include <string>

#include <catch2/catch.hpp>

#include "gateway/yaml_config.h"

namespace gateway {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST_CASE("a rate_limit rule with redis becomes a remote rule with its failure mode") {
  auto c = LoadConfigString(R"yaml(
filters:
  - rate_limit:
      rules:
        - name: shared
          key: [client_ip]
          fixed_window: {limit: 100, window: 1s}
          failure_mode: deny
          redis: {address: 127.0.0.1, port: 6380, call_timeout: 30ms, max_pending: 64}
        - name: bucket
          token_bucket: {rate: 10, burst: 20}
          timeout: 500ms
          redis: {key_prefix: "app:"}
        - name: local
          sliding_window: {limit: 5, window: 1m}
)yaml",
                            "rl.yaml");
  REQUIRE(c.ok());
  auto config = ParseRateLimitFilterConfig(c->filters[0].config, *c);
  INFO(Message(config.status()));
  REQUIRE(config.ok());
  REQUIRE(config->rules.size() == 3);
  const RateLimitRule& shared = config->rules[0];
  CHECK(shared.remote != nullptr);
  CHECK_FALSE(shared.local.has_value());
  CHECK(shared.failure_mode == RateLimitFailureMode::kDeny);
  // The filter's wait is a backstop just behind the call timeout.
  CHECK(shared.timeout == absl::Milliseconds(80));
  const RateLimitRule& bucket = config->rules[1];
  CHECK(bucket.remote != nullptr);
  CHECK(bucket.failure_mode == RateLimitFailureMode::kAllow);
  CHECK(bucket.timeout == absl::Milliseconds(500));
  CHECK(config->rules[2].local.has_value());
  CHECK(config->rules[2].remote == nullptr);
  CHECK(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).ok());
}

TEST_CASE("redis rule YAML errors name file, line and key") {
  auto error = [](const std::string& rules) {
    auto c = LoadConfigString("filters:\n  - rate_limit:\n      rules:\n" + rules, "rl.yaml");
    REQUIRE(c.ok());
    return Message(BuildPipeline(*c, FilterRegistry::WithBuiltins(), nullptr).status());
  };
  CHECK_THAT(error("        - name: a\n          gcra: {limit: 1}\n          redis: {}\n"),
             Catch::StartsWith("rl.yaml:5: filters[0].rate_limit.rules[0].gcra: not available "
                               "with redis"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "          redis: {address: \"redis internal\"}\n"),
             Catch::StartsWith("rl.yaml:6: filters[0].rate_limit.rules[0].redis: redis: address"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "          redis: {port: 70000}\n"),
             Catch::Contains("rules[0].redis.port"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "          redis: {hostname: x}\n"),
             Catch::Contains("rules[0].redis.hostname: unknown key"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "          failure_mode: deny\n"),
             Catch::Contains("rules[0].failure_mode: only for rules with redis"));
  CHECK_THAT(error("        - name: a\n          fixed_window: {limit: 1}\n"
                   "          failure_mode: maybe\n          redis: {}\n"),
             Catch::Contains("rules[0].failure_mode: expected allow or deny"));
}

}  // namespace
}  // namespace gateway
