// Round robin, smooth weighted round robin, weighted random, least request
// (power of two choices) and least connections. Each instance belongs to one
// worker: its cursors and counters are plain members, never shared.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "lb/lb_internal.h"

namespace gateway::internal {
namespace {

class RoundRobinBalancer final : public LoadBalancer {
 public:
  RoundRobinBalancer(Candidates c, uint64_t seed) : c_(std::move(c)) {
    // Start each worker at a random offset so N workers do not send their
    // first requests of a fresh snapshot to the same host in lock step.
    Rng rng(seed);
    if (!c_.empty()) next_ = static_cast<size_t>(rng.Below(c_.size()));
  }

  HostPtr Pick(const LbContext& context) override {
    const size_t n = c_.size();
    if (n == 0) return nullptr;
    size_t i = next_;
    if (!context.attempted.empty() && WasAttempted(context.attempted, c_.hosts[i].get())) {
      for (size_t step = 1; step < n; ++step) {
        const size_t j = (i + step) % n;
        if (!WasAttempted(context.attempted, c_.hosts[j].get())) {
          i = j;
          break;
        }
      }
    }
    // Continue after the host actually chosen, so a skip does not make the
    // next request land on the same host again.
    next_ = i + 1 == n ? 0 : i + 1;
    return c_.hosts[i];
  }

 private:
  Candidates c_;
  size_t next_ = 0;
};

// nginx's smooth weighted round robin: every pick adds each peer's weight to
// its current weight, takes the peer with the largest current weight (the
// first one on ties) and subtracts the total from it. Over one cycle of
// total-weight picks each peer is chosen exactly weight times, interleaved.
// Attempted peers sit out the round entirely, as nginx's tried peers do.
class SmoothWeightedRoundRobinBalancer final : public LoadBalancer {
 public:
  explicit SmoothWeightedRoundRobinBalancer(Candidates c)
      : c_(std::move(c)), current_(c_.size(), 0) {}

  HostPtr Pick(const LbContext& context) override {
    const size_t n = c_.size();
    if (n == 0) return nullptr;
    const bool skip = !context.attempted.empty() && AnyUnattempted(c_.hosts, context.attempted);
    int64_t total = 0;
    size_t best = n;
    for (size_t i = 0; i < n; ++i) {
      if (skip && WasAttempted(context.attempted, c_.hosts[i].get())) continue;
      current_[i] += c_.weights[i];
      total += c_.weights[i];
      if (best == n || current_[i] > current_[best]) best = i;
    }
    current_[best] -= total;
    return c_.hosts[best];
  }

 private:
  Candidates c_;
  // |current_[i]| stays below the total weight (n * 2^32), well inside int64.
  std::vector<int64_t> current_;
};

class WeightedRandomBalancer final : public LoadBalancer {
 public:
  WeightedRandomBalancer(Candidates c, uint64_t seed) : c_(std::move(c)), rng_(seed) {}

  HostPtr Pick(const LbContext& context) override {
    if (c_.empty()) return nullptr;
    size_t i = PickWeighted(c_, rng_);
    if (!context.attempted.empty() && WasAttempted(context.attempted, c_.hosts[i].get())) {
      const size_t other = PickWeightedExcluding(c_, context.attempted, rng_);
      if (other != c_.size()) i = other;
    }
    return c_.hosts[i];
  }

 private:
  Candidates c_;
  Rng rng_;
};

// Is the load of host a, relative to its weight, strictly below host b's?
// Cross-multiplied in 64 bits: exact, and no division on the hot path.
inline bool LighterThan(uint32_t load_a, uint32_t weight_a, uint32_t load_b, uint32_t weight_b) {
  return static_cast<uint64_t>(load_a) * weight_b < static_cast<uint64_t>(load_b) * weight_a;
}

// Power of two choices: draw two distinct candidates, each in proportion to
// its weight, and keep the one with fewer active requests per unit of weight.
// An idle cluster (all ratios 0: the first draw wins) still splits its traffic
// by weight, and under load active requests converge to proportional to
// weight. Outside retries, a host more loaded than all others is never chosen.
class LeastRequestBalancer final : public LoadBalancer {
 public:
  LeastRequestBalancer(Candidates c, uint64_t seed) : c_(std::move(c)), rng_(seed) {}

