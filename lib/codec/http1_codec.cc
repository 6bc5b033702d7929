// The default HTTP/1.1 codec: llhttp drives the grammar; this file adds what
// llhttp leaves to its user, and what even its strict build
// (LLHTTP_STRICT_MODE=1, see cmake/GatewayDependencies.cmake) lets through. No
// llhttp_set_lenient_* flag is ever set: the strict build's defaults plus the
// checks below are the whole policy.
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
#include <llhttp.h>

#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/base/attributes.h"
#include "codec/http1_syntax.h"
#include "common/block_cache.h"
#include "common/header_map_access.h"
#include "gateway/codec.h"
#include "gateway/http.h"

// The checks below leave to llhttp what its strict parser refuses.
static_assert(LLHTTP_STRICT_MODE, "the HTTP/1.1 codec needs llhttp's strict parser");

namespace gateway {
namespace internal {
namespace {

constexpr int kFail = -1;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsFramingField(std::string_view name) {
  return NameIs(name, "content-length") || NameIs(name, "transfer-encoding");
}

// The encoders size their output first, grow it once and then write through
// a pointer: a head is a dozen small pieces, and appending them one by one
// costs a capacity check (and often a call) each.

// Grows `out` by `n` bytes and returns where they start.
char* Grow(std::string& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  return out.data() + old;
}

// Drops what the bound in Grow left unused after `end`.
void Shrink(std::string& out, const char* end) {
  out.resize(static_cast<size_t>(end - out.data()));
}

char* Put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

char* PutCrLf(char* p) {
  p[0] = '\r';
  p[1] = '\n';
  return p + 2;
}

// At least what PutFields writes for `headers`.
size_t FieldsBound(const HeaderMap& headers) {
  size_t n = 0;
  for (const HeaderMap::Field& f : headers) n += f.name.size() + f.value.size() + 4;
  return n;
}

// Writes the fields that are safe to write: framing fields are left to the
// encoder, and a field that could split the message (bad name, CR/LF/NUL in
// the value) is dropped rather than written.
char* PutFields(const HeaderMap& headers, char* p) {
  // A map whose every field was checked when it was added (by the parser or
  // HeaderMap) is copied without checking again.
  const bool checked = HeaderMapAccess::Clean(headers);
  for (const HeaderMap::Field& f : headers) {
    if (IsFramingField(f.name)) continue;
    std::string_view value = f.value;
    if (!checked) {
      value = TrimOws(value);
      if (!IsFieldName(f.name) || !IsFieldValue(value)) continue;
    }
    p = Put(p, f.name);
    p[0] = ':';
    p[1] = ' ';
    p = Put(p + 2, value);
    p = PutCrLf(p);
  }
  return p;
}

// "Content-Length: " and 20 digits, or "Transfer-Encoding: chunked", and CRLF.
constexpr size_t kFramingBound = 16 + 20 + 2;

char* PutFraming(Codec::Framing framing, uint64_t body_length, char* p) {
  switch (framing) {
    case Codec::Framing::kContentLength:
      p = Put(p, "Content-Length: ");
      p = std::to_chars(p, p + 20, body_length).ptr;
      return PutCrLf(p);
    case Codec::Framing::kChunked:
      return Put(p, "Transfer-Encoding: chunked\r\n");
    case Codec::Framing::kNone:
    case Codec::Framing::kClose:
      break;
  }
  return p;
}

// Bytes that may not appear in a request-target: controls, space, non-ASCII, '#'.
bool NeedsEscape(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u >= 0x7f || c == '#';
}

// What PutTarget writes for `s`.
size_t TargetSize(std::string_view s) {
  size_t escaped = 0;
  for (char c : s) escaped += NeedsEscape(c) ? 1 : 0;
  return s.size() + 2 * escaped;
}

// Writes `s` as a request-target, percent-encoding bytes that may not appear
// in one, so a rewritten path can never break the request line. `size` is
// TargetSize(s).
char* PutTarget(std::string_view s, size_t size, char* p) {
  if (size == s.size()) return Put(p, s);
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (NeedsEscape(c)) {
      const auto u = static_cast<unsigned char>(c);
      p[0] = '%';
      p[1] = kHex[u >> 4];
      p[2] = kHex[u & 0xf];
      p += 3;
    } else {
      *p++ = c;
    }
  }
  return p;
}

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

// Header fields a head has room for before its first field is added.
constexpr size_t kHeadFieldsReserved = 8;

class Http1Codec final : public Codec {
 public:
  // Codecs come and go with requests (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Http1Codec>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<Http1Codec>::Free(block, size);
  }
  Http1Codec(CodecMode mode, const CodecLimits& limits, CodecSink& sink)
      : server_(mode == CodecMode::kServer), limits_(limits), sink_(sink) {
    llhttp_init(&parser_, server_ ? HTTP_REQUEST : HTTP_RESPONSE, &Settings());
    parser_.data = this;
  }

