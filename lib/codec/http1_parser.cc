// The parsing half of Http1Codec (http1_codec.h has the whole policy): the
// llhttp callbacks, Feed and its self-made pauses, error reporting, the gap
// walk between llhttp's spans and the checks of fields and framing that
// requests and responses share. They are one file because llhttp calls back
// into them per span, many times per message: kept together they inline into
// the callbacks llhttp holds, and the request- and response-only steps
// (http1_request.cc, http1_response.cc) run once per head.
#include <llhttp.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "codec/http1_codec.h"
#include "codec/http1_syntax.h"
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

// Header fields a head has room for before its first field is added.
constexpr size_t kHeadFieldsReserved = 8;

}  // namespace

constinit const llhttp_settings_t Http1Codec::kSettings = [] {
  llhttp_settings_t s{};  // what llhttp_settings_init makes: no callbacks
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

bool Http1Codec::CloseSection(const char* end) {
  if (ScanTo(end)) {
    if (!prev_cr_) return true;
    LineEndError();
  }
  Die(HPE_USER);
  return false;
}

bool Http1Codec::FinishHead(const char* end) {
  if (!CloseSection(end)) return false;
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
  if (!CloseSection(end)) return false;
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

}  // namespace internal

std::unique_ptr<Codec> MakeHttp1Codec(CodecMode mode, const CodecLimits& limits, CodecSink& sink) {
  return std::make_unique<internal::Http1Codec>(mode, limits, sink);
}

}  // namespace gateway
