// Compilation and evaluation of the individual route conditions and rewrites.
#include <algorithm>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "router/compiled_route.h"

namespace gateway::internal {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
re2::StringPiece SP(std::string_view s) { return re2::StringPiece(s.data(), s.size()); }

constexpr uint32_t kGet = 1 << 0;
constexpr uint32_t kHead = 1 << 1;
constexpr uint32_t kPost = 1 << 2;
constexpr uint32_t kPut = 1 << 3;
constexpr uint32_t kDelete = 1 << 4;
constexpr uint32_t kPatch = 1 << 5;
constexpr uint32_t kOptions = 1 << 6;
constexpr uint32_t kConnect = 1 << 7;
constexpr uint32_t kTrace = 1 << 8;

bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one byte of a query component at `*i`, advancing past it.
char DecodeQueryByte(std::string_view s, size_t* i) {
  const char c = s[*i];
  if (c == '+') {
    ++*i;
    return ' ';
  }
  if (c == '%' && *i + 2 < s.size()) {
    const int hi = HexValue(s[*i + 1]);
    const int lo = HexValue(s[*i + 2]);
    if (hi >= 0 && lo >= 0) {
      *i += 3;
      return static_cast<char>(hi * 16 + lo);
    }
  }
  ++*i;
  return c;
}

bool DecodedEquals(std::string_view raw, std::string_view want) {
  size_t i = 0;
  size_t j = 0;
  while (i < raw.size()) {
    if (j == want.size() || DecodeQueryByte(raw, &i) != want[j]) return false;
    ++j;
  }
  return j == want.size();
}

std::string_view Decode(std::string_view raw, std::string* scratch) {
  if (raw.find_first_of("%+") == std::string_view::npos) return raw;
  scratch->clear();
  for (size_t i = 0; i < raw.size();) scratch->push_back(DecodeQueryByte(raw, &i));
  return *scratch;
}

// Bytes that must never reach a forwarded request line.
bool HasControlOrSpace(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RE2>> CompileRegex(std::string_view pattern) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_shared<const RE2>(SP(pattern), options);
  if (!re->ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid regex '", AV(pattern), "': ", re->error()));
  }
  return re;
}

uint32_t MethodBit(std::string_view m) {
  if (m == "GET") return kGet;
  if (m == "HEAD") return kHead;
  if (m == "POST") return kPost;
  if (m == "PUT") return kPut;
  if (m == "DELETE") return kDelete;
  if (m == "PATCH") return kPatch;
  if (m == "OPTIONS") return kOptions;
  if (m == "CONNECT") return kConnect;
  if (m == "TRACE") return kTrace;
  return 0;
}

std::string_view HostOfAuthority(std::string_view authority) {
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority.remove_prefix(at + 1);
  }
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  if (const size_t colon = authority.find(':'); colon != std::string_view::npos) {
    authority = authority.substr(0, colon);
  }
  if (!authority.empty() && authority.back() == '.') authority.remove_suffix(1);
  return authority;
}

RequestFacts MakeRequestFacts(const RequestHead& head) {
  RequestFacts f;
  f.host = HostOfAuthority(head.authority);
  f.method = head.method;
  f.method_bit = MethodBit(head.method);
  f.path = head.path;
  f.query = head.query;
  f.headers = &head.headers;
  return f;
}

// ---------------------------------------------------------------------------
// Path

absl::StatusOr<PathCondition> PathCondition::Compile(const PathMatch& spec) {
  PathCondition c;
  c.kind_ = spec.kind;
  c.value_ = spec.value;
  auto fail = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("path.value: ", why));
  };
  switch (spec.kind) {
    case PathMatch::Kind::kAny:
      if (!spec.value.empty()) return fail("must be empty for kAny");
      break;
    case PathMatch::Kind::kExact:
    case PathMatch::Kind::kPrefix:
      if (spec.value.empty() || spec.value[0] != '/') return fail("must start with '/'");
      break;
    case PathMatch::Kind::kTemplate: {
      auto t = ParseTemplate(spec.value);
      if (!t.ok()) {
        return fail(absl::StrCat("template '", spec.value, "': ", t.status().message()));
      }
      c.template_ = *std::move(t);
      c.capture_names_ = c.template_.capture_names;
      break;
    }
    case PathMatch::Kind::kRegex: {
      auto re = CompileRegex(spec.value);
      if (!re.ok()) return fail(re.status().message());
      c.regex_ = *std::move(re);
      // std::map orders by name; captures are reported in pattern order.
      std::vector<std::pair<int, std::string>> groups;
      for (const auto& [name, index] : c.regex_->NamedCapturingGroups()) {
        groups.emplace_back(index, name);
      }
      std::sort(groups.begin(), groups.end());
      for (auto& [index, name] : groups) {
        c.capture_groups_.push_back(index);
        c.capture_names_.push_back(std::move(name));
        c.max_group_ = std::max(c.max_group_, index);
      }
      break;
    }
  }
  return c;
}