  FeedResult Feed(std::string_view data) override;
  void FeedEof() override;
  void Pause() override {
    if (!dead_) paused_ = true;
  }
  void Resume() override;
  bool paused() const override { return !dead_ && (paused_ || upgrade_paused_ || conn_done_); }
  bool between_messages() const override {
    return !in_message_ && !in_feed_ && !dead_ && !failed_ && !eof_ && !upgrade_paused_ &&
           !conn_done_ && !awaiting_final_;
  }
  void ExpectResponseTo(std::string_view method) override {
    expect_head_ = method == "HEAD";
    expect_connect_ = method == "CONNECT";
  }

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
  static const llhttp_settings_t& Settings();

  // llhttp callbacks.
  int OnMessageBegin();
  int OnMethod(const char* at, size_t len);
  int OnUrl(const char* at, size_t len);
  int OnVersion(const char* at, size_t len);
  int OnVersionComplete();
  int OnStatus(const char* at, size_t len);
  int OnHeaderField(const char* at, size_t len);
  int OnHeaderFieldComplete();
  int OnHeaderValue(const char* at, size_t len);
  int OnHeaderValueComplete();
  int OnHeadersComplete();
  int OnRequestHeadComplete();
  int OnResponseHeadComplete();
  int OnBody(const char* at, size_t len);
  int OnChunkHeader();
  int OnChunkComplete();
  int OnMessageComplete();

  // Steps of Feed at the pauses the codec makes for itself.
  bool FinishHead(const char* end);
  bool FinishTrailers(const char* end);

  // The gap walk.
  bool BeginSpan(const char* at);
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
  bool CheckStatusLine();

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

const llhttp_settings_t& Http1Codec::Settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = [](llhttp_t* p) { return Self(p).OnMessageBegin(); };
    s.on_method = [](llhttp_t* p, const char* at, size_t n) { return Self(p).OnMethod(at, n); };
    s.on_url = [](llhttp_t* p, const char* at, size_t n) { return Self(p).OnUrl(at, n); };
    s.on_version = [](llhttp_t* p, const char* at, size_t n) { return Self(p).OnVersion(at, n); };
    s.on_version_complete = [](llhttp_t* p) { return Self(p).OnVersionComplete(); };
    s.on_status = [](llhttp_t* p, const char* at, size_t n) { return Self(p).OnStatus(at, n); };
    s.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
      return Self(p).OnHeaderField(at, n);
    };
    s.on_header_field_complete = [](llhttp_t* p) { return Self(p).OnHeaderFieldComplete(); };
    s.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
      return Self(p).OnHeaderValue(at, n);
    };
    s.on_header_value_complete = [](llhttp_t* p) { return Self(p).OnHeaderValueComplete(); };
    s.on_headers_complete = [](llhttp_t* p) { return Self(p).OnHeadersComplete(); };
    s.on_body = [](llhttp_t* p, const char* at, size_t n) { return Self(p).OnBody(at, n); };
    s.on_chunk_header = [](llhttp_t* p) { return Self(p).OnChunkHeader(); };
    s.on_chunk_complete = [](llhttp_t* p) { return Self(p).OnChunkComplete(); };
    s.on_message_complete = [](llhttp_t* p) { return Self(p).OnMessageComplete(); };
    return s;
  }();
  return settings;
}

// ---------------------------------------------------------------------------
// Feeding

FeedResult Http1Codec::Feed(std::string_view data) {
  if (dead_ || eof_ || in_feed_) return {0, paused()};
  if (paused()) return {0, true};
  if (data.empty()) return {0, false};
  in_feed_ = true;
  const char* const begin = data.data();
  const char* const end = begin + data.size();
  const char* p = begin;
  scan_pos_ = begin;  // a gap that started in an earlier Feed continues here
  for (;;) {
    llhttp_errno_t err = llhttp_execute(&parser_, p, static_cast<size_t>(end - p));
    if (err == HPE_OK) {
      p = end;
      break;
    }
    p = llhttp_get_error_pos(&parser_);
    if (err == HPE_PAUSED_UPGRADE) {
      upgrade_paused_ = true;
      break;
    }
    if (err != HPE_PAUSED) {
      // A line-end fault in the unwalked gap before llhttp's error came first;
      // report that, so the error does not depend on how input was split.
      if (!failed_ && scan_active_ && p > scan_pos_) ScanTo(p);
      Die(err);
      break;
    }
    Stop stop = std::exchange(stop_, Stop::kNone);
    if (stop == Stop::kHeadEnd) {
      if (!FinishHead(p)) break;
      // A message without body ends without further input: let llhttp report
      // that now even if the sink paused, or nobody would feed it again.
      if (paused_ && !body_less_) break;
    } else if (stop == Stop::kTrailersEnd) {
      if (!FinishTrailers(p)) break;
    } else {
      break;  // the sink paused, or the message ended the connection
    }
    llhttp_resume(&parser_);
  }
  if (!dead_ && scan_active_ && p > scan_pos_ && !ScanTo(p)) Die(HPE_USER);
  // A field cut off by the end of the input continues in the next Feed.
  name_.Own();
  value_.Own();
  in_feed_ = false;
  return {static_cast<size_t>(p - begin), paused()};
}

