// Small pieces of HTTP/1.1 syntax (RFC 9110, RFC 9112) that the codec checks
// itself because llhttp, even in its strict build, accepts more than we want:
// line ends between spans, request-target forms, Host values, and the number
// formatting the encoder needs. Pure functions; safe on any thread.
#ifndef GATEWAY_LIB_CODEC_HTTP1_SYNTAX_H_
#define GATEWAY_LIB_CODEC_HTTP1_SYNTAX_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/field_syntax.h"

namespace gateway::internal {

namespace syntax_detail {
bool ScanLineEndsLong(std::string_view s, bool& prev_cr, uint32_t& lfs);

inline bool ScanLineEndsShort(std::string_view s, bool& prev_cr, uint32_t& lfs) {
  bool cr = prev_cr;
  uint32_t count = 0;
  for (char c : s) {
    if (cr) {
      if (c != '\n') return false;
      cr = false;
      ++count;
    } else {
      if (c == '\n') return false;
      cr = c == '\r';
    }
  }
  prev_cr = cr;
  lfs += count;
  return true;
}
}  // namespace syntax_detail

// Checks the line ends of `s`, the bytes between two spans of a message, read
// after a CR if `prev_cr`: every CR must be followed by LF and every LF must
// follow a CR. On success `prev_cr` says whether `s` ends in a CR and the LFs
// of `s` are added to `lfs`; on failure neither changes (finding the offending
// byte is left to a byte-wise walk, since it only happens on bad input).
// Runs of eight bytes or more are checked a word at a time.
inline bool ScanLineEnds(std::string_view s, bool& prev_cr, uint32_t& lfs) {
  if (s.size() == 2 && !prev_cr) {
    // Most gaps are the CRLF after a field or the ": " before its value.
    const auto a = static_cast<unsigned char>(s[0]);
    const auto b = static_cast<unsigned char>(s[1]);
    if (a == '\r' && b == '\n') {
      ++lfs;
      return true;
    }
    if (a > '\r' && b > '\r') return true;
  }
  if (s.size() >= 8) return syntax_detail::ScanLineEndsLong(s, prev_cr, lfs);
  return syntax_detail::ScanLineEndsShort(s, prev_cr, lfs);
}

// uri-host [ ":" port ]: a non-empty reg-name / IPv4 address or a bracketed
// IPv6 literal, then an optional port of at most five digits. With
// `require_port` the port must be present and non-empty (CONNECT targets).
bool IsValidAuthority(std::string_view s, bool require_port = false);

// 1*DIGIT without overflow.
bool ParseDecimal(std::string_view s, uint64_t& out);

enum class TargetForm {
  kOrigin,     // "/path?query"
  kAbsolute,   // "http://authority/path?query"
  kAuthority,  // "host:port", CONNECT only
  kAsterisk,   // "*", OPTIONS only
};

struct TargetParts {
  TargetForm form = TargetForm::kOrigin;
  std::string_view authority;  // absolute- and authority-form
  std::string_view path;       // origin- and absolute-form ("/" if absolute-form has none)
  std::string_view query;      // without '?'
};

// Classifies and splits a request-target that llhttp's URL grammar accepted.
// `method` decides which forms are allowed: authority-form only (and always)
// for CONNECT, asterisk-form only for OPTIONS. Fragments, userinfo and schemes
// other than http/https are rejected (InvalidArgument, message = reason).
absl::StatusOr<TargetParts> SplitRequestTarget(std::string_view target, std::string_view method);

void AppendDecimal(uint64_t v, std::string& out);
void AppendHex(uint64_t v, std::string& out);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CODEC_HTTP1_SYNTAX_H_
