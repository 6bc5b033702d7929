// The request-id filter ("request_id" in YAML): gives every request an id
// that the upstream and the client both see.
//
//   PipelineBuilder{}.Routes(router).Add(MakeRequestIdFilter()).Build();
//
// Contract:
// - A request without `X-Request-Id` gets one: 32 lower-case hex digits of
//   128 random bits (per thread generator, not cryptographic), added to the
//   request headers before later filters and the upstream see them.
// - A request that has `X-Request-Id` keeps it unchanged; the filter never
//   validates or rewrites a received id.
// - The response (upstream or local reply) gets the same id in
//   `X-Request-Id` unless it already has one.
// - Per request the filter allocates nothing when it generates the id; a
//   received id is copied once.
//
// The factory is immutable and thread-safe; it takes no configuration.
#ifndef GATEWAY_FILTERS_REQUEST_ID_H_
#define GATEWAY_FILTERS_REQUEST_ID_H_

#include <memory>

#include "gateway/filter.h"

namespace gateway {

std::shared_ptr<const FilterFactory> MakeRequestIdFilter();

}  // namespace gateway

#endif  // GATEWAY_FILTERS_REQUEST_ID_H_
