#include "gateway/response_flag.h"

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "gateway/circuit_breaker.h"
#include "gateway/cluster.h"
#include "gateway/concurrency_limit.h"
#include "gateway/http.h"

namespace gateway {
namespace {

constexpr ResponseFlag kLast = ResponseFlag::kFallback;

TEST_CASE("every response flag has a distinct name that parses back to it") {
  std::set<std::string_view> seen;
  for (int i = 1; i <= static_cast<int>(kLast); ++i) {
    auto flag = static_cast<ResponseFlag>(i);
    std::string_view name = ResponseFlagName(flag);
    INFO("flag " << i << " '" << std::string(name) << "'");
    CHECK_FALSE(name.empty());
    CHECK(seen.insert(name).second);
    for (char c : name) CHECK(((c >= 'a' && c <= 'z') || c == '_'));
    REQUIRE(ParseResponseFlag(name).has_value());
    CHECK(*ParseResponseFlag(name) == flag);
  }
  CHECK(ResponseFlagName(ResponseFlag::kNone).empty());
}

TEST_CASE("unknown or empty response flag names do not parse") {
  CHECK_FALSE(ParseResponseFlag("").has_value());
  CHECK_FALSE(ParseResponseFlag("Circuit_Open").has_value());
  CHECK_FALSE(ParseResponseFlag("circuit_opened").has_value());
}

TEST_CASE("response flag names stay the ones logs and configs already use") {
  CHECK(ResponseFlagName(ResponseFlag::kNoRoute) == "no_route");
  CHECK(ResponseFlagName(ResponseFlag::kUpstreamConnectFailed) == "upstream_connect_failed");
  CHECK(ResponseFlagName(ResponseFlag::kRateLimited) == "rate_limited");
  CHECK(ResponseFlagName(ResponseFlag::kUpstreamPerTryTimeout) == "upstream_per_try_timeout");
  CHECK(kCircuitOpenFlag == "circuit_open");
  CHECK(LimitFlag(LimitKind::kRequests) == "upstream_overflow");
  CHECK(LimitFlag(LimitKind::kRetries) == "retry_overflow");
  CHECK(LocalReply::Json(404, ResponseFlag::kNoRoute, "x").flag == "no_route");
}

TEST_CASE("a fallback naming a flag outside the fallback set or no flag is rejected") {
  FallbackSpec spec;
  CHECK(spec.Validate().ok());
  spec.on = {"no_route"};  // a real flag, but not one a fallback can answer
  CHECK_FALSE(spec.Validate().ok());
  spec.on = {"circuit_opened"};
  CHECK(spec.Validate().message().find("unknown flag 'circuit_opened'") != std::string::npos);
}

}  // namespace
}  // namespace gateway
