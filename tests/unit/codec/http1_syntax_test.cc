// The small syntax helpers the codec uses on top of llhttp.
#include <catch2/catch.hpp>

#include <string>

#include "codec/http1_syntax.h"

namespace gateway::internal {
namespace {

TEST_CASE("field names are non-empty tokens") {
  CHECK(IsFieldName("X-Request-Id"));
  CHECK(IsFieldName("a!#$%&'*+-.^_`|~9"));
  CHECK_FALSE(IsFieldName(""));
  CHECK_FALSE(IsFieldName("Host "));
  CHECK_FALSE(IsFieldName("a:b"));
  CHECK_FALSE(IsFieldName("a\tb"));
  CHECK_FALSE(IsFieldName("caf\xc3\xa9"));
}

TEST_CASE("field values allow visible bytes, obs-text, space and tab only") {
  CHECK(IsFieldValue(""));
  CHECK(IsFieldValue("a b\tc \x80\xff"));
  CHECK_FALSE(IsFieldValue(std::string_view("a\0b", 3)));
  CHECK_FALSE(IsFieldValue("a\rb"));
  CHECK_FALSE(IsFieldValue("a\nb"));
  CHECK_FALSE(IsFieldValue("a\x7f"));
  CHECK_FALSE(IsFieldValue("\x1b[1m"));
}

TEST_CASE("TrimOws removes spaces and tabs at both ends only") {
  CHECK(TrimOws(" \t a b \t") == "a b");
  CHECK(TrimOws("   ").empty());
  CHECK(TrimOws("x") == "x");
}

TEST_CASE("authorities are host with an optional port") {
  CHECK(IsValidAuthority("example.com"));
  CHECK(IsValidAuthority("example.com:8080"));
  CHECK(IsValidAuthority("example.com:"));
  CHECK(IsValidAuthority("10.0.0.1:65535"));
  CHECK(IsValidAuthority("[2001:db8::1]:443"));
  CHECK(IsValidAuthority("xn--bcher-kva.example"));
  CHECK_FALSE(IsValidAuthority(""));
  CHECK_FALSE(IsValidAuthority(":80"));
  CHECK_FALSE(IsValidAuthority("h:65536"));
  CHECK_FALSE(IsValidAuthority("h:8a"));
  CHECK_FALSE(IsValidAuthority("h:80:90"));
  CHECK_FALSE(IsValidAuthority("a b"));
  CHECK_FALSE(IsValidAuthority("a/b"));
  CHECK_FALSE(IsValidAuthority("u@h"));
  CHECK_FALSE(IsValidAuthority("[::1"));
  CHECK_FALSE(IsValidAuthority("[zz]"));
  CHECK_FALSE(IsValidAuthority("[::1]x"));
  CHECK_FALSE(IsValidAuthority("h", /*require_port=*/true));
  CHECK_FALSE(IsValidAuthority("h:", /*require_port=*/true));
  CHECK(IsValidAuthority("h:1", /*require_port=*/true));
}

TEST_CASE("ParseDecimal takes only digits and refuses overflow") {
  uint64_t v = 0;
  CHECK(ParseDecimal("0", v));
  CHECK(v == 0);
  CHECK(ParseDecimal("18446744073709551615", v));
  CHECK(v == UINT64_MAX);
  CHECK_FALSE(ParseDecimal("18446744073709551616", v));
  CHECK_FALSE(ParseDecimal("", v));
  CHECK_FALSE(ParseDecimal("+1", v));
  CHECK_FALSE(ParseDecimal("1 ", v));
}

TEST_CASE("request targets split by form") {
  auto origin = SplitRequestTarget("/a/b?c=d?e", "GET");
  REQUIRE(origin.ok());
  CHECK(origin->form == TargetForm::kOrigin);
  CHECK(origin->path == "/a/b");
  CHECK(origin->query == "c=d?e");

  auto absolute = SplitRequestTarget("HTTPS://h:1/x?y", "GET");
  REQUIRE(absolute.ok());
  CHECK(absolute->form == TargetForm::kAbsolute);
  CHECK(absolute->authority == "h:1");
  CHECK(absolute->path == "/x");
  CHECK(absolute->query == "y");

  auto authority = SplitRequestTarget("h:443", "CONNECT");
  REQUIRE(authority.ok());
  CHECK(authority->form == TargetForm::kAuthority);
  CHECK(authority->path.empty());

  auto asterisk = SplitRequestTarget("*", "OPTIONS");
  REQUIRE(asterisk.ok());
  CHECK(asterisk->form == TargetForm::kAsterisk);
  CHECK(asterisk->path.empty());
}

TEST_CASE("request targets in the wrong form for the method are refused") {
  CHECK_FALSE(SplitRequestTarget("*", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("/x", "CONNECT").ok());
  CHECK_FALSE(SplitRequestTarget("http://h/x", "CONNECT").ok());
  CHECK_FALSE(SplitRequestTarget("h:443", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("/p#f", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("ws://h/", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("http://u:p@h/", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("http:///p", "GET").ok());
  CHECK_FALSE(SplitRequestTarget("", "GET").ok());
}

TEST_CASE("numbers are appended in decimal and lower-case hex") {
  std::string out;
  AppendDecimal(0, out);
  out += ',';
  AppendDecimal(18446744073709551615u, out);
  out += ',';
  AppendHex(0, out);
  out += ',';
  AppendHex(0xabcdef, out);
  CHECK(out == "0,18446744073709551615,0,abcdef");
}

}  // namespace
}  // namespace gateway::internal
