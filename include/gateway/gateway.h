// Umbrella header: the whole public API of the gateway library.
#ifndef GATEWAY_GATEWAY_H_
#define GATEWAY_GATEWAY_H_

#include "gateway/client_address.h"
#include "gateway/clock.h"
#include "gateway/codec.h"
#include "gateway/dispatcher.h"
#include "gateway/filter.h"
#include "gateway/http.h"
#include "gateway/pipeline.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/rate_limiter.h"
#include "gateway/redis_rate_limiter.h"
#include "gateway/router.h"
#include "gateway/runtime.h"
#include "gateway/server.h"

#endif  // GATEWAY_GATEWAY_H_
