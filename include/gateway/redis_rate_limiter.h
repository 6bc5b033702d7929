// Distributed rate limits kept in Redis, shared by every gateway process that
// points at the same server (see docs/rate-limiting.md#redis).
//
//   auto redis = MakeRedisRateLimiterFactory({
//       .port = 6379,
//       .algorithm = FixedWindowConfig{.limit = 100, .window = absl::Seconds(1)},
//       .key_prefix = "gw:api:"});
//   RateLimitRule rule{.name = "api", .remote = *redis, .key = {RateLimitKeyPart::ClientIp()},
//                      .failure_mode = RateLimitFailureMode::kAllow};
//
// Each decision is one atomic Lua script run by Redis (EVALSHA, falling back
// to EVAL when the server does not know the script), timed by Redis' own
// clock (TIME), so every gateway agrees on window edges whatever its local
// clock says.
//
// Threading and lifetime: the factory is immutable and shared by every
// worker. Each loop gets its own limiter with one non-blocking connection to
// Redis on that loop; the connection is opened when the limiter is created and
// reopened with backoff whenever it fails. Every call is bounded by
// `call_timeout`, and at most `max_pending` commands wait for Redis per loop;
// beyond that calls fail at once. Failures reach the caller as errors (the
// rate-limit filter then fails open or closed, per rule).
#ifndef GATEWAY_REDIS_RATE_LIMITER_H_
#define GATEWAY_REDIS_RATE_LIMITER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/cluster.h"
#include "gateway/rate_limiter.h"

namespace gateway {

// The algorithms Redis runs. They take the local configs; `max_keys` is
// ignored (Redis expires idle keys itself). Durations are whole milliseconds.
//  - TokenBucketConfig: a hash {t: tokens, ts: last refill ms} per key.
//  - FixedWindowConfig: one counter per key and window; windows are aligned
//    to multiples of `window` since the Unix epoch in Redis time, so every
//    gateway shares the same edges.
//  - SlidingWindowCounterConfig: the two-window weighted counter (current
//    window's count plus the previous one's weighted by its overlap), O(1)
//    per key like the local `sliding_window`.
using RedisRateLimitAlgorithm =
    std::variant<TokenBucketConfig, FixedWindowConfig, SlidingWindowCounterConfig>;

struct RedisRateLimitConfig {
  // The server: an IPv4 or IPv6 address literal, or a host name (a container
  // or Kubernetes service name). A name is resolved by `resolver` before
  // every connection attempt, on libuv's thread pool (never on the loop), so
  // a reconnect follows a moved server; its addresses are tried in the order
  // the resolver gives them. A name that does not resolve counts as Redis
  // down: calls fail at once, then fail open or closed as the rule says.
  std::string address = "127.0.0.1";
  // Resolves a host name `address`; nullptr: MakeSystemResolver()
  // (getaddrinfo). Called on libuv's pool threads, possibly concurrently for
  // several loops: must be thread-safe. Unused for an address literal.
  std::shared_ptr<Resolver> resolver;
  uint16_t port = 6379;
  std::string password = "";  // AUTH when not empty
  int db = 0;                 // SELECT when not 0

  RedisRateLimitAlgorithm algorithm = FixedWindowConfig{};
  // Prepended to every key ("<prefix><rule key>"); distinct rules sharing a
  // server need distinct prefixes.
  std::string key_prefix = "gateway:rl:";

  // The longest one call waits for Redis before failing.
  absl::Duration call_timeout = absl::Milliseconds(50);
  // Commands sent and not yet answered, per loop (answers to calls that timed
  // out still count until Redis sends them). A call beyond this fails at once.
  size_t max_pending = 1024;
  // Reconnection after a failed or lost connection: the wait starts at `min`
  // and doubles up to `max` while attempts keep failing.
  absl::Duration reconnect_backoff_min = absl::Milliseconds(100);
  absl::Duration reconnect_backoff_max = absl::Seconds(2);
  // An answer this late means the connection is stuck (a paused or frozen
  // server, a dead peer TCP has not noticed yet): it is closed and reopened.
  absl::Duration stall_timeout = absl::Seconds(1);

  // Where each loop's connection reports going down and coming back, one line
  // per transition, e.g.
  //   redis localhost:6379 (key prefix "gateway:rl:api:"): down (Connection refused)
  //   redis localhost:6379 (key prefix "gateway:rl:api:"): up
  // A first connection that fails is a "down" line; a first one that works
  // says nothing. Attempts that keep failing while down add no line. Called on
  // the loop of the connection, from every loop at once: must be thread-safe.
  // Null: lines go to stderr, prefixed "gateway: ".
  std::function<void(std::string_view line)> log;

  absl::Status Validate() const;
};

// What one script run returned, before it becomes a RateDecision. Exposed for
// tests of reply validation.
struct RedisScriptReply {
  bool allowed = false;
  int64_t remaining = 0;
  int64_t reset_ms = 0;
  int64_t retry_after_ms = 0;  // -1: never (cost above the limit)
};

// Checks a script reply against `algorithm` (Redis replies are untrusted) and
// turns it into a decision. Errors name what was wrong.
absl::StatusOr<RateDecision> RedisReplyToDecision(const RedisRateLimitAlgorithm& algorithm,
                                                  const RedisScriptReply& reply);

// The Lua source Redis runs for `algorithm` (KEYS[1] = prefixed key; ARGV as
// documented at the top of each script).
std::string_view RedisRateLimitScript(const RedisRateLimitAlgorithm& algorithm);

// Validates `config` and builds the factory. Nothing connects until a loop
// creates its limiter.
absl::StatusOr<std::shared_ptr<const AsyncRateLimiterFactory>> MakeRedisRateLimiterFactory(
    RedisRateLimitConfig config);

}  // namespace gateway

#endif  // GATEWAY_REDIS_RATE_LIMITER_H_
