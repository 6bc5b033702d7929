#include <string>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "router/compiled_route.h"

namespace gateway::internal {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

bool IsIdentifier(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PathTemplate> ParseTemplate(std::string_view text) {
  if (text.empty() || text[0] != '/') return absl::InvalidArgumentError("must start with '/'");
  PathTemplate t;
  std::vector<absl::string_view> parts = absl::StrSplit(AV(text.substr(1)), '/');
  absl::flat_hash_set<std::string> names;
  auto add_capture = [&](std::string_view name) -> absl::StatusOr<int> {
    if (!names.insert(std::string(name)).second) {
      return absl::InvalidArgumentError(absl::StrCat("capture '", AV(name), "' is used twice"));
    }
    t.capture_names.emplace_back(name);
    return static_cast<int>(t.capture_names.size() - 1);
  };

  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string_view part(parts[i].data(), parts[i].size());
    const bool last = i + 1 == parts.size();
    if (part.empty()) {
      // Only a trailing slash may leave an empty segment ("/users/").
      if (!last) return absl::InvalidArgumentError("empty segment ('//')");
      t.segments.push_back({.kind = PathTemplate::Segment::Kind::kLiteral});
      continue;
    }
    std::string_view var_name;
    std::string_view var_pattern;
    bool is_var = false;
    if (part == "*" || part == "**") {
      var_pattern = part;
    } else if (part.front() == '{') {
      if (part.back() != '}' || part.size() < 3) {
        return absl::InvalidArgumentError(absl::StrCat("malformed variable '", AV(part), "'"));
      }
      std::string_view inner = part.substr(1, part.size() - 2);
      const size_t eq = inner.find('=');
      var_name = inner.substr(0, eq);
      var_pattern = eq == std::string_view::npos ? "*" : inner.substr(eq + 1);
      is_var = true;
      if (!IsIdentifier(var_name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("variable name '", AV(var_name), "' is not an identifier"));
      }
      if (var_pattern != "*" && var_pattern != "**") {
        return absl::InvalidArgumentError(
            absl::StrCat("variable '", AV(var_name), "' must be {name}, {name=*} or {name=**}"));
      }
    } else {
      if (part.find_first_of("{}*") != std::string_view::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("segment '", AV(part),
                         "' mixes text with '{', '}' or '*'; a variable is a whole segment"));
      }
      t.segments.push_back(
          {.kind = PathTemplate::Segment::Kind::kLiteral, .literal = std::string(part)});
      continue;
    }

    if (var_pattern == "**") {
      if (!last) return absl::InvalidArgumentError("'**' is only allowed as the last segment");
      auto index = add_capture(is_var ? var_name : std::string_view("**"));
      if (!index.ok()) return index.status();
      t.tail = true;
      t.tail_capture = *index;
      continue;
    }
    PathTemplate::Segment seg{.kind = PathTemplate::Segment::Kind::kStar};
    if (is_var) {
      auto index = add_capture(var_name);
      if (!index.ok()) return index.status();
      seg.kind = PathTemplate::Segment::Kind::kVariable;
      seg.capture = *index;
    }
    t.segments.push_back(std::move(seg));
  }
  return t;
}

size_t PathTemplate::LiteralPrefixLength() const {
  size_t n = 0;
  while (n < segments.size() && segments[n].kind == Segment::Kind::kLiteral) ++n;
  return n;
}

bool PathTemplate::Match(std::string_view path, CaptureViews* captures) const {
  if (path.empty() || path[0] != '/') return false;
  captures->assign(capture_names.size(), std::string_view());
  size_t pos = 1;    // start of the next unread segment
  bool more = true;  // a segment starts at `pos` (possibly empty)
  for (const Segment& seg : segments) {
    if (!more) return false;
    const size_t end = path.find('/', pos);
    const std::string_view text =
        path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (seg.kind == Segment::Kind::kLiteral) {
      if (text != seg.literal) return false;
    } else {
      if (text.empty()) return false;  // a variable is one non-empty segment
      if (seg.capture >= 0) (*captures)[seg.capture] = text;
    }
    if (end == std::string_view::npos) {
      more = false;
    } else {
      pos = end + 1;
    }
  }
  if (tail) {
    (*captures)[tail_capture] = more ? path.substr(pos) : std::string_view();
    return true;
  }
  return !more;
}

}  // namespace gateway::internal
