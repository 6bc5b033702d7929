#include <cstddef>
#include <cstdint>
#include <utility>

#include "lb/lb_internal.h"

namespace gateway::internal {

bool InPanic(const HostSet* set, double panic_threshold_percent) {
  if (set == nullptr) return false;
  // Weight-0 hosts are drained, not capacity: they count on neither side, so
  // draining a host never tips a cluster into panic by itself.
  size_t usable = 0;
  size_t healthy = 0;
  for (size_t i = 0; i < set->hosts().size(); ++i) {
    if (set->hosts()[i]->weight() == 0) continue;
    ++usable;
    if (set->IsHealthy(i)) ++healthy;
  }
  if (usable == 0) return false;
  const double healthy_percent = 100.0 * static_cast<double>(healthy) / static_cast<double>(usable);
  return healthy_percent < panic_threshold_percent;
}

void ComputeWeights(Candidates& c) {
  c.weights.clear();
  c.cumulative.clear();
  c.weights.reserve(c.hosts.size());
  c.cumulative.reserve(c.hosts.size());
  c.total_weight = 0;
  c.equal_weights = true;
  for (const HostPtr& h : c.hosts) {
    const uint32_t w = h->weight();
    if (!c.weights.empty() && w != c.weights.front()) c.equal_weights = false;
    c.weights.push_back(w);
    c.total_weight += w;
    c.cumulative.push_back(c.total_weight);
  }
}

Candidates SelectCandidates(const HostSet* set, double panic_threshold_percent) {
  Candidates c;
  if (set == nullptr) return c;
  const bool panic = InPanic(set, panic_threshold_percent);
  c.hosts.reserve(set->hosts().size());
  for (size_t i = 0; i < set->hosts().size(); ++i) {
    const HostPtr& h = set->hosts()[i];
    if (h->weight() == 0) continue;
    if (!panic && !set->IsHealthy(i)) continue;
    c.hosts.push_back(h);
  }
  ComputeWeights(c);
  return c;
}

size_t PickWeightedExcluding(const Candidates& c, Attempted attempted, Rng& rng) {
  uint64_t remaining = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!WasAttempted(attempted, c.hosts[i].get())) remaining += c.weights[i];
  }
  if (remaining == 0) return c.size();
  uint64_t r = rng.Below(remaining);
  for (size_t i = 0; i < c.size(); ++i) {
    if (WasAttempted(attempted, c.hosts[i].get())) continue;
    if (r < c.weights[i]) return i;
    r -= c.weights[i];
  }
  return c.size();  // unreachable: r < remaining
}

}  // namespace gateway::internal
