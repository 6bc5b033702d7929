// The consecutive-failure breaker. Payload of the state word:
//   closed     consecutive failures (saturating)
//   half-open  probes in flight (bits 0-15), successful probes (bits 16-31)
// A closed breaker hands out permits and takes successes with one atomic load
// and no write, so healthy traffic shares the word's cache line read-only.
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"
#include "resilience/breaker_base.h"

namespace gateway {
namespace {

class ConsecutiveFailureBreaker final : public internal::BreakerBase {
 public:
  ConsecutiveFailureBreaker(ConsecutiveFailureBreakerConfig config, const Clock& clock,
                            std::shared_ptr<ResilienceObserver> observer)
      : BreakerBase(config.name, clock, std::move(observer)), config_(std::move(config)) {}

  std::optional<Permit> TryAcquire() override {
    uint64_t w = Load();
    for (;;) {
      switch (StateOf(w)) {
        case kClosed:
          return MakePermit(TokenOf(w), absl::ZeroDuration());
        case kHalfOpen: {
          if (InFlight(w) >= config_.half_open_max_calls) {
            CountRejected();
            return std::nullopt;
          }
          const uint64_t next = WithPayload(w, HalfOpen(InFlight(w) + 1, Successes(w)));
          if (Cas(w, next)) return MakePermit(TokenOf(next), absl::ZeroDuration());
          continue;
        }
        case kOpen: {
          if (!OpenElapsed()) break;
          const std::string reason =
              absl::StrCat("open for ", absl::FormatDuration(config_.open_timeout), " elapsed");
          if (uint64_t next =
                  Transition(w, kHalfOpen, 0, HalfOpen(1, 0), absl::ZeroDuration(), reason)) {
            return MakePermit(TokenOf(next), absl::ZeroDuration());
          }
          w = Load();
          continue;
        }
        default:  // busy: a transition is being published
          break;
      }
      CountRejected();
      return std::nullopt;
    }
  }

  BreakerStats stats() const override { return BaseStats(); }

 protected:
  void OnPermitDone(uint64_t token, absl::Duration, const CallOutcome& outcome) override {
    const CallVerdict verdict = config_.classifier.Verdict(outcome);
    uint64_t w = Load();
    for (;;) {
      if (TokenOf(w) != token) return;  // issued in an earlier period
      if (StateOf(w) == kClosed) {
        if (!RecordClosed(w, verdict)) continue;
        return;
      }
      if (!RecordHalfOpen(w, verdict)) continue;
      return;
    }
  }

 private:
  static uint32_t InFlight(uint64_t w) { return PayloadOf(w) & 0xFFFF; }
  static uint32_t Successes(uint64_t w) { return PayloadOf(w) >> 16; }
  static uint32_t HalfOpen(uint32_t in_flight, uint32_t successes) {
    return in_flight | (successes << 16);
  }

  // Each returns false when the word changed under it (`w` then holds the new
  // word, or is stale after a lost transition race): the caller decides again.
  bool RecordClosed(uint64_t& w, CallVerdict verdict) {
    const uint32_t failures = PayloadOf(w);
    switch (verdict) {
      case CallVerdict::kIgnored:
        return true;
      case CallVerdict::kSuccess:
        return failures == 0 || Cas(w, WithPayload(w, 0));
      case CallVerdict::kFailure:
        break;
    }
    if (failures + 1 < config_.failure_threshold) {
      return Cas(w, WithPayload(w, failures + 1));
    }
    const std::string reason = absl::StrCat(failures + 1, " consecutive failures");
    if (Transition(w, kOpen, 0, 0, config_.open_timeout, reason)) return true;
    w = Load();
    return false;
  }

  bool RecordHalfOpen(uint64_t& w, CallVerdict verdict) {
    const uint32_t in_flight = InFlight(w);
    const uint32_t successes = Successes(w);
    // A token match with nothing in flight can only be an epoch that wrapped
    // around under a permit held for millions of transitions: not ours.
    if (in_flight == 0) return true;
    switch (verdict) {
      case CallVerdict::kIgnored:
        return Cas(w, WithPayload(w, HalfOpen(in_flight - 1, successes)));
      case CallVerdict::kSuccess:
        if (successes + 1 < config_.success_threshold) {
          return Cas(w, WithPayload(w, HalfOpen(in_flight - 1, successes + 1)));
        }
        if (Transition(
                w, kClosed, 0, 0, absl::ZeroDuration(),
                absl::StrCat(successes + 1, " successful probe", successes == 0 ? "" : "s"))) {
          return true;
        }
        break;
      case CallVerdict::kFailure:
        if (Transition(w, kOpen, 0, 0, config_.open_timeout, "probe failed")) return true;
        break;
    }
    w = Load();
    return false;
  }

  const ConsecutiveFailureBreakerConfig config_;
};

}  // namespace

absl::Status ConsecutiveFailureBreakerConfig::Validate() const {
  auto error = [](const char* field, const char* range, const auto& got) {
    return FieldsError(
        {field}, absl::StrCat("consecutive breaker ", field, " must be in ", range, ", got ", got));
  };
  if (failure_threshold < 1 || failure_threshold > (uint32_t{1} << 31)) {
    return error("failure_threshold", "[1, 2147483648]", failure_threshold);
  }
  if (success_threshold < 1 || success_threshold > 0xFFFF) {
    return error("success_threshold", "[1, 65535]", success_threshold);
  }
  if (half_open_max_calls < 1 || half_open_max_calls > 0xFFFF) {
    return error("half_open_max_calls", "[1, 65535]", half_open_max_calls);
  }
  if (open_timeout < absl::Milliseconds(1) || open_timeout == absl::InfiniteDuration()) {
    return error("open_timeout", "[1ms, infinity)", absl::FormatDuration(open_timeout));
  }
  if (absl::Status s = classifier.Validate(); !s.ok()) {
    return NestFieldError(s, "failure_classifier", "consecutive breaker ");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeConsecutiveFailureBreaker(
    ConsecutiveFailureBreakerConfig config, const Clock& clock,
    std::shared_ptr<ResilienceObserver> observer) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::make_shared<ConsecutiveFailureBreaker>(std::move(config), clock, std::move(observer));
}

}  // namespace gateway
