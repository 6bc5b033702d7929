// The default HTTP/1.1 codec: llhttp drives the grammar; Http1Codec adds what
// llhttp leaves to its user, and what even its strict build
// (LLHTTP_STRICT_MODE=1, see cmake/GatewayDependencies.cmake) lets through. No
// llhttp_set_lenient_* flag is ever set: the strict build's defaults plus the
// checks described here are the whole policy.
//
// Strict llhttp refuses a CR not followed by LF, any byte of a field name that
// is not a token character, control characters (but HTAB) in field values,
// anything but CRLF after chunk data, and non-ASCII request targets; the codec
// does not check those again. It still accepts a bare LF as a line end in
// several places (after the request or status line, as the blank line ending
// the head or the trailers, after the last chunk), runs of spaces inside the
// request line, an "RTSP/" version, an empty field name and obs-fold. llhttp
// reports spans (method, target, version, names, values, body) but not the
// bytes between them, so the codec keeps one pointer, `scan_pos_`, to where
// the last span ended and checks every byte between spans of the head, the
// chunk framing and the trailers ("gaps"): each LF must be preceded by CR (and
// each CR followed by LF: the same word-wide test covers both), a value must
// not start after a line break (obs-fold), and the request line must be exactly
// "METHOD SP target SP HTTP/x.y". The same walk counts header bytes including
// whitespace, which llhttp never hands out.
//
// llhttp does not say where the head ends, so `on_headers_complete` always
// returns HPE_PAUSED: `llhttp_get_error_pos` then gives the exact end, the last
// gap is checked, and only then is the head handed to the sink. The same trick
// finds the end of the trailers. That costs one extra `llhttp_execute` call per
// message, which is cheap next to building the head.
//
// Limits: the request target counts against `max_uri_bytes`; every byte of the
// head after the HTTP version (rest of the status line, field lines with their
// CRLFs, the blank line) counts against `max_header_bytes`; trailers count from
// their first field. Blank lines before a message and the fixed parts of the
// request line are not buffered and not counted. Chunk-size lines (size and
// extensions, which llhttp takes at any length and this codec never hands
// out) are gap bytes too, so the same walk measures them against
// `max_chunk_line_bytes`.
//
// The codec's code is split by what each part knows:
// - http1_parser.cc: the llhttp glue (callbacks, Feed, pauses, errors), the
//   gap walk and the field checks both directions share;
// - http1_request.cc: what a request head means (Host, target form, Expect,
//   body limit) and the server connection codec (Http1ServerCodec);
// - http1_response.cc: what a response head means (status, 1xx, HEAD and
//   CONNECT answers) and the client connection codec (Http1ClientCodec);
// - http1_encode.cc: serialisation of heads, bodies and trailers;
// - http1_stream_codec.h: what the two connection codecs share.
// This header holds the class and the small members the connection codecs
// call per request (Pause, Resume, paused, between_messages), so they stay
// inline in every file that uses them.
#ifndef GATEWAY_LIB_CODEC_HTTP1_CODEC_H_
#define GATEWAY_LIB_CODEC_HTTP1_CODEC_H_

#include <llhttp.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/attributes.h"
#include "common/block_cache.h"
#include "gateway/codec.h"
#include "gateway/http.h"
#include "gateway/response_flag.h"

namespace gateway::internal {

// A field name or value as llhttp hands it over. Almost always it is one span
// of the input, and a view of it is enough; it is copied only when it arrives
// in pieces or must outlive the input (Feed returns in the middle of it).
class FieldText {
 public:
  void Append(const char* at, size_t len) {
    if (!owned_ && view_.empty()) {
      view_ = std::string_view(at, len);
      return;
    }
    Own();
    copy_.append(at, len);
  }
  // Called before the input the view points into goes away.
  void Own() {
    if (owned_ || view_.empty()) return;
    copy_.assign(view_);
    view_ = {};
    owned_ = true;
  }
  std::string_view get() const { return owned_ ? std::string_view(copy_) : view_; }
  void Clear() {
    view_ = {};
    if (owned_) {
      copy_.clear();
      owned_ = false;
    }
  }

