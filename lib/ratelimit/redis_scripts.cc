// The Lua scripts behind the Redis limiters, config validation and the
// checks applied to their replies (see docs/rate-limiting.md#redis).

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ip_literal.h"
#include "gateway/redis_rate_limiter.h"

namespace gateway {
namespace {

// Every script reads Redis' clock, so all gateways sharing the server agree on
// time, and returns {allowed 0|1, remaining, reset ms, retry-after ms (-1:
// never)}. Numbers stay below 2^53 (see kMaxRedisLimit) so Lua's doubles are
// exact.

// ARGV: limit, window ms, cost. One counter per window, named after the
// window's start; windows are aligned to the epoch.
constexpr std::string_view kFixedWindowScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = now - (now % window)
local key = KEYS[1] .. ':' .. start
local used = tonumber(redis.call('GET', key) or '0')
local reset = start + window - now
if used + cost > limit then
  local retry = reset
  if cost > limit then retry = -1 end
  local left = limit - used
  if left < 0 then left = 0 end
  return {0, left, reset, retry}
end
if cost > 0 then
  used = redis.call('INCRBY', key, cost)
  if used == cost then redis.call('PEXPIRE', key, reset + 1000) end
end
if used == 0 then reset = 0 end
return {1, limit - used, reset, 0}
)lua";

// ARGV: limit, window ms, cost. The previous window's count weighted by how
// much of it the sliding window still covers, plus the current count.
constexpr std::string_view kSlidingWindowScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local start = now - (now % window)
local elapsed = now - start
local cur_key = KEYS[1] .. ':' .. start
local prev = tonumber(redis.call('GET', KEYS[1] .. ':' .. (start - window)) or '0')
local cur = tonumber(redis.call('GET', cur_key) or '0')
local used = prev * (window - elapsed) / window + cur
local function reset_of(c)
  if c > 0 then return window - elapsed + window end
  if prev > 0 then return window - elapsed end
  return 0
end
if used + cost > limit then
  local retry
  if cost > limit then
    retry = -1
  elseif cur + cost <= limit then
    -- Later in this window, once enough of the previous one slid out.
    retry = math.ceil(window - (limit - cur - cost) * window / prev) - elapsed
  else
    -- In the next window, where this window's count becomes the weighted one.
    retry = window - elapsed
    local e = math.ceil(window - (limit - cost) * window / cur)
    if e > 0 then retry = retry + e end
  end
  if retry < 1 and retry ~= -1 then retry = 1 end
  local left = math.floor(limit - used)
  if left < 0 then left = 0 end
  return {0, left, reset_of(cur), retry}
end
if cost > 0 then
  cur = redis.call('INCRBY', cur_key, cost)
  if cur == cost then redis.call('PEXPIRE', cur_key, 2 * window - elapsed + 1000) end
end
return {1, math.floor(limit - prev * (window - elapsed) / window - cur), reset_of(cur), 0}
)lua";

// ARGV: rate, per ms, burst, cost. A hash {t = tokens, ts = ms of the last
// refill}; refill is continuous. A missing hash is a full bucket.
constexpr std::string_view kTokenBucketScript = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, per, burst, cost =
    tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local v = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(v[1]), tonumber(v[2])
if tokens == nil or ts == nil or tokens < 0 or tokens > burst then tokens, ts = burst, now end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / per)
  ts = now
end
local allowed, retry = 1, 0
if cost > burst then
  allowed, retry = 0, -1
elseif tokens >= cost then
  tokens = tokens - cost
else
  allowed, retry = 0, math.ceil((cost - tokens) * per / rate)
end
local fill = math.ceil((burst - tokens) * per / rate)
if allowed == 1 and cost > 0 then
  redis.call('HSET', KEYS[1], 't', tokens, 'ts', ts)
  redis.call('PEXPIRE', KEYS[1], fill + 1000)
end
return {allowed, math.floor(tokens), fill, retry}
)lua";

// Limits, costs and times stay exact in Lua's doubles.
constexpr uint64_t kMaxRedisLimit = uint64_t{1} << 40;
constexpr absl::Duration kMaxRedisWindow = absl::Hours(24 * 366);

absl::Status CheckMillis(absl::string_view what, absl::Duration d) {
  if (d < absl::Milliseconds(1) || d > kMaxRedisWindow) {
    return absl::InvalidArgumentError(absl::StrCat("redis: ", what, " must be in [1ms, 366d]"));
  }
  if (d != absl::Milliseconds(absl::ToInt64Milliseconds(d))) {
    return absl::InvalidArgumentError(
        absl::StrCat("redis: ", what, " must be a whole number of milliseconds"));
  }
  return absl::OkStatus();
}

uint64_t LimitOf(const RedisRateLimitAlgorithm& algorithm) {
  return std::visit(
      [](const auto& c) -> uint64_t {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, TokenBucketConfig>) {
          return c.burst == 0 ? c.rate : c.burst;
        } else {
          return c.limit;
        }
      },
      algorithm);
}

