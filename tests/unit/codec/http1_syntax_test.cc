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

namespace line_ends {

struct Walk {
  bool ok;
  bool prev_cr;
  uint32_t lfs;
  friend bool operator==(const Walk&, const Walk&) = default;
};

// The byte-at-a-time walk ScanLineEnds must agree with.
Walk Reference(std::string_view s, bool prev_cr, uint32_t lfs) {
  bool cr = prev_cr;
  uint32_t count = 0;
  for (char c : s) {
    if (cr ? c != '\n' : c == '\n') return {false, prev_cr, lfs};
    cr = c == '\r';
    count += c == '\n' ? 1 : 0;
  }
  return {true, cr, lfs + count};
}

Walk Scan(std::string_view s, bool prev_cr, uint32_t lfs) {
  bool ok = ScanLineEnds(s, prev_cr, lfs);
  return {ok, prev_cr, lfs};
}

std::string Describe(std::string_view s, bool prev_cr) {
  std::string out = prev_cr ? "(CR)" : "";
  for (char c : s) {
    out += c == '\r' ? "\\r" : c == '\n' ? "\\n" : std::string(1, c);
  }
  return out;
}

}  // namespace line_ends

TEST_CASE("line ends: CR and LF at every offset of 8-byte words agree with a byte walk") {
  using line_ends::Describe;
  using line_ends::Reference;
  using line_ends::Scan;
  // Bytes next to CR and LF in value and in bit pattern, so that a mask which
  // leaked into a neighbouring byte or ignored the high bit would show.
  const char kOthers[] = {' ',    'a',    '\t',   '\0',   '\x0b', '\x0c',
                          '\x0e', '\x09', '\x8a', '\x8d', '\xff'};
  for (size_t len = 1; len <= 26; ++len) {
    for (char fill : kOthers) {
      for (size_t i = 0; i < len; ++i) {
        for (size_t j = i; j < len; ++j) {
          for (const char* pair : {"\r\n", "\n\r", "\r\r", "\n\n"}) {
            std::string s(len, fill);
            s[i] = pair[0];
            if (j != i) s[j] = pair[1];
            for (bool prev_cr : {false, true}) {
              INFO(Describe(s, prev_cr));
              REQUIRE(Scan(s, prev_cr, 7) == Reference(s, prev_cr, 7));
            }
          }
        }
      }
    }
  }
}

TEST_CASE("line ends: valid runs of CRLFs are counted across word boundaries") {
  using line_ends::Scan;
  std::string s;
  for (int i = 0; i < 20; ++i) s += i % 3 == 0 ? "\r\n" : " \t";
  CHECK(Scan(s, false, 0) == line_ends::Walk{true, false, 7});
  CHECK(Scan(s + "\r", false, 1) == line_ends::Walk{true, true, 8});
  CHECK(Scan("\n" + s, true, 0) == line_ends::Walk{true, false, 8});
  CHECK_FALSE(Scan(s, true, 0).ok);
  CHECK_FALSE(Scan(s + "\r ", false, 0).ok);
  CHECK(Scan("", true, 3) == line_ends::Walk{true, true, 3});
}

TEST_CASE("line ends: random gaps agree with a byte walk") {
  using line_ends::Describe;
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const char kAlphabet[] = {'\r', '\n', '\r', '\n', ' ', 'x', '\t', '\x8d', '\x8a', '\0'};
  for (int round = 0; round < 20000; ++round) {
    std::string s(next() % 40, ' ');
    for (char& c : s) c = kAlphabet[next() % sizeof(kAlphabet)];
    // Mostly valid line ends, so that the walk gets past the first word.
    if (next() % 2 == 0) {
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        if (s[i] == '\r') s[i + 1] = '\n';
        if (s[i + 1] == '\n') s[i] = '\r';
      }
    }
    const bool prev_cr = next() % 4 == 0;
    INFO(Describe(s, prev_cr));
    REQUIRE(line_ends::Scan(s, prev_cr, 0) == line_ends::Reference(s, prev_cr, 0));
  }
}

TEST_CASE("NameIs matches a field name in any case and nothing else") {
  CHECK(NameIs("Content-Length", "content-length"));
  CHECK(NameIs("CONTENT-LENGTH", "content-length"));
  CHECK(NameIs("transfer-Encoding", "transfer-encoding"));
  CHECK(NameIs("HoSt", "host"));
  CHECK(NameIs("x-1", "x-1"));
  CHECK_FALSE(NameIs("hosts", "host"));
  CHECK_FALSE(NameIs("hast", "host"));
  CHECK_FALSE(NameIs("content_length", "content-length"));  // '_' is a tchar, not '-'
  CHECK_FALSE(NameIs("Content-Lengti", "content-length"));  // the tail after 8 bytes
  CHECK_FALSE(NameIs("Contant-Length", "content-length"));  // the first 8 bytes
  // Every tchar against every literal byte: a match only for the same letter
  // in either case, or the same digit or '-'.
  const std::string_view literal_bytes = "abcdefghijklmnopqrstuvwxyz0123456789-";
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    if (!IsFieldName(std::string_view(&ch, 1))) continue;
    for (char l : literal_bytes) {
      const bool same = ch == l || (l >= 'a' && l <= 'z' && ch == l - 32);
      CHECK(NameIs(std::string_view(&ch, 1), std::string_view(&l, 1)) == same);
    }
  }
}

}  // namespace
}  // namespace gateway::internal
