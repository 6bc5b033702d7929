// Reading a rate-limit script's reply from hiredis' parsed form.
#ifndef GATEWAY_LIB_RATELIMIT_REDIS_REPLY_H_
#define GATEWAY_LIB_RATELIMIT_REDIS_REPLY_H_

#include <hiredis/hiredis.h>

#include "absl/status/statusor.h"
#include "gateway/redis_rate_limiter.h"

namespace gateway::internal {

// The reply must be an array of exactly four integers with allowed in {0, 1};
// anything else (an error reply, other types, a nil) is an error naming it.
// `reply` may be null (the connection went away).
absl::StatusOr<RedisScriptReply> ParseRedisScriptReply(const redisReply* reply);

// The most elements a reply array may declare. Hiredis 0.14 allocates what
// the header announces before a single element arrives, so "*466666666\r\n"
// from a broken or hostile server would cost gigabytes; the limiter's replies
// have at most a few elements, so a larger one is refused as a read error.
inline constexpr int kMaxRedisReplyElements = 1024;

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_RATELIMIT_REDIS_REPLY_H_
