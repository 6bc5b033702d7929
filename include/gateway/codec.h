// HTTP codecs: what turns a connection's bytes into streams of requests and
// responses, and streams back into bytes.
//
// Two layers:
// - `ServerCodec` / `ClientCodec` (below `Codec`): one per connection, the seam
//   a server (`ServerOptions::codec`) and each upstream cluster
//   (`ClusterSpec::codec`) create their codecs through. Their callbacks and
//   encode calls carry a `StreamId`, so a multiplexing protocol (HTTP/2) fits
//   the same contract; HTTP/1.1 yields one stream at a time. The built-in
//   HTTP/1.1 codecs (`Http1ServerCodecFactory`, `Http1ClientCodecFactory`) are
//   the defaults and reach the server and the proxy through exactly that door.
// - `Codec` / `CodecSink`: the HTTP/1.x message parser and encoder the built-in
//   connection codecs are made of, usable on its own (`MakeHttp1Codec`, as the
//   health checker does) and by user codecs that wrap it.
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
// The same holds for the connection codecs and their callbacks.
//
// The default implementation (`MakeHttp1Codec`) is built on llhttp's strict
// parser (LLHTTP_STRICT_MODE=1, compiled from Debian's generated sources) with
// no lenient flag set; the codec itself rejects what even that parser lets
// through (bare LF line ends, obs-fold, an empty field name, a malformed
// request or status line), so ambiguous framing is an error.
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

// Called from inside Codec::Feed (and FeedEof). Heads and trailers are the
// callee's to move from; a sink that keeps nothing of them pays no copy.
class CodecSink {
 public:
  virtual ~CodecSink() = default;

  // Server mode: a complete, validated request head.
  virtual void OnRequestHead(RequestHead&& head) {}
  // Client mode: a complete, validated response head. Informational (1xx)
  // responses other than 101 are reported too, with no body and no
  // OnMessageComplete; the final response follows.
  virtual void OnResponseHead(ResponseHead&& head) {}
  // A piece of the decoded body (chunk framing removed). The view is valid only
  // during the call.
  virtual void OnBody(std::string_view chunk) = 0;
  // Trailer fields of a chunked message, before OnMessageComplete.
  virtual void OnTrailers(HeaderMap&& trailers) {}
  // A field the limits say to drop (HeadersWithUnderscores::kDrop) was left
  // out of the head or trailers being parsed. `name` is valid only during the
  // call, which comes before that head's OnRequestHead (or OnTrailers).
  virtual void OnFieldDropped(std::string_view name) {}
  // The current message ended; the next bytes belong to the next message.
  virtual void OnMessageComplete() = 0;
  // The input is invalid; nothing more will be parsed.
  virtual void OnError(const CodecError& error) = 0;
};