void Http1Codec::Resume() {
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

void Http1Codec::FeedEof() {
  if (dead_ || eof_ || in_feed_) return;
  eof_ = true;
  if (upgrade_paused_ || conn_done_) return;
  if (!in_message_) {
    if (awaiting_final_) {
      error_ = CodecError{502, std::string(ResponseFlagName(ResponseFlag::kUpstreamTruncated)),
                          "connection closed before the final response"};
      failed_ = true;
      Die(HPE_INVALID_EOF_STATE);
    }
    return;
  }
  in_feed_ = true;
  llhttp_errno_t err = HPE_OK;
  if (llhttp_get_errno(&parser_) == HPE_PAUSED) {
    // Paused right after a head, llhttp has not yet chosen how the body is
    // delimited; let it catch up on the bytes it already has, or llhttp_finish
    // would take a close-delimited body for a truncated one.
    static constexpr char kNothing[1] = {0};
    llhttp_resume(&parser_);
    scan_pos_ = kNothing;
    err = llhttp_execute(&parser_, kNothing, 0);
    stop_ = Stop::kNone;
    if (err == HPE_PAUSED) llhttp_resume(&parser_);
  }
  if (err != HPE_OK && err != HPE_PAUSED) {
    in_feed_ = false;
    if (err == HPE_PAUSED_UPGRADE) {
      upgrade_paused_ = true;
    } else {
      Die(err);
    }
    return;
  }
  if (in_message_) err = llhttp_finish(&parser_);
  in_feed_ = false;
  if (dead_) return;
  if (in_message_ || (err != HPE_OK && err != HPE_PAUSED)) {
    if (server_) {
      error_ = CodecError{400, std::string(ResponseFlagName(ResponseFlag::kIncompleteRequest)),
                          "connection closed in the middle of a request"};
    } else {
      error_ = CodecError{502, std::string(ResponseFlagName(ResponseFlag::kUpstreamTruncated)),
                          "connection closed in the middle of a response"};
    }
    failed_ = true;
    Die(HPE_INVALID_EOF_STATE);
  }
}

// ---------------------------------------------------------------------------
// Errors

int Http1Codec::Fail(int status, ResponseFlag flag, std::string_view reason) {
  if (!failed_) {
    failed_ = true;
    if (server_) {
      error_.status = status;
      error_.flag.assign(ResponseFlagName(flag));
    } else {
      error_.status = 502;
      error_.flag = ResponseFlagName(ResponseFlag::kUpstreamProtocolError);
    }
    error_.reason.assign(reason);
  }
  return kFail;
}

void Http1Codec::Die(llhttp_errno_t err) {
  if (dead_) return;
  if (!failed_) {
    const char* why = llhttp_get_error_reason(&parser_);
    std::string_view reason = why != nullptr ? why : "invalid message";
    int status = 400;
    ResponseFlag flag = ResponseFlag::kBadRequest;
    switch (err) {
      case HPE_INVALID_CONTENT_LENGTH:
      case HPE_UNEXPECTED_CONTENT_LENGTH:
      case HPE_INVALID_TRANSFER_ENCODING:
      case HPE_INVALID_CHUNK_SIZE:
        flag = ResponseFlag::kInvalidFraming;
        break;
      case HPE_INVALID_HEADER_TOKEN:
      case HPE_UNEXPECTED_SPACE:
        flag = ResponseFlag::kInvalidHeader;
        break;
      case HPE_LF_EXPECTED:
      case HPE_CR_EXPECTED:
      case HPE_STRICT:
        flag = section_ == Section::kChunked ? ResponseFlag::kInvalidFraming
                                             : ResponseFlag::kInvalidHeader;
        break;
      case HPE_INVALID_URL:
        flag = ResponseFlag::kInvalidTarget;
        break;
      case HPE_INVALID_VERSION:
        // Also raised for garbage after the version; only a bad number is 505.
        if (reason.find("ersion") != std::string_view::npos &&
            reason.find("CRLF") == std::string_view::npos) {
          status = 505;
          flag = ResponseFlag::kUnsupportedVersion;
        }
        break;
      default:
        break;
    }
    Fail(status, flag, reason);
  }
  dead_ = true;
  paused_ = false;
  sink_.OnError(error_);
}

// ---------------------------------------------------------------------------
// The gap walk

bool Http1Codec::BeginSpan(const char* at) {
  if (!scan_active_) {
    // First span of a message: what came before it (blank lines) is not checked.
    scan_active_ = true;
    scan_pos_ = at;
    prev_cr_ = false;
    gap_len_ = 0;
    gap_lfs_ = 0;
    return true;
  }
  if (!ScanTo(at)) return false;
  if (prev_cr_) {
    LineEndError();
    return false;
  }
  return true;
}

void Http1Codec::LineEndError() {
  // Before the first trailer field the gap is still chunk framing.
  const bool framing =
      section_ == Section::kChunked || (section_ == Section::kTrailers && !trailer_fields_);
  Fail(400, framing ? ResponseFlag::kInvalidFraming : ResponseFlag::kInvalidHeader,
       prev_cr_ ? "CR not followed by LF" : "LF without CR");
}

bool Http1Codec::ScanGap(const char* to) {
  const char* from = scan_pos_;
  const size_t n = static_cast<size_t>(to - from);
  if (!ScanLineEnds(std::string_view(from, n), prev_cr_, gap_lfs_)) [[unlikely]] {
    return LineEndFault(from, to);
  }
  if (section_ == Section::kStartLine || status_check_pending_) {
    // The request / status line is checked against the first bytes of its gaps.
    for (size_t i = 0; i < n && gap_len_ + i < sizeof(gap_buf_); ++i)
      gap_buf_[gap_len_ + i] = from[i];
  }
  gap_len_ += n;
  scan_pos_ = to;
  // Before the first trailer field the gap is still chunk framing.
  if (section_ == Section::kChunked || (section_ == Section::kTrailers && !trailer_fields_)) {
    if (!CheckChunkLines(from, to)) return false;
  }
  return !count_bytes_ || CountHeaderBytes(n);
}

bool Http1Codec::CheckChunkLines(const char* from, const char* to) {
  // Each line that ends in this gap is measured without its CRLF (the walk
  // above made sure a CR precedes every LF); the one still open is measured
  // as it grows, so an endless extension is refused once it is too long.
  const size_t max = limits_.max_chunk_line_bytes;
  while (const void* found = std::memchr(from, '\n', static_cast<size_t>(to - from))) {
    const char* lf = static_cast<const char*>(found);
    if (chunk_line_ + static_cast<size_t>(lf - from) - 1 > max) return ChunkLineTooLong();
    chunk_line_ = 0;
    from = lf + 1;
  }
  chunk_line_ += static_cast<size_t>(to - from);
  // A CR at the end of the input may be the line's end.
  if (chunk_line_ - (prev_cr_ ? 1 : 0) > max) return ChunkLineTooLong();
  return true;
}

bool Http1Codec::ChunkLineTooLong() {
  Fail(400, ResponseFlag::kInvalidFraming, "chunk extension too long");
  return false;
}

bool Http1Codec::LineEndFault(const char* from, const char* to) {
  // Walk byte by byte to the offending byte: its predecessor decides the reason.
  bool prev_cr = prev_cr_;
  for (const char* c = from; c < to; ++c) {
    if (prev_cr ? *c != '\n' : *c == '\n') break;
    prev_cr = *c == '\r';
  }
  prev_cr_ = prev_cr;
  LineEndError();
  return false;
}

bool Http1Codec::HeadersTooLarge() {
  Fail(431, ResponseFlag::kHeadersTooLarge,
       section_ == Section::kTrailers ? "trailer section too large" : "header section too large");
  return false;
}

bool Http1Codec::CheckStatusLine() {
  status_check_pending_ = false;
  // After "HTTP/1.x": SP 3DIGIT, then SP or the line end. llhttp takes fewer
  // digits, more spaces or a leading zero run without complaint.
  bool ok = gap_len_ >= 5 && gap_buf_[0] == ' ' && IsDigit(gap_buf_[1]) && IsDigit(gap_buf_[2]) &&
            IsDigit(gap_buf_[3]) && (gap_buf_[4] == ' ' || gap_buf_[4] == '\r');
  if (!ok) Fail(502, ResponseFlag::kUpstreamProtocolError, "malformed status line");
  return ok;
}

// ---------------------------------------------------------------------------
// llhttp callbacks

int Http1Codec::OnMessageBegin() {
  in_message_ = true;
  section_ = Section::kStartLine;
  scan_active_ = false;
  count_bytes_ = false;
  body_less_ = false;
  has_length_ = false;
  content_length_ = 0;
  body_bytes_ = 0;
  announced_ = 0;
  header_bytes_ = 0;
  field_count_ = 0;
  host_count_ = 0;
  cl_seen_ = false;
  te_seen_ = false;
  expect_continue_ = false;
  expect_failed_ = false;
  trailer_fields_ = false;
  chunk_line_ = 0;
  informational_ = false;
  status_check_pending_ = false;
  name_.Clear();
  value_.Clear();
  trailers_.Clear();
  if (server_) {
    req_ = RequestHead();
  } else {
    resp_ = ResponseHead();
  }
  // One allocation for a typical head instead of one per doubling.
  head_headers().Reserve(kHeadFieldsReserved);
  return 0;
}

int Http1Codec::OnMethod(const char* at, size_t len) {
  if (!BeginSpan(at)) return kFail;
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnUrl(const char* at, size_t len) {
  if (!BeginSpan(at)) return kFail;
  if (req_.target.empty() && gap_len_ != 1) {
    return Fail(400, ResponseFlag::kBadRequest, "malformed request line");
  }
  if (len > limits_.max_uri_bytes - req_.target.size()) {
    return Fail(414, ResponseFlag::kUriTooLong, "request target too long");
  }
  req_.target.append(at, len);
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnVersion(const char* at, size_t len) {
  const bool first_span = !scan_active_;
  if (!BeginSpan(at)) return kFail;
  // llhttp also takes "RTSP/x.y" and several spaces here; a request line is
  // exactly "METHOD SP target SP HTTP/x.y". (Responses: llhttp insists on
  // "HTTP/" before the version, which is their first span.)
  if (server_ && !first_span && gap_len_ != 0 &&
      (gap_len_ != 6 || std::memcmp(gap_buf_, " HTTP/", 6) != 0)) {
    return Fail(400, ResponseFlag::kBadRequest, "malformed request line");
  }
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnVersionComplete() {
  if (parser_.http_major != 1 || parser_.http_minor > 1) {
    return Fail(505, ResponseFlag::kUnsupportedVersion, "HTTP version not supported");
  }
  section_ = Section::kHeaders;
  count_bytes_ = true;
  status_check_pending_ = !server_;
  return 0;
}

int Http1Codec::OnStatus(const char* at, size_t len) {
  if (!BeginSpan(at)) return kFail;
  if (status_check_pending_ && !CheckStatusLine()) return kFail;
  if (!CountHeaderBytes(len)) return kFail;
  resp_.reason.append(at, len);
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnHeaderField(const char* at, size_t len) {
  if (!BeginSpan(at)) return kFail;
  if (status_check_pending_ && !CheckStatusLine()) return kFail;
  if (section_ == Section::kTrailers && !trailer_fields_) {
    // Trailer bytes count from the first field, not from the last chunk.
    trailer_fields_ = true;
    count_bytes_ = true;
  }
  if (!CountHeaderBytes(len)) return kFail;
  name_.Append(at, len);
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnHeaderFieldComplete() {
  if (++field_count_ > limits_.max_header_count) {
    return Fail(431, ResponseFlag::kHeadersTooLarge, "too many header fields");
  }
  // Strict llhttp takes only token characters in a name, but an empty one too.
  const std::string_view n = name_.get();
  if (n.empty()) return Fail(400, ResponseFlag::kInvalidHeader, "empty header field name");
  field_kind_ = FieldKind::kOther;
  switch (n.size()) {
    case 4:
      if (NameIs(n, "host")) field_kind_ = FieldKind::kHost;
      break;
    case 6:
      if (NameIs(n, "expect")) field_kind_ = FieldKind::kExpect;
      break;
    case 14:
      if (NameIs(n, "content-length")) field_kind_ = FieldKind::kContentLength;
      break;
    case 17:
      if (NameIs(n, "transfer-encoding")) field_kind_ = FieldKind::kTransferEncoding;
      break;
    default:
      break;
  }
  if (section_ == Section::kTrailers) {
    if (field_kind_ == FieldKind::kHost || field_kind_ == FieldKind::kContentLength ||
        field_kind_ == FieldKind::kTransferEncoding) {
      return Fail(400, ResponseFlag::kInvalidHeader, "framing or routing field in trailers");
    }
    field_kind_ = FieldKind::kOther;
  }
  if (server_ && limits_.headers_with_underscores != HeadersWithUnderscores::kAllow &&
      n.find('_') != std::string_view::npos) {
    if (limits_.headers_with_underscores == HeadersWithUnderscores::kReject) {
      return Fail(400, ResponseFlag::kUnderscoreInHeader, "header field name with an underscore");
    }
    field_kind_ = FieldKind::kDropped;
  }
  return 0;
}

int Http1Codec::OnHeaderValue(const char* at, size_t len) {
  if (!BeginSpan(at)) return kFail;
  // A value fragment after a line break is a folded line. llhttp reports an
  // empty value as an empty span after its line end (once it has seen that no
  // fold follows), so there one line break is expected.
  if (gap_lfs_ > (len == 0 ? 1u : 0u)) {
    return Fail(400, ResponseFlag::kInvalidHeader, "obsolete line folding");
  }
  if (!CountHeaderBytes(len)) return kFail;
  value_.Append(at, len);
  EndSpan(at + len);
  return 0;
}

int Http1Codec::OnHeaderValueComplete() {
  // Strict llhttp has refused control characters other than HTAB already.
  std::string_view v = TrimOws(value_.get());
  switch (field_kind_) {
    case FieldKind::kOther:
      break;
    case FieldKind::kDropped:
      sink_.OnFieldDropped(name_.get());
      name_.Clear();
      value_.Clear();
      return 0;
    case FieldKind::kHost:
      if (!server_) break;
      if (++host_count_ > 1)
        return Fail(400, ResponseFlag::kInvalidHost, "more than one Host header");
      if (!IsValidAuthority(v)) return Fail(400, ResponseFlag::kInvalidHost, "invalid Host header");
      req_.authority.assign(v);
      break;
    case FieldKind::kContentLength: {
      if (cl_seen_) return Fail(400, ResponseFlag::kInvalidFraming, "more than one Content-Length");
      if (te_seen_)
        return Fail(400, ResponseFlag::kInvalidFraming, "Content-Length with Transfer-Encoding");
      uint64_t n = 0;
      if (!ParseDecimal(v, n))
        return Fail(400, ResponseFlag::kInvalidFraming, "invalid Content-Length");
      cl_seen_ = true;
      break;
    }
    case FieldKind::kTransferEncoding:
      if (te_seen_)
        return Fail(400, ResponseFlag::kInvalidFraming, "more than one Transfer-Encoding");
      if (cl_seen_)
        return Fail(400, ResponseFlag::kInvalidFraming, "Content-Length with Transfer-Encoding");
      if (parser_.http_minor == 0) {
        return Fail(400, ResponseFlag::kInvalidFraming, "Transfer-Encoding in an HTTP/1.0 message");
      }
      // Only plain chunked: any other coding would have to be undone or
      // passed through, and "x, chunked" is a favourite of smugglers.
      if (!EqualsIgnoreCase(v, "chunked")) {
        return Fail(400, ResponseFlag::kInvalidFraming, "unsupported Transfer-Encoding");
      }
      te_seen_ = true;
      break;
    case FieldKind::kExpect:
      if (!server_) break;
      if (EqualsIgnoreCase(v, "100-continue")) {
        expect_continue_ = true;
      } else {
        expect_failed_ = true;
      }
      break;
  }
  // Checked: the name's characters and the value's by llhttp, the empty name
  // when the name completed, TrimOws here.
  HeaderMapAccess::AddChecked(section_ == Section::kTrailers ? trailers_ : head_headers(),
                              name_.get(), v);
  name_.Clear();
  value_.Clear();
  return 0;
}

int Http1Codec::OnHeadersComplete() {
  // HTTP/0.9 requests have no version span, so check again here.
  if (parser_.http_major != 1 || parser_.http_minor > 1) {
    return Fail(505, ResponseFlag::kUnsupportedVersion, "HTTP version not supported");
  }
  int rc = server_ ? OnRequestHeadComplete() : OnResponseHeadComplete();
  if (rc != 0) return rc;
  // Pause to learn where the head ends; Feed checks the last gap and then
  // hands the head to the sink (FinishHead).
  stop_ = Stop::kHeadEnd;
  return HPE_PAUSED;
}

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

bool Http1Codec::FinishHead(const char* end) {
  if (!ScanTo(end)) {
    Die(HPE_USER);
    return false;
  }
  if (prev_cr_) {
    LineEndError();
    Die(HPE_USER);
    return false;
  }
  if (status_check_pending_ && !CheckStatusLine()) {
    Die(HPE_USER);
    return false;
  }
  const bool chunked = server_ ? req_.chunked : (resp_.chunked && !body_less_);
  section_ = chunked ? Section::kChunked : Section::kBody;
  count_bytes_ = false;
  scan_active_ = chunked;  // chunk framing is walked from here on
  EndSpan(end);
  if (server_) {
    sink_.OnRequestHead(std::move(req_));
  } else {
    sink_.OnResponseHead(std::move(resp_));
  }
  return !dead_;
}

int Http1Codec::OnBody(const char* at, size_t len) {
  if (len == 0) return 0;
  if (section_ == Section::kChunked) {
    if (!BeginSpan(at)) return kFail;
    EndSpan(at + len);
  }
  body_bytes_ += len;
  sink_.OnBody(std::string_view(at, len));
  if (paused_) {
    // The end of a Content-Length body needs no more input; report it now.
    if (has_length_ && section_ == Section::kBody && body_bytes_ == content_length_) return 0;
    stop_ = Stop::kSink;
    return HPE_PAUSED;
  }
  return 0;
}

int Http1Codec::OnChunkHeader() {
  const uint64_t size = parser_.content_length;
  if (size == 0) {
    section_ = Section::kTrailers;
    count_bytes_ = false;
    header_bytes_ = 0;
    field_count_ = 0;
    return 0;
  }
  if (server_) {
    if (size > limits_.max_body_bytes - announced_) {
      return Fail(413, ResponseFlag::kBodyTooLarge, "request body too large");
    }
    announced_ += size;
  }
  return 0;
}

int Http1Codec::OnChunkComplete() {
  if (section_ != Section::kTrailers) return 0;
  stop_ = Stop::kTrailersEnd;  // to learn where the trailers end
  return HPE_PAUSED;
}

bool Http1Codec::FinishTrailers(const char* end) {
  if (!ScanTo(end)) {
    Die(HPE_USER);
    return false;
  }
  if (prev_cr_) {
    LineEndError();
    Die(HPE_USER);
    return false;
  }
  section_ = Section::kBody;
  scan_active_ = false;
  count_bytes_ = false;
  if (!trailers_.empty()) sink_.OnTrailers(std::move(trailers_));
  // OnMessageComplete follows at the same position even if the sink paused.
  return !dead_;
}

int Http1Codec::OnMessageComplete() {
  const bool keep_alive = llhttp_should_keep_alive(&parser_) != 0;
  in_message_ = false;
  section_ = Section::kIdle;
  scan_active_ = false;
  count_bytes_ = false;
  if (!server_) {
    if (informational_) {
      informational_ = false;
      awaiting_final_ = true;
      if (paused_) {
        stop_ = Stop::kSink;
        return HPE_PAUSED;
      }
      return 0;
    }
    awaiting_final_ = false;
    expect_head_ = false;
    expect_connect_ = false;
  }
  sink_.OnMessageComplete();
  if (parser_.upgrade != 0) {
    // llhttp returns HPE_PAUSED_UPGRADE right after this callback.
    upgrade_keep_alive_ = keep_alive;
    return 0;
  }
  if (!keep_alive) {
    // Whatever follows is left unconsumed for the owner to judge (strict
    // llhttp would only fail it as data after `Connection: close`).
    conn_done_ = true;
    stop_ = Stop::kConnectionEnd;
    return HPE_PAUSED;
  }
  if (paused_) {
    stop_ = Stop::kSink;
    return HPE_PAUSED;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Encoding

void Http1Codec::EncodeResponseHead(const ResponseHead& head, Framing framing, uint64_t body_length,
                                    std::string& out) {
  std::string_view reason = head.reason;
  int status = head.status;
  if (status < 100 || status > 999) status = 500;
  if (reason.empty() || !IsFieldValue(reason)) reason = ReasonPhrase(status);
  // "HTTP/1.x NNN " reason CRLF, fields, framing, CRLF.
  char* p = Grow(out, 13 + reason.size() + 2 + FieldsBound(head.headers) + kFramingBound + 2);
  p = Put(p, head.version_minor == 0 ? "HTTP/1.0 " : "HTTP/1.1 ");
  p[0] = static_cast<char>('0' + status / 100);
  p[1] = static_cast<char>('0' + status / 10 % 10);
  p[2] = static_cast<char>('0' + status % 10);
  p[3] = ' ';
  p = Put(p + 4, reason);
  p = PutCrLf(p);
  p = PutFields(head.headers, p);
  p = PutFraming(framing, body_length, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

void Http1Codec::EncodeRequestHead(const RequestHead& head, Framing framing, uint64_t body_length,
                                   std::string& out) {
  size_t method_size = 0;
  for (char c : head.method) method_size += HasClass(c, kTokenChar) ? 1 : 0;
  // The routed (normalised, possibly rewritten) path goes upstream; forms
  // without a path (CONNECT, OPTIONS *) keep their target.
  size_t path_size = 0;
  size_t query_size = 0;
  size_t target_size = 1;  // "/"
  if (!head.path.empty()) {
    path_size = TargetSize(head.path);
    if (!head.query.empty()) query_size = TargetSize(head.query);
    target_size = path_size + (head.query.empty() ? 0 : 1 + query_size);
  } else if (!head.target.empty()) {
    target_size = TargetSize(head.target);
  }
  bool has_host = false;
  size_t fields_bound = 0;
  for (const HeaderMap::Field& f : head.headers) {
    fields_bound += f.name.size() + f.value.size() + 4;
    has_host = has_host || NameIs(f.name, "host");
  }
  const bool add_host = !head.authority.empty() && !has_host && IsFieldValue(head.authority);
  // Method SP target " HTTP/1.x" CRLF, Host, fields, framing, CRLF.
  char* p = Grow(out, (method_size == 0 ? 3 : method_size) + 1 + target_size + 11 +
                          (add_host ? 6 + head.authority.size() + 2 : 0) + fields_bound +
                          kFramingBound + 2);
  if (method_size == 0) {
    p = Put(p, "GET");
  } else if (method_size == head.method.size()) {
    p = Put(p, head.method);
  } else {
    for (char c : head.method) {
      if (HasClass(c, kTokenChar)) *p++ = c;
    }
  }
  *p++ = ' ';
  if (!head.path.empty()) {
    p = PutTarget(head.path, path_size, p);
    if (!head.query.empty()) {
      *p++ = '?';
      p = PutTarget(head.query, query_size, p);
    }
  } else if (!head.target.empty()) {
    p = PutTarget(head.target, target_size, p);
  } else {
    *p++ = '/';
  }
  p = Put(p, head.version_minor == 0 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  if (add_host) {
    p = Put(p, "Host: ");
    p = Put(p, head.authority);
    p = PutCrLf(p);
  }
  p = PutFields(head.headers, p);
  p = PutFraming(framing, body_length, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

void Http1Codec::EncodeBody(std::string_view data, Framing framing, std::string& out) {
  if (data.empty()) return;  // an empty chunk would end a chunked body
  switch (framing) {
    case Framing::kChunked:
      out.reserve(out.size() + data.size() + 20);
      AppendHex(data.size(), out);
      out.append("\r\n", 2);
      out.append(data);
      out.append("\r\n", 2);
      break;
    case Framing::kContentLength:
    case Framing::kClose:
      out.append(data);
      break;
    case Framing::kNone:
      break;
  }
}

void Http1Codec::EncodeChunkedEnd(const HeaderMap* trailers, std::string& out) {
  if (trailers == nullptr || trailers->empty()) {
    out.append("0\r\n\r\n", 5);
    return;
  }
  char* p = Grow(out, 3 + FieldsBound(*trailers) + 2);
  p = Put(p, "0\r\n");
  p = PutFields(*trailers, p);
  p = PutCrLf(p);
  Shrink(out, p);
}

// ---------------------------------------------------------------------------
// Connection codecs: HTTP/1.1 as ServerCodec / ClientCodec. Each holds one
// Http1Codec by value (a codec per upstream attempt must not cost two
// allocations) and numbers its messages as streams, one at a time. What
// HTTP/1.1 knows about streams is little: the one in flight has the latest id,
// its body is framed as its head said, and a stream ends only with its message
// or with the connection. They live in this file so that the message codec's
// callbacks stay local to it and inlined.

class Http1ServerCodec final : public ServerCodec, private CodecSink {
 public:
  // Made and freed with connections' idle cycles (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Http1ServerCodec>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<Http1ServerCodec>::Free(block, size);
  }
  Http1ServerCodec(const CodecLimits& limits, ServerCodecCallbacks& callbacks)
      : codec_(CodecMode::kServer, limits, *this), callbacks_(callbacks) {}

  FeedResult Feed(std::string_view data) override { return codec_.Feed(data); }
  void FeedEof() override { codec_.FeedEof(); }
  void Pause() override { codec_.Pause(); }
  void Resume() override { codec_.Resume(); }
  bool paused() const override { return codec_.paused(); }
  // The only stream is the connection's input.
  void SetStreamReadEnabled(StreamId, bool enabled) override {
    if (enabled) {
      codec_.Resume();
    } else {
      codec_.Pause();
    }
  }
  bool idle() const override { return codec_.between_messages(); }

  void EncodeResponseHead(StreamId, const ResponseHead& head, BodyFraming framing,
                          uint64_t body_length, std::string& out) override {
    chunked_out_ = framing == BodyFraming::kChunked;
    codec_.EncodeResponseHead(head, framing, body_length, out);
  }
  void EncodeResponseBody(StreamId, std::string_view data, bool end_stream,
                          const HeaderMap* trailers, std::string& out) override {
    if (!chunked_out_) {
      // Content-Length, close-delimited, or the raw bytes after a 101.
      out.append(data);
      return;
    }
    codec_.EncodeBody(data, BodyFraming::kChunked, out);
    if (end_stream) codec_.EncodeChunkedEnd(trailers, out);
  }
  void EncodeContinue(StreamId, std::string& out) override {
    out.append("HTTP/1.1 100 Continue\r\n\r\n");
  }
  void ResetStream(StreamId, std::string&) override {
    // Nothing on the wire can end one exchange: parse no more; the owner closes.
    codec_.Pause();
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
  void OnError(const CodecError& error) override { callbacks_.OnCodecError(error); }

  Http1Codec codec_;
  ServerCodecCallbacks& callbacks_;
  StreamId stream_ = 0;  // the latest request's
  bool chunked_out_ = false;
};

class Http1ClientCodec final : public ClientCodec, private CodecSink {
 public:
  // One per upstream attempt (see block_cache.h).
  static void* operator new(size_t size) { return BlockCache<Http1ClientCodec>::Allocate(size); }
  static void operator delete(void* block, size_t size) {
    BlockCache<Http1ClientCodec>::Free(block, size);
  }
  Http1ClientCodec(const CodecLimits& limits, ClientCodecCallbacks& callbacks)
      : codec_(CodecMode::kClient, limits, *this), callbacks_(callbacks) {}

  FeedResult Feed(std::string_view data) override { return codec_.Feed(data); }
  void FeedEof() override { codec_.FeedEof(); }
  void Pause() override { codec_.Pause(); }
  void Resume() override { codec_.Resume(); }
  bool paused() const override { return codec_.paused(); }
  void SetStreamReadEnabled(StreamId, bool enabled) override {
    if (enabled) {
      codec_.Resume();
    } else {
      codec_.Pause();
    }
  }
  uint32_t available_streams() const override {
    return !in_flight_ && codec_.between_messages() ? 1 : 0;
  }

  StreamId EncodeRequestHead(const RequestHead& head, BodyFraming framing, uint64_t body_length,
                             std::string& out) override {
    codec_.ExpectResponseTo(head.method);
    chunked_out_ = framing == BodyFraming::kChunked;
    in_flight_ = true;
    codec_.EncodeRequestHead(head, framing, body_length, out);
    return ++stream_;
  }
  bool EncodeRequestBody(StreamId, std::string_view data, bool end_stream,
                         const HeaderMap* trailers, std::string& out) override {
    if (!chunked_out_) return false;  // the bytes themselves are the body
    codec_.EncodeBody(data, BodyFraming::kChunked, out);
    if (end_stream) codec_.EncodeChunkedEnd(trailers, out);
    return true;
  }
  void ResetStream(StreamId, std::string&) override { codec_.Pause(); }

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
  void OnError(const CodecError& error) override { callbacks_.OnCodecError(error); }

  Http1Codec codec_;
  ClientCodecCallbacks& callbacks_;
  StreamId stream_ = 0;  // the latest request's
  bool chunked_out_ = false;
  bool in_flight_ = false;  // a request went out and its final response has not ended
};

class Http1ServerFactory final : public ServerCodecFactory {
 public:
  std::unique_ptr<ServerCodec> CreateServerCodec(const CodecLimits& limits,
                                                 ServerCodecCallbacks& callbacks) const override {
    return std::make_unique<Http1ServerCodec>(limits, callbacks);
  }
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

std::unique_ptr<Codec> MakeHttp1Codec(CodecMode mode, const CodecLimits& limits, CodecSink& sink) {
  return std::make_unique<internal::Http1Codec>(mode, limits, sink);
}

std::shared_ptr<const ServerCodecFactory> Http1ServerCodecFactory() {
  // Stateless and immutable: one for the process, shared by every server.
  static const auto* const factory = new std::shared_ptr<const ServerCodecFactory>(
      std::make_shared<internal::Http1ServerFactory>());
  return *factory;
}

std::shared_ptr<const ClientCodecFactory> Http1ClientCodecFactory() {
  static const auto* const factory = new std::shared_ptr<const ClientCodecFactory>(
      std::make_shared<internal::Http1ClientFactory>());
  return *factory;
}

}  // namespace gateway
