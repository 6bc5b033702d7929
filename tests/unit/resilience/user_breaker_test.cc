// A user's CircuitBreaker goes through MakeCircuitBreaker and
// BuildClusterResilience as is, beside the built-in configs.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>

#include "gateway/circuit_breaker.h"
#include "gateway/cluster_resilience.h"

namespace gateway {
namespace {

class AlwaysOpen final : public CircuitBreaker {
 public:
  std::optional<Permit> TryAcquire() override { return std::nullopt; }
  BreakerState state() const override { return BreakerState::kOpen; }
  BreakerStats stats() const override { return {}; }
  std::string_view name() const override { return "mine"; }

 protected:
  void OnPermitDone(uint64_t, absl::Duration, const CallOutcome&) override {}
};

TEST_CASE("MakeCircuitBreaker returns a user breaker as is") {
  auto mine = std::make_shared<AlwaysOpen>();
  auto made = MakeCircuitBreaker(UserBreaker(mine));
  REQUIRE(made.ok());
  CHECK(made->get() == mine.get());
}

TEST_CASE("a null user breaker is rejected") {
  CHECK_FALSE(MakeCircuitBreaker(UserBreaker()).ok());
  ClusterResilienceSpec spec{.breaker = UserBreaker()};
  CHECK_FALSE(spec.Validate().ok());
}

TEST_CASE("a cluster's user breaker keeps its name and is shared as is") {
  auto mine = std::make_shared<AlwaysOpen>();
  ClusterResilienceSpec spec{.classifier = {.failure_statuses = {429}}, .breaker = mine};
  auto built = BuildClusterResilience("users", spec);
  REQUIRE(built.ok());
  CHECK(built->breaker.get() == mine.get());
  CHECK(built->breaker->name() == "mine");
}

}  // namespace
}  // namespace gateway
