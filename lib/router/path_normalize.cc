// Request path normalisation. One pass over the input: escapes are decoded or
// canonicalised as each byte is read, and each segment is checked for "." and
// ".." as soon as it ends, so encoded dots ("%2e%2E") are caught by the same
// code as literal ones.
#include <cstddef>
#include <string>
#include <string_view>

#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/router.h"

namespace gateway {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsUnreserved(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// Characters RFC 3986 allows unencoded in a path segment besides unreserved
// ones: sub-delims, ':' and '@'. They keep their raw form because an encoded
// sub-delim is a different URI.
bool IsRawPathChar(unsigned char c) {
  return IsUnreserved(c) ||
         std::string_view("!$&'()*+,;=:@").find(static_cast<char>(c)) != std::string_view::npos;
}

void AppendEscape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  out.push_back('%');
  out.push_back(kHex[c >> 4]);
  out.push_back(kHex[c & 0xF]);
}

absl::Status Invalid(std::string_view why) {
  return absl::InvalidArgumentError(absl::string_view(why.data(), why.size()));
}

}  // namespace

absl::StatusOr<std::string> NormalizePath(std::string_view path, const PathPolicy& policy) {
  if (path.empty() || path[0] != '/') return Invalid("path must start with '/'");

  std::string out;
  out.reserve(path.size());
  // Offsets in `out` of the '/' that starts each kept segment, so ".." can drop
  // the previous one.
  absl::InlinedVector<size_t, 16> starts;
  size_t seg_start = 0;  // offset in `out` of the current segment's '/'
  out.push_back('/');

  // Called at every segment boundary; `last` is true at the end of input.
  auto end_segment = [&](bool last) -> absl::Status {
    std::string_view seg = std::string_view(out).substr(seg_start + 1);
    const bool dot = seg == ".";
    const bool dotdot = seg == "..";
    if (dot || dotdot) {
      if (policy.dot_segments == PathPolicy::DotSegments::kReject) {
        return Invalid("dot segment in path");
      }
      out.resize(seg_start);
      if (dotdot) {
        if (starts.empty()) return Invalid("path climbs above the root");
        out.resize(starts.back());
        starts.pop_back();
      }
      // "/a/b/.." is "/a/": the directory stays a directory.
      if (last) out.push_back('/');
      return absl::OkStatus();
    }
    if (seg.empty() && !last && policy.merge_slashes) {
      out.resize(seg_start);
      return absl::OkStatus();
    }
    if (!last) starts.push_back(seg_start);
    return absl::OkStatus();
  };
  auto begin_segment = [&] {
    seg_start = out.size();
    out.push_back('/');
  };
  // Encoded or raw slash-like byte ('/' via %2F, '\' raw or via %5C).
  auto slash_like = [&](unsigned char c) -> absl::Status {
    switch (policy.encoded_slash) {
      case PathPolicy::EncodedSlash::kReject:
        return Invalid(c == '/' ? "encoded slash in path" : "backslash in path");
      case PathPolicy::EncodedSlash::kKeep:
        AppendEscape(out, c);
        return absl::OkStatus();
      case PathPolicy::EncodedSlash::kDecode:
        if (absl::Status s = end_segment(false); !s.ok()) return s;
        begin_segment();
        return absl::OkStatus();
    }
    return absl::OkStatus();
  };

  for (size_t i = 1; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '/') {
      if (absl::Status s = end_segment(false); !s.ok()) return s;
      begin_segment();
      continue;
    }
    if (c == '%') {
      if (i + 2 >= path.size()) {
        return Invalid("truncated percent-encoding in path");
      }
      const int hi = HexValue(path[i + 1]);
      const int lo = HexValue(path[i + 2]);
      if (hi < 0 || lo < 0) return Invalid("invalid percent-encoding in path");
      const unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
      if (v == 0) return Invalid("encoded NUL in path");
      if (IsUnreserved(v)) {
        out.push_back(static_cast<char>(v));
      } else if (v == '/' || v == '\\') {
        if (absl::Status s = slash_like(v); !s.ok()) return s;
      } else {
        AppendEscape(out, v);
      }
      continue;
    }
    if (c < 0x20 || c == 0x7F) return Invalid("control character in path");
    if (c == ' ') return Invalid("space in path");
    if (c == '\\') {
      // Some upstreams treat '\' as '/'. Handling it exactly like "%5C" leaves
      // no spelling of a separator that routing and the upstream read differently.
      if (absl::Status s = slash_like(c); !s.ok()) return s;
      continue;
    }
    if (IsRawPathChar(c)) {
      out.push_back(static_cast<char>(c));
    } else {
      // Not allowed raw in a URI path ('"', '<', '{', non-ASCII, ...): the only
      // reading is the encoded one, so make the two spellings one path.
      AppendEscape(out, c);
    }
  }
  if (absl::Status s = end_segment(true); !s.ok()) return s;
  return out;
}

}  // namespace gateway