 private:
  std::string_view view_;
  std::string copy_;
  bool owned_ = false;
};

class Http1Codec final : public Codec {
 public:
  // Codecs come and go with requests (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Http1Codec>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<Http1Codec>::Free(block, size);
  }
  Http1Codec(CodecMode mode, const CodecLimits& limits, CodecSink& sink)
      : server_(mode == CodecMode::kServer), limits_(limits), sink_(sink) {
    llhttp_init(&parser_, server_ ? HTTP_REQUEST : HTTP_RESPONSE, &kSettings);
    parser_.data = this;
  }

  FeedResult Feed(std::string_view data) override;
  void FeedEof() override;
  void Pause() override {
    if (!dead_) paused_ = true;
  }
  void Resume() override {
    if (dead_) return;
    paused_ = false;
    if (upgrade_paused_) {
      upgrade_paused_ = false;
      if (!upgrade_keep_alive_) {
        conn_done_ = true;
        return;
      }
      llhttp_resume_after_upgrade(&parser_);
      return;
    }
    if (!conn_done_ && !in_feed_ && llhttp_get_errno(&parser_) == HPE_PAUSED) {
      llhttp_resume(&parser_);
    }
  }
  bool paused() const override { return !dead_ && (paused_ || upgrade_paused_ || conn_done_); }
  bool between_messages() const override {
    return !in_message_ && !in_feed_ && !dead_ && !failed_ && !eof_ && !upgrade_paused_ &&
           !conn_done_ && !awaiting_final_;
  }
  void ExpectResponseTo(std::string_view method) override {
    expect_head_ = method == "HEAD";
    expect_connect_ = method == "CONNECT";
  }

  // Serialisation (http1_encode.cc).
  void EncodeResponseHead(const ResponseHead& head, Framing framing, uint64_t body_length,
                          std::string& out) override;
  void EncodeRequestHead(const RequestHead& head, Framing framing, uint64_t body_length,
                         std::string& out) override;
  void EncodeBody(std::string_view data, Framing framing, std::string& out) override;
  void EncodeChunkedEnd(const HeaderMap* trailers, std::string& out) override;

 private:
  // Where in a message the parser is; decides which bytes the gap walk checks.
  enum class Section : uint8_t {
    kIdle,       // between messages (blank lines before a message are not checked)
    kStartLine,  // request / status line
    kHeaders,    // header fields, up to the blank line
    kBody,       // Content-Length, close-delimited or no body: nothing to check
    kChunked,    // chunk sizes, extensions and CRLFs between chunk data
    kTrailers,   // after the last chunk
  };
  // Why a callback returned HPE_PAUSED.
  enum class Stop : uint8_t { kNone, kHeadEnd, kTrailersEnd, kSink, kConnectionEnd };
  enum class FieldKind : uint8_t {
    kOther,
    kHost,
    kContentLength,
    kTransferEncoding,
    kExpect,
    kDropped,  // parsed and checked, but left out (HeadersWithUnderscores::kDrop)
  };

  static Http1Codec& Self(llhttp_t* p) { return *static_cast<Http1Codec*>(p->data); }
  // llhttp's callbacks into this class (http1_parser.cc). Constant-initialized,
  // so making a codec costs no guard check.
  static const llhttp_settings_t kSettings;

  // llhttp callbacks. Those declared inline are defined in http1_parser.cc,
  // the one file that calls them, each from one llhttp callback or a few:
  // `inline` lets the compiler fold them into their callers and drop their
  // bodies, as it would for functions local to that file. The head's meaning
  // is checked once per message, by the side that knows it.
  inline int OnMessageBegin();
  inline int OnMethod(const char* at, size_t len);
  inline int OnUrl(const char* at, size_t len);
  inline int OnVersion(const char* at, size_t len);
  inline int OnVersionComplete();
  inline int OnStatus(const char* at, size_t len);
  inline int OnHeaderField(const char* at, size_t len);
  inline int OnHeaderFieldComplete();
  inline int OnHeaderValue(const char* at, size_t len);
  inline int OnHeaderValueComplete();
  inline int OnHeadersComplete();
  int OnRequestHeadComplete();   // http1_request.cc
  int OnResponseHeadComplete();  // http1_response.cc
  inline int OnBody(const char* at, size_t len);
  inline int OnChunkHeader();
  inline int OnChunkComplete();
  inline int OnMessageComplete();

