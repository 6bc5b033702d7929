// Helpers for the resilience unit tests: outcomes by name and an observer
// that keeps every event it receives.
#ifndef GATEWAY_TESTS_UNIT_RESILIENCE_RESILIENCE_TEST_UTIL_H_
#define GATEWAY_TESTS_UNIT_RESILIENCE_RESILIENCE_TEST_UTIL_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/call_outcome.h"
#include "gateway/resilience_stats.h"

namespace gateway::test {

inline CallOutcome Status(int status) {
  return {.result = CallResult::kResponse, .status = status};
}
inline CallOutcome Ok() { return Status(200); }
inline CallOutcome ServerError() { return Status(500); }
inline CallOutcome ConnectFailure() { return {.result = CallResult::kConnectFailure}; }
inline CallOutcome Reset() { return {.result = CallResult::kReset}; }
inline CallOutcome Timeout() { return {.result = CallResult::kTimeout}; }
inline CallOutcome Cancelled() { return {.result = CallResult::kCancelled}; }

// Copies of the events, with their string views turned into strings.
struct Transition {
  std::string breaker;
  BreakerState from;
  BreakerState to;
  uint64_t sequence;
  absl::Duration open_for;
  std::string reason;
};

struct Ejection {
  std::string cluster;
  std::string host;
  bool ejected;
  EjectionReason reason;
  uint32_t times_ejected;
  absl::Duration duration;
};

class RecordingObserver final : public ResilienceObserver {
 public:
  void OnBreakerTransition(const BreakerTransition& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    transitions_.push_back(
        {std::string(e.breaker), e.from, e.to, e.sequence, e.open_for, std::string(e.reason)});
    lines_.push_back(FormatEvent(e));
  }
  void OnHostEjection(const HostEjectionEvent& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    ejections_.push_back({std::string(e.cluster), std::string(e.host), e.ejected, e.reason,
                          e.times_ejected, e.duration});
    lines_.push_back(FormatEvent(e));
  }

  std::vector<Transition> transitions() const {
    std::lock_guard<std::mutex> lock(mu_);
    return transitions_;
  }
  std::vector<Ejection> ejections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ejections_;
  }
  std::vector<std::string> lines() const {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Transition> transitions_;
  std::vector<Ejection> ejections_;
  std::vector<std::string> lines_;
};

}  // namespace gateway::test

#endif  // GATEWAY_TESTS_UNIT_RESILIENCE_RESILIENCE_TEST_UTIL_H_
