// Hashing balancers: ketama-style ring hash, Maglev and IP hash. Their tables
// are built once per snapshot and shared read-only by every worker; the
// per-worker part is only a PRNG for requests that carry no hash key.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lb/lb_internal.h"

namespace gateway::internal {

struct RingTable {
  Candidates candidates;
  // Sorted ring positions and, at the same index, the candidate owning each.
  // Two arrays rather than pairs keep the binary search on dense memory.
  std::vector<uint64_t> points;
  std::vector<uint32_t> owners;
};

struct MaglevTable {
  Candidates candidates;
  std::vector<uint32_t> slots;  // candidate index per table entry
};

struct IpHashTable {
  // Every host with a non-zero weight, healthy or not, ordered by name: the
  // modulo base changes only with membership and weights, never with health.
  Candidates order;
  std::vector<bool> usable;  // healthy, or anything in panic mode
  size_t usable_count = 0;
};

namespace {

// Caller keys may be small or patterned integers; a bijective mix spreads
// them over the ring without changing which keys collide.
inline uint64_t KeyOrRandom(const LbContext& context, Rng& rng) {
  return context.hash_key.has_value() ? Mix64(*context.hash_key) : rng.Next();
}

// ---------------------------------------------------------------- ring hash

// std::lower_bound, written so the compiler emits conditional moves: on a
// ring of random hashes every comparison of a branchy search is a coin flip
// the branch predictor loses half the time.
inline size_t FirstPointAtOrAfter(const std::vector<uint64_t>& points, uint64_t key) {
  const uint64_t* base = points.data();
  size_t len = points.size();
  while (len > 1) {
    const size_t half = len / 2;
    base += static_cast<size_t>(base[half - 1] < key) * half;  // branch-free in GCC too
    len -= half;
  }
  return static_cast<size_t>(base - points.data()) + (*base < key ? 1 : 0);
}

class RingHashBalancer final : public LoadBalancer {
 public:
  RingHashBalancer(std::shared_ptr<const RingTable> table, uint64_t seed)
      : table_(std::move(table)), rng_(seed) {}

  HostPtr Pick(const LbContext& context) override {
    const RingTable& t = *table_;
    const size_t size = t.points.size();
    if (size == 0) return nullptr;
    const uint64_t key = KeyOrRandom(context, rng_);
    size_t k = FirstPointAtOrAfter(t.points, key);
    if (k == size) k = 0;  // past the last point: wrap to the first
    const std::vector<HostPtr>& hosts = t.candidates.hosts;
    if (!context.attempted.empty() && WasAttempted(context.attempted, hosts[t.owners[k]].get()) &&
        AnyUnattempted(hosts, context.attempted)) {
      // Clockwise to the next point of a host not tried yet.
      for (size_t step = 1; step < size; ++step) {
        const size_t j = k + step < size ? k + step : k + step - size;
        if (!WasAttempted(context.attempted, hosts[t.owners[j]].get())) return hosts[t.owners[j]];
      }
    }
    return hosts[t.owners[k]];
  }

 private:
  std::shared_ptr<const RingTable> table_;
  Rng rng_;
};

// ------------------------------------------------------------------- maglev

class MaglevBalancer final : public LoadBalancer {
 public:
  MaglevBalancer(std::shared_ptr<const MaglevTable> table, uint64_t seed)
      : table_(std::move(table)), rng_(seed) {}

  HostPtr Pick(const LbContext& context) override {
    const MaglevTable& t = *table_;
    const size_t size = t.slots.size();
    if (size == 0) return nullptr;
    const size_t k = static_cast<size_t>(KeyOrRandom(context, rng_) % size);
    const std::vector<HostPtr>& hosts = t.candidates.hosts;
    if (!context.attempted.empty() && WasAttempted(context.attempted, hosts[t.slots[k]].get()) &&
        AnyUnattempted(hosts, context.attempted)) {
      // Neighbouring entries belong to unrelated hosts (each host's entries
      // follow its own permutation), so the walk is short.
      for (size_t step = 1; step < size; ++step) {
        const size_t j = k + step < size ? k + step : k + step - size;
        if (!WasAttempted(context.attempted, hosts[t.slots[j]].get())) return hosts[t.slots[j]];
      }
    }
    return hosts[t.slots[k]];
  }

