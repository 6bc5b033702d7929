// Concurrency limits: refusal at the maximum, overflow counters, and counts
// that return to zero when permits die.
#include <catch2/catch.hpp>

#include <optional>
#include <vector>

#include "gateway/concurrency_limit.h"

namespace gateway {
namespace {

std::shared_ptr<ConcurrencyLimits> Make(ConcurrencyLimitsConfig config) {
  auto limits = ConcurrencyLimits::Create(std::move(config));
  REQUIRE(limits.ok());
  return *limits;
}

TEST_CASE("a limit refuses at its maximum and counts the overflow") {
  auto limits = Make({.name = "users", .max_requests = 3});
  std::vector<ConcurrencyLimits::Permit> held;
  for (int i = 0; i < 3; ++i) {
    auto permit = limits->TryAcquire(LimitKind::kRequests);
    REQUIRE(permit.has_value());
    held.push_back(std::move(*permit));
  }
  CHECK(limits->active(LimitKind::kRequests) == 3);
  CHECK_FALSE(limits->TryAcquire(LimitKind::kRequests).has_value());
  CHECK_FALSE(limits->TryAcquire(LimitKind::kRequests).has_value());
  LimitStats stats = limits->stats();
  CHECK(stats.active_requests == 3);
  CHECK(stats.requests_overflow == 2);
  CHECK(stats.connections_overflow == 0);
  CHECK(LimitFlag(LimitKind::kRequests) == "upstream_overflow");
}

TEST_CASE("each kind of limit is counted on its own") {
  auto limits =
      Make({.max_connections = 1, .max_pending_requests = 1, .max_requests = 1, .max_retries = 1});
  auto c = limits->TryAcquire(LimitKind::kConnections);
  auto p = limits->TryAcquire(LimitKind::kPendingRequests);
  auto r = limits->TryAcquire(LimitKind::kRequests);
  auto t = limits->TryAcquire(LimitKind::kRetries);
  REQUIRE((c && p && r && t));
  for (LimitKind kind : {LimitKind::kConnections, LimitKind::kPendingRequests, LimitKind::kRequests,
                         LimitKind::kRetries}) {
    CHECK(limits->active(kind) == 1);
    CHECK_FALSE(limits->TryAcquire(kind).has_value());
  }
  LimitStats stats = limits->stats();
  CHECK(stats.connections_overflow == 1);
  CHECK(stats.pending_overflow == 1);
  CHECK(stats.requests_overflow == 1);
  CHECK(stats.retries_overflow == 1);
}

TEST_CASE("limit counts return to zero when permits are destroyed") {
  auto limits = Make({.max_requests = 100, .max_retries = 10});
  {
    std::vector<ConcurrencyLimits::Permit> held;
    for (int i = 0; i < 100; ++i) held.push_back(*limits->TryAcquire(LimitKind::kRequests));
    for (int i = 0; i < 10; ++i) held.push_back(*limits->TryAcquire(LimitKind::kRetries));
    CHECK(limits->active(LimitKind::kRequests) == 100);
    CHECK(limits->active(LimitKind::kRetries) == 10);
  }
  LimitStats stats = limits->stats();
  CHECK(stats.active_requests == 0);
  CHECK(stats.active_retries == 0);
  CHECK(limits->TryAcquire(LimitKind::kRequests).has_value());
}

TEST_CASE("Release frees a slot early and moved permits release exactly once") {
  auto limits = Make({.max_pending_requests = 1});
  auto pending = limits->TryAcquire(LimitKind::kPendingRequests);
  REQUIRE(pending.has_value());
  ConcurrencyLimits::Permit moved = std::move(*pending);
  CHECK_FALSE(pending->active());
  CHECK(moved.active());
  CHECK(moved.kind() == LimitKind::kPendingRequests);
  moved.Release();  // the request got its connection
  CHECK(limits->active(LimitKind::kPendingRequests) == 0);
  moved.Release();
  pending.reset();
  CHECK(limits->active(LimitKind::kPendingRequests) == 0);

  // Assigning over a live permit releases the one it replaces.
  auto a = limits->TryAcquire(LimitKind::kPendingRequests);
  REQUIRE(a.has_value());
  auto other = Make({.max_pending_requests = 1});
  auto b = other->TryAcquire(LimitKind::kPendingRequests);
  REQUIRE(b.has_value());
  *a = std::move(*b);
  CHECK(limits->active(LimitKind::kPendingRequests) == 0);
  CHECK(other->active(LimitKind::kPendingRequests) == 1);
  a.reset();
  CHECK(other->active(LimitKind::kPendingRequests) == 0);
}

TEST_CASE("a zero pending or retry limit refuses every waiter and retry") {
  auto limits = Make({.max_pending_requests = 0, .max_retries = 0});
  CHECK_FALSE(limits->TryAcquire(LimitKind::kPendingRequests).has_value());
  CHECK_FALSE(limits->TryAcquire(LimitKind::kRetries).has_value());
  CHECK(limits->TryAcquire(LimitKind::kRequests).has_value());
  CHECK(LimitFlag(LimitKind::kRetries) == "retry_overflow");
  CHECK(LimitKindName(LimitKind::kPendingRequests) == "pending_requests");
}

TEST_CASE("concurrency limits config rejects zero connections or requests") {
  CHECK(ConcurrencyLimitsConfig{}.Validate().ok());
  auto connections = ConcurrencyLimits::Create({.max_connections = 0});
  REQUIRE_FALSE(connections.ok());
  CHECK_THAT(std::string(connections.status().message()), Catch::Contains("max_connections"));
  auto requests = ConcurrencyLimits::Create({.max_requests = 0});
  REQUIRE_FALSE(requests.ok());
  CHECK_THAT(std::string(requests.status().message()), Catch::Contains("max_requests"));
}

}  // namespace
}  // namespace gateway