  // Steps of Feed at the pauses the codec makes for itself.
  inline bool FinishHead(const char* end);
  inline bool FinishTrailers(const char* end);
  // Walks the last gap of the head or the trailers, which ends at `end`.
  inline bool CloseSection(const char* end);

  // The gap walk.
  inline bool BeginSpan(const char* at);
  void EndSpan(const char* end) {
    scan_pos_ = end;
    gap_len_ = 0;
    gap_lfs_ = 0;
  }
  bool ScanTo(const char* to) {
    // Most gaps are the ": " before a value or the CRLF after it, between
    // header fields: settled inline. Everything else takes ScanGap.
    const char* from = scan_pos_;
    if (to - from == 2 && !prev_cr_ && section_ == Section::kHeaders && !status_check_pending_) {
      const auto a = static_cast<unsigned char>(from[0]);
      const auto b = static_cast<unsigned char>(from[1]);
      const bool crlf = a == '\r' && b == '\n';
      if (crlf || (a > '\r' && b > '\r')) {
        gap_lfs_ += crlf ? 1 : 0;
        gap_len_ += 2;
        scan_pos_ = to;
        return !count_bytes_ || CountHeaderBytes(2);
      }
    }
    return ScanGap(to);
  }
  bool ScanGap(const char* to);
  bool CheckChunkLines(const char* from, const char* to);
  ABSL_ATTRIBUTE_NOINLINE bool ChunkLineTooLong();
  ABSL_ATTRIBUTE_NOINLINE bool LineEndFault(const char* from, const char* to);
  void LineEndError();
  bool CountHeaderBytes(size_t n) {
    header_bytes_ += n;
    if (header_bytes_ <= limits_.max_header_bytes) [[likely]]
      return true;
    return HeadersTooLarge();
  }
  ABSL_ATTRIBUTE_NOINLINE bool HeadersTooLarge();
  inline bool CheckStatusLine();

  HeaderMap& head_headers() { return server_ ? req_.headers : resp_.headers; }

  // Records the first error; the callback then returns kFail to llhttp.
  int Fail(int status, ResponseFlag flag, std::string_view reason);
  void Die(llhttp_errno_t err);

  llhttp_t parser_;
  const bool server_;
  const CodecLimits limits_;
  CodecSink& sink_;

  // Codec state.
  bool paused_ = false;          // by the sink or the owner
  bool upgrade_paused_ = false;  // after an upgrade / CONNECT message
  bool upgrade_keep_alive_ = true;
  bool conn_done_ = false;  // the last message ended the connection
  bool dead_ = false;       // OnError was reported
  bool failed_ = false;     // error_ holds the reason
  bool eof_ = false;
  bool in_feed_ = false;
  Stop stop_ = Stop::kNone;
  CodecError error_;

  // Message state.
  Section section_ = Section::kIdle;
  bool in_message_ = false;
  bool body_less_ = false;  // completes right after its head, without more input
  bool has_length_ = false;
  uint64_t content_length_ = 0;
  uint64_t body_bytes_ = 0;
  uint64_t announced_ = 0;  // sum of chunk sizes so far
  size_t header_bytes_ = 0;
  size_t field_count_ = 0;
  int host_count_ = 0;
  bool cl_seen_ = false;
  bool te_seen_ = false;
  bool expect_continue_ = false;
  bool expect_failed_ = false;
  bool trailer_fields_ = false;
  FieldKind field_kind_ = FieldKind::kOther;
  RequestHead req_;
  ResponseHead resp_;
  HeaderMap trailers_;
  FieldText name_;   // current field name
  FieldText value_;  // current field value

  // Client state.
  bool expect_head_ = false;
  bool expect_connect_ = false;
  bool informational_ = false;
  bool awaiting_final_ = false;  // a 1xx came, the final response has not
  bool status_check_pending_ = false;

  // Gap walk state.
  bool scan_active_ = false;  // the current section's gaps are checked
  bool count_bytes_ = false;  // gap bytes count as header bytes
  bool prev_cr_ = false;      // the last byte walked was a CR
  uint32_t gap_lfs_ = 0;      // line breaks in the gap since the last span
  const char* scan_pos_ = nullptr;
  size_t gap_len_ = 0;
  size_t chunk_line_ = 0;  // bytes of the chunk-size line walked so far
  char gap_buf_[8] = {};   // first bytes of the current gap (request/status line checks)
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CODEC_HTTP1_CODEC_H_
