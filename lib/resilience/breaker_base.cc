#include "resilience/breaker_base.h"

#include <utility>

namespace gateway {

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)),
      token_(other.token_),
      started_(other.started_) {}

CircuitBreaker::Permit& CircuitBreaker::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Record({.result = CallResult::kCancelled});
    breaker_ = std::exchange(other.breaker_, nullptr);
    token_ = other.token_;
    started_ = other.started_;
  }
  return *this;
}

CircuitBreaker::Permit::~Permit() { Record({.result = CallResult::kCancelled}); }

void CircuitBreaker::Permit::Record(const CallOutcome& outcome) {
  if (CircuitBreaker* breaker = std::exchange(breaker_, nullptr)) {
    breaker->OnPermitDone(token_, started_, outcome);
  }
}

absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeCircuitBreaker(
    BreakerConfig config, const Clock& clock, std::shared_ptr<ResilienceObserver> observer) {
  if (auto* c = std::get_if<ConsecutiveFailureBreakerConfig>(&config)) {
    return MakeConsecutiveFailureBreaker(std::move(*c), clock, std::move(observer));
  }
  if (auto* c = std::get_if<SlidingWindowBreakerConfig>(&config)) {
    return MakeSlidingWindowBreaker(std::move(*c), clock, std::move(observer));
  }
  if (auto* user = std::get_if<UserBreaker>(&config)) {
    if (*user == nullptr) return absl::InvalidArgumentError("the user breaker is null");
    return std::move(*user);
  }
  return std::shared_ptr<CircuitBreaker>();
}

namespace internal {

BreakerBase::BreakerBase(std::string name, const Clock& clock,
                         std::shared_ptr<ResilienceObserver> observer)
    : clock_(clock), name_(std::move(name)), observer_(std::move(observer)) {}

BreakerState BreakerBase::Visible(uint64_t w) {
  // A transition in progress shows as its target: the old state is already
  // gone for every caller (busy refuses like open would).
  uint32_t state = StateOf(w) == kBusy ? PayloadOf(w) : StateOf(w);
  switch (state) {
    case kOpen:
      return BreakerState::kOpen;
    case kHalfOpen:
      return BreakerState::kHalfOpen;
    default:
      return BreakerState::kClosed;
  }
}

uint64_t BreakerBase::Count(uint32_t to) {
  switch (to) {
    case kOpen:
      opened_.fetch_add(1, std::memory_order_relaxed);
      break;
    case kHalfOpen:
      half_opened_.fetch_add(1, std::memory_order_relaxed);
      break;
    default:
      closed_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  return transitions_.fetch_add(1, std::memory_order_relaxed) + 1;
}

void BreakerBase::Announce(uint64_t sequence, uint32_t from, uint32_t to, absl::Duration open_for,
                           std::string_view reason) const {
  if (observer_ == nullptr) return;
  BreakerTransition event;
  event.breaker = name_;
  event.from = Visible(Pack(from, 0, 0, 0));
  event.to = Visible(Pack(to, 0, 0, 0));
  event.sequence = sequence;
  event.open_for = to == kOpen ? open_for : absl::ZeroDuration();
  event.reason = reason;
  observer_->OnBreakerTransition(event);
}

BreakerStats BreakerBase::BaseStats() const {
  BreakerStats stats;
  stats.state = state();
  stats.rejected = rejected_.load(std::memory_order_relaxed);
  stats.opened = opened_.load(std::memory_order_relaxed);
  stats.half_opened = half_opened_.load(std::memory_order_relaxed);
  stats.closed = closed_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace internal
}  // namespace gateway
