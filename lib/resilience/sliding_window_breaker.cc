// The sliding-window breaker. Payload of the state word:
//   closed     unused: the window holds the closed period's calls
//   half-open  probes issued (bits 0-7), reported (8-15), failed (16-23), slow (24-31)
// so a half-open verdict is decided from one word, by whichever thread
// reports the last probe.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gateway/config_node.h"
#include "resilience/breaker_base.h"
#include "resilience/call_window.h"

namespace gateway {
namespace {

using internal::WindowTotals;

struct Probes {
  uint32_t issued, reported, failed, slow;

  static Probes Of(uint32_t payload) {
    return {payload & 0xFF, (payload >> 8) & 0xFF, (payload >> 16) & 0xFF, payload >> 24};
  }
  uint32_t Pack() const { return issued | (reported << 8) | (failed << 16) | (slow << 24); }
};

class SlidingWindowBreaker final : public internal::BreakerBase {
 public:
  SlidingWindowBreaker(SlidingWindowBreakerConfig config, const Clock& clock,
                       std::shared_ptr<ResilienceObserver> observer)
      : BreakerBase(config.name, clock, std::move(observer)),
        config_(std::move(config)),
        slow_judged_(config_.classifier.slow_call_duration > absl::ZeroDuration()),
        needs_time_(slow_judged_ || config_.window == SlidingWindowBreakerConfig::Window::kTime) {
    if (config_.window == SlidingWindowBreakerConfig::Window::kTime) {
      window_ = std::make_unique<internal::TimeWindow>(config_.window_duration,
                                                       config_.window_buckets, Now());
    } else {
      window_ = std::make_unique<internal::CountWindow>(config_.window_size);
    }
  }

  std::optional<Permit> TryAcquire() override {
    uint64_t w = Load();
    for (;;) {
      switch (StateOf(w)) {
        case kClosed:
          return MakePermit(TokenOf(w), Started());
        case kHalfOpen: {
          Probes p = Probes::Of(PayloadOf(w));
          if (p.issued >= config_.half_open_calls) break;
          ++p.issued;
          const uint64_t next = WithPayload(w, p.Pack());
          if (Cas(w, next)) return MakePermit(TokenOf(next), Started());
          continue;
        }
        case kOpen: {
          if (!OpenElapsed()) break;
          const std::string reason =
              absl::StrCat("open for ", absl::FormatDuration(OpenFor(TripsOf(w))), " elapsed");
          if (uint64_t next = Transition(w, kHalfOpen, TripsOf(w), Probes{1, 0, 0, 0}.Pack(),
                                         absl::ZeroDuration(), reason)) {
            return MakePermit(TokenOf(next), Started());
          }
          w = Load();
          continue;
        }
        default:  // busy
          break;
      }
      CountRejected();
      return std::nullopt;
    }
  }

  BreakerStats stats() const override {
    BreakerStats stats = BaseStats();
    if (stats.state != BreakerState::kClosed) return stats;
    const WindowTotals totals = window_->Totals(needs_time_ ? Now() : absl::ZeroDuration());
    stats.window_calls = totals.calls;
    if (totals.calls >= config_.minimum_calls && totals.calls > 0) {
      stats.failure_rate_percent = Percent(totals.failures, totals.calls);
      stats.slow_call_rate_percent = Percent(totals.slow, totals.calls);
    }
    return stats;
  }

 protected:
  void OnPermitDone(uint64_t token, absl::Duration started, const CallOutcome& outcome) override {
    const absl::Duration now = needs_time_ ? Now() : absl::ZeroDuration();
    const Classification c = config_.classifier.Classify(outcome, now - started);
    uint64_t w = Load();
    if (TokenOf(w) != token) return;  // issued in an earlier period
    if (StateOf(w) == kClosed) {
      RecordClosed(w, c, now);
      return;
    }
    while (!RecordHalfOpen(w, c)) {
      if (TokenOf(w) != token) return;
    }
  }

 private:
  static double Percent(uint64_t part, uint64_t whole) {
    return 100.0 * static_cast<double>(part) / static_cast<double>(whole);
  }

  absl::Duration Started() const { return slow_judged_ ? Now() : absl::ZeroDuration(); }

  absl::Duration OpenFor(uint32_t trips) const {
    const double factor = std::pow(config_.open_backoff_multiplier, std::max(1u, trips) - 1.0);
    return std::min(config_.open_duration * factor, config_.max_open_duration);
  }

  // Why the calls trip the breaker, or "" if they do not.
  std::string TripReason(uint64_t calls, uint64_t failures, uint64_t slow) const {
    const double failure_rate = Percent(failures, calls);
    const double slow_rate = Percent(slow, calls);
    if (failure_rate >= config_.failure_rate_threshold) {
      return absl::StrFormat("failure rate %g%% >= %g%% over %d calls", failure_rate,
                             config_.failure_rate_threshold, calls);
    }
    if (slow_rate >= config_.slow_call_rate_threshold) {
      return absl::StrFormat("slow-call rate %g%% >= %g%% over %d calls", slow_rate,
                             config_.slow_call_rate_threshold, calls);
    }
    return "";
  }

