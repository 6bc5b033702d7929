// Feeds arbitrary bytes to hiredis' own reply reader, as a Redis server (or
// anything answering on its port) could send them, and hands every reply it
// builds to the code that interprets rate-limit script replies: the reply
// parser, then the range checks against a fuzzed algorithm. Checks that an
// accepted reply always becomes a decision within the algorithm's bounds, and
// that a decision is only ever made from a well-formed four-integer array.
#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/time/time.h"
#include "gateway/redis_rate_limiter.h"
#include "ratelimit/redis_reply.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

// The first bytes choose the algorithm the reply is checked against.
gateway::RedisRateLimitAlgorithm Algorithm(const uint8_t*& data, size_t& size) {
  uint8_t kind = 0;
  uint64_t limit = 1;
  int64_t window_ms = 1000;
  if (size >= 3) {
    kind = data[0] % 3;
    limit = 1 + data[1];
    window_ms = 1 + static_cast<int64_t>(data[2]) * 250;
    data += 3;
    size -= 3;
  }
  absl::Duration window = absl::Milliseconds(window_ms);
  switch (kind) {
    case 0:
      return gateway::TokenBucketConfig{.rate = limit, .per = window};
    case 1:
      return gateway::FixedWindowConfig{.limit = limit, .window = window};
    default:
      return gateway::SlidingWindowCounterConfig{.limit = limit, .window = window};
  }
}

bool WellFormed(const redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) return false;
  for (size_t i = 0; i < 4; ++i) {
    if (r->element[i] == nullptr || r->element[i]->type != REDIS_REPLY_INTEGER) return false;
  }
  return r->element[0]->integer == 0 || r->element[0]->integer == 1;
}

}  // namespace

namespace {
void* (*base_create_array)(const redisReadTask*, int) = nullptr;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gateway::RedisRateLimitAlgorithm algorithm = Algorithm(data, size);
  uint64_t limit = std::visit(
      [](const auto& a) -> uint64_t {
        using T = std::decay_t<decltype(a)>;
        if constexpr (std::is_same_v<T, gateway::TokenBucketConfig>) {
          return a.burst != 0 ? a.burst : a.rate;
        } else {
          return a.limit;
        }
      },
      algorithm);

  redisReader* reader = redisReaderCreate();
  Check(reader != nullptr);
  // The limiter's reader refuses arrays longer than kMaxRedisReplyElements
  // before hiredis allocates them; so does this one.
  static redisReplyObjectFunctions guarded = [reader] {
    redisReplyObjectFunctions fn = *reader->fn;
    base_create_array = fn.createArray;
    fn.createArray = [](const redisReadTask* task, int n) -> void* {
      if (n > gateway::internal::kMaxRedisReplyElements) return nullptr;
      return base_create_array(task, n);
    };
    return fn;
  }();
  reader->fn = &guarded;
  // Split the input at a data-derived point, as TCP reads split replies.
  size_t split = size > 0 ? data[0] % (size + 1) : 0;
  bool failed = redisReaderFeed(reader, reinterpret_cast<const char*>(data), split) != REDIS_OK ||
                redisReaderFeed(reader, reinterpret_cast<const char*>(data) + split,
                                size - split) != REDIS_OK;
  // A handful of replies is enough to reach every path; the bound keeps
  // inputs of many tiny replies fast.
  for (int n = 0; !failed && n < 64; ++n) {
    void* out = nullptr;
    if (redisReaderGetReply(reader, &out) != REDIS_OK) break;  // a protocol error
    if (out == nullptr) break;                                 // needs more bytes
    const redisReply* reply = static_cast<const redisReply*>(out);
    absl::StatusOr<gateway::RedisScriptReply> parsed =
        gateway::internal::ParseRedisScriptReply(reply);
    Check(parsed.ok() == WellFormed(reply));
    if (parsed.ok()) {
      absl::StatusOr<gateway::RateDecision> decision =
          gateway::RedisReplyToDecision(algorithm, *parsed);
      if (decision.ok()) {
        Check(decision->limit == limit);
        Check(decision->remaining <= decision->limit);
        Check(decision->reset >= absl::ZeroDuration());
        Check(decision->allowed ? decision->retry_after == absl::ZeroDuration()
                                : decision->retry_after >= absl::ZeroDuration());
      }
    }
    freeReplyObject(out);
  }
  redisReaderFree(reader);
  return 0;
}