  HostPtr Pick(const LbContext& context) override {
    const size_t n = c_.size();
    if (n == 0) return nullptr;
    if (n == 1) return c_.hosts[0];
    size_t a = PickWeighted(c_, rng_);
    size_t b = PickWeightedExcept(c_, a, rng_);
    if (!context.attempted.empty()) {
      const bool a_tried = WasAttempted(context.attempted, c_.hosts[a].get());
      const bool b_tried = WasAttempted(context.attempted, c_.hosts[b].get());
      if (a_tried && !b_tried) return c_.hosts[b];
      if (b_tried && !a_tried) return c_.hosts[a];
      if (a_tried && b_tried) {
        const size_t a2 = PickWeightedExcluding(c_, context.attempted, rng_);
        if (a2 == n) return c_.hosts[a];  // everything was tried
        a = a2;
        b = PickWeightedExcluding(c_, context.attempted, rng_);
      }
    }
    const Host& ha = *c_.hosts[a];
    const Host& hb = *c_.hosts[b];
    if (LighterThan(hb.active_requests(), c_.weights[b], ha.active_requests(), c_.weights[a])) {
      return c_.hosts[b];
    }
    return c_.hosts[a];
  }

 private:
  Candidates c_;
  Rng rng_;
};

// nginx's least_conn: the fewest active connections per unit of weight wins;
// several equally loaded hosts share the picks by smooth weighted round robin
// (plain round robin when their weights are equal).
class LeastConnectionsBalancer final : public LoadBalancer {
 public:
  explicit LeastConnectionsBalancer(Candidates c) : c_(std::move(c)), current_(c_.size(), 0) {}

  HostPtr Pick(const LbContext& context) override {
    const size_t n = c_.size();
    if (n == 0) return nullptr;
    const bool skip = !context.attempted.empty() && AnyUnattempted(c_.hosts, context.attempted);
    auto excluded = [&](size_t i) {
      return skip && WasAttempted(context.attempted, c_.hosts[i].get());
    };

    size_t best = n;
    uint32_t best_load = 0;
    size_t ties = 0;
    for (size_t i = 0; i < n; ++i) {
      if (excluded(i)) continue;
      const uint32_t load = c_.hosts[i]->active_connections();
      if (best == n || LighterThan(load, c_.weights[i], best_load, c_.weights[best])) {
        best = i;
        best_load = load;
        ties = 1;
      } else if (!LighterThan(best_load, c_.weights[best], load, c_.weights[i])) {
        ++ties;
      }
    }
    if (ties <= 1) return c_.hosts[best];

    // Counters move under us (other workers); a host that is no longer tied
    // simply sits this round out, and `best` remains the fallback.
    int64_t total = 0;
    size_t chosen = n;
    for (size_t i = 0; i < n; ++i) {
      if (excluded(i)) continue;
      const uint32_t load = c_.hosts[i]->active_connections();
      if (LighterThan(load, c_.weights[i], best_load, c_.weights[best]) ||
          LighterThan(best_load, c_.weights[best], load, c_.weights[i])) {
        continue;
      }
      current_[i] += c_.weights[i];
      total += c_.weights[i];
      if (chosen == n || current_[i] > current_[chosen]) chosen = i;
    }
    if (chosen == n) return c_.hosts[best];
    current_[chosen] -= total;
    return c_.hosts[chosen];
  }

 private:
  Candidates c_;
  std::vector<int64_t> current_;
};

}  // namespace

std::unique_ptr<LoadBalancer> MakeRoundRobin(Candidates c, uint64_t seed) {
  return std::make_unique<RoundRobinBalancer>(std::move(c), seed);
}
std::unique_ptr<LoadBalancer> MakeSmoothWeightedRoundRobin(Candidates c) {
  return std::make_unique<SmoothWeightedRoundRobinBalancer>(std::move(c));
}
std::unique_ptr<LoadBalancer> MakeWeightedRandom(Candidates c, uint64_t seed) {
  return std::make_unique<WeightedRandomBalancer>(std::move(c), seed);
}
std::unique_ptr<LoadBalancer> MakeLeastRequest(Candidates c, uint64_t seed) {
  return std::make_unique<LeastRequestBalancer>(std::move(c), seed);
}
std::unique_ptr<LoadBalancer> MakeLeastConnections(Candidates c) {
  return std::make_unique<LeastConnectionsBalancer>(std::move(c));
}

}  // namespace gateway::internal
