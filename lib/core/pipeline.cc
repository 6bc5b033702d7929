#include "gateway/pipeline.h"

#include <type_traits>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

// The route's breaker config with its name defaulted to the route's.
BreakerConfig NamedBreaker(const RouteSpec& spec) {
  BreakerConfig config = spec.breaker;
  std::visit(
      [&](auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (!std::is_same_v<T, std::monostate> && !std::is_same_v<T, UserBreaker>) {
          if (c.name.empty()) c.name = spec.name;
        }
      },
      config);
  return config;
}

class FunctionFilterFactory final : public FilterFactory {
 public:
  FunctionFilterFactory(std::string name,
                        absl::AnyInvocable<std::unique_ptr<Filter>(const Route&) const> create)
      : name_(std::move(name)), create_(std::move(create)) {}
  std::string_view name() const override { return name_; }
  std::unique_ptr<Filter> Create(const Route& route) const override { return create_(route); }

 private:
  std::string name_;
  absl::AnyInvocable<std::unique_ptr<Filter>(const Route&) const> create_;
};

}  // namespace

std::shared_ptr<const FilterFactory> MakeFilterFactory(
    std::string name, absl::AnyInvocable<std::unique_ptr<Filter>(const Route&) const> create) {
  return std::make_shared<FunctionFilterFactory>(std::move(name), std::move(create));
}

absl::StatusOr<std::shared_ptr<const Pipeline>> PipelineBuilder::Build() {
  if (router_ == nullptr) return absl::InvalidArgumentError("pipeline: no router given");
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (filters_[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("pipeline: filter #", i, " is null"));
    }
  }
  if (absl::Status s = proxy_options_.Validate(); !s.ok()) return s;
  if (clusters_ != nullptr) {
    // A route's hash policy on a cluster that does not hash would look like
    // affinity and do nothing. Clusters named by a capture are only known
    // per request; there the policy is ignored.
    for (const auto& route : router_->routes()) {
      const RouteSpec& spec = route->spec();
      if (spec.hash_policy.empty() || spec.cluster.empty()) continue;
      const ClusterSpec* cluster = clusters_->Find(spec.cluster);
      if (cluster != nullptr && !UsesHashKey(cluster->lb.policy)) {
        return absl::InvalidArgumentError(
            absl::StrCat("route '", spec.name, "': hash_policy: cluster '", spec.cluster,
                         "' does not balance by hash (ip_hash, ring_hash or maglev)"));
      }
    }
  }
  auto p = std::shared_ptr<Pipeline>(new Pipeline());
  // The route breakers are the proxy's per-route state, not the router's: the
  // router stays a pure matcher, and every pipeline (so every reload) starts
  // its built-in breakers closed. Indexed by Route::index, so a request finds
  // its route's breaker without a lookup.
  const auto& routes = router_->routes();
  for (size_t i = 0; i < routes.size(); ++i) {
    const RouteSpec& spec = routes[i]->spec();
    if (std::holds_alternative<std::monostate>(spec.breaker)) continue;
    // The router validated the config; this only fails for a config it did not.
    auto breaker = MakeCircuitBreaker(NamedBreaker(spec), SystemClock(), route_breaker_observer_);
    if (!breaker.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("route '", spec.name, "': breaker: ", breaker.status().message()));
    }
    if (p->route_breakers_.empty()) p->route_breakers_.resize(routes.size());
    p->route_breakers_[i] = *std::move(breaker);
  }
  p->clusters_ = clusters_;
  p->proxy_options_ = proxy_options_;
  p->router_ = router_;
  p->filters_ = filters_;
  p->path_policy_ = path_policy_;
  return std::shared_ptr<const Pipeline>(std::move(p));
}

}  // namespace gateway