std::vector<std::string> PathCondition::IndexSegments() const {
  std::vector<std::string> out;
  if (kind_ == PathMatch::Kind::kPrefix) {
    std::string_view body = std::string_view(value_).substr(1);
    if (!body.empty() && body.back() == '/') body.remove_suffix(1);
    if (value_ == "/") return out;
    for (absl::string_view seg : absl::StrSplit(AV(body), '/')) out.emplace_back(seg);
  } else if (kind_ == PathMatch::Kind::kTemplate) {
    const size_t n = template_.LiteralPrefixLength();
    for (size_t i = 0; i < n; ++i) out.push_back(template_.segments[i].literal);
  }
  return out;
}

bool PathCondition::Match(std::string_view path, CaptureViews* captures) const {
  switch (kind_) {
    case PathMatch::Kind::kAny:
      captures->clear();
      return true;
    case PathMatch::Kind::kExact:
      captures->clear();
      return path == value_;
    case PathMatch::Kind::kPrefix:
      captures->clear();
      // Segment-aligned: "/api" matches "/api" and "/api/x", never "/apix".
      return path.size() >= value_.size() && path.compare(0, value_.size(), value_) == 0 &&
             (value_.back() == '/' || path.size() == value_.size() || path[value_.size()] == '/');
    case PathMatch::Kind::kTemplate:
      return template_.Match(path, captures);
    case PathMatch::Kind::kRegex: {
      if (capture_groups_.empty()) {
        captures->clear();
        return RE2::FullMatch(SP(path), *regex_);
      }
      absl::InlinedVector<re2::StringPiece, 8> groups(max_group_ + 1);
      if (!regex_->Match(SP(path), 0, path.size(), RE2::ANCHOR_BOTH, groups.data(),
                         static_cast<int>(groups.size()))) {
        return false;
      }
      captures->resize(capture_groups_.size());
      for (size_t i = 0; i < capture_groups_.size(); ++i) {
        const re2::StringPiece& g = groups[capture_groups_[i]];
        (*captures)[i] = std::string_view(g.data(), g.size());
      }
      return true;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Host

absl::StatusOr<HostCondition> HostCondition::Compile(const std::vector<std::string>& hosts) {
  HostCondition c;
  c.any_ = hosts.empty();
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto fail = [i](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("hosts[", i, "]: ", why));
    };
    std::string h = absl::AsciiStrToLower(AV(hosts[i]));
    if (h.empty()) return fail("empty host");
    if (h.find_first_of("/?#@ \t\r\n\\,") != std::string::npos || HasControlOrSpace(h)) {
      return fail(absl::StrCat("'", h, "' is not a host name"));
    }
    if (h.size() > 1 && h.back() == '.') h.pop_back();  // "example.com." is the same host
    if (h == "*") {
      c.any_ = true;
      continue;
    }
    if (h.front() == '[') {
      if (h.back() != ']' || h.find('*') != std::string::npos) {
        return fail(absl::StrCat("'", h, "': an IPv6 literal is written [addr], without a port"));
      }
      c.patterns_.push_back({Pattern::Kind::kExact, std::move(h)});
      continue;
    }
    if (h.find(':') != std::string::npos) {
      return fail(absl::StrCat("'", h, "' includes a port; hosts match without the port"));
    }
    Pattern p{Pattern::Kind::kExact, h};
    if (h.size() > 2 && h.compare(0, 2, "*.") == 0) {
      p = {Pattern::Kind::kSuffix, h.substr(1)};  // ".example.com"
    } else if (h.size() > 2 && h.compare(h.size() - 2, 2, ".*") == 0) {
      p = {Pattern::Kind::kPrefix, h.substr(0, h.size() - 1)};  // "api."
    }
    const std::string_view rest =
        p.kind == Pattern::Kind::kSuffix ? std::string_view(p.text).substr(1) : p.text;
    if (rest.find('*') != std::string_view::npos || rest.empty() || rest == ".") {
      return fail(absl::StrCat("'", hosts[i],
                               "': '*' is allowed only as \"*\", a leading \"*.\" or a trailing "
                               "\".*\""));
    }
    c.patterns_.push_back(std::move(p));
  }
  return c;
}

bool HostCondition::Match(std::string_view host) const {
  if (any_) return true;
  for (const Pattern& p : patterns_) {
    const std::string_view t = p.text;
    switch (p.kind) {
      case Pattern::Kind::kExact:
        if (EqualsIgnoreCase(host, t)) return true;
        break;
      case Pattern::Kind::kSuffix:  // at least one label before the suffix
        if (host.size() > t.size() && EqualsIgnoreCase(host.substr(host.size() - t.size()), t)) {
          return true;
        }
        break;
      case Pattern::Kind::kPrefix:
        if (host.size() > t.size() && EqualsIgnoreCase(host.substr(0, t.size()), t)) return true;
        break;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------
// Method

absl::StatusOr<MethodCondition> MethodCondition::Compile(const std::vector<std::string>& methods) {
  MethodCondition c;
  c.any_ = methods.empty();
  for (size_t i = 0; i < methods.size(); ++i) {
    const std::string& m = methods[i];
    const bool token = !m.empty() && std::all_of(m.begin(), m.end(), IsTokenChar);
    const bool upper =
        std::none_of(m.begin(), m.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; });
    if (!token || !upper) {
      return absl::InvalidArgumentError(
          absl::StrCat("methods[", i, "]: '", m, "' is not an upper-case method token"));
    }
    if (std::find(c.methods_.begin(), c.methods_.end(), m) != c.methods_.end()) continue;
    c.methods_.push_back(m);
    if (const uint32_t bit = MethodBit(m); bit != 0) {
      c.mask_ |= bit;
    } else {
      c.extension_.push_back(m);
    }
  }
  return c;
}

bool MethodCondition::Match(const RequestFacts& req) const {
  if (any_) return true;
  if (req.method_bit != 0) return (mask_ & req.method_bit) != 0;
  return std::find(extension_.begin(), extension_.end(), req.method) != extension_.end();
}

// ---------------------------------------------------------------------------
// Headers and query parameters

absl::StatusOr<FieldCondition> FieldCondition::Compile(std::string name, Kind kind,
                                                       std::string value) {
  FieldCondition c;
  c.name_ = std::move(name);
  c.kind_ = kind;
  c.value_ = std::move(value);
  if (kind == Kind::kRegex) {
    auto re = CompileRegex(c.value_);
    if (!re.ok()) return re.status();
    c.regex_ = *std::move(re);
  }
  return c;
}

bool FieldCondition::MatchValue(std::optional<std::string_view> value) const {
  switch (kind_) {
    case Kind::kPresent:
      return value.has_value();
    case Kind::kAbsent:
      return !value.has_value();
    case Kind::kExact:
      return value.has_value() && *value == value_;
    case Kind::kPrefix:
      return value.has_value() && value->substr(0, value_.size()) == value_;
    case Kind::kRegex:
      return value.has_value() && RE2::FullMatch(SP(*value), *regex_);
  }
  return false;
}

bool FieldCondition::MatchHeader(const HeaderMap& headers, std::string* scratch) const {
  // Repeated fields are one comma-joined value (RFC 9110 5.3), so "a: 1" and
  // "a: 2" can't satisfy a matcher that "a: 1,2" would not.
  std::optional<std::string_view> value;
  int count = 0;
  for (const HeaderMap::Field& f : headers) {
    if (!EqualsIgnoreCase(f.name, name_)) continue;
    if (count == 0) {
      value = f.value;
    } else {
      if (count == 1) scratch->assign(value->data(), value->size());
      scratch->push_back(',');
      scratch->append(f.value);
    }
    ++count;
  }
  if (count > 1) value = std::string_view(*scratch);
  return MatchValue(value);
}

bool FieldCondition::MatchQuery(std::string_view query, std::string* scratch) const {
  return MatchValue(FindQueryParam(query, name_, scratch));
}

std::optional<std::string_view> FindQueryParam(std::string_view query, std::string_view name,
                                               std::string* scratch) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view pair = query.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    if (!DecodedEquals(key, name)) continue;
    if (eq == std::string_view::npos) return std::string_view();
    return Decode(pair.substr(eq + 1), scratch);
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Rewrites

absl::StatusOr<RewriteRule> RewriteRule::Compile(const PathRewrite& spec,
                                                 const PathCondition& path) {
  RewriteRule r;
  r.kind_ = spec.kind;
  r.value_ = spec.value;
  auto fail = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("rewrite.", field, ": ", why));
  };
  if (spec.kind != PathRewrite::Kind::kNone && HasControlOrSpace(spec.value)) {
    return fail("value", "must not contain spaces or control characters");
  }
  switch (spec.kind) {
    case PathRewrite::Kind::kNone:
      break;
    case PathRewrite::Kind::kReplacePrefix:
      if (path.kind() != PathMatch::Kind::kPrefix && path.kind() != PathMatch::Kind::kExact) {
        return fail("kind", "kReplacePrefix needs a prefix or exact path match");
      }
      if (!spec.value.empty() && spec.value[0] != '/') {
        return fail("value", "must be empty or start with '/'");
      }
      break;
    case PathRewrite::Kind::kTemplate: {
      const PathTemplate* t = path.path_template();
      if (t == nullptr) return fail("kind", "kTemplate needs a template path match");
      if (spec.value.empty() || spec.value[0] != '/') return fail("value", "must start with '/'");
      std::string_view v = spec.value;
      std::string literal;
      for (size_t i = 0; i < v.size();) {
        if (v[i] == '}') return fail("value", "unmatched '}'");
        if (v[i] != '{') {
          literal.push_back(v[i++]);
          continue;
        }
        const size_t close = v.find('}', i);
        if (close == std::string_view::npos) return fail("value", "unclosed '{'");
        const std::string_view name = v.substr(i + 1, close - i - 1);
        const auto& names = t->capture_names;
        const auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
          return fail("value",
                      absl::StrCat("'{", AV(name), "}' is not a capture of the path template"));
        }
        if (!literal.empty()) r.pieces_.push_back({.literal = std::move(literal)});
        literal.clear();
        r.pieces_.push_back({.capture = static_cast<int>(it - names.begin())});
        i = close + 1;
      }
      if (!literal.empty()) r.pieces_.push_back({.literal = std::move(literal)});
      break;
    }
    case PathRewrite::Kind::kRegex: {
      if (spec.pattern.empty()) return fail("pattern", "must not be empty");
      auto re = CompileRegex(spec.pattern);
      if (!re.ok()) return fail("pattern", re.status().message());
      std::string error;
      if (!(*re)->CheckRewriteString(SP(spec.value), &error)) return fail("value", error);
      r.regex_ = *std::move(re);
      break;
    }
  }
  return r;
}

