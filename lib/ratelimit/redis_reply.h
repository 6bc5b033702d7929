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

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_RATELIMIT_REDIS_REPLY_H_
