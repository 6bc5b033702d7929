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
#include "gateway/config_node.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/redis_rate_limiter.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

constexpr std::string_view kAlgorithms[] = {"token_bucket",   "fixed_window", "sliding_window_log",
                                            "sliding_window", "gcra",         "concurrency"};

std::string_view View(absl::string_view s) { return std::string_view(s.data(), s.size()); }

absl::Status ParseAlgorithm(const ConfigNode& n, std::string_view kind, RateLimitAlgorithm* out) {
  if (kind == "token_bucket") {
    TokenBucketConfig c;
    if (auto s = n.ExpectMap({"rate", "per", "burst", "max_keys"}); !s.ok()) return s;
    if (n.Find("rate") == nullptr) return n.Error("rate: missing");
    if (auto s = n.ReadInt("rate", &c.rate, uint64_t{1}); !s.ok()) return s;
    if (auto s = n.Read("per", &c.per); !s.ok()) return s;
    if (auto s = n.ReadInt("burst", &c.burst); !s.ok()) return s;
    if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
    *out = c;
  } else if (kind == "gcra") {
    GcraConfig c;
    if (auto s = n.ExpectMap({"limit", "period", "burst", "max_keys"}); !s.ok()) return s;
    if (n.Find("limit") == nullptr) return n.Error("limit: missing");
    if (auto s = n.ReadInt("limit", &c.limit, uint64_t{1}); !s.ok()) return s;
    if (auto s = n.Read("period", &c.period); !s.ok()) return s;
    if (auto s = n.ReadInt("burst", &c.burst, uint64_t{1}); !s.ok()) return s;
    if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
    *out = c;
  } else if (kind == "concurrency") {
    ConcurrencyConfig c;
    if (auto s = n.ExpectMap({"max_in_flight", "retry_after", "max_keys"}); !s.ok()) return s;
    if (n.Find("max_in_flight") == nullptr) return n.Error("max_in_flight: missing");
    if (auto s = n.ReadInt("max_in_flight", &c.max_in_flight, uint64_t{1}); !s.ok()) return s;
    if (auto s = n.Read("retry_after", &c.retry_after); !s.ok()) return s;
    if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
    *out = c;
  } else {
    // The three windowed algorithms share their fields.
    if (auto s = n.ExpectMap({"limit", "window", "max_keys"}); !s.ok()) return s;
    if (n.Find("limit") == nullptr) return n.Error("limit: missing");
    uint64_t limit = 0;
    absl::Duration window = absl::Seconds(1);
    if (auto s = n.ReadInt("limit", &limit, uint64_t{1}); !s.ok()) return s;
    if (auto s = n.Read("window", &window); !s.ok()) return s;
    if (kind == "fixed_window") {
      FixedWindowConfig c{.limit = limit, .window = window};
      if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
      *out = c;
    } else if (kind == "sliding_window_log") {
      SlidingWindowLogConfig c{.limit = limit, .window = window};
      if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
      *out = c;
    } else {
      SlidingWindowCounterConfig c{.limit = limit, .window = window};
      if (auto s = n.ReadInt("max_keys", &c.max_keys, size_t{1}); !s.ok()) return s;
      *out = c;
    }
  }
  if (auto s = ValidateRateLimitAlgorithm(*out); !s.ok()) return n.Error(View(s.message()));
  return absl::OkStatus();
}

absl::Status ParseKey(const ConfigNode& n, std::vector<RateLimitKeyPart>* out) {
  if (!n.IsSequence()) return n.Error("expected a list of key parts");
  for (const ConfigNode& part : n.children()) {
    if (part.IsScalar()) {
      const std::string& s = part.scalar();
      if (s == "client_ip") {
        out->push_back(RateLimitKeyPart::ClientIp());
      } else if (s == "route") {
        out->push_back(RateLimitKeyPart::Route());
      } else if (s == "cluster") {
        out->push_back(RateLimitKeyPart::Cluster());
      } else if (s == "path") {
        out->push_back(RateLimitKeyPart::Path());
      } else if (s == "method") {
        out->push_back(RateLimitKeyPart::Method());
      } else {
        return part.Error(absl::StrCat(
            "unknown key part \"", s,
            "\" (expected client_ip, route, cluster, path, method, {header: <name>} or "
            "{attribute: <name>})"));
      }
      continue;
    }
    if (auto s = part.ExpectMap({"header", "attribute"}); !s.ok()) return s;
    if (part.size() != 1) return part.Error("expected one of header, attribute");
    const ConfigNode& value = part.children()[0];
    auto name = value.AsString();
    if (!name.ok()) return name.status();
    if (value.key() == "header") {
      if (!IsValidHeaderName(*name)) return value.Error("not a valid header name");
      out->push_back(RateLimitKeyPart::Header(*std::move(name)));
    } else {
      if (name->empty()) return value.Error("empty attribute name");
      out->push_back(RateLimitKeyPart::Attribute(*std::move(name)));
    }
  }
  return absl::OkStatus();
}

