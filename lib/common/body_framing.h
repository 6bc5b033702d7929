// Framing of bodies that filters may change: what the proxy announces before
// a body has passed the body phases. Shared by the stream (both directions)
// and the tests; the codecs encode whatever these decide.
#ifndef GATEWAY_LIB_COMMON_BODY_FRAMING_H_
#define GATEWAY_LIB_COMMON_BODY_FRAMING_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/http.h"

namespace gateway::internal {

// Whether a response to `request_method` with `status` has a body at all
// (RFC 9112 section 6.3): not for HEAD, 1xx, 204 or 304. Such a response
// keeps its framing fields whatever filters declared.
bool ResponseCarriesBody(std::string_view request_method, int status);

// `head` goes upstream with a body the request filters may change, so its
// length is unknown until the last piece has passed them: the announced
// length goes (field and parsed value) and the body is sent chunked. A
// request without a body is left alone.
void ReframeChangedRequestBody(RequestHead& head);

// The body length to announce for a streamed response whose upstream
// announced `length` (nullopt: unknown): unknown once filters may change a
// body it carries, so the connection sends it chunked or close-delimited.
std::optional<uint64_t> AnnouncedResponseLength(std::optional<uint64_t> length,
                                                bool body_may_change, bool carries_body);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_BODY_FRAMING_H_