  void RecordClosed(uint64_t w, const Classification& c, absl::Duration now) {
    if (c.verdict == CallVerdict::kIgnored) return;
    if (!window_->Add(c.verdict == CallVerdict::kFailure, c.slow, now)) return;
    const WindowTotals totals = window_->Totals(now);
    if (totals.calls < config_.minimum_calls) return;
    const std::string reason = TripReason(totals.calls, totals.failures, totals.slow);
    if (reason.empty()) return;
    // Fails harmlessly if another thread already moved the breaker on.
    (void)Transition(w, kOpen, 1, 0, OpenFor(1), reason);
  }

  // False when the word changed under it; `w` then holds the current word.
  bool RecordHalfOpen(uint64_t& w, const Classification& c) {
    Probes p = Probes::Of(PayloadOf(w));
    // A token match with no probe outstanding can only be an epoch that
    // wrapped around under a permit held for millions of transitions.
    if (p.reported >= p.issued) return true;
    if (c.verdict == CallVerdict::kIgnored) {
      --p.issued;  // the slot goes back for another probe
      return Cas(w, WithPayload(w, p.Pack()));
    }
    ++p.reported;
    p.failed += c.verdict == CallVerdict::kFailure;
    p.slow += c.slow;
    if (p.reported < config_.half_open_calls) return Cas(w, WithPayload(w, p.Pack()));

    std::string reason = TripReason(p.reported, p.failed, p.slow);
    uint64_t next;
    if (!reason.empty()) {
      const uint32_t trips = std::min(TripsOf(w) + 1, kMaxTrips);
      next = Transition(w, kOpen, trips, 0, OpenFor(trips), absl::StrCat("probes: ", reason));
    } else {
      reason = absl::StrFormat("%d probes: failure rate %g%%, slow-call rate %g%%", p.reported,
                               Percent(p.failed, p.reported), Percent(p.slow, p.reported));
      // The new closed period starts from an empty window; nobody can add to
      // it before the closed state is published.
      next = Transition(w, kClosed, 0, 0, absl::ZeroDuration(), reason,
                        [this] { window_->Reset(Now()); });
    }
    if (next != 0) return true;
    w = Load();
    return false;
  }

  const SlidingWindowBreakerConfig config_;
  const bool slow_judged_;
  const bool needs_time_;
  std::unique_ptr<internal::CallWindow> window_;
};

}  // namespace

absl::Status SlidingWindowBreakerConfig::Validate() const {
  auto error = [](const char* field, const char* range, const auto& got) {
    return FieldsError({field}, absl::StrCat("sliding-window breaker ", field, " must be in ",
                                             range, ", got ", got));
  };
  auto percent_ok = [](double v) { return v > 0.0 && v <= 100.0; };  // NaN fails
  if (window == Window::kCount) {
    if (window_size < 1 || window_size > 10000) {
      return error("window_size", "[1, 10000]", window_size);
    }
    if (minimum_calls > window_size) {
      return FieldsError({"minimum_calls", "window_size"},
                         absl::StrCat("sliding-window breaker minimum_calls (", minimum_calls,
                                      ") must not exceed window_size (", window_size, ")"));
    }
  } else if (window == Window::kTime) {
    if (window_buckets < 1 || window_buckets > 3600) {
      return error("window_buckets", "[1, 3600]", window_buckets);
    }
    if (window_duration == absl::InfiniteDuration() ||
        window_duration < absl::Milliseconds(1) * window_buckets) {
      return FieldsError(
          {"window_duration"},
          absl::StrCat(
              "sliding-window breaker window_duration must be finite and at least 1ms per bucket (",
              window_buckets, " buckets), got ", absl::FormatDuration(window_duration)));
    }
  } else {
    return error("window", "{kCount, kTime}", static_cast<int>(window));
  }
  if (minimum_calls < 1) return error("minimum_calls", "[1, window]", minimum_calls);
  if (!percent_ok(failure_rate_threshold)) {
    return error("failure_rate_threshold", "(0, 100]", failure_rate_threshold);
  }
  if (!percent_ok(slow_call_rate_threshold)) {
    return error("slow_call_rate_threshold", "(0, 100]", slow_call_rate_threshold);
  }
  if (half_open_calls < 1 || half_open_calls > 255) {
    return error("half_open_calls", "[1, 255]", half_open_calls);
  }
  if (open_duration < absl::Milliseconds(1) || open_duration == absl::InfiniteDuration()) {
    return error("open_duration", "[1ms, infinity)", absl::FormatDuration(open_duration));
  }
  if (!(open_backoff_multiplier >= 1.0 && open_backoff_multiplier <= 100.0)) {
    return error("open_backoff_multiplier", "[1, 100]", open_backoff_multiplier);
  }
  if (max_open_duration < open_duration || max_open_duration == absl::InfiniteDuration()) {
    return FieldsError({"max_open_duration", "open_duration"},
                       absl::StrCat("sliding-window breaker max_open_duration must be in "
                                    "[open_duration, infinity), got ",
                                    absl::FormatDuration(max_open_duration)));
  }
  if (absl::Status s = classifier.Validate(); !s.ok()) {
    return NestFieldError(s, "failure_classifier", "sliding-window breaker ");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<CircuitBreaker>> MakeSlidingWindowBreaker(
    SlidingWindowBreakerConfig config, const Clock& clock,
    std::shared_ptr<ResilienceObserver> observer) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::make_shared<SlidingWindowBreaker>(std::move(config), clock, std::move(observer));
}

}  // namespace gateway
