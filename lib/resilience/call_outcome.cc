#include "gateway/call_outcome.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"

namespace gateway {
namespace {

bool Contains(const std::vector<int>& statuses, int status) {
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

absl::Status CheckStatuses(const std::vector<int>& statuses, const char* field) {
  for (int status : statuses) {
    if (status < 100 || status > 599) {
      return FieldsError({field}, absl::StrCat("classifier ", field, ": status ", status,
                                               " is not in [100, 599]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool CallOutcome::IsGatewayFailure() const {
  switch (result) {
    case CallResult::kResponse:
      return status >= 502 && status <= 504;
    case CallResult::kConnectFailure:
    case CallResult::kReset:
    case CallResult::kTimeout:
    case CallResult::kProtocolError:
      return true;
    case CallResult::kCancelled:
      return false;
  }
  return false;
}

bool CallOutcome::IsServerError() const {
  if (result == CallResult::kResponse) return status >= 500 && status <= 599;
  return result != CallResult::kCancelled;
}

absl::Status FailureClassifier::Validate() const {
  if (absl::Status s = CheckStatuses(failure_statuses, "failure_statuses"); !s.ok()) return s;
  if (absl::Status s = CheckStatuses(success_statuses, "success_statuses"); !s.ok()) return s;
  if (slow_call_duration < absl::ZeroDuration() || slow_call_duration == absl::InfiniteDuration()) {
    return FieldsError({"slow_call_duration"},
                       absl::StrCat("classifier slow_call_duration must be finite and >= 0, got ",
                                    absl::FormatDuration(slow_call_duration)));
  }
  return absl::OkStatus();
}

CallVerdict FailureClassifier::Verdict(const CallOutcome& outcome) const {
  auto judge = [](bool counts) { return counts ? CallVerdict::kFailure : CallVerdict::kIgnored; };
  switch (outcome.result) {
    case CallResult::kResponse: {
      const int status = outcome.status;
      if (Contains(success_statuses, status)) return CallVerdict::kSuccess;
      if (server_errors && status >= 500 && status <= 599) return CallVerdict::kFailure;
      if (Contains(failure_statuses, status)) return CallVerdict::kFailure;
      return CallVerdict::kSuccess;
    }
    case CallResult::kConnectFailure:
      return judge(connect_failures);
    case CallResult::kReset:
      return judge(resets);
    case CallResult::kTimeout:
      return judge(timeouts);
    case CallResult::kProtocolError:
      return judge(protocol_errors);
    case CallResult::kCancelled:
      return CallVerdict::kIgnored;
  }
  return CallVerdict::kIgnored;
}

Classification FailureClassifier::Classify(const CallOutcome& outcome,
                                           absl::Duration elapsed) const {
  Classification c;
  c.verdict = Verdict(outcome);
  c.slow = c.verdict != CallVerdict::kIgnored && slow_call_duration > absl::ZeroDuration() &&
           elapsed >= slow_call_duration;
  return c;
}

}  // namespace gateway
