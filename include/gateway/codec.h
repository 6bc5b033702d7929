// The HTTP/1.x codec interface: a push parser that reports messages to a sink,
// plus the encoder for the opposite direction.
//
// A codec serves one connection on one loop thread. `Feed` calls sink methods
// synchronously, from inside `Feed`; the sink may call `Pause()` from any sink
// method, in which case `Feed` returns after the current callback with the
// bytes consumed so far, and the caller feeds the rest after `Resume()`.
// One exception keeps a paused message from waiting for bytes that will never
// come: when the end of a message needs no further input (a message without
// body, the last byte of a Content-Length body, trailers), `OnMessageComplete`
// is still delivered before `Feed` returns, even if the sink paused.
// After `OnError` the codec is dead: every later `Feed` consumes nothing.
//
// The default implementation (`MakeHttp1Codec`) is built on llhttp's loose
// build (LLHTTP_STRICT_MODE=0, as Debian ships it) with no lenient flag set;
// the codec itself rejects what that build lets through (bare CR or LF line
// ends, obs-fold, whitespace before a colon), so ambiguous framing is an error.
#ifndef GATEWAY_CODEC_H_
#define GATEWAY_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http.h"

namespace gateway {

// What a server codec does with a request header (or trailer) field whose name
// contains '_'. Such a name is valid HTTP, but servers and frameworks that
// fold '_' into '-' (CGI, many app servers) would read `Transfer_Encoding` or
// `Content_Length` as the framing field the gateway never saw.
enum class HeadersWithUnderscores {
  kAllow,   // passed on like any other field
  kDrop,    // left out of the head; CodecSink::OnFieldDropped is told
  kReject,  // 400 with flag "underscore_in_header"
};

// Input limits, on by default. Each is enforced as bytes arrive, before any
// buffering past the limit.
struct CodecLimits {
  size_t max_uri_bytes = 8 * 1024;             // 414 when exceeded
  size_t max_header_bytes = 32 * 1024;         // names + values + separators: 431
  size_t max_header_count = 100;               // 431
  uint64_t max_body_bytes = 16 * 1024 * 1024;  // per request: 413 (responses are not limited)
  // One chunk-size line of a chunked body: the size, its extensions and their
  // separators, without the CRLF. Requests: 400 (flag "invalid_framing");
  // responses (client mode): 502. llhttp itself takes extensions of any length.
  size_t max_chunk_line_bytes = 4 * 1024;
  // Server mode only; responses keep every field.
  HeadersWithUnderscores headers_with_underscores = HeadersWithUnderscores::kDrop;
};

enum class CodecMode {
  kServer,  // parses requests, encodes responses
  kClient,  // parses responses, encodes requests
};

// Why parsing stopped. `status` is the HTTP status a server answers with
// (400, 413, 414, 417, 431; 502 in client mode); `reason` is a short
// human-readable text, `flag` a machine-readable response flag.
struct CodecError {
  int status = 400;
  std::string flag;
  std::string reason;
};

class CodecSink {
 public:
  virtual ~CodecSink() = default;

  // Server mode: a complete, validated request head.
  virtual void OnRequestHead(RequestHead head) {}
  // Client mode: a complete, validated response head. Informational (1xx)
  // responses other than 101 are reported too, with no body and no
  // OnMessageComplete; the final response follows.
  virtual void OnResponseHead(ResponseHead head) {}
  // A piece of the decoded body (chunk framing removed). The view is valid only
  // during the call.
  virtual void OnBody(std::string_view chunk) = 0;
  // Trailer fields of a chunked message, before OnMessageComplete.
  virtual void OnTrailers(HeaderMap trailers) {}
  // A field the limits say to drop (HeadersWithUnderscores::kDrop) was left
  // out of the head or trailers being parsed. `name` is valid only during the
  // call, which comes before that head's OnRequestHead (or OnTrailers).
  virtual void OnFieldDropped(std::string_view name) {}
  // The current message ended; the next bytes belong to the next message.
  virtual void OnMessageComplete() = 0;
  // The input is invalid; nothing more will be parsed.
  virtual void OnError(const CodecError& error) = 0;
};

struct FeedResult {
  size_t consumed = 0;
  // The codec is paused (by the sink, or after an upgrade / a message that
  // ends the connection); the unconsumed bytes are for the caller to keep.
  bool paused = false;
};

class Codec {
 public:
  virtual ~Codec() = default;

  // Parses as much of `data` as possible. See the file comment for reentrancy.
  virtual FeedResult Feed(std::string_view data) = 0;

  // Signals that the peer closed its side. A message delimited by close ends
  // here; an unfinished message is reported through OnError.
  virtual void FeedEof() = 0;

  // Stops parsing after the current callback / allows parsing to continue.
  virtual void Pause() = 0;
  virtual void Resume() = 0;
  virtual bool paused() const = 0;
  // True between messages: nothing of a message is parsed yet and nothing
  // has ended the connection, so a new codec would parse what follows exactly
  // as this one. Owners may then free the codec (idle connections keep none)
  // and make a new one when bytes arrive. A codec that does not say so keeps
  // the default and is never replaced.
  virtual bool between_messages() const { return false; }

  // Client mode: the method of the request the next response answers, so HEAD
  // responses are parsed without a body. Call before feeding that response.
  virtual void ExpectResponseTo(std::string_view method) = 0;

  // Encoding. Heads are appended to `out` in wire format. `framing` decides how
  // the body that follows is delimited; framing fields the head carries are
  // replaced, and fields that could split the message are dropped. A request
  // line uses `path` and `query` (what was routed), or `target` when `path` is
  // empty (CONNECT, OPTIONS *); `Host` is added from `authority` if missing.
  enum class Framing {
    kContentLength,  // Content-Length is set from `body_length`
    kChunked,        // Transfer-Encoding: chunked
    kNone,           // no body (HEAD responses, 204, 304)
    kClose,          // delimited by closing the connection (HTTP/1.0 peers)
  };
  virtual void EncodeResponseHead(const ResponseHead& head, Framing framing, uint64_t body_length,
                                  std::string& out) = 0;
  virtual void EncodeRequestHead(const RequestHead& head, Framing framing, uint64_t body_length,
                                 std::string& out) = 0;
  // Appends one piece of body in the given framing (a chunk when chunked).
  virtual void EncodeBody(std::string_view data, Framing framing, std::string& out) = 0;
  // Appends the end of a chunked body (last chunk and optional trailers).
  virtual void EncodeChunkedEnd(const HeaderMap* trailers, std::string& out) = 0;
};

// The default HTTP/1.1 codec on llhttp. `sink` must outlive the codec.
std::unique_ptr<Codec> MakeHttp1Codec(CodecMode mode, const CodecLimits& limits, CodecSink& sink);

}  // namespace gateway

#endif  // GATEWAY_CODEC_H_
