// Shared building blocks of the built-in load balancers: hashing, a small
// per-worker PRNG, and the candidate set derived once from a host snapshot.
#ifndef GATEWAY_LIB_LB_LB_INTERNAL_H_
#define GATEWAY_LIB_LB_LB_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "gateway/load_balancer.h"
#include "gateway/upstream.h"

namespace gateway::internal {

// Bijective 64-bit finalizer (the splitmix64 output function). Used to spread
// caller-supplied hash keys, which may be small integers, over the whole range.
inline uint64_t Mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

// HashKey with an explicit seed, so one name can yield independent hashes
// (Maglev needs two per host).
uint64_t HashWithSeed(std::string_view data, uint64_t seed);

// splitmix64 generator: one 64-bit word of state, so a balancer per worker
// costs nothing to create, and statistically good enough for choosing hosts.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9E3779B97F4A7C15ULL;
    return Mix64(state_);
  }
  // Uniform in [0, bound) for bound > 0 (multiply-shift; the bias is below
  // bound / 2^64, far under anything a balancer could notice).
  uint64_t Below(uint64_t bound) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * bound) >> 64);
  }

 private:
  uint64_t state_;
};

// The hosts a balancer may choose from for one snapshot: healthy ones (or all
// of them in panic mode), minus weight-0 hosts, in hosts() order.
struct Candidates {
  std::vector<HostPtr> hosts;
  std::vector<uint32_t> weights;     // weights[i] == hosts[i]->weight() > 0
  std::vector<uint64_t> cumulative;  // cumulative[i] = weights[0] + ... + weights[i]
  uint64_t total_weight = 0;
  bool equal_weights = true;

  size_t size() const { return hosts.size(); }
  bool empty() const { return hosts.empty(); }
};

// Whether `set` (may be null) is in panic mode: its healthy share, counted over
// hosts with a non-zero weight, is below `panic_threshold_percent`.
bool InPanic(const HostSet* set, double panic_threshold_percent);

// Builds the candidates of `set` (may be null: no candidates).
Candidates SelectCandidates(const HostSet* set, double panic_threshold_percent);

// Fills weights/cumulative/total_weight/equal_weights from `c.hosts`.
void ComputeWeights(Candidates& c);

using Attempted = std::span<const Host* const>;

inline bool WasAttempted(Attempted attempted, const Host* host) {
  for (const Host* a : attempted) {
    if (a == host) return true;
  }
  return false;
}

// True if some candidate is not in `attempted`.
inline bool AnyUnattempted(const std::vector<HostPtr>& hosts, Attempted attempted) {
  // Fewer attempted entries than candidates: by pigeonhole one is left.
  if (attempted.size() < hosts.size()) return true;
  for (const HostPtr& h : hosts) {
    if (!WasAttempted(attempted, h.get())) return true;
  }
  return false;
}

// The candidate whose share of [0, total_weight) contains `r`: the first i
// with cumulative[i] > r. Branch-free binary search, since r is random and a
// branchy search mispredicts about every other step.
inline size_t IndexOfWeight(const Candidates& c, uint64_t r) {
  const uint64_t* base = c.cumulative.data();
  size_t len = c.size();
  while (len > 1) {
    const size_t half = len / 2;
    base += static_cast<size_t>(base[half - 1] <= r) * half;
    len -= half;
  }
  return static_cast<size_t>(base - c.cumulative.data()) + (*base <= r ? 1 : 0);
}

// A weighted-random candidate index; `c` must not be empty.
inline size_t PickWeighted(const Candidates& c, Rng& rng) {
  if (c.equal_weights) return static_cast<size_t>(rng.Below(c.size()));
  return IndexOfWeight(c, rng.Below(c.total_weight));
}

// A weighted-random candidate index other than `except`; `c` needs at least
// two candidates. The draw skips over `except`'s share of the weight line.
inline size_t PickWeightedExcept(const Candidates& c, size_t except, Rng& rng) {
  if (c.equal_weights) {
    const size_t i = static_cast<size_t>(rng.Below(c.size() - 1));
    return i >= except ? i + 1 : i;
  }
  uint64_t r = rng.Below(c.total_weight - c.weights[except]);
  if (r >= c.cumulative[except] - c.weights[except]) r += c.weights[except];
  return IndexOfWeight(c, r);
}

// A weighted-random index among candidates not in `attempted`, or c.size() if
// every candidate was attempted. O(size * attempted): only used on retries.
size_t PickWeightedExcluding(const Candidates& c, Attempted attempted, Rng& rng);

// Per-policy balancers (defined in simple_balancers.cc and hash_balancers.cc).
std::unique_ptr<LoadBalancer> MakeRoundRobin(Candidates c, uint64_t seed);
std::unique_ptr<LoadBalancer> MakeSmoothWeightedRoundRobin(Candidates c);
std::unique_ptr<LoadBalancer> MakeWeightedRandom(Candidates c, uint64_t seed);
std::unique_ptr<LoadBalancer> MakeLeastRequest(Candidates c, uint64_t seed);
std::unique_ptr<LoadBalancer> MakeLeastConnections(Candidates c);

// Hash tables are immutable and shared by every worker's balancer of one snapshot.
struct RingTable;
struct MaglevTable;
struct IpHashTable;

std::shared_ptr<const RingTable> BuildRing(const HostSet* set, const LbOptions& options);
std::shared_ptr<const MaglevTable> BuildMaglev(const HostSet* set, const LbOptions& options);
std::shared_ptr<const IpHashTable> BuildIpHash(const HostSet* set, const LbOptions& options);

std::unique_ptr<LoadBalancer> MakeRingHash(std::shared_ptr<const RingTable> table, uint64_t seed);
std::unique_ptr<LoadBalancer> MakeMaglev(std::shared_ptr<const MaglevTable> table, uint64_t seed);
std::unique_ptr<LoadBalancer> MakeIpHash(std::shared_ptr<const IpHashTable> table, uint64_t seed);

// Upper bound on ring entries; larger weight * vnodes products are scaled down.
inline constexpr uint64_t kMaxRingEntries = uint64_t{1} << 20;
// Upper bound accepted for LbOptions::maglev_table_size (4 bytes per entry).
inline constexpr uint32_t kMaxMaglevTableSize = 16777213;  // largest prime below 2^24

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_LB_LB_INTERNAL_H_
