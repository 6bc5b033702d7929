// Concurrency limits ("bulkheads") of one cluster: upstream connections,
// requests waiting for a connection, requests in flight and retries in flight,
// counted across every worker thread.
//
//   std::optional<ConcurrencyLimits::Permit> slot = limits.TryAcquire(LimitKind::kRequests);
//   if (!slot) return Reply(503, LimitFlag(LimitKind::kRequests));  // full: refused at once
//   ... the request runs; the slot is released when `slot` is destroyed ...
//
// Same permit shape as `CircuitBreaker`: a move-only RAII permit, nullopt when
// the limit is reached. A count never exceeds its maximum, even momentarily,
// and returns to zero once every permit is gone: there is nothing to record
// and nothing to leak. Thread-safe and lock-free (one CAS per acquire, one
// atomic decrement per release); each count sits on its own cache line.
//
// Lifetime: the limits must outlive their permits.
#ifndef GATEWAY_CONCURRENCY_LIMIT_H_
#define GATEWAY_CONCURRENCY_LIMIT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/resilience_stats.h"

namespace gateway {

enum class LimitKind : uint8_t {
  kConnections,      // open upstream connections (connecting, leased or idle)
  kPendingRequests,  // requests waiting for a connection
  kRequests,         // requests in flight to the cluster
  kRetries,          // retries in flight to the cluster
};
inline constexpr int kLimitKinds = 4;

// "connections", "pending_requests", "requests", "retries".
std::string_view LimitKindName(LimitKind kind);

// The response flag of a request refused by `kind`: "upstream_overflow" (503)
// for connections, pending requests and requests. For kRetries it is
// "retry_overflow", but a refused retry is not a reply of its own: the failed
// attempt's response or failure stands, and the flag only names the event.
std::string_view LimitFlag(LimitKind kind);

// Defaults follow Envoy's cluster circuit breakers.
struct ConcurrencyLimitsConfig {
  std::string name;                      // for logs and metrics
  uint32_t max_connections = 1024;       // at least 1
  uint32_t max_pending_requests = 1024;  // 0: never wait for a connection
  uint32_t max_requests = 1024;          // at least 1
  uint32_t max_retries = 3;              // 0: no retries

  absl::Status Validate() const;
  uint32_t max(LimitKind kind) const;
};

class ConcurrencyLimits {
 public:
  // One slot of one kind. Move-only; destroying it (or Release) frees the slot.
  class Permit {
   public:
    Permit(Permit&& other) noexcept
        : limits_(std::exchange(other.limits_, nullptr)), kind_(other.kind_) {}
    Permit& operator=(Permit&& other) noexcept;
    Permit(const Permit&) = delete;
    Permit& operator=(const Permit&) = delete;
    ~Permit() { Release(); }

    // Frees the slot now (e.g. a pending request got its connection). Later
    // calls do nothing.
    void Release();
    LimitKind kind() const { return kind_; }
    bool active() const { return limits_ != nullptr; }

   private:
    friend class ConcurrencyLimits;
    Permit(ConcurrencyLimits* limits, LimitKind kind) : limits_(limits), kind_(kind) {}
    ConcurrencyLimits* limits_;
    LimitKind kind_;
  };

  // Fails with InvalidArgument if `config` does not validate.
  static absl::StatusOr<std::shared_ptr<ConcurrencyLimits>> Create(ConcurrencyLimitsConfig config);
  explicit ConcurrencyLimits(ConcurrencyLimitsConfig config);  // config must validate
  ConcurrencyLimits(const ConcurrencyLimits&) = delete;
  ConcurrencyLimits& operator=(const ConcurrencyLimits&) = delete;

  // A slot of `kind`, or nullopt when all `max(kind)` are taken. Never blocks.
  [[nodiscard]] std::optional<Permit> TryAcquire(LimitKind kind);

  uint32_t active(LimitKind kind) const {
    return counts_[static_cast<int>(kind)].active.load(std::memory_order_relaxed);
  }
  uint32_t max(LimitKind kind) const { return config_.max(kind); }
  const ConcurrencyLimitsConfig& config() const { return config_; }
  std::string_view name() const { return config_.name; }
  LimitStats stats() const;

 private:
  void Release(LimitKind kind);

  // Apart, so that workers taking request slots do not invalidate the line
  // that connection counting uses.
  struct alignas(64) Count {
    std::atomic<uint32_t> active{0};
    std::atomic<uint64_t> overflow{0};
  };
  ConcurrencyLimitsConfig config_;
  Count counts_[kLimitKinds];
};

}  // namespace gateway

#endif  // GATEWAY_CONCURRENCY_LIMIT_H_