 private:
  std::shared_ptr<const MaglevTable> table_;
  Rng rng_;
};

// ------------------------------------------------------------------ IP hash

class IpHashBalancer final : public LoadBalancer {
 public:
  IpHashBalancer(std::shared_ptr<const IpHashTable> table, uint64_t seed)
      : table_(std::move(table)), rng_(seed) {}

  HostPtr Pick(const LbContext& context) override {
    const IpHashTable& t = *table_;
    if (t.usable_count == 0) return nullptr;
    const std::vector<HostPtr>& hosts = t.order.hosts;
    const size_t n = hosts.size();
    const bool avoid = !context.attempted.empty() && AnyUsableUnattempted(context.attempted);
    auto acceptable = [&](size_t i) {
      return t.usable[i] && !(avoid && WasAttempted(context.attempted, hosts[i].get()));
    };

    uint64_t key = KeyOrRandom(context, rng_);
    size_t i = Index(key);
    if (acceptable(i)) return hosts[i];
    // Like nginx's ip_hash, rehash a bounded number of times so the keys of
    // an unavailable host spread over the others instead of all landing on
    // its neighbour; then fall back to the next acceptable host in order.
    for (int round = 0; round < kRehashRounds; ++round) {
      key = Mix64(key + 0x9E3779B97F4A7C15ULL);
      const size_t j = Index(key);
      if (acceptable(j)) return hosts[j];
    }
    for (size_t step = 1; step < n; ++step) {
      const size_t j = (i + step) % n;
      if (acceptable(j)) return hosts[j];
    }
    return hosts[i];  // unreachable: usable_count > 0
  }

 private:
  static constexpr int kRehashRounds = 20;

  size_t Index(uint64_t key) const {
    const Candidates& o = table_->order;
    if (o.equal_weights) return static_cast<size_t>(key % o.size());
    return IndexOfWeight(o, key % o.total_weight);
  }

  bool AnyUsableUnattempted(Attempted attempted) const {
    const IpHashTable& t = *table_;
    if (attempted.size() < t.usable_count) return true;
    for (size_t i = 0; i < t.order.size(); ++i) {
      if (t.usable[i] && !WasAttempted(attempted, t.order.hosts[i].get())) return true;
    }
    return false;
  }

  std::shared_ptr<const IpHashTable> table_;
  Rng rng_;
};

struct RingPoint {
  uint64_t hash;
  uint32_t owner;
};

// LSD radix sort by hash, one byte per pass. Rings reach a million points,
// where a comparison sort's mispredicted branches dominated the build. It is
// stable, and points are generated in candidate order, so points with equal
// hashes stay ordered by candidate: the ring is identical in every process.
void SortRing(std::vector<RingPoint>& points) {
  std::vector<RingPoint> scratch(points.size());
  for (int shift = 0; shift < 64; shift += 8) {
    size_t offsets[256] = {};
    for (const RingPoint& p : points) ++offsets[(p.hash >> shift) & 0xff];
    size_t sum = 0;
    for (size_t& o : offsets) {
      const size_t count = o;
      o = sum;
      sum += count;
    }
    for (const RingPoint& p : points) scratch[offsets[(p.hash >> shift) & 0xff]++] = p;
    points.swap(scratch);
  }
}

constexpr uint64_t kMaglevOffsetSeed = 0x6D61676C65763031ULL;  // "maglev01"
constexpr uint64_t kMaglevSkipSeed = 0x6D61676C65763032ULL;    // "maglev02"

}  // namespace

std::shared_ptr<const RingTable> BuildRing(const HostSet* set, const LbOptions& options) {
  auto table = std::make_shared<RingTable>();
  table->candidates = SelectCandidates(set, options.panic_threshold_percent);
  const Candidates& c = table->candidates;
  if (c.empty()) return table;

  using u128 = unsigned __int128;
  const u128 wanted = static_cast<u128>(c.total_weight) * options.ring_vnodes_per_weight;
  std::vector<uint64_t> counts(c.size());
  uint64_t entries = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    u128 count = static_cast<u128>(c.weights[i]) * options.ring_vnodes_per_weight;
    // Too many points for memory: shrink every host in proportion. Each keeps
    // at least one point so no candidate vanishes from the ring.
    if (wanted > kMaxRingEntries) count = count * kMaxRingEntries / wanted;
    counts[i] = std::max<uint64_t>(1, static_cast<uint64_t>(count));
    entries += counts[i];
  }

