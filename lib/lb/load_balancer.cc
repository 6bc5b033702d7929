#include "gateway/load_balancer.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lb/lb_internal.h"

namespace gateway {
namespace {

using internal::Candidates;

bool IsPrime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; static_cast<uint64_t>(d) * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

absl::Status Validate(const LbOptions& options) {
  switch (options.policy) {
    case LbPolicy::kRoundRobin:
    case LbPolicy::kWeightedRoundRobin:
    case LbPolicy::kRandom:
    case LbPolicy::kLeastRequest:
    case LbPolicy::kLeastConnections:
    case LbPolicy::kRingHash:
    case LbPolicy::kMaglev:
    case LbPolicy::kIpHash:
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("lb policy: unknown value ", static_cast<int>(options.policy)));
  }
  // Written so that NaN fails too.
  if (!(options.panic_threshold_percent >= 0.0 && options.panic_threshold_percent <= 100.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lb panic_threshold_percent must be in [0, 100], got ", options.panic_threshold_percent));
  }
  if (options.ring_vnodes_per_weight < 1) {
    return absl::InvalidArgumentError("lb ring_vnodes_per_weight must be at least 1");
  }
  if (options.maglev_table_size > internal::kMaxMaglevTableSize ||
      !IsPrime(options.maglev_table_size)) {
    return absl::InvalidArgumentError(absl::StrCat("lb maglev_table_size must be a prime in [2, ",
                                                   internal::kMaxMaglevTableSize, "], got ",
                                                   options.maglev_table_size));
  }
  return absl::OkStatus();
}

// Seeds for per-worker PRNGs. A fixed LbOptions::seed gives every balancer the
// same stream (reproducible tests); otherwise each Create gets its own stream
// from a random base, so workers do not make identical random choices.
class SeedSource {
 public:
  explicit SeedSource(uint64_t fixed) : fixed_(fixed) {
    if (fixed_ == 0) {
      std::random_device device;
      base_ = (static_cast<uint64_t>(device()) << 32) ^ device();
    }
  }
  uint64_t Next() const {
    if (fixed_ != 0) return fixed_;
    return internal::Mix64(base_ + counter_.fetch_add(1, std::memory_order_relaxed) *
                                       0x9E3779B97F4A7C15ULL);
  }

 private:
  uint64_t fixed_;
  uint64_t base_ = 0;
  mutable std::atomic<uint64_t> counter_{1};
};

class PlainFactory final : public LoadBalancerFactory {
 public:
  explicit PlainFactory(const LbOptions& options) : options_(options), seeds_(options.seed) {}

  std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const override {
    Candidates c = internal::SelectCandidates(hosts.get(), options_.panic_threshold_percent);
    switch (options_.policy) {
      case LbPolicy::kWeightedRoundRobin:
        return internal::MakeSmoothWeightedRoundRobin(std::move(c));
      case LbPolicy::kRandom:
        return internal::MakeWeightedRandom(std::move(c), seeds_.Next());
      case LbPolicy::kLeastRequest:
        return internal::MakeLeastRequest(std::move(c), seeds_.Next());
      case LbPolicy::kLeastConnections:
        return internal::MakeLeastConnections(std::move(c));
      default:
        return internal::MakeRoundRobin(std::move(c), seeds_.Next());
    }
  }

 private:
  LbOptions options_;
  SeedSource seeds_;
};

// A hashing policy's factory: one immutable table per snapshot, shared by the
// balancers every worker creates for it. The cache holds weak references
// only, so a table lives exactly as long as some balancer uses it, and entries
// are matched by the snapshot's control block (owner equivalence), which can
// never be reused while our weak_ptr to it exists, unlike a raw address.
template <typename Table>
class TableFactory final : public LoadBalancerFactory {
 public:
  using Builder = std::shared_ptr<const Table> (*)(const HostSet*, const LbOptions&);
  using Maker = std::unique_ptr<LoadBalancer> (*)(std::shared_ptr<const Table>, uint64_t);

  TableFactory(const LbOptions& options, Builder build, Maker make)
      : options_(options), seeds_(options.seed), build_(build), make_(make) {}

  std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const override {
    return make_(TableFor(hosts), seeds_.Next());
  }

 private:
  struct Entry {
    std::weak_ptr<const HostSet> hosts;
    std::weak_ptr<const Table> table;
  };

  std::shared_ptr<const Table> TableFor(const std::shared_ptr<const HostSet>& hosts) const {
    if (hosts == nullptr) return build_(nullptr, options_);
    // Building under the lock is deliberate: workers asking for the same new
    // snapshot wait for one build instead of each doing it. Pick never locks.
    std::lock_guard<std::mutex> lock(mu_);
    std::shared_ptr<const Table> found;
    size_t keep = 0;
    for (size_t i = 0; i < cache_.size(); ++i) {
      Entry& e = cache_[i];
      std::shared_ptr<const Table> table = e.table.lock();
      if (table == nullptr || e.hosts.expired()) continue;  // dropped below
      if (!e.hosts.owner_before(hosts) && !hosts.owner_before(e.hosts)) found = table;
      if (keep != i) cache_[keep] = std::move(e);
      ++keep;
    }
    cache_.resize(keep);
    if (found != nullptr) return found;
    std::shared_ptr<const Table> table = build_(hosts.get(), options_);
    cache_.push_back(Entry{hosts, table});
    return table;
  }