// A rule with `redis:` runs its algorithm in Redis instead of locally.
absl::Status ParseRedis(const ConfigNode& n, const ConfigNode& algorithm,
                        const RateLimitAlgorithm& local, const std::string& rule_name,
                        RateLimitRule* rule) {
  RedisRateLimitConfig c;
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
  if (auto s = n.ExpectMap({"address", "port", "password", "db", "key_prefix", "call_timeout",
                            "max_pending", "reconnect_backoff_min", "reconnect_backoff_max",
                            "stall_timeout"});
      !s.ok()) {
    return s;
  }
  c.key_prefix = absl::StrCat("gateway:rl:", rule_name, ":");
  if (auto s = n.Read("address", &c.address); !s.ok()) return s;
  if (auto s = n.ReadInt("port", &c.port, uint16_t{1}); !s.ok()) return s;
  if (auto s = n.Read("password", &c.password); !s.ok()) return s;
  if (auto s = n.ReadInt("db", &c.db, 0); !s.ok()) return s;
  if (auto s = n.Read("key_prefix", &c.key_prefix); !s.ok()) return s;
  if (auto s = n.Read("call_timeout", &c.call_timeout); !s.ok()) return s;
  if (auto s = n.ReadInt("max_pending", &c.max_pending, size_t{1}); !s.ok()) return s;
  if (auto s = n.Read("reconnect_backoff_min", &c.reconnect_backoff_min); !s.ok()) return s;
  if (auto s = n.Read("reconnect_backoff_max", &c.reconnect_backoff_max); !s.ok()) return s;
  if (auto s = n.Read("stall_timeout", &c.stall_timeout); !s.ok()) return s;
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

// `on_limit: {status, body, content_type, headers: {name: value}}`.
absl::Status ParseOnLimit(const ConfigNode& n, RateLimitResponse* out) {
  if (auto s = n.ExpectMap({"status", "body", "content_type", "headers"}); !s.ok()) return s;
  if (auto s = n.ReadInt("status", &out->status, 400, 599); !s.ok()) return s;
  if (const ConfigNode* b = n.Find("body")) {
    auto body = b->AsString();
    if (!body.ok()) return body.status();
    out->body = *std::move(body);
  }
  if (auto s = n.Read("content_type", &out->content_type); !s.ok()) return s;
  if (const ConfigNode* h = n.Find("headers")) {
    if (!h->IsMap()) return h->Error("expected a map of header names to values");
    for (const ConfigNode& field : h->children()) {
      auto value = field.AsString();
      if (!value.ok()) return value.status();
      out->headers.emplace_back(field.key(), *std::move(value));
      RateLimitResponse one{.headers = {out->headers.back()}};
      if (auto s = one.Validate(); !s.ok()) return field.Error(View(s.message()));
    }
  }
  if (auto s = out->Validate(); !s.ok()) return n.Error(View(s.message()));
  return absl::OkStatus();
}

absl::Status ParseRule(const ConfigNode& n, RateLimitRule* rule) {
  if (auto s = n.ExpectMap({"name", "routes", "clusters", "methods", "key", "skip_if_key_missing",
                            "cost", "token_bucket", "fixed_window", "sliding_window_log",
                            "sliding_window", "gcra", "concurrency", "redis", "timeout",
                            "failure_mode", "on_limit"});
      !s.ok()) {
    return s;
  }
  if (n.Find("name") == nullptr) return n.Error("name: missing");
  if (auto s = n.Read("name", &rule->name); !s.ok()) return s;
  if (auto s = n.Read("routes", &rule->routes); !s.ok()) return s;
  if (auto s = n.Read("clusters", &rule->clusters); !s.ok()) return s;
  if (auto s = n.Read("methods", &rule->methods); !s.ok()) return s;
  if (const ConfigNode* key = n.Find("key")) {
    if (auto s = ParseKey(*key, &rule->key); !s.ok()) return s;
  }
  if (auto s = n.Read("skip_if_key_missing", &rule->skip_if_key_missing); !s.ok()) return s;
  if (auto s = n.ReadInt("cost", &rule->cost, uint64_t{1}); !s.ok()) return s;
  const ConfigNode* algorithm = nullptr;
  for (const ConfigNode& a : n.children()) {  // document order, for the error
    bool is_algorithm = false;
    for (std::string_view kind : kAlgorithms) is_algorithm |= a.key() == kind;
    if (!is_algorithm) continue;
    if (algorithm != nullptr) return a.Error("a rule has exactly one algorithm");
    algorithm = &a;
    RateLimitAlgorithm parsed;
    if (auto s = ParseAlgorithm(a, a.key(), &parsed); !s.ok()) return s;
    rule->local = std::move(parsed);
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
    auto v = f->AsString();
    if (!v.ok()) return v.status();
    if (*v == "allow") {
      rule->failure_mode = RateLimitFailureMode::kAllow;
    } else if (*v == "deny") {
      rule->failure_mode = RateLimitFailureMode::kDeny;
    } else {
      return f->Error("expected allow or deny");
    }
  }
  if (const ConfigNode* o = n.Find("on_limit")) {
    if (auto s = ParseOnLimit(*o, &rule->on_limit); !s.ok()) return s;
  }
  if (auto s = rule->Validate(); !s.ok()) return n.Error(View(s.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<RateLimitFilterConfig> ParseRateLimitFilterConfig(const ConfigNode& n,
                                                                 const GatewayConfig& gateway) {
  RateLimitFilterConfig config;
  config.trusted_proxies = gateway.proxy.trusted_proxies;
  if (n.IsNull()) return n.Error("rate_limit needs a config with rules");
  if (auto s = n.ExpectMap({"rules", "headers", "dry_run", "status", "trusted_proxies"}); !s.ok())
    return s;
  if (const ConfigNode* h = n.Find("headers")) {
    auto v = h->AsString();
    if (!v.ok()) return v.status();
    if (*v == "ietf") {
      config.headers = RateLimitHeaders::kIetf;
    } else if (*v == "legacy") {
      config.headers = RateLimitHeaders::kLegacy;
    } else if (*v == "both") {
      config.headers = RateLimitHeaders::kBoth;
    } else if (*v == "none") {
      config.headers = RateLimitHeaders::kNone;
    } else {
      return h->Error("expected ietf, legacy, both or none");
    }
  }
  if (auto s = n.Read("dry_run", &config.dry_run); !s.ok()) return s;
  if (auto s = n.ReadInt("status", &config.status, 400, 599); !s.ok()) return s;
  if (const ConfigNode* t = n.Find("trusted_proxies")) {
    auto list = t->AsStringList();
    if (!list.ok()) return list.status();
    if (auto parsed = AddressRanges::Parse(*list); !parsed.ok()) {
      return t->Error(View(parsed.status().message()));
    }
    config.trusted_proxies = *std::move(list);
  }
  const ConfigNode* rules = n.Find("rules");
  if (rules == nullptr) return n.Error("rules: missing");
  if (!rules->IsSequence() || rules->size() == 0) return rules->Error("expected a list of rules");
  std::set<std::string> names;
  for (const ConfigNode& r : rules->children()) {
    RateLimitRule rule;
    if (auto s = ParseRule(r, &rule); !s.ok()) return s;
    if (!names.insert(rule.name).second) {
      const ConfigNode* name = r.Find("name");
      return name->Error(absl::StrCat("duplicate rule name \"", rule.name, "\""));
    }
    config.rules.push_back(std::move(rule));
  }
  return config;
}

}  // namespace gateway
