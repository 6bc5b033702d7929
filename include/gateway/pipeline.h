// A pipeline is the immutable description of how a gateway handles requests:
// the router, the ordered filter factories and the path policy, plus the
// per-route state the proxy shares between workers (the route breakers).
//
// Pipelines are shared by all workers as `std::shared_ptr<const Pipeline>`
// and swapped whole on reload; a request keeps the pipeline it started with
// until it ends.
//
//   auto limits = MakeRateLimitFilter(rate_limits);  // StatusOr, gateway/rate_limit_filter.h
//   auto pipeline = PipelineBuilder{}.Routes(router).Add(*limits).Build();
#ifndef GATEWAY_PIPELINE_H_
#define GATEWAY_PIPELINE_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/circuit_breaker.h"
#include "gateway/cluster.h"
#include "gateway/filter.h"
#include "gateway/proxy.h"
#include "gateway/resilience_stats.h"
#include "gateway/router.h"

namespace gateway {

class Pipeline {
 public:
  const Router& router() const { return *router_; }
  const std::vector<std::shared_ptr<const FilterFactory>>& filters() const { return filters_; }
  const PathPolicy& path_policy() const { return path_policy_; }
  // Upstream clusters for cluster routes; nullptr if the pipeline proxies nowhere.
  const std::shared_ptr<ClusterManager>& clusters() const { return clusters_; }
  const ProxyOptions& proxy_options() const { return proxy_options_; }
  // The breaker of `route` (its RouteSpec::breaker), built with this pipeline
  // and shared by every worker; nullptr if the route configures none or is
  // not one of this pipeline's routes. Thread-safe; no lookup, no allocation.
  CircuitBreaker* route_breaker(const Route& route) const {
    const size_t i = route.index();
    if (i >= route_breakers_.size() || router_->routes()[i].get() != &route) return nullptr;
    return route_breakers_[i].get();
  }

 private:
  friend class PipelineBuilder;
  Pipeline() = default;
  std::shared_ptr<const Router> router_;
  // Parallel to router_->routes(); empty when no route has a breaker.
  std::vector<std::shared_ptr<CircuitBreaker>> route_breakers_;
  std::vector<std::shared_ptr<const FilterFactory>> filters_;
  PathPolicy path_policy_;
  std::shared_ptr<ClusterManager> clusters_;
  ProxyOptions proxy_options_;
};

class PipelineBuilder {
 public:
  PipelineBuilder& Routes(std::shared_ptr<const Router> router) {
    router_ = std::move(router);
    return *this;
  }
  // Appends a filter; request phases run in the order of Add calls.
  PipelineBuilder& Add(std::shared_ptr<const FilterFactory> factory) {
    filters_.push_back(std::move(factory));
    return *this;
  }
  PipelineBuilder& Paths(PathPolicy policy) {
    path_policy_ = policy;
    return *this;
  }
  // Clusters that cluster routes proxy to. Shared: several pipelines (for
  // example before and after a reload) may use the same manager.
  PipelineBuilder& Clusters(std::shared_ptr<ClusterManager> clusters) {
    clusters_ = std::move(clusters);
    return *this;
  }
  PipelineBuilder& Proxy(ProxyOptions options) {
    proxy_options_ = std::move(options);
    return *this;
  }
  // Receives the transitions of the route breakers (RouteSpec::breaker) this
  // builder builds, e.g. a MakeLoggingObserver; may be null. Cluster breakers
  // report to ClusterManagerOptions::observer.
  PipelineBuilder& RouteBreakerObserver(std::shared_ptr<ResilienceObserver> observer) {
    route_breaker_observer_ = std::move(observer);
    return *this;
  }
  // Fails if no router was given, a factory is null, the proxy options are
  // invalid, or a route with a hash_policy names a cluster whose balancer
  // does not hash. Each call builds the route breakers afresh (closed): two
  // pipelines never share a built-in breaker, even on the same router.
  absl::StatusOr<std::shared_ptr<const Pipeline>> Build();

 private:
  std::shared_ptr<const Router> router_;
  std::vector<std::shared_ptr<const FilterFactory>> filters_;
  PathPolicy path_policy_;
  std::shared_ptr<ClusterManager> clusters_;
  ProxyOptions proxy_options_;
  std::shared_ptr<ResilienceObserver> route_breaker_observer_;
};

}  // namespace gateway

#endif  // GATEWAY_PIPELINE_H_
