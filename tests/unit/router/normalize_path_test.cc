// NormalizePath: every policy branch, encodings and the inputs that must be 400.
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "gateway/router.h"

namespace gateway {
namespace {

using DotSegments = PathPolicy::DotSegments;
using EncodedSlash = PathPolicy::EncodedSlash;

// The normalised path, or "ERR: <message>".
std::string Norm(std::string_view path, PathPolicy policy = {}) {
  auto r = NormalizePath(path, policy);
  if (!r.ok()) return "ERR: " + std::string(r.status().message());
  return *r;
}

bool Rejected(std::string_view path, PathPolicy policy = {}) {
  auto r = NormalizePath(path, policy);
  return !r.ok() && r.status().code() == absl::StatusCode::kInvalidArgument;
}

TEST_CASE("a path already in normal form is returned unchanged") {
  for (std::string_view p : {"/", "/a", "/a/b", "/a/b/", "/users/42/files",
                             "/a:b@c!$&'()*+,;=", "/~user/a-b_c.d", "/%20", "/%3F"}) {
    CAPTURE(p);
    REQUIRE(Norm(p) == p);
  }
}

TEST_CASE("a path must start with a slash") {
  REQUIRE(Rejected(""));
  REQUIRE(Rejected("a/b"));
  REQUIRE(Rejected("*"));
  REQUIRE(Rejected("http://example.com/a"));
  REQUIRE_THAT(Norm("a"), Catch::Contains("start with '/'"));
}

TEST_CASE("percent-encoded unreserved characters are decoded") {
  REQUIRE(Norm("/%41%62%7E%2D%2E%5F%30") == "/Ab~-._0");
  REQUIRE(Norm("/%7euser") == "/~user");
}

TEST_CASE("other escapes are kept with upper-case hex") {
  REQUIRE(Norm("/a%3bb") == "/a%3Bb");
  REQUIRE(Norm("/%e2%82%ac") == "/%E2%82%AC");
  REQUIRE(Norm("/a%25b") == "/a%25b");    // '%' itself stays encoded: no double decoding
  REQUIRE(Norm("/a%252e") == "/a%252e");  // "%25" + "2e", not "%2e"
}

TEST_CASE("characters not allowed raw in a path are percent-encoded") {
  REQUIRE(Norm("/a\"b") == "/a%22b");
  REQUIRE(Norm("/{x}") == "/%7Bx%7D");
  REQUIRE(Norm("/caf\xC3\xA9") == "/caf%C3%A9");
  // ... so the raw and the encoded spelling are one path.
  REQUIRE(Norm("/caf\xC3\xA9") == Norm("/caf%c3%a9"));
}

TEST_CASE("malformed percent-encodings are rejected") {
  REQUIRE(Rejected("/a%G1"));
  REQUIRE(Rejected("/a%1G"));
  REQUIRE(Rejected("/a%"));
  REQUIRE(Rejected("/a%4"));
  REQUIRE(Rejected("/%%41"));
  REQUIRE_THAT(Norm("/a%4"), Catch::Contains("percent-encoding"));
}

TEST_CASE("an encoded NUL is rejected") {
  REQUIRE(Rejected("/a%00b"));
  REQUIRE_THAT(Norm("/%00"), Catch::Contains("NUL"));
}

TEST_CASE("raw control characters, DEL and spaces are rejected") {
  REQUIRE(Rejected(std::string_view("/a\0b", 4)));
  REQUIRE(Rejected("/a\rb"));
  REQUIRE(Rejected("/a\nb"));
  REQUIRE(Rejected("/a\tb"));
  REQUIRE(Rejected("/a\x7f"));
  REQUIRE(Rejected("/a b"));
  // Encoded, they are ordinary (kept) escapes.
  REQUIRE(Norm("/a%0Db%20c%7F") == "/a%0Db%20c%7F");
}

TEST_CASE("repeated slashes are merged when merge_slashes is on") {
  REQUIRE(Norm("//a///b//") == "/a/b/");
  REQUIRE(Norm("//") == "/");
  REQUIRE(Norm("/a//") == "/a/");
}

TEST_CASE("repeated slashes are kept when merge_slashes is off") {
  PathPolicy p{.merge_slashes = false};
  REQUIRE(Norm("//a///b//", p) == "//a///b//");
  // Dot segments still resolve, treating empty segments as segments (RFC 3986).
  REQUIRE(Norm("/a//../b", p) == "/a/b");
}

TEST_CASE("dot segments are resolved per RFC 3986 under kResolve") {
  REQUIRE(Norm("/a/./b/../c") == "/a/c");
  REQUIRE(Norm("/a/b/..") == "/a/");
  REQUIRE(Norm("/a/b/.") == "/a/b/");
  REQUIRE(Norm("/a/..") == "/");
  REQUIRE(Norm("/.") == "/");
  REQUIRE(Norm("/./") == "/");
  REQUIRE(Norm("/a/b/../../c") == "/c");
  // Only whole segments are dot segments.
  REQUIRE(Norm("/a/.../b..c/.d") == "/a/.../b..c/.d");
}

TEST_CASE("encoded dots are decoded before dot segments are resolved") {
  REQUIRE(Norm("/a/%2e%2e/b") == "/b");
  REQUIRE(Norm("/a/%2E./b") == "/b");
  REQUIRE(Norm("/a/.%2e/b") == "/b");
  REQUIRE(Norm("/a/%2e/b") == "/a/b");
}

TEST_CASE("a path climbing above the root is rejected, not clamped") {
  REQUIRE(Rejected("/.."));
  REQUIRE(Rejected("/../a"));
  REQUIRE(Rejected("/a/../../b"));
  REQUIRE(Rejected("/a/%2e%2e/%2e%2e/x"));
  REQUIRE(Rejected("//..", PathPolicy{.merge_slashes = true}));
  REQUIRE_THAT(Norm("/a/../.."), Catch::Contains("above the root"));
}

TEST_CASE("dot segments are rejected under kReject, encoded or not") {
  PathPolicy p{.dot_segments = DotSegments::kReject};
  REQUIRE(Rejected("/a/./b", p));
  REQUIRE(Rejected("/a/../b", p));
  REQUIRE(Rejected("/a/%2E%2E/b", p));
  REQUIRE(Rejected("/a/.", p));
  REQUIRE(Norm("/a/.b/..c", p) == "/a/.b/..c");
}

TEST_CASE("an encoded slash or backslash is rejected under the default policy") {
  REQUIRE(Rejected("/a%2Fb"));
  REQUIRE(Rejected("/a%2fb"));
  REQUIRE(Rejected("/a%5Cb"));
  REQUIRE(Rejected("/a\\b"));
  REQUIRE_THAT(Norm("/a%2Fb"), Catch::Contains("encoded slash"));
}

TEST_CASE("an encoded slash is kept as one segment under kKeep") {
  PathPolicy p{.encoded_slash = EncodedSlash::kKeep};
  REQUIRE(Norm("/a%2fb", p) == "/a%2Fb");
  REQUIRE(Norm("/a%5cb", p) == "/a%5Cb");
  // A raw backslash is the same path as its encoded form.
  REQUIRE(Norm("/a\\b", p) == "/a%5Cb");
  // "..%2F" is not a dot segment, and it is not resolved away.
  REQUIRE(Norm("/a/..%2Fb", p) == "/a/..%2Fb");
}

TEST_CASE("an encoded slash is decoded to a separator under kDecode") {
  PathPolicy p{.encoded_slash = EncodedSlash::kDecode};
  REQUIRE(Norm("/a%2Fb", p) == "/a/b");
  REQUIRE(Norm("/a%5Cb", p) == "/a/b");
  REQUIRE(Norm("/a\\b", p) == "/a/b");
  // Decoded separators take part in dot-segment resolution and slash merging.
  REQUIRE(Norm("/a/b%2F..%2Fc", p) == "/a/c");
  REQUIRE(Norm("/a%2F%2Fb", p) == "/a/b");
  REQUIRE(Rejected("/%2F..%2F..", p));
}

TEST_CASE("a percent sign is never decoded, so nothing is decoded twice") {
  for (EncodedSlash slash : {EncodedSlash::kReject, EncodedSlash::kKeep, EncodedSlash::kDecode}) {
    REQUIRE(Norm("/a%252Fb", PathPolicy{.encoded_slash = slash}) == "/a%252Fb");
    REQUIRE(Norm("/%252e%252e", PathPolicy{.encoded_slash = slash}) == "/%252e%252e");
  }
}

TEST_CASE("normalising a normalised path changes nothing") {
  for (EncodedSlash slash : {EncodedSlash::kReject, EncodedSlash::kKeep, EncodedSlash::kDecode}) {
    PathPolicy p{.encoded_slash = slash};
    for (std::string_view in : {"/a/./b/../c//d/", "/%7e/%2e%2e/x%3b", "/caf\xC3\xA9/{x}",
                                "/a/b/%2E", "/x%2fy", "/a%252Fb", "/a\\b/%5c"}) {
      auto once = NormalizePath(in, p);
      if (!once.ok()) continue;
      CAPTURE(in, *once);
      REQUIRE(Norm(*once, p) == *once);
    }
  }
}

}  // namespace
}  // namespace gateway