// How an HTTP/1.x message body is delimited. Chosen by whoever encodes the
// head (the connection, which knows the request it answers); a multiplexing
// codec delimits bodies by the end of the stream and reads it only as "a body
// follows" (everything but kNone) and, with kContentLength, its length.
enum class BodyFraming {
  kContentLength,  // Content-Length is set from `body_length`
  kChunked,        // Transfer-Encoding: chunked
  kNone,           // no body (HEAD responses, 204, 304, requests without one)
  kClose,          // delimited by closing the connection (HTTP/1.0 peers)
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
  using Framing = BodyFraming;
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

// ---------------------------------------------------------------------------
// Connection codecs: the seam between a connection and its protocol.
//
// A connection (downstream: the server's; upstream: a pooled connection to a
// host) owns one codec, feeds it every byte it reads and writes every byte the
// codec encodes; it never looks at the bytes itself. The codec yields
// *streams*, each one request and its response, named by a `StreamId`:
// - HTTP/1.1 yields one stream at a time, ids 1, 2, 3... in order; pipelined
//   requests wait in the input until the connection resumes the codec.
// - A multiplexing protocol (HTTP/2) yields many at once, ids as the
//   protocol numbers them. Every stream meets the same router, filters and
//   proxy: nothing above the connection knows which protocol carried it.
// Ids are unique and increasing for the life of one codec (a connection that
// frees an idle codec and makes a new one starts again from the new codec's
// first id).
//
// Flow control has two levels. Connection level: the owner stops feeding
// (its input watermark) and calls `Pause()` to stop all parsing, and it holds
// back its own writes by its output watermark. Stream level:
// `SetStreamReadEnabled(id, false)` asks for no more body of one stream. An
// HTTP/1.1 codec has no other stream to keep parsing, so it pauses the
// connection; an HTTP/2 codec stops returning that stream's flow-control window
// (no WINDOW_UPDATE) and goes on parsing the others. Encoded bytes for any
// stream go into the one `out` buffer the owner writes in order.
//
// Resetting a stream: `ResetStream(id, out)` abandons one stream locally.
// HTTP/1.1 cannot end one exchange without ending the connection, so its codec
// stops parsing and the owner closes the connection; HTTP/2 encodes RST_STREAM
// and carries on. A stream the peer abandons is reported through
// `OnStreamReset`; an HTTP/1.1 peer gives up by closing (FeedEof).
using StreamId = uint32_t;

// Implemented by the server connection; called from inside ServerCodec::Feed.
// Views are valid only during the call; heads and trailers are the callee's
// to move from.
class ServerCodecCallbacks {
 public:
  virtual ~ServerCodecCallbacks() = default;
  // A new stream with its complete, validated request head.
  virtual void OnRequestHead(StreamId id, RequestHead&& head) = 0;
  // A piece of stream `id`'s request body (framing removed).
  virtual void OnRequestBody(StreamId id, std::string_view chunk) = 0;
  // Trailer fields, before OnRequestComplete.
  virtual void OnRequestTrailers(StreamId id, HeaderMap&& trailers) {}
  // The last byte of stream `id`'s request arrived.
  virtual void OnRequestComplete(StreamId id) = 0;
  // The peer abandoned stream `id` (HTTP/2 RST_STREAM); nothing more of it
  // arrives. Never called by HTTP/1.1.
  virtual void OnStreamReset(StreamId id) {}
  // A field was left out under HeadersWithUnderscores::kDrop (before the head
  // or trailers that held it are reported).
  virtual void OnFieldDropped(std::string_view name) {}
  // The connection's input is invalid: nothing more is parsed. The owner
  // answers the open stream with `error.status` if it can, then closes.
  virtual void OnCodecError(const CodecError& error) = 0;
};

class ServerCodec {
 public:
  virtual ~ServerCodec() = default;

  // Input, as for Codec: sink callbacks run inside these calls.
  virtual FeedResult Feed(std::string_view data) = 0;
  virtual void FeedEof() = 0;
  // Connection-level parsing control (see above).
  virtual void Pause() = 0;
  virtual void Resume() = 0;
  virtual bool paused() const = 0;
  // Stream-level request-body backpressure.
  virtual void SetStreamReadEnabled(StreamId id, bool enabled) = 0;
  // No stream is open and nothing is half-parsed: a new codec would parse
  // what follows exactly as this one, so the owner may free it while the
  // connection idles. A codec with connection state (HTTP/2 settings, HPACK
  // tables) keeps the default and is never replaced.
  virtual bool idle() const { return false; }

