// What the HTTP/1.1 connection codecs (Http1ServerCodec in http1_request.cc,
// Http1ClientCodec in http1_response.cc) have in common: one Http1Codec held
// by value (a codec per upstream attempt must not cost two allocations), the
// connection-level input calls passed straight to it, and the outgoing body
// of the one stream in flight framed as its head said. What HTTP/1.1 knows
// about streams is little: the one in flight has the latest id, and a stream
// ends only with its message or with the connection.
//
// A class template over the connection interface, so both sides share this
// code without a virtual call or an indirection of their own: each side's
// final class derives from its instantiation, and the interface's vtable
// points straight at these members, as it did at each side's copies.
#ifndef GATEWAY_LIB_CODEC_HTTP1_STREAM_CODEC_H_
#define GATEWAY_LIB_CODEC_HTTP1_STREAM_CODEC_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "codec/http1_codec.h"
#include "common/block_cache.h"
#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway::internal {

// `Derived` is the side's final class (for its block cache), `Interface`
// ServerCodec or ClientCodec, `Callbacks` the matching callbacks. The sink
// events other than OnError are the side's to implement.
template <typename Derived, typename Interface, typename Callbacks>
class Http1StreamCodec : public Interface, private CodecSink {
 public:
  // Made and freed per upstream attempt, and with connections' idle cycles
  // (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Derived>::Allocate(size); }
  static void operator delete(void* block, size_t size) { BlockCache<Derived>::Free(block, size); }

  FeedResult Feed(std::string_view data) final { return codec_.Feed(data); }
  void FeedEof() final { codec_.FeedEof(); }
  void Pause() final { codec_.Pause(); }
  void Resume() final { codec_.Resume(); }
  bool paused() const final { return codec_.paused(); }
  // The only stream is the connection's input.
  void SetStreamReadEnabled(StreamId, bool enabled) final {
    if (enabled) {
      codec_.Resume();
    } else {
      codec_.Pause();
    }
  }
  void ResetStream(StreamId, std::string&) final {
    // Nothing on the wire can end one exchange: parse no more; the owner closes.
    codec_.Pause();
  }

 protected:
  Http1StreamCodec(CodecMode mode, const CodecLimits& limits, Callbacks& callbacks)
      : codec_(mode, limits, *this), callbacks_(callbacks) {}
  ~Http1StreamCodec() override = default;

  // Records how the body after the head being encoded is framed.
  void BeginOutgoingBody(BodyFraming framing) { chunked_out_ = framing == BodyFraming::kChunked; }
  // Appends a piece of a chunked body (and its end with `end_stream`) to
  // `out`. Returns false, appending nothing, when the body is not chunked:
  // its bytes then go on the wire as they are.
  bool EncodeChunkedBody(std::string_view data, bool end_stream, const HeaderMap* trailers,
                         std::string& out) {
    if (!chunked_out_) return false;
    codec_.EncodeBody(data, BodyFraming::kChunked, out);
    if (end_stream) codec_.EncodeChunkedEnd(trailers, out);
    return true;
  }

  Http1Codec codec_;
  Callbacks& callbacks_;
  StreamId stream_ = 0;  // the latest message's

 private:
  void OnError(const CodecError& error) final { callbacks_.OnCodecError(error); }

  bool chunked_out_ = false;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CODEC_HTTP1_STREAM_CODEC_H_
