#include "common/body_framing.h"

namespace gateway::internal {

bool ResponseCarriesBody(std::string_view request_method, int status) {
  if (request_method == "HEAD") return false;
  return status >= 200 && status != 204 && status != 304;
}

void ReframeChangedRequestBody(RequestHead& head) {
  if (!head.HasBody()) return;
  head.content_length.reset();
  head.chunked = true;
  // The proxy removes framing fields before encoding; filters that read the
  // head later see the framing it will be sent with.
  head.headers.Remove("content-length");
}

std::optional<uint64_t> AnnouncedResponseLength(std::optional<uint64_t> length,
                                                bool body_may_change, bool carries_body) {
  if (!body_may_change || !carries_body) return length;
  return std::nullopt;
}

}  // namespace gateway::internal
