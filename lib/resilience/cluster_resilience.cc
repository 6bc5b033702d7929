#include "gateway/cluster_resilience.h"

#include <string>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

// The spec's parts with the shared classifier and the cluster's name applied.
struct Resolved {
  BreakerConfig breaker;
  ConcurrencyLimitsConfig limits;
  std::optional<OutlierDetectionConfig> outlier_detection;
};

Resolved Resolve(std::string_view cluster, const ClusterResilienceSpec& spec) {
  Resolved r{spec.breaker, spec.limits, spec.outlier_detection};
  std::visit(
      [&](auto& config) {
        using T = std::decay_t<decltype(config)>;
        // A user's breaker classifies on its own and keeps its own name.
        if constexpr (!std::is_same_v<T, std::monostate> && !std::is_same_v<T, UserBreaker>) {
          config.classifier = spec.classifier;
          if (config.name.empty()) config.name = std::string(cluster);
        }
      },
      r.breaker);
  if (r.limits.name.empty()) r.limits.name = std::string(cluster);
  if (r.outlier_detection) r.outlier_detection->classifier = spec.classifier;
  return r;
}

absl::Status Prefixed(std::string_view part, const absl::Status& s) {
  return absl::InvalidArgumentError(
      absl::StrCat(absl::string_view(part.data(), part.size()), ": ", s.message()));
}

absl::Status ValidateResolved(const Resolved& r) {
  absl::Status s = std::visit(
      [](const auto& config) {
        using T = std::decay_t<decltype(config)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return absl::OkStatus();
        } else if constexpr (std::is_same_v<T, UserBreaker>) {
          return config != nullptr ? absl::OkStatus()
                                   : absl::InvalidArgumentError("the user breaker is null");
        } else {
          return config.Validate();
        }
      },
      r.breaker);
  if (!s.ok()) return Prefixed("breaker", s);
  if (s = r.limits.Validate(); !s.ok()) return Prefixed("limits", s);
  if (r.outlier_detection) {
    if (s = r.outlier_detection->Validate(); !s.ok()) return Prefixed("outlier_detection", s);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ClusterResilienceSpec::Validate() const {
  if (absl::Status s = classifier.Validate(); !s.ok()) return s;
  return ValidateResolved(Resolve("", *this));
}

absl::StatusOr<ClusterResilience> BuildClusterResilience(
    std::string_view cluster, const ClusterResilienceSpec& spec, const Clock& clock,
    std::shared_ptr<ResilienceObserver> observer) {
  auto fail = [&](const absl::Status& s) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster '", absl::string_view(cluster.data(), cluster.size()), "': ", s.message()));
  };
  if (absl::Status s = spec.Validate(); !s.ok()) return fail(s);
  Resolved r = Resolve(cluster, spec);
  ClusterResilience built;
  auto breaker = MakeCircuitBreaker(std::move(r.breaker), clock, observer);
  if (!breaker.ok()) return fail(breaker.status());
  built.breaker = *std::move(breaker);
  auto limits = ConcurrencyLimits::Create(std::move(r.limits));
  if (!limits.ok()) return fail(limits.status());
  built.limits = *std::move(limits);
  if (r.outlier_detection) {
    auto detector = OutlierDetector::Create(std::string(cluster), *std::move(r.outlier_detection),
                                            clock, std::move(observer));
    if (!detector.ok()) return detector.status();
    built.outlier_detector = *std::move(detector);
  }
  return built;
}

}  // namespace gateway
