#include "gateway/resilience_stats.h"

#include <iterator>
#include <utility>

#include "absl/time/time.h"
#include "fmt/format.h"

namespace gateway {
namespace {

class LoggingObserver final : public ResilienceObserver {
 public:
  explicit LoggingObserver(absl::AnyInvocable<void(std::string_view) const> log)
      : log_(std::move(log)) {}

  void OnBreakerTransition(const BreakerTransition& event) override { log_(FormatEvent(event)); }
  void OnHostEjection(const HostEjectionEvent& event) override { log_(FormatEvent(event)); }

 private:
  absl::AnyInvocable<void(std::string_view) const> log_;
};

}  // namespace

std::string_view BreakerStateName(BreakerState state) {
  switch (state) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kOpen:
      return "open";
    case BreakerState::kHalfOpen:
      return "half_open";
  }
  return "unknown";
}

std::string_view EjectionReasonName(EjectionReason reason) {
  switch (reason) {
    case EjectionReason::kConsecutive5xx:
      return "consecutive_5xx";
    case EjectionReason::kConsecutiveGatewayFailure:
      return "consecutive_gateway_failure";
    case EjectionReason::kExpired:
      return "expired";
    case EjectionReason::kActiveCheck:
      return "active_check";
    case EjectionReason::kRemoved:
      return "removed";
  }
  return "unknown";
}

std::string FormatEvent(const BreakerTransition& event) {
  std::string line = fmt::format("circuit breaker '{}': {} -> {}", event.breaker,
                                 BreakerStateName(event.from), BreakerStateName(event.to));
  if (event.to == BreakerState::kOpen) {
    fmt::format_to(std::back_inserter(line), " ({}{}open for {})", event.reason,
                   event.reason.empty() ? "" : "; ", absl::FormatDuration(event.open_for));
  } else if (!event.reason.empty()) {
    fmt::format_to(std::back_inserter(line), " ({})", event.reason);
  }
  return line;
}

std::string FormatEvent(const HostEjectionEvent& event) {
  if (event.ejected) {
    return fmt::format("outlier detection '{}': host {} ejected for {} ({}, {} time{})",
                       event.cluster, event.host, absl::FormatDuration(event.duration),
                       EjectionReasonName(event.reason), event.times_ejected,
                       event.times_ejected == 1 ? "" : "s");
  }
  return fmt::format("outlier detection '{}': host {} returned ({})", event.cluster, event.host,
                     EjectionReasonName(event.reason));
}

std::shared_ptr<ResilienceObserver> MakeLoggingObserver(
    absl::AnyInvocable<void(std::string_view line) const> log) {
  return std::make_shared<LoggingObserver>(std::move(log));
}

}  // namespace gateway
