// The request (server) side of the HTTP/1.1 codec: what a parsed request
// head means beyond its syntax (Host, the four target forms, Expect, the body
// limit), and Http1ServerCodec, the ServerCodec over Http1Codec that the
// server's connections get from Http1ServerCodecFactory. Once per request;
// the per-span parsing is in http1_parser.cc.
#include <llhttp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "codec/http1_codec.h"
#include "codec/http1_stream_codec.h"
#include "codec/http1_syntax.h"
#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway {
namespace internal {

int Http1Codec::OnRequestHeadComplete() {
  RequestHead& h = req_;
  h.method = llhttp_method_name(static_cast<llhttp_method_t>(parser_.method));
  h.version_minor = parser_.http_minor;
  if (host_count_ == 0 && h.version_minor == 1) {
    return Fail(400, ResponseFlag::kInvalidHost, "missing Host header");
  }
  absl::StatusOr<TargetParts> parts = SplitRequestTarget(h.target, h.method);
  if (!parts.ok()) {
    absl::string_view why = parts.status().message();
    return Fail(400, ResponseFlag::kInvalidTarget, std::string_view(why.data(), why.size()));
  }
  switch (parts->form) {
    case TargetForm::kOrigin:
      h.path.assign(parts->path);
      h.query.assign(parts->query);
      break;
    case TargetForm::kAbsolute:
      // RFC 9112 3.2.2: the target's authority wins over Host.
      h.authority.assign(parts->authority);
      h.path.assign(parts->path);
      h.query.assign(parts->query);
      break;
    case TargetForm::kAuthority:
      h.authority.assign(parts->authority);
      break;
    case TargetForm::kAsterisk:
      break;
  }
  h.keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  h.upgrade = parser_.upgrade != 0;
  h.chunked = (parser_.flags & F_CHUNKED) != 0;
  if ((parser_.flags & F_CONTENT_LENGTH) != 0) h.content_length = parser_.content_length;
  if (expect_failed_) return Fail(417, ResponseFlag::kExpectationFailed, "unsupported expectation");
  // RFC 9110 10.1.1: a 100-continue from an HTTP/1.0 client is ignored.
  h.expect_continue = expect_continue_ && h.version_minor == 1;
  if (h.content_length.has_value() && *h.content_length > limits_.max_body_bytes) {
    return Fail(413, ResponseFlag::kBodyTooLarge, "request body too large");
  }
  has_length_ = h.content_length.has_value();
  content_length_ = h.content_length.value_or(0);
  body_less_ = !h.chunked && content_length_ == 0;
  return 0;
}

namespace {

class Http1ServerCodec final
    : public Http1StreamCodec<Http1ServerCodec, ServerCodec, ServerCodecCallbacks> {
 public:
  Http1ServerCodec(const CodecLimits& limits, ServerCodecCallbacks& callbacks)
      : Http1StreamCodec(CodecMode::kServer, limits, callbacks) {}

  bool idle() const override { return codec_.between_messages(); }

  void EncodeResponseHead(StreamId, const ResponseHead& head, BodyFraming framing,
                          uint64_t body_length, std::string& out) override {
    BeginOutgoingBody(framing);
    codec_.EncodeResponseHead(head, framing, body_length, out);
  }
  void EncodeResponseBody(StreamId, std::string_view data, bool end_stream,
                          const HeaderMap* trailers, std::string& out) override {
    // Content-Length, close-delimited, or the raw bytes after a 101.
    if (!EncodeChunkedBody(data, end_stream, trailers, out)) out.append(data);
  }
  void EncodeContinue(StreamId, std::string& out) override {
    out.append("HTTP/1.1 100 Continue\r\n\r\n");
  }

 private:
  void OnRequestHead(RequestHead&& head) override {
    callbacks_.OnRequestHead(++stream_, std::move(head));
  }
  void OnBody(std::string_view chunk) override { callbacks_.OnRequestBody(stream_, chunk); }
  void OnTrailers(HeaderMap&& trailers) override {
    callbacks_.OnRequestTrailers(stream_, std::move(trailers));
  }
  void OnFieldDropped(std::string_view name) override { callbacks_.OnFieldDropped(name); }
  void OnMessageComplete() override { callbacks_.OnRequestComplete(stream_); }
};

class Http1ServerFactory final : public ServerCodecFactory {
 public:
  std::unique_ptr<ServerCodec> CreateServerCodec(const CodecLimits& limits,
                                                 ServerCodecCallbacks& callbacks) const override {
    return std::make_unique<Http1ServerCodec>(limits, callbacks);
  }
};

}  // namespace
}  // namespace internal

std::shared_ptr<const ServerCodecFactory> Http1ServerCodecFactory() {
  // Stateless and immutable: one for the process, shared by every server.
  static const auto* const factory = new std::shared_ptr<const ServerCodecFactory>(
      std::make_shared<internal::Http1ServerFactory>());
  return *factory;
}

}  // namespace gateway
