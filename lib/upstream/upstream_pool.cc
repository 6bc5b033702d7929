// The parts of gateway/upstream_pool.h shared by every pool implementation:
// option validation and the lease.
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gateway/upstream_pool.h"

namespace gateway {

absl::Status PoolOptions::Validate() const {
  if (max_connections_per_host == 0) {
    return absl::InvalidArgumentError("max_connections_per_host: must be at least 1");
  }
  if (idle_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "idle_timeout: must be positive (absl::InfiniteDuration() disables it)");
  }
  if (connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "connect_timeout: must be positive (absl::InfiniteDuration() disables it)");
  }
  if (write_high_watermark == 0) {
    return absl::InvalidArgumentError("write_high_watermark: must be at least 1");
  }
  if (write_low_watermark >= write_high_watermark) {
    return absl::InvalidArgumentError(absl::StrCat("write_low_watermark (", write_low_watermark,
                                                   ") must be below write_high_watermark (",
                                                   write_high_watermark, ")"));
  }
  return absl::OkStatus();
}

PoolLease::PoolLease(PoolLease&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      connection_(std::exchange(other.connection_, nullptr)),
      reused_(std::exchange(other.reused_, false)) {}

PoolLease& PoolLease::operator=(PoolLease&& other) noexcept {
  if (this != &other) {
    Reset(false);
    owner_ = std::exchange(other.owner_, nullptr);
    connection_ = std::exchange(other.connection_, nullptr);
    reused_ = std::exchange(other.reused_, false);
  }
  return *this;
}

PoolLease::~PoolLease() { Reset(false); }

void PoolLease::Release() { Reset(true); }

namespace {

class TcpFactory final : public UpstreamPoolFactory {
 public:
  std::unique_ptr<UpstreamPool> Create(const UpstreamPoolContext& context) const override {
    return MakeTcpPool(context.dispatcher, context.options, context.limits);
  }
};

}  // namespace

std::shared_ptr<const UpstreamPoolFactory> TcpPoolFactory() {
  // Leaked on purpose: pools may be made while static destructors run.
  static const auto* const factory =
      new std::shared_ptr<const UpstreamPoolFactory>(std::make_shared<const TcpFactory>());
  return *factory;
}

void PoolLease::Reset(bool reusable) {
  // Empty the lease before calling out: the owner may run code that looks at
  // (or moves) this lease again.
  Owner* owner = std::exchange(owner_, nullptr);
  UpstreamConnection* connection = std::exchange(connection_, nullptr);
  reused_ = false;
  if (owner != nullptr && connection != nullptr) owner->ReturnConnection(connection, reusable);
}

}  // namespace gateway
