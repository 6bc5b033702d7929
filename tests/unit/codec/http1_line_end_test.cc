// Bare CR and bare LF in the bytes between llhttp's spans (whitespace before a
// value, chunk extensions): the gap walk checks them several bytes at a time,
// so they are placed at every offset of a long gap, and the outcome must not
// depend on where the input is split.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

// What a codec reports for `input` fed in pieces that end at `cuts`.
std::string Outcome(CodecMode mode, std::string_view input, const std::vector<size_t>& cuts) {
  Harness h(mode);
  size_t from = 0;
  std::string leftover;
  for (size_t i = 0; i <= cuts.size() && !h.sink.HasError(); ++i) {
    const size_t to = i < cuts.size() ? cuts[i] : input.size();
    leftover += std::string(input.substr(from, to - from));
    from = to;
    leftover.erase(0, h.FeedAll(leftover));
  }
  std::string out;
  for (const std::string& e : h.sink.Merged()) out += e + "\n";
  if (h.sink.error) out += "reason " + h.sink.error->reason + "\n";
  return out;
}

// The outcome of `input` fed whole, and checks that every split into two
// pieces and a byte-by-byte feed give the same.
std::string SplitInvariantOutcome(CodecMode mode, std::string_view input) {
  const std::string whole = Outcome(mode, input, {});
  for (size_t cut = 1; cut < input.size(); ++cut) {
    INFO("split at " << cut);
    REQUIRE(Outcome(mode, input, {cut}) == whole);
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < input.size(); ++i) every.push_back(i);
  REQUIRE(Outcome(mode, input, every) == whole);
  return whole;
}

constexpr size_t kGap = 19;  // more than two words of whitespace

TEST_CASE("a bare LF or lone CR anywhere in the whitespace before a value is rejected") {
  const std::string bad = GENERATE(as<std::string>{}, "\n", "\r", "\r\r", "\r ", "\n\r");
  for (size_t at = 0; at + bad.size() <= kGap; ++at) {
    std::string ows(kGap, at % 2 == 0 ? ' ' : '\t');
    ows.replace(at, bad.size(), bad);
    const std::string input = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad:" + ows + "v\r\n\r\n";
    INFO("bad bytes at " << at);
    const std::string out = SplitInvariantOutcome(CodecMode::kServer, input);
    UNSCOPED_INFO(out);
    CHECK(out.rfind("error 400 ", 0) == 0);
  }
}

TEST_CASE("a bare LF or lone CR anywhere in a chunk extension is rejected") {
  const std::string bad = GENERATE(as<std::string>{}, "\n", "\r", "\r\r", "\n\r");
  for (size_t at = 0; at + bad.size() <= kGap; ++at) {
    std::string ext = ";" + std::string(kGap, 'e');
    ext.replace(1 + at, bad.size(), bad);
    const std::string input = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3" +
                              ext + "\r\nabc\r\n0\r\n\r\n";
    INFO("bad bytes at " << at);
    const std::string out = SplitInvariantOutcome(CodecMode::kServer, input);
    UNSCOPED_INFO(out);
    CHECK(out.find("error 400 invalid_framing\n") != std::string::npos);
    CHECK(out.find("complete") == std::string::npos);
  }
}

TEST_CASE("a bare LF or lone CR anywhere in a response's whitespace is rejected with 502") {
  const std::string bad = GENERATE(as<std::string>{}, "\n", "\r", "\r\r", "\n\r");
  for (size_t at = 0; at + bad.size() <= kGap; ++at) {
    std::string ows(kGap, ' ');
    ows.replace(at, bad.size(), bad);
    const std::string input = "HTTP/1.1 200 OK\r\nServer:" + ows + "x\r\nContent-Length: 0\r\n\r\n";
    INFO("bad bytes at " << at);
    const std::string out = SplitInvariantOutcome(CodecMode::kClient, input);
    UNSCOPED_INFO(out);
    CHECK(out.rfind("error 502 upstream_protocol_error\n", 0) == 0);
  }
}

TEST_CASE("long runs of whitespace and chunk extensions without bad line ends parse") {
  const std::string ows(kGap, ' ');
  const std::string input = "POST / HTTP/1.1\r\nHost: h\r\nX-Pad:" + ows +
                            "v\r\nTransfer-Encoding: chunked\r\n\r\n3;" + std::string(kGap, 'e') +
                            "\r\nabc\r\n0;" + std::string(kGap, 'e') + "\r\n\r\n";
  const std::string out = SplitInvariantOutcome(CodecMode::kServer, input);
  CHECK(out ==
        "head POST target=/ path=/ query= authority=h v=1.1 headers=Host=h;X-Pad=v;"
        "Transfer-Encoding=chunked; keep-alive chunked\n"
        "body abc\n"
        "complete\n");
}

}  // namespace
}  // namespace gateway::codec_test
