// The compiled form of one RouteSpec: every condition pre-parsed so that
// matching a request does no parsing, no regex compilation and, on the common
// path, no allocation. Private to lib/router.
#ifndef GATEWAY_LIB_ROUTER_COMPILED_ROUTE_H_
#define GATEWAY_LIB_ROUTER_COMPILED_ROUTE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "gateway/http.h"
#include "gateway/router.h"
#include "re2/re2.h"
#include "router/query_param.h"

namespace gateway::internal {

// Request facts derived once per Match and shared by every candidate route.
struct RequestFacts {
  std::string_view host;  // lower/upper case as received; no port, userinfo or trailing dot
  std::string_view method;
  uint32_t method_bit = 0;  // 0 for extension methods
  std::string_view path;
  std::string_view query;
  const HeaderMap* headers = nullptr;
};

RequestFacts MakeRequestFacts(const RequestHead& head);

// The host part of an authority: drops userinfo, ":port" and one trailing dot;
// keeps the brackets of an IPv6 literal.
std::string_view HostOfAuthority(std::string_view authority);

// Bit for the methods RFC 9110 defines, 0 for any other.
uint32_t MethodBit(std::string_view method);

// Capture values in the order of `PathCondition::capture_names()`.
using CaptureViews = absl::InlinedVector<std::string_view, 8>;

// A parsed "/users/{id}/files/{rest=**}" template.
struct PathTemplate {
  struct Segment {
    enum class Kind { kLiteral, kVariable, kStar };
    Kind kind = Kind::kLiteral;
    std::string literal;  // kLiteral
    int capture = -1;     // kVariable: index into the capture names
  };
  std::vector<Segment> segments;  // before the tail, if any
  bool tail = false;              // ends with "**" or "{name=**}"
  int tail_capture = -1;          // index of the tail's capture
  std::vector<std::string> capture_names;

  // Leading literal segments: every match starts with exactly these.
  size_t LiteralPrefixLength() const;
  bool Match(std::string_view path, CaptureViews* captures) const;
};

// Parses a template; the error says what is wrong with it (no field prefix).
absl::StatusOr<PathTemplate> ParseTemplate(std::string_view text);

class PathCondition {
 public:
  static absl::StatusOr<PathCondition> Compile(const PathMatch& spec);

  PathMatch::Kind kind() const { return kind_; }
  const std::string& value() const { return value_; }
  const PathTemplate* path_template() const {
    return kind_ == PathMatch::Kind::kTemplate ? &template_ : nullptr;
  }
  const std::vector<std::string>& capture_names() const { return capture_names_; }
  // Literal segments every matching path starts with, for the index.
  std::vector<std::string> IndexSegments() const;

  // `captures` is resized to capture_names().size() on success.
  bool Match(std::string_view path, CaptureViews* captures) const;

 private:
  PathMatch::Kind kind_ = PathMatch::Kind::kAny;
  std::string value_;
  PathTemplate template_;
  std::shared_ptr<const RE2> regex_;
  std::vector<int> capture_groups_;  // regex group index of each capture
  int max_group_ = 0;
  std::vector<std::string> capture_names_;
};

class HostCondition {
 public:
  static absl::StatusOr<HostCondition> Compile(const std::vector<std::string>& hosts);
  bool Match(std::string_view host) const;

 private:
  struct Pattern {
    enum class Kind { kExact, kSuffix, kPrefix } kind;
    std::string text;  // lower case; kSuffix ".example.com", kPrefix "api."
  };
  bool any_ = true;
  std::vector<Pattern> patterns_;
};

class MethodCondition {
 public:
  static absl::StatusOr<MethodCondition> Compile(const std::vector<std::string>& methods);
  bool Match(const RequestFacts& req) const;
  bool any() const { return any_; }
  const std::vector<std::string>& methods() const { return methods_; }

 private:
  bool any_ = true;
  uint32_t mask_ = 0;
  std::vector<std::string> methods_;  // unique, as configured
  std::vector<std::string> extension_;
};

// A header or query condition (the two matcher structs have the same shape).
class FieldCondition {
 public:
  enum class Kind { kExact, kPrefix, kRegex, kPresent, kAbsent };
  static absl::StatusOr<FieldCondition> Compile(std::string name, Kind kind, std::string value);

  bool MatchHeader(const HeaderMap& headers, std::string* scratch) const;
  bool MatchQuery(std::string_view query, std::string* scratch) const;

 private:
  bool MatchValue(std::optional<std::string_view> value) const;

  std::string name_;
  Kind kind_ = Kind::kExact;
  std::string value_;
  std::shared_ptr<const RE2> regex_;
};

class RewriteRule {
 public:
  static absl::StatusOr<RewriteRule> Compile(const PathRewrite& spec, const PathCondition& path);
  // The path to forward. `captures` are the matched route's.
  std::string Apply(std::string_view path, const PathCondition& cond,
                    const CaptureViews& captures) const;

 private:
  struct Piece {
    std::string literal;
    int capture = -1;  // >= 0: substitute this capture
  };
  PathRewrite::Kind kind_ = PathRewrite::Kind::kNone;
  std::string value_;
  std::vector<Piece> pieces_;
  std::shared_ptr<const RE2> regex_;
};

struct CompiledRoute {
  const Route* route = nullptr;
  uint32_t rank = 0;  // position in (priority desc, definition order) order
  HostCondition hosts;
  PathCondition path;
  MethodCondition methods;
  std::vector<FieldCondition> headers;
  std::vector<FieldCondition> query;
  RewriteRule rewrite;

  // Everything but the method. `captures` is filled when the path matches.
  bool MatchIgnoringMethod(const RequestFacts& req, CaptureViews* captures,
                           std::string* scratch) const;
};

// Validates and compiles `spec`. Errors read "route '<name>': <field>: <why>".
absl::StatusOr<CompiledRoute> CompileRoute(const RouteSpec& spec);

// RE2 with logging off: config errors are returned, not printed.
absl::StatusOr<std::shared_ptr<const RE2>> CompileRegex(std::string_view pattern);

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_ROUTER_COMPILED_ROUTE_H_
