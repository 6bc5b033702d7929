// YAML for the built-in rate_limit filter, read through ConfigNode like any
// user's configurable filter would be (see docs/rate-limiting.md).
#include <cstdio>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gateway/client_address.h"
#include "gateway/config_fields.h"
#include "gateway/config_node.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/redis_rate_limiter.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

using config::Bool;
using config::Duration;
using config::Enum;
using config::Field;
using config::FieldTable;
using config::Int;
using config::String;
using config::StringList;
using config::Uint;

constexpr Uint kPositive{.min = 1};

std::string_view View(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// "expected a, b or c" (without the value), as these keys have always said.
std::string ExpectedOnly(std::string_view, std::string_view expected) {
  return "expected " + std::string(expected);
}

// The three windowed algorithms share their fields; the others have their own.
template <typename C>
const FieldTable<C>& AlgorithmTable() {
  static const FieldTable<C> kTable{
      Field("limit", &C::limit, kPositive).Required(),
      Field("window", &C::window, Duration{}),
      Field("max_keys", &C::max_keys, kPositive),
  };
  return kTable;
}
template <>
const FieldTable<TokenBucketConfig>& AlgorithmTable() {
  static const FieldTable<TokenBucketConfig> kTable{
      Field("rate", &TokenBucketConfig::rate, kPositive).Required(),
      Field("per", &TokenBucketConfig::per, Duration{}),
      Field("burst", &TokenBucketConfig::burst, Uint{}),
      Field("max_keys", &TokenBucketConfig::max_keys, kPositive),
  };
  return kTable;
}
template <>
const FieldTable<GcraConfig>& AlgorithmTable() {
  static const FieldTable<GcraConfig> kTable{
      Field("limit", &GcraConfig::limit, kPositive).Required(),
      Field("period", &GcraConfig::period, Duration{}),
      Field("burst", &GcraConfig::burst, kPositive),
      Field("max_keys", &GcraConfig::max_keys, kPositive),
  };
  return kTable;
}
template <>
const FieldTable<ConcurrencyConfig>& AlgorithmTable() {
  static const FieldTable<ConcurrencyConfig> kTable{
      Field("max_in_flight", &ConcurrencyConfig::max_in_flight, kPositive).Required(),
      Field("retry_after", &ConcurrencyConfig::retry_after, Duration{}),
      Field("max_keys", &ConcurrencyConfig::max_keys, kPositive),
  };
  return kTable;
}

template <typename C>
absl::Status ReadAlgorithm(const ConfigNode& n, RateLimitAlgorithm* out) {
  C c;
  if (auto s = AlgorithmTable<C>().Read(n, &c); !s.ok()) return s;
  *out = c;
  return n.Invalid(ValidateRateLimitAlgorithm(*out));
}

constexpr std::pair<std::string_view, absl::Status (*)(const ConfigNode&, RateLimitAlgorithm*)>
    kAlgorithms[] = {{"token_bucket", ReadAlgorithm<TokenBucketConfig>},
                     {"fixed_window", ReadAlgorithm<FixedWindowConfig>},
                     {"sliding_window_log", ReadAlgorithm<SlidingWindowLogConfig>},
                     {"sliding_window", ReadAlgorithm<SlidingWindowCounterConfig>},
                     {"gcra", ReadAlgorithm<GcraConfig>},
                     {"concurrency", ReadAlgorithm<ConcurrencyConfig>}};

constexpr std::pair<std::string_view, RateLimitKeyPart::Source> kKeyParts[] = {
    {"client_ip", RateLimitKeyPart::Source::kClientIp},
    {"route", RateLimitKeyPart::Source::kRoute},
    {"cluster", RateLimitKeyPart::Source::kCluster},
    {"path", RateLimitKeyPart::Source::kPath},
    {"method", RateLimitKeyPart::Source::kMethod}};

absl::Status ParseKeyPart(const ConfigNode& part, RateLimitKeyPart* out) {
  if (part.IsScalar()) {
    return Enum<RateLimitKeyPart::Source>{
        kKeyParts, [](std::string_view got, std::string_view) {
          return "unknown key part \"" + std::string(got) +
                 "\" (expected client_ip, route, cluster, path, "
                 "method, {header: <name>} or {attribute: <name>})";
        }}(part, &out->source);
  }
  if (auto s = part.ExpectMap({"header", "attribute"}); !s.ok()) return s;
  if (part.size() != 1) return part.Error("expected one of header, attribute");
  const ConfigNode& value = part.children()[0];
  auto name = value.AsString();
  if (!name.ok()) return name.status();
  if (value.key() == "header") {
    if (!IsValidHeaderName(*name)) return value.Error("not a valid header name");
    *out = RateLimitKeyPart::Header(*std::move(name));
  } else {
    if (name->empty()) return value.Error("empty attribute name");
    *out = RateLimitKeyPart::Attribute(*std::move(name));
  }
  return absl::OkStatus();
}

// A rule with `redis:` runs its algorithm in Redis instead of locally.
absl::Status ParseRedis(const ConfigNode& n, const ConfigNode& algorithm,
                        const RateLimitAlgorithm& local, const std::string& rule_name,
                        RateLimitRule* rule) {
  using R = RedisRateLimitConfig;
  static const FieldTable<R> kRedis{
      Field("address", &R::address, String{}),
      Field("port", &R::port, Uint{.min = 1, .max = 65535}),
      Field("password", &R::password, String{}),
      Field("db", &R::db, Int{.min = 0}),
      Field("key_prefix", &R::key_prefix, String{}),
      Field("call_timeout", &R::call_timeout, Duration{}),
      Field("max_pending", &R::max_pending, kPositive),
      Field("reconnect_backoff_min", &R::reconnect_backoff_min, Duration{}),
      Field("reconnect_backoff_max", &R::reconnect_backoff_max, Duration{}),
      Field("stall_timeout", &R::stall_timeout, Duration{}),
  };
  R c;
  if (const auto* tb = std::get_if<TokenBucketConfig>(&local)) {
    c.algorithm = *tb;
  } else if (const auto* fw = std::get_if<FixedWindowConfig>(&local)) {
    c.algorithm = *fw;
  } else if (const auto* sw = std::get_if<SlidingWindowCounterConfig>(&local)) {
    c.algorithm = *sw;
  } else {
    return algorithm.Error(
        "not available with redis (use token_bucket, fixed_window or sliding_window)");
  }
  if (n.IsNull()) return n.Error("expected a map of redis settings");
  c.key_prefix = absl::StrCat("gateway:rl:", rule_name, ":");
  if (auto s = kRedis.Read(n, &c); !s.ok()) return s;
  // Down and up lines of each loop's connection join gatewayd's other log
  // lines on stderr.
  c.log = [](std::string_view line) { fmt::print(stderr, "gatewayd: {}\n", line); };
  // The filter's own wait is a backstop behind the call timeout.
  rule->timeout = c.call_timeout + absl::Milliseconds(50);
  auto factory = MakeRedisRateLimiterFactory(std::move(c));
  if (!factory.ok()) return n.Error(View(factory.status().message()));
  rule->remote = *std::move(factory);
  rule->local.reset();
  return absl::OkStatus();
}

// `headers: {name: value}` of on_limit, each checked where it is written.
absl::Status ParseLimitHeaders(const ConfigNode& h, RateLimitResponse* out) {
  if (!h.IsMap()) return h.Error("expected a map of header names to values");
  for (const ConfigNode& field : h.children()) {
    auto value = field.AsString();
    if (!value.ok()) return value.status();
    out->headers.emplace_back(field.key(), *std::move(value));
    RateLimitResponse one{.headers = {out->headers.back()}};
    if (auto s = one.Validate(); !s.ok()) return field.Error(View(s.message()));
  }
  return absl::OkStatus();
}

constexpr std::pair<std::string_view, RateLimitFailureMode> kFailureModes[] = {
    {"allow", RateLimitFailureMode::kAllow}, {"deny", RateLimitFailureMode::kDeny}};

absl::Status ParseRule(const ConfigNode& n, RateLimitRule* rule) {
  using Rule = RateLimitRule;
  static const FieldTable<RateLimitResponse> kOnLimit{
      Field("status", &RateLimitResponse::status, Int{.min = 400, .max = 599}),
      Field("body", &RateLimitResponse::body, config::Emplace<String>{}),
      Field("content_type", &RateLimitResponse::content_type, String{}),
      Field<RateLimitResponse>("headers", ParseLimitHeaders),
  };
  // Algorithms, redis and the remote-only keys are read below: they depend
  // on each other.
  static const FieldTable<Rule> kRule{
      Field("name", &Rule::name, String{}).Required(),
      Field("routes", &Rule::routes, StringList{}),
      Field("clusters", &Rule::clusters, StringList{}),
      Field("methods", &Rule::methods, StringList{}),
      Field("key", &Rule::key, config::List{ParseKeyPart, "expected a list of key parts"}),
      Field("skip_if_key_missing", &Rule::skip_if_key_missing, Bool{}),
      Field("cost", &Rule::cost, kPositive),
      Field<Rule>("token_bucket", nullptr),
      Field<Rule>("fixed_window", nullptr),
      Field<Rule>("sliding_window_log", nullptr),
      Field<Rule>("sliding_window", nullptr),
      Field<Rule>("gcra", nullptr),
      Field<Rule>("concurrency", nullptr),
      Field<Rule>("redis", nullptr),
      Field<Rule>("timeout", nullptr),
      Field<Rule>("failure_mode", nullptr),
      Field("on_limit", &Rule::on_limit, kOnLimit.valid_reader()),
  };
  if (auto s = kRule.Read(n, rule); !s.ok()) return s;
  const ConfigNode* algorithm = nullptr;
  for (const ConfigNode& a : n.children()) {  // document order, for the error
    for (const auto& [kind, read] : kAlgorithms) {
      if (a.key() != kind) continue;
      if (algorithm != nullptr) return a.Error("a rule has exactly one algorithm");
      algorithm = &a;
      RateLimitAlgorithm parsed;
      if (auto s = read(a, &parsed); !s.ok()) return s;
      rule->local = parsed;
    }
  }
  if (algorithm == nullptr) {
    return n.Error(
        "missing algorithm (one of token_bucket, fixed_window, sliding_window_log, "
        "sliding_window, gcra, concurrency)");
  }
  if (const ConfigNode* redis = n.Find("redis")) {
    if (auto s = ParseRedis(*redis, *algorithm, *rule->local, rule->name, rule); !s.ok()) return s;
  }
  for (std::string_view remote_only : {"timeout", "failure_mode"}) {
    const ConfigNode* k = n.Find(remote_only);
    if (k != nullptr && rule->remote == nullptr) return k->Error("only for rules with redis");
  }
  if (auto s = n.Read("timeout", &rule->timeout); !s.ok()) return s;
  if (const ConfigNode* f = n.Find("failure_mode")) {
    auto s = Enum<RateLimitFailureMode>{kFailureModes, ExpectedOnly}(*f, &rule->failure_mode);
    if (!s.ok()) return s;
  }
  return n.Invalid(rule->Validate());
}

constexpr std::pair<std::string_view, RateLimitHeaders> kHeaderStyles[] = {
    {"ietf", RateLimitHeaders::kIetf},
    {"legacy", RateLimitHeaders::kLegacy},
    {"both", RateLimitHeaders::kBoth},
    {"none", RateLimitHeaders::kNone}};

absl::Status ParseTrustedProxies(const ConfigNode& t, RateLimitFilterConfig* config) {
  auto list = t.AsStringList();
  if (!list.ok()) return list.status();
  if (auto parsed = AddressRanges::Parse(*list); !parsed.ok()) {
    return t.Error(View(parsed.status().message()));
  }
  config->trusted_proxies = *std::move(list);
  return absl::OkStatus();
}

absl::Status ParseRules(const ConfigNode& rules, RateLimitFilterConfig* config) {
  if (!rules.IsSequence() || rules.size() == 0) return rules.Error("expected a list of rules");
  std::set<std::string> names;
  for (const ConfigNode& r : rules.children()) {
    RateLimitRule rule;
    if (auto s = ParseRule(r, &rule); !s.ok()) return s;
    if (!names.insert(rule.name).second) {
      return r.Find("name")->Error(absl::StrCat("duplicate rule name \"", rule.name, "\""));
    }
    config->rules.push_back(std::move(rule));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RateLimitFilterConfig> ParseRateLimitFilterConfig(const ConfigNode& n,
                                                                 const GatewayConfig& gateway) {
  using C = RateLimitFilterConfig;
  static const FieldTable<C> kFilter{
      Field("headers", &C::headers, Enum<RateLimitHeaders>{kHeaderStyles, ExpectedOnly}),
      Field("dry_run", &C::dry_run, Bool{}),
      Field("status", &C::status, Int{.min = 400, .max = 599}),
      Field<C>("trusted_proxies", ParseTrustedProxies),
      Field<C>("rules", ParseRules).Required(),
  };
  RateLimitFilterConfig config;
  config.trusted_proxies = gateway.proxy.trusted_proxies;
  if (n.IsNull()) return n.Error("rate_limit needs a config with rules");
  if (auto s = kFilter.Read(n, &config); !s.ok()) return s;
  return config;
}

}  // namespace gateway
