#include "codec/http1_syntax.h"

#include <bit>
#include <cstring>

#include "absl/status/status.h"
#include "gateway/http.h"

namespace gateway::internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool IsHexOrColonOrDot(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
}

bool IsPort(std::string_view s) {
  if (s.size() > 5) return false;
  uint64_t port = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    port = port * 10 + static_cast<uint64_t>(c - '0');
  }
  return port <= 65535;
}

}  // namespace

namespace syntax_detail {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHigh = 0x8080808080808080ULL;
constexpr uint64_t kLow7 = 0x7f7f7f7f7f7f7f7fULL;

// The high bit of every byte of `w` equal to `c`, and no other bit. Exact:
// unlike the usual "has a zero byte" test no borrow crosses into the next
// byte, so the mask can be compared bit for bit.
uint64_t BytesEqual(uint64_t w, unsigned char c) {
  const uint64_t x = w ^ (kOnes * c);
  return ~(((x & kLow7) + kLow7) | x) & kHigh;
}

uint64_t LoadLittleEndian(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
  return w;
}

}  // namespace

bool ScanLineEndsLong(std::string_view s, bool& prev_cr, uint32_t& lfs) {
  const char* p = s.data();
  size_t n = s.size();
  uint64_t cr_in = prev_cr ? 0x80 : 0;  // the CR before the word, as the mask of byte 0
  uint32_t count = 0;
  for (; n >= 8; p += 8, n -= 8) {
    const uint64_t w = LoadLittleEndian(p);  // byte i in bits 8i..8i+7
    const uint64_t cr = BytesEqual(w, '\r');
    const uint64_t lf = BytesEqual(w, '\n');
    // The LFs are exactly the bytes after a CR.
    if (lf != ((cr << 8) | cr_in)) return false;
    cr_in = cr >> 56;
    count += static_cast<uint32_t>((((lf >> 7) * kOnes) >> 56) & 0xff);
  }
  bool cr = cr_in != 0;
  if (!ScanLineEndsShort(std::string_view(p, n), cr, count)) return false;
  prev_cr = cr;
  lfs += count;
  return true;
}

}  // namespace syntax_detail

bool IsValidAuthority(std::string_view s, bool require_port) {
  std::string_view host;
  std::string_view rest;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : s.substr(1, close - 1)) {
      if (!IsHexOrColonOrDot(c)) return false;
    }
    host = s.substr(0, close + 1);
    rest = s.substr(close + 1);
  } else {
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : s.substr(colon);
    if (host.empty()) return false;
    for (char c : host) {
      if (!HasClass(c, kHostChar)) return false;
    }
  }
  if (rest.empty()) return !require_port;
  if (rest.front() != ':') return false;
  std::string_view port = rest.substr(1);
  if (port.empty()) return !require_port;
  return IsPort(port);
}

bool ParseDecimal(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

absl::StatusOr<TargetParts> SplitRequestTarget(std::string_view target, std::string_view method) {
  TargetParts parts;
  if (target.empty()) return absl::InvalidArgumentError("empty request target");
  if (target.find('#') != std::string_view::npos) {
    return absl::InvalidArgumentError("fragment in request target");
  }
  if (method == "CONNECT") {
    // authority-form only: the target names the tunnel's end, there is no path.
    if (!IsValidAuthority(target, /*require_port=*/true)) {
      return absl::InvalidArgumentError("CONNECT needs a host:port target");
    }
    parts.form = TargetForm::kAuthority;
    parts.authority = target;
    return parts;
  }
  if (target == "*") {
    if (method != "OPTIONS") {
      return absl::InvalidArgumentError("asterisk-form target is only allowed for OPTIONS");
    }
    parts.form = TargetForm::kAsterisk;
    return parts;
  }
  std::string_view rest = target;
  if (target.front() != '/') {
    size_t sep = target.find("://");
    if (sep == std::string_view::npos) return absl::InvalidArgumentError("unsupported target form");
    std::string_view scheme = target.substr(0, sep);
    if (!EqualsIgnoreCase(scheme, "http") && !EqualsIgnoreCase(scheme, "https")) {
      return absl::InvalidArgumentError("unsupported scheme in request target");
    }
    rest = target.substr(sep + 3);
    size_t end = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, end);
    if (authority.find('@') != std::string_view::npos) {
      return absl::InvalidArgumentError("userinfo in request target");
    }
    if (!IsValidAuthority(authority)) {
      return absl::InvalidArgumentError("invalid authority in request target");
    }
    parts.form = TargetForm::kAbsolute;
    parts.authority = authority;
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  }
  size_t q = rest.find('?');
  parts.path = rest.substr(0, q);
  if (q != std::string_view::npos) parts.query = rest.substr(q + 1);
  if (parts.path.empty()) parts.path = "/";  // absolute-form without a path
  return parts;
}

void AppendDecimal(uint64_t v, std::string& out) {
  char buf[20];
  char* p = buf + sizeof(buf);
  do {
    *--p = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out.append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

void AppendHex(uint64_t v, std::string& out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  char buf[16];
  char* p = buf + sizeof(buf);
  do {
    *--p = kDigits[v & 0xf];
    v >>= 4;
  } while (v != 0);
  out.append(p, static_cast<size_t>(buf + sizeof(buf) - p));
}

}  // namespace gateway::internal
