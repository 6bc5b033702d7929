// The response (client) side of the HTTP/1.1 codec: what a parsed response
// head means beyond its syntax (status range, interim 1xx, no body for HEAD,
// 204, 304 and an accepted CONNECT), and Http1ClientCodec, the ClientCodec
// over Http1Codec that upstream exchanges get from Http1ClientCodecFactory.
// Once per response; the per-span parsing is in http1_parser.cc.
#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "codec/http1_codec.h"
#include "codec/http1_stream_codec.h"
#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway {
namespace internal {

int Http1Codec::OnResponseHeadComplete() {
  ResponseHead& h = resp_;
  h.status = parser_.status_code;
  if (h.status < 100 || h.status > 599)
    return Fail(502, ResponseFlag::kUpstreamProtocolError, "invalid status code");
  h.version_minor = parser_.http_minor;
  h.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) h.content_length = parser_.content_length;
  informational_ = h.status < 200 && h.status != 101;
  if (informational_) {
    // A 1xx never ends the exchange; the final response follows on this
    // connection whatever the 1xx says about keep-alive.
    parser_.flags =
        static_cast<uint16_t>((parser_.flags & ~F_CONNECTION_CLOSE) | F_CONNECTION_KEEP_ALIVE);
  }
  const bool upgrade = h.status == 101 || (expect_connect_ && h.status / 100 == 2);
  const bool no_body =
      upgrade || expect_head_ || h.status < 200 || h.status == 204 || h.status == 304;
  // What returning 1 (or 2) from on_headers_complete would do; this callback
  // returns HPE_PAUSED instead.
  if (no_body) parser_.flags |= F_SKIPBODY;
  parser_.upgrade = upgrade ? 1 : 0;
  h.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  has_length_ = h.content_length.has_value() && !no_body;
  content_length_ = has_length_ ? *h.content_length : 0;
  body_less_ = no_body || (has_length_ && content_length_ == 0 && !h.chunked);
  return 0;
}

namespace {

class Http1ClientCodec final
    : public Http1StreamCodec<Http1ClientCodec, ClientCodec, ClientCodecCallbacks> {
 public:
  Http1ClientCodec(const CodecLimits& limits, ClientCodecCallbacks& callbacks)
      : Http1StreamCodec(CodecMode::kClient, limits, callbacks) {}

  uint32_t available_streams() const override {
    return !in_flight_ && codec_.between_messages() ? 1 : 0;
  }

  StreamId EncodeRequestHead(const RequestHead& head, BodyFraming framing, uint64_t body_length,
                             std::string& out) override {
    codec_.ExpectResponseTo(head.method);
    BeginOutgoingBody(framing);
    in_flight_ = true;
    codec_.EncodeRequestHead(head, framing, body_length, out);
    return ++stream_;
  }
  bool EncodeRequestBody(StreamId, std::string_view data, bool end_stream,
                         const HeaderMap* trailers, std::string& out) override {
    // Not chunked: the bytes themselves are the body.
    return EncodeChunkedBody(data, end_stream, trailers, out);
  }

 private:
  void OnResponseHead(ResponseHead&& head) override {
    callbacks_.OnResponseHead(stream_, std::move(head));
  }
  void OnBody(std::string_view chunk) override { callbacks_.OnResponseBody(stream_, chunk); }
  void OnTrailers(HeaderMap&& trailers) override {
    callbacks_.OnResponseTrailers(stream_, std::move(trailers));
  }
  void OnMessageComplete() override {
    in_flight_ = false;
    callbacks_.OnResponseComplete(stream_);
  }

  bool in_flight_ = false;  // a request went out and its final response has not ended
};

class Http1ClientFactory final : public ClientCodecFactory {
 public:
  std::unique_ptr<ClientCodec> CreateClientCodec(const CodecLimits& limits,
                                                 ClientCodecCallbacks& callbacks) const override {
    return std::make_unique<Http1ClientCodec>(limits, callbacks);
  }
};

}  // namespace
}  // namespace internal

std::shared_ptr<const ClientCodecFactory> Http1ClientCodecFactory() {
  static const auto* const factory = new std::shared_ptr<const ClientCodecFactory>(
      std::make_shared<internal::Http1ClientFactory>());
  return *factory;
}

}  // namespace gateway