  LbOptions options_;
  SeedSource seeds_;
  Builder build_;
  Maker make_;
  // std::mutex rather than absl::Mutex: ThreadSanitizer understands it even
  // when Abseil itself was built without TSan annotations.
  mutable std::mutex mu_;
  mutable std::vector<Entry> cache_;  // guarded by mu_
};

}  // namespace

bool UsesHashKey(LbPolicy policy) {
  return policy == LbPolicy::kRingHash || policy == LbPolicy::kMaglev ||
         policy == LbPolicy::kIpHash;
}

namespace {

// A built-in policy's factory; the registered makers call this.
absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> MakeBuiltin(const LbOptions& options) {
  if (absl::Status status = Validate(options); !status.ok()) return status;
  switch (options.policy) {
    case LbPolicy::kRingHash:
      return std::make_shared<const TableFactory<internal::RingTable>>(
          options, &internal::BuildRing, &internal::MakeRingHash);
    case LbPolicy::kMaglev:
      return std::make_shared<const TableFactory<internal::MaglevTable>>(
          options, &internal::BuildMaglev, &internal::MakeMaglev);
    case LbPolicy::kIpHash:
      return std::make_shared<const TableFactory<internal::IpHashTable>>(
          options, &internal::BuildIpHash, &internal::MakeIpHash);
    default:
      return std::make_shared<const PlainFactory>(options);
  }
}

constexpr std::pair<std::string_view, LbPolicy> kBuiltinPolicies[] = {
    {"round_robin", LbPolicy::kRoundRobin},
    {"weighted_round_robin", LbPolicy::kWeightedRoundRobin},
    {"random", LbPolicy::kRandom},
    {"least_request", LbPolicy::kLeastRequest},
    {"least_connections", LbPolicy::kLeastConnections},
    {"ring_hash", LbPolicy::kRingHash},
    {"maglev", LbPolicy::kMaglev},
    {"ip_hash", LbPolicy::kIpHash},
};

}  // namespace

std::span<const std::pair<std::string_view, LbPolicy>> LbPolicyNames() { return kBuiltinPolicies; }

std::string_view LbPolicyName(LbPolicy policy) {
  for (const auto& [name, value] : kBuiltinPolicies) {
    if (value == policy) return name;
  }
  return "";
}

void RegisterBuiltinBalancers(LoadBalancerRegistry& registry) {
  for (const auto& entry : kBuiltinPolicies) {
    const std::string_view name = entry.first;
    const LbPolicy policy = entry.second;
    registry.Register(
        std::string(name),
        [name, policy](const LbMakeContext& context)
            -> absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> {
          if (!context.config.IsNull()) {
            return absl::InvalidArgumentError(absl::StrCat(
                "lb policy ", absl::string_view(name.data(), name.size()), " takes no config"));
          }
          LbOptions options = context.options;
          options.policy = policy;
          return MakeBuiltin(options);
        });
  }
}

LoadBalancerRegistry& LoadBalancerRegistry::Global() {
  // Leaked on purpose: clusters may be built while static destructors run.
  static LoadBalancerRegistry* const registry = [] {
    auto* r = new LoadBalancerRegistry();
    RegisterBuiltinBalancers(*r);
    return r;
  }();
  return *registry;
}

void LoadBalancerRegistry::Register(std::string name, Maker maker) {
  std::lock_guard<std::mutex> lock(mu_);
  makers_[std::move(name)] = std::move(maker);
}

bool LoadBalancerRegistry::Contains(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return makers_.find(name) != makers_.end();
}

absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> LoadBalancerRegistry::Make(
    std::string_view name, const LbMakeContext& context) const {
  Maker maker;
  {
    // Copied out so a maker may use the registry itself (to wrap a built-in).
    std::lock_guard<std::mutex> lock(mu_);
    auto it = makers_.find(name);
    if (it == makers_.end()) {
      return absl::NotFoundError(absl::StrCat("unknown load balancing policy \"",
                                              absl::string_view(name.data(), name.size()), "\""));
    }
    maker = it->second;
  }
  auto factory = maker(context);
  if (factory.ok() && *factory == nullptr) {
    return absl::InternalError(absl::StrCat("lb policy \"",
                                            absl::string_view(name.data(), name.size()),
                                            "\": the maker returned no factory"));
  }
  return factory;
}

std::vector<std::string> LoadBalancerRegistry::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, maker] : makers_) out.push_back(name);
  return out;
}

absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> MakeLoadBalancerFactory(
    const LbOptions& options) {
  std::string_view name = options.name.empty() ? LbPolicyName(options.policy) : options.name;
  if (name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lb policy: unknown value ", static_cast<int>(options.policy)));
  }
  return LoadBalancerRegistry::Global().Make(name, {.options = options, .config = options.config});
}

}  // namespace gateway
