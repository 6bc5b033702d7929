#include "gateway/concurrency_limit.h"

#include "absl/strings/str_cat.h"
#include "gateway/config_node.h"
#include "gateway/response_flag.h"

namespace gateway {

std::string_view LimitKindName(LimitKind kind) {
  switch (kind) {
    case LimitKind::kConnections:
      return "connections";
    case LimitKind::kPendingRequests:
      return "pending_requests";
    case LimitKind::kRequests:
      return "requests";
    case LimitKind::kRetries:
      return "retries";
  }
  return "unknown";
}

std::string_view LimitFlag(LimitKind kind) {
  return ResponseFlagName(kind == LimitKind::kRetries ? ResponseFlag::kRetryOverflow
                                                      : ResponseFlag::kUpstreamOverflow);
}

absl::Status ConcurrencyLimitsConfig::Validate() const {
  if (max_connections < 1) {
    return FieldsError({"max_connections"},
                       "concurrency limits max_connections must be at least 1");
  }
  if (max_requests < 1) {
    return FieldsError({"max_requests"}, "concurrency limits max_requests must be at least 1");
  }
  return absl::OkStatus();
}

uint32_t ConcurrencyLimitsConfig::max(LimitKind kind) const {
  switch (kind) {
    case LimitKind::kConnections:
      return max_connections;
    case LimitKind::kPendingRequests:
      return max_pending_requests;
    case LimitKind::kRequests:
      return max_requests;
    case LimitKind::kRetries:
      return max_retries;
  }
  return 0;
}

ConcurrencyLimits::Permit& ConcurrencyLimits::Permit::operator=(Permit&& other) noexcept {
  if (this != &other) {
    Release();
    limits_ = std::exchange(other.limits_, nullptr);
    kind_ = other.kind_;
  }
  return *this;
}

void ConcurrencyLimits::Permit::Release() {
  if (ConcurrencyLimits* limits = std::exchange(limits_, nullptr)) limits->Release(kind_);
}

absl::StatusOr<std::shared_ptr<ConcurrencyLimits>> ConcurrencyLimits::Create(
    ConcurrencyLimitsConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  return std::make_shared<ConcurrencyLimits>(std::move(config));
}

ConcurrencyLimits::ConcurrencyLimits(ConcurrencyLimitsConfig config) : config_(std::move(config)) {}

std::optional<ConcurrencyLimits::Permit> ConcurrencyLimits::TryAcquire(LimitKind kind) {
  Count& count = counts_[static_cast<int>(kind)];
  const uint32_t max = config_.max(kind);
  // A CAS rather than add-then-undo: the count never shows more than `max`,
  // not even for an instant, so gauges and other threads' checks stay honest.
  uint32_t active = count.active.load(std::memory_order_relaxed);
  do {
    if (active >= max) {
      count.overflow.fetch_add(1, std::memory_order_relaxed);
      return std::nullopt;
    }
  } while (!count.active.compare_exchange_weak(active, active + 1, std::memory_order_relaxed));
  return Permit(this, kind);
}

void ConcurrencyLimits::Release(LimitKind kind) {
  counts_[static_cast<int>(kind)].active.fetch_sub(1, std::memory_order_relaxed);
}

LimitStats ConcurrencyLimits::stats() const {
  auto overflow = [this](LimitKind kind) {
    return counts_[static_cast<int>(kind)].overflow.load(std::memory_order_relaxed);
  };
  LimitStats stats;
  stats.active_connections = active(LimitKind::kConnections);
  stats.pending_requests = active(LimitKind::kPendingRequests);
  stats.active_requests = active(LimitKind::kRequests);
  stats.active_retries = active(LimitKind::kRetries);
  stats.connections_overflow = overflow(LimitKind::kConnections);
  stats.pending_overflow = overflow(LimitKind::kPendingRequests);
  stats.requests_overflow = overflow(LimitKind::kRequests);
  stats.retries_overflow = overflow(LimitKind::kRetries);
  return stats;
}

}  // namespace gateway
