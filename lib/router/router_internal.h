// Test hooks of the router. Private to lib/router and its tests.
#ifndef GATEWAY_LIB_ROUTER_ROUTER_INTERNAL_H_
#define GATEWAY_LIB_ROUTER_ROUTER_INTERNAL_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/router.h"

namespace gateway::internal {

// Like Router::Build, but the router tries every route in (priority,
// definition) order instead of consulting its index: the plain linear scan the
// indexed matcher must agree with.
absl::StatusOr<std::shared_ptr<const Router>> BuildUnindexedRouterForTesting(
    std::vector<RouteSpec> routes);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_ROUTER_ROUTER_INTERNAL_H_