std::string RewriteRule::Apply(std::string_view path, const PathCondition& cond,
                               const CaptureViews& captures) const {
  switch (kind_) {
    case PathRewrite::Kind::kNone:
      break;
    case PathRewrite::Kind::kReplacePrefix: {
      const std::string& prefix = cond.value();
      // `rest` keeps its leading '/', so the join never glues two segments
      // together ("/api/" -> "/v2" on "/api/x" is "/v2/x", not "/v2x").
      std::string_view rest = path.substr(std::min(path.size(), prefix.size()));
      if (!prefix.empty() && prefix.back() == '/') rest = path.substr(prefix.size() - 1);
      if (rest.empty()) return value_.empty() ? std::string("/") : value_;
      std::string_view head = value_;
      if (!head.empty() && head.back() == '/') head.remove_suffix(1);
      return absl::StrCat(AV(head), AV(rest));
    }
    case PathRewrite::Kind::kTemplate: {
      std::string out;
      for (const Piece& p : pieces_) {
        if (p.capture >= 0) {
          out.append(captures[p.capture]);
        } else {
          out.append(p.literal);
        }
      }
      return out;
    }
    case PathRewrite::Kind::kRegex: {
      std::string out(path);
      RE2::GlobalReplace(&out, *regex_, SP(value_));
      if (out.empty() || out[0] != '/') out.insert(out.begin(), '/');
      return out;
    }
  }
  return std::string(path);
}

// ---------------------------------------------------------------------------

bool CompiledRoute::MatchIgnoringMethod(const RequestFacts& req, CaptureViews* captures,
                                        std::string* scratch) const {
  if (!hosts.Match(req.host)) return false;
  if (!path.Match(req.path, captures)) return false;
  for (const FieldCondition& h : headers) {
    if (!h.MatchHeader(*req.headers, scratch)) return false;
  }
  for (const FieldCondition& q : query) {
    if (!q.MatchQuery(req.query, scratch)) return false;
  }
  return true;
}

}  // namespace gateway::internal