  std::vector<RingPoint> ring;
  ring.reserve(entries);
  std::string label;
  for (size_t i = 0; i < c.size(); ++i) {
    // A host's points depend on its name and point count only, so other hosts
    // joining or leaving never move them: only the departed host's keys move.
    const std::string& name = c.hosts[i]->name();
    for (uint64_t v = 0; v < counts[i]; ++v) {
      label.clear();
      absl::StrAppend(&label, name, "#", v);
      ring.push_back(RingPoint{HashKey(label), static_cast<uint32_t>(i)});
    }
  }
  SortRing(ring);
  table->points.reserve(ring.size());
  table->owners.reserve(ring.size());
  for (const RingPoint& p : ring) {
    table->points.push_back(p.hash);
    table->owners.push_back(p.owner);
  }
  return table;
}

std::shared_ptr<const MaglevTable> BuildMaglev(const HostSet* set, const LbOptions& options) {
  auto table = std::make_shared<MaglevTable>();
  table->candidates = SelectCandidates(set, options.panic_threshold_percent);
  const Candidates& c = table->candidates;
  const uint64_t m = options.maglev_table_size;  // prime, validated by the factory
  if (c.empty() || m < 2) return table;

  const size_t n = c.size();
  // Host i fills entries in the order offset, offset + skip, offset + 2 skip,
  // ... (mod m); with m prime and 0 < skip < m this visits every entry.
  std::vector<uint64_t> next(n);
  std::vector<uint64_t> skip(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = c.hosts[i]->name();
    next[i] = HashWithSeed(name, kMaglevOffsetSeed) % m;
    skip[i] = HashWithSeed(name, kMaglevSkipSeed) % (m - 1) + 1;
  }
  const uint32_t max_weight = *std::max_element(c.weights.begin(), c.weights.end());

  constexpr uint32_t kEmpty = UINT32_MAX;
  std::vector<uint32_t> slots(m, kEmpty);
  // Hosts take turns claiming their next free preferred entry. For weights,
  // each round credits every host its weight and a host takes a turn only
  // while it holds max_weight of credit: the heaviest hosts claim every
  // round, a host of half that weight every other round, and so on.
  std::vector<uint64_t> credit(n, 0);
  uint64_t filled = 0;
  while (filled < m) {
    for (size_t i = 0; i < n && filled < m; ++i) {
      credit[i] += c.weights[i];
      if (credit[i] < max_weight) continue;
      credit[i] -= max_weight;
      while (slots[next[i]] != kEmpty) {
        next[i] += skip[i];
        if (next[i] >= m) next[i] -= m;
      }
      slots[next[i]] = static_cast<uint32_t>(i);
      ++filled;
    }
  }
  table->slots = std::move(slots);
  return table;
}

std::shared_ptr<const IpHashTable> BuildIpHash(const HostSet* set, const LbOptions& options) {
  auto table = std::make_shared<IpHashTable>();
  if (set == nullptr) return table;
  const bool panic = InPanic(set, options.panic_threshold_percent);
  std::vector<std::pair<HostPtr, bool>> hosts;
  for (size_t i = 0; i < set->hosts().size(); ++i) {
    if (set->hosts()[i]->weight() == 0) continue;
    hosts.emplace_back(set->hosts()[i], panic || set->IsHealthy(i));
  }
  // By name, so the mapping does not depend on the order discovery listed the
  // hosts in, and two processes with the same hosts agree.
  std::stable_sort(hosts.begin(), hosts.end(),
                   [](const auto& a, const auto& b) { return a.first->name() < b.first->name(); });
  for (auto& [host, usable] : hosts) {
    table->order.hosts.push_back(std::move(host));
    table->usable.push_back(usable);
    if (usable) ++table->usable_count;
  }
  ComputeWeights(table->order);
  return table;
}

std::unique_ptr<LoadBalancer> MakeRingHash(std::shared_ptr<const RingTable> table, uint64_t seed) {
  return std::make_unique<RingHashBalancer>(std::move(table), seed);
}
std::unique_ptr<LoadBalancer> MakeMaglev(std::shared_ptr<const MaglevTable> table, uint64_t seed) {
  return std::make_unique<MaglevBalancer>(std::move(table), seed);
}
std::unique_ptr<LoadBalancer> MakeIpHash(std::shared_ptr<const IpHashTable> table, uint64_t seed) {
  return std::make_unique<IpHashBalancer>(std::move(table), seed);
}

}  // namespace gateway::internal
