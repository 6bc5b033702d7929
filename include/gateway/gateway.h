// Umbrella header: the whole public API of the gateway library.
#ifndef GATEWAY_GATEWAY_H_
#define GATEWAY_GATEWAY_H_

#include "gateway/body_buffer.h"
#include "gateway/call_outcome.h"
#include "gateway/circuit_breaker.h"
#include "gateway/client_address.h"
#include "gateway/clock.h"
#include "gateway/cluster.h"
#include "gateway/cluster_resilience.h"
#include "gateway/codec.h"
#include "gateway/concurrency_limit.h"
#include "gateway/dispatcher.h"
#include "gateway/filter.h"
#include "gateway/filters/request_id.h"
#include "gateway/hash_policy.h"
#include "gateway/health_check.h"
#include "gateway/http.h"
#include "gateway/outlier_detection.h"
#include "gateway/pipeline.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/rate_limiter.h"
#include "gateway/redis_rate_limiter.h"
#include "gateway/resilience_stats.h"
#include "gateway/response_flag.h"
#include "gateway/router.h"
#include "gateway/runtime.h"
#include "gateway/server.h"

#endif  // GATEWAY_GATEWAY_H_