absl::Duration WindowOf(const RedisRateLimitAlgorithm& algorithm) {
  return std::visit(
      [](const auto& c) -> absl::Duration {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, TokenBucketConfig>) {
          uint64_t burst = c.burst == 0 ? c.rate : c.burst;
          return c.per * static_cast<double>(burst) / static_cast<double>(c.rate);
        } else {
          return c.window;
        }
      },
      algorithm);
}

// RFC 1123 names: dot-separated labels of letters, digits and inner hyphens,
// 253 characters at most ("_" too, which service discovery names use).
bool IsHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool ok =
        absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || (c == '-' && label > 0);
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && name.back() != '-';
}

}  // namespace

absl::Status RedisRateLimitConfig::Validate() const {
  if (!internal::IsIpLiteral(address) && !IsHostName(address)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "redis: address \"", address, "\" is neither an IP address literal nor a host name"));
  }
  if (port == 0) return absl::InvalidArgumentError("redis: port must be > 0");
  if (db < 0) return absl::InvalidArgumentError("redis: db must be >= 0");
  if (key_prefix.find_first_of(std::string_view("\0\r\n", 3)) != std::string::npos) {
    return absl::InvalidArgumentError("redis: key_prefix must not contain NUL, CR or LF");
  }
  if (call_timeout <= absl::ZeroDuration() || call_timeout > absl::Minutes(1)) {
    return absl::InvalidArgumentError("redis: call_timeout must be in (0, 1m]");
  }
  if (max_pending == 0 || max_pending > (size_t{1} << 20)) {
    return absl::InvalidArgumentError("redis: max_pending must be in [1, 1048576]");
  }
  if (reconnect_backoff_min <= absl::ZeroDuration() ||
      reconnect_backoff_max < reconnect_backoff_min) {
    return absl::InvalidArgumentError("redis: reconnect backoff must satisfy 0 < min <= max");
  }
  if (stall_timeout < call_timeout) {
    return absl::InvalidArgumentError("redis: stall_timeout must be >= call_timeout");
  }
  return std::visit(
      [](const auto& c) -> absl::Status {
        using T = std::decay_t<decltype(c)>;
        if (auto s = c.Validate(); !s.ok()) return s;
        if constexpr (std::is_same_v<T, TokenBucketConfig>) {
          if (auto s = CheckMillis("token_bucket per", c.per); !s.ok()) return s;
          if (c.rate > kMaxRedisLimit || c.burst > kMaxRedisLimit) {
            return absl::InvalidArgumentError("redis: token_bucket rate and burst must be <= 2^40");
          }
        } else {
          if (auto s = CheckMillis("window", c.window); !s.ok()) return s;
          if (c.limit > kMaxRedisLimit) {
            return absl::InvalidArgumentError("redis: limit must be <= 2^40");
          }
        }
        return absl::OkStatus();
      },
      algorithm);
}

std::string_view RedisRateLimitScript(const RedisRateLimitAlgorithm& algorithm) {
  switch (algorithm.index()) {
    case 0:
      return kTokenBucketScript;
    case 1:
      return kFixedWindowScript;
    default:
      return kSlidingWindowScript;
  }
}

absl::StatusOr<RateDecision> RedisReplyToDecision(const RedisRateLimitAlgorithm& algorithm,
                                                  const RedisScriptReply& reply) {
  const uint64_t limit = LimitOf(algorithm);
  const absl::Duration window = WindowOf(algorithm);
  const int64_t window_ms = absl::ToInt64Milliseconds(absl::Ceil(window, absl::Milliseconds(1)));
  if (reply.remaining < 0 || static_cast<uint64_t>(reply.remaining) > limit) {
    return absl::DataLossError(
        absl::StrCat("redis: remaining ", reply.remaining, " outside [0, ", limit, "]"));
  }
  // A sliding window may report a reset of up to two windows.
  if (reply.reset_ms < 0 || reply.reset_ms > 2 * window_ms + 1) {
    return absl::DataLossError(absl::StrCat("redis: reset ", reply.reset_ms, "ms out of range"));
  }
  if (reply.allowed ? reply.retry_after_ms != 0
                    : (reply.retry_after_ms < -1 || reply.retry_after_ms > 2 * window_ms + 1)) {
    return absl::DataLossError(
        absl::StrCat("redis: retry-after ", reply.retry_after_ms, "ms out of range"));
  }
  RateDecision d;
  d.allowed = reply.allowed;
  d.limit = limit;
  d.remaining = static_cast<uint64_t>(reply.remaining);
  d.reset = absl::Milliseconds(reply.reset_ms);
  d.retry_after = reply.retry_after_ms < 0 ? absl::InfiniteDuration()
                                           : absl::Milliseconds(reply.retry_after_ms);
  d.window = window;
  return d;
}

}  // namespace gateway
