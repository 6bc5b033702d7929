#include "gateway/filters/request_id.h"

#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace gateway {
namespace {

// 32 lower-case hex digits of 128 random bits. Per request: no printf.
void NewRequestId(char (&id)[32]) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kHex[] = "0123456789abcdef";
  for (int half = 0; half < 2; ++half) {
    uint64_t bits = rng();
    for (int i = 15; i >= 0; --i, bits >>= 4) id[half * 16 + i] = kHex[bits & 0xf];
  }
}

class RequestIdFilter final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext& ctx) override {
    HeaderMap& h = ctx.request().headers;
    if (auto existing = h.Get("x-request-id")) {
      received_ = std::string(*existing);
      id_ = received_;
    } else {
      // Generated into the filter itself: no allocation, and the field is
      // known to be absent.
      NewRequestId(generated_);
      id_ = std::string_view(generated_, sizeof(generated_));
      h.Add("x-request-id", id_);
    }
    return FilterStatus::kContinue;
  }
  FilterStatus OnResponseHeaders(FilterContext& ctx) override {
    if (ctx.response() != nullptr && !id_.empty() && !ctx.response()->headers.Has("x-request-id")) {
      ctx.response()->headers.Add("x-request-id", id_);
    }
    return FilterStatus::kContinue;
  }

 private:
  char generated_[32];
  std::string received_;
  std::string_view id_;  // into generated_ or received_
};

}  // namespace

std::shared_ptr<const FilterFactory> MakeRequestIdFilter() {
  return MakeFilterFactory("request_id",
                           [](const Route&) { return std::make_unique<RequestIdFilter>(); });
}

}  // namespace gateway
