// Redis limiter pieces that need no server: config validation, the checks on
// script replies, and factories on loops without sockets.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/redis_rate_limiter.h"
#include "gateway/testing/harness.h"
#include "ratelimit/redis_reply.h"

namespace gateway {
namespace {

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST_CASE("redis config: defaults are valid and bad values are refused with a reason") {
  RedisRateLimitConfig ok{.algorithm = FixedWindowConfig{.limit = 100}};
  CHECK(ok.Validate().ok());
  CHECK(ok.call_timeout == absl::Milliseconds(50));

  auto bad = [&](auto mutate) {
    RedisRateLimitConfig c = ok;
    mutate(c);
    return Message(c.Validate());
  };
  CHECK(bad([](auto& c) { c.address = "localhost"; }).empty());
  CHECK(bad([](auto& c) { c.address = "redis.cache-1.svc.cluster.local"; }).empty());
  CHECK(bad([](auto& c) { c.address = "::1"; }).empty());
  for (const char* name : {"", "redis host", "-redis", "redis-.local", "a..b", "redis:6379"}) {
    INFO(name);
    CHECK_THAT(bad([&](auto& c) { c.address = name; }),
               Catch::Contains("neither an IP address literal nor a host name"));
  }
  CHECK_THAT(bad([](auto& c) { c.port = 0; }), Catch::Contains("port"));
  CHECK_THAT(bad([](auto& c) { c.db = -1; }), Catch::Contains("db"));
  CHECK_THAT(bad([](auto& c) { c.key_prefix = "a\r\nFLUSHALL"; }), Catch::Contains("key_prefix"));
  CHECK_THAT(bad([](auto& c) { c.call_timeout = absl::ZeroDuration(); }),
             Catch::Contains("call_timeout"));
  CHECK_THAT(bad([](auto& c) { c.max_pending = 0; }), Catch::Contains("max_pending"));
  CHECK_THAT(bad([](auto& c) { c.reconnect_backoff_max = absl::Milliseconds(1); }),
             Catch::Contains("backoff"));
  CHECK_THAT(bad([](auto& c) { c.stall_timeout = absl::Milliseconds(10); }),
             Catch::Contains("stall_timeout"));
  CHECK_THAT(bad([](auto& c) { c.algorithm = FixedWindowConfig{.limit = 0}; }),
             Catch::Contains("limit"));
  CHECK_THAT(bad([](auto& c) {
               c.algorithm = FixedWindowConfig{.limit = 1, .window = absl::Microseconds(1500)};
             }),
             Catch::Contains("whole number of milliseconds"));
  CHECK_THAT(bad([](auto& c) {
               c.algorithm = TokenBucketConfig{.rate = uint64_t{1} << 41, .per = absl::Hours(24)};
             }),
             Catch::Contains("2^40"));
  CHECK(!MakeRedisRateLimiterFactory(RedisRateLimitConfig{.port = 0}).ok());
}

TEST_CASE("redis scripts: each algorithm has its own atomic script reading Redis time") {
  std::string_view tb = RedisRateLimitScript(TokenBucketConfig{.rate = 1});
  std::string_view fw = RedisRateLimitScript(FixedWindowConfig{.limit = 1});
  std::string_view sw = RedisRateLimitScript(SlidingWindowCounterConfig{.limit = 1});
  CHECK(tb != fw);
  CHECK(fw != sw);
  for (std::string_view s : {tb, fw, sw}) CHECK(s.find("redis.call('TIME')") != s.npos);
  CHECK(tb.find("HMGET") != tb.npos);
  CHECK(fw.find("INCRBY") != fw.npos);
  CHECK(fw.find("PEXPIRE") != fw.npos);
}

// Builds hiredis reply trees on the stack.
struct Replies {
  std::vector<redisReply> items;
  std::vector<redisReply*> pointers;
  redisReply array{};

