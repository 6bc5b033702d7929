// Failure classification shared by breakers and outlier detection.
#include <catch2/catch.hpp>

#include "gateway/call_outcome.h"
#include "unit/resilience/resilience_test_util.h"

namespace gateway {
namespace {

using test::Status;

TEST_CASE("the default classifier fails every 5xx and every call without a response") {
  FailureClassifier c;
  CHECK(c.Verdict(Status(200)) == CallVerdict::kSuccess);
  CHECK(c.Verdict(Status(404)) == CallVerdict::kSuccess);
  CHECK(c.Verdict(Status(429)) == CallVerdict::kSuccess);
  CHECK(c.Verdict(Status(500)) == CallVerdict::kFailure);
  CHECK(c.Verdict(Status(599)) == CallVerdict::kFailure);
  CHECK(c.Verdict(test::ConnectFailure()) == CallVerdict::kFailure);
  CHECK(c.Verdict(test::Reset()) == CallVerdict::kFailure);
  CHECK(c.Verdict(test::Timeout()) == CallVerdict::kFailure);
  CHECK(c.Verdict({.result = CallResult::kProtocolError}) == CallVerdict::kFailure);
  CHECK(c.Verdict(test::Cancelled()) == CallVerdict::kIgnored);
}

TEST_CASE("a failure kind switched off is ignored, not counted as a success") {
  FailureClassifier c{.server_errors = false,
                      .connect_failures = false,
                      .resets = false,
                      .timeouts = false,
                      .protocol_errors = false};
  CHECK(c.Verdict(Status(503)) == CallVerdict::kSuccess);  // a response is an answer
  CHECK(c.Verdict(test::ConnectFailure()) == CallVerdict::kIgnored);
  CHECK(c.Verdict(test::Reset()) == CallVerdict::kIgnored);
  CHECK(c.Verdict(test::Timeout()) == CallVerdict::kIgnored);
  CHECK(c.Verdict({.result = CallResult::kProtocolError}) == CallVerdict::kIgnored);
}

TEST_CASE("success statuses win over server errors and listed failure statuses") {
  FailureClassifier c{.failure_statuses = {429, 501}, .success_statuses = {501, 503}};
  CHECK(c.Verdict(Status(429)) == CallVerdict::kFailure);
  CHECK(c.Verdict(Status(501)) == CallVerdict::kSuccess);
  CHECK(c.Verdict(Status(503)) == CallVerdict::kSuccess);
  CHECK(c.Verdict(Status(502)) == CallVerdict::kFailure);
}

TEST_CASE("a call is slow from slow_call_duration on, whatever its verdict, unless ignored") {
  FailureClassifier c{.slow_call_duration = absl::Milliseconds(100)};
  CHECK_FALSE(c.Classify(Status(200), absl::Milliseconds(99)).slow);
  CHECK(c.Classify(Status(200), absl::Milliseconds(100)).slow);
  Classification failed = c.Classify(Status(500), absl::Seconds(1));
  CHECK(failed.verdict == CallVerdict::kFailure);
  CHECK(failed.slow);
  CHECK_FALSE(c.Classify(test::Cancelled(), absl::Seconds(1)).slow);
  CHECK_FALSE(FailureClassifier{}.Classify(Status(200), absl::Hours(1)).slow);  // off
}

TEST_CASE("gateway failures are local failures and 502, 503, 504 only") {
  CHECK(test::ConnectFailure().IsGatewayFailure());
  CHECK(test::Reset().IsGatewayFailure());
  CHECK(test::Timeout().IsGatewayFailure());
  CHECK(CallOutcome{.result = CallResult::kProtocolError}.IsGatewayFailure());
  CHECK(Status(502).IsGatewayFailure());
  CHECK(Status(504).IsGatewayFailure());
  CHECK_FALSE(Status(500).IsGatewayFailure());
  CHECK_FALSE(Status(505).IsGatewayFailure());
  CHECK_FALSE(test::Cancelled().IsGatewayFailure());
  CHECK(Status(500).IsServerError());
  CHECK(test::Reset().IsServerError());
  CHECK_FALSE(Status(499).IsServerError());
  CHECK_FALSE(test::Cancelled().IsServerError());
}

TEST_CASE("classifier validation rejects impossible statuses and durations") {
  CHECK(FailureClassifier{}.Validate().ok());
  CHECK_FALSE(FailureClassifier{.failure_statuses = {600}}.Validate().ok());
  CHECK_FALSE(FailureClassifier{.success_statuses = {0}}.Validate().ok());
  CHECK_FALSE(FailureClassifier{.slow_call_duration = -absl::Seconds(1)}.Validate().ok());
  CHECK_FALSE(FailureClassifier{.slow_call_duration = absl::InfiniteDuration()}.Validate().ok());
}

}  // namespace
}  // namespace gateway