  // Output for stream `id`, appended to `out`, which the owner writes as is.
  // `framing` and `body_length` as for BodyFraming.
  virtual void EncodeResponseHead(StreamId id, const ResponseHead& head, BodyFraming framing,
                                  uint64_t body_length, std::string& out) = 0;
  // A piece of the response body, framed as its head said; `end_stream` ends
  // the response, after `trailers` if not null (valid during the call).
  virtual void EncodeResponseBody(StreamId id, std::string_view data, bool end_stream,
                                  const HeaderMap* trailers, std::string& out) = 0;
  // An interim "100 Continue" for a request that expects one.
  virtual void EncodeContinue(StreamId id, std::string& out) = 0;
  virtual void ResetStream(StreamId id, std::string& out) = 0;
};

// Implemented by the upstream side (one object per connection or per
// request); called from inside ClientCodec::Feed. Views are valid only during
// the call; heads and trailers are the callee's to move from.
class ClientCodecCallbacks {
 public:
  virtual ~ClientCodecCallbacks() = default;
  // A validated response head of stream `id`. Interim (1xx other than 101)
  // heads are reported too, with no body and no OnResponseComplete.
  virtual void OnResponseHead(StreamId id, ResponseHead&& head) = 0;
  virtual void OnResponseBody(StreamId id, std::string_view chunk) = 0;
  virtual void OnResponseTrailers(StreamId id, HeaderMap&& trailers) {}
  virtual void OnResponseComplete(StreamId id) = 0;
  // The peer abandoned stream `id` (HTTP/2 RST_STREAM, or a stream above
  // GOAWAY's last id, which it never processed). Never called by HTTP/1.1.
  virtual void OnStreamReset(StreamId id) {}
  // The response bytes are invalid: nothing more is parsed, every open
  // stream has failed (status 502).
  virtual void OnCodecError(const CodecError& error) = 0;
};

class ClientCodec {
 public:
  virtual ~ClientCodec() = default;

  virtual FeedResult Feed(std::string_view data) = 0;
  virtual void FeedEof() = 0;
  virtual void Pause() = 0;
  virtual void Resume() = 0;
  virtual bool paused() const = 0;
  // Stream-level response-body backpressure (see above).
  virtual void SetStreamReadEnabled(StreamId id, bool enabled) = 0;

  // How many more streams this connection can carry now. HTTP/1.1: 1 while
  // no exchange is in flight and the connection is reusable, else 0; HTTP/2:
  // the peer's SETTINGS_MAX_CONCURRENT_STREAMS less the open streams, 0 after
  // GOAWAY. A pool polls it when a stream completes (OnResponseComplete) or
  // the codec has parsed input, to hand the connection to a waiting request.
  virtual uint32_t available_streams() const = 0;

  // Opens a stream and appends its request head to `out`; returns its id.
  // Requires available_streams() > 0. The head's method decides how the
  // response is parsed (HEAD: no body).
  virtual StreamId EncodeRequestHead(const RequestHead& head, BodyFraming framing,
                                     uint64_t body_length, std::string& out) = 0;
  // A piece of stream `id`'s request body; `end_stream` ends it, after
  // `trailers` if not null. Returns true if `data` was appended to `out`;
  // false if `data` goes on the wire unchanged (HTTP/1.1 Content-Length
  // framing): the caller then writes `out` and after it `data`, saving a copy
  // of every body byte.
  [[nodiscard]] virtual bool EncodeRequestBody(StreamId id, std::string_view data, bool end_stream,
                                               const HeaderMap* trailers, std::string& out) = 0;
  virtual void ResetStream(StreamId id, std::string& out) = 0;
};

// Makes a server connection's codec: called on the connection's loop thread
// when the connection needs one (its first bytes, and again after it freed an
// idle codec). One factory serves every worker of a Runtime, so it must be
// thread-safe; `callbacks` outlive the codec; `limits` are valid during the
// call.
class ServerCodecFactory {
 public:
  virtual ~ServerCodecFactory() = default;
  virtual std::unique_ptr<ServerCodec> CreateServerCodec(const CodecLimits& limits,
                                                         ServerCodecCallbacks& callbacks) const = 0;
};

// Makes the codec of one upstream exchange's connection: called on the
// request's loop thread for every attempt, when its connection is ready.
// Thread-safety and lifetimes as for ServerCodecFactory.
class ClientCodecFactory {
 public:
  virtual ~ClientCodecFactory() = default;
  virtual std::unique_ptr<ClientCodec> CreateClientCodec(const CodecLimits& limits,
                                                         ClientCodecCallbacks& callbacks) const = 0;
};

// The built-in HTTP/1.1 connection codecs on `MakeHttp1Codec`: the defaults of
// `ServerOptions::codec` and `ClusterSpec::codec`. Never null; shared, so
// copying them is cheap. A user factory may wrap them.
std::shared_ptr<const ServerCodecFactory> Http1ServerCodecFactory();
std::shared_ptr<const ClientCodecFactory> Http1ClientCodecFactory();

}  // namespace gateway

#endif  // GATEWAY_CODEC_H_