  explicit Replies(std::vector<long long> ints) {
    items.resize(ints.size());
    for (size_t i = 0; i < ints.size(); ++i) {
      items[i].type = REDIS_REPLY_INTEGER;
      items[i].integer = ints[i];
      pointers.push_back(&items[i]);
    }
    array.type = REDIS_REPLY_ARRAY;
    array.elements = pointers.size();
    array.element = pointers.data();
  }
};

TEST_CASE("redis replies: only an array of four integers with allowed 0 or 1 is accepted") {
  Replies good({1, 9, 800, 0});
  auto parsed = internal::ParseRedisScriptReply(&good.array);
  REQUIRE(parsed.ok());
  CHECK(parsed->allowed);
  CHECK(parsed->remaining == 9);
  CHECK(parsed->reset_ms == 800);

  CHECK(internal::ParseRedisScriptReply(nullptr).status().code() == absl::StatusCode::kUnavailable);
  Replies short_array({1, 2, 3});
  CHECK(!internal::ParseRedisScriptReply(&short_array.array).ok());
  Replies bad_allowed({2, 0, 0, 0});
  CHECK_THAT(Message(internal::ParseRedisScriptReply(&bad_allowed.array).status()),
             Catch::Contains("allowed"));
  Replies wrong_type({1, 2, 3, 4});
  wrong_type.items[2].type = REDIS_REPLY_STRING;
  char text[] = "x";
  wrong_type.items[2].str = text;
  wrong_type.items[2].len = 1;
  CHECK(!internal::ParseRedisScriptReply(&wrong_type.array).ok());
  Replies with_null({1, 2, 3, 4});
  with_null.pointers[1] = nullptr;
  CHECK(!internal::ParseRedisScriptReply(&with_null.array).ok());

  redisReply error{};
  char oom[] = "OOM command not allowed when used memory > 'maxmemory'";
  error.type = REDIS_REPLY_ERROR;
  error.str = oom;
  error.len = sizeof(oom) - 1;
  CHECK_THAT(Message(internal::ParseRedisScriptReply(&error).status()), Catch::Contains("OOM"));
  redisReply nil{};
  nil.type = REDIS_REPLY_NIL;
  CHECK(!internal::ParseRedisScriptReply(&nil).ok());
}

TEST_CASE("redis replies: decisions are range-checked against the configured limit") {
  RedisRateLimitAlgorithm fw = FixedWindowConfig{.limit = 10, .window = absl::Seconds(1)};
  auto allowed = RedisReplyToDecision(fw, {.allowed = true, .remaining = 9, .reset_ms = 400});
  REQUIRE(allowed.ok());
  CHECK(allowed->limit == 10);
  CHECK(allowed->remaining == 9);
  CHECK(allowed->reset == absl::Milliseconds(400));
  CHECK(allowed->window == absl::Seconds(1));
  auto denied = RedisReplyToDecision(
      fw, {.allowed = false, .remaining = 0, .reset_ms = 400, .retry_after_ms = 400});
  REQUIRE(denied.ok());
  CHECK_FALSE(denied->allowed);
  CHECK(denied->retry_after == absl::Milliseconds(400));
  auto never = RedisReplyToDecision(
      fw, {.allowed = false, .remaining = 0, .reset_ms = 400, .retry_after_ms = -1});
  REQUIRE(never.ok());
  CHECK(never->retry_after == absl::InfiniteDuration());

  CHECK(!RedisReplyToDecision(fw, {.allowed = true, .remaining = 11}).ok());
  CHECK(!RedisReplyToDecision(fw, {.allowed = true, .remaining = -1}).ok());
  CHECK(!RedisReplyToDecision(fw, {.allowed = true, .remaining = 1, .reset_ms = 1 << 30}).ok());
  CHECK(!RedisReplyToDecision(fw, {.allowed = true, .remaining = 1, .retry_after_ms = 5}).ok());
  CHECK(!RedisReplyToDecision(fw, {.allowed = false, .retry_after_ms = -2}).ok());

  RedisRateLimitAlgorithm tb = TokenBucketConfig{.rate = 10, .burst = 20};
  auto bucket = RedisReplyToDecision(tb, {.allowed = true, .remaining = 19, .reset_ms = 100});
  REQUIRE(bucket.ok());
  CHECK(bucket->limit == 20);
  CHECK(bucket->window == absl::Seconds(2));
}

TEST_CASE("redis factory: a loop without sockets gets no limiter (the call fails)") {
  auto factory = MakeRedisRateLimiterFactory({.algorithm = FixedWindowConfig{.limit = 1}});
  REQUIRE(factory.ok());
  testing::ManualClock clock;
  testing::SimulatedDispatcher dispatcher(clock);
  CHECK((*factory)->Create(dispatcher) == nullptr);
}

}  // namespace
}  // namespace gateway
