// Untrusted input: mutated messages fed in random pieces with random pauses.
// Whatever the bytes, the codec must not crash, must report at most one error
// and nothing after it, must never claim more bytes than it was given, and
// must report the same events however the input is split (up to which of
// several faults it names).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed * 0x9e3779b97f4a7c15ULL + 1) {}
  uint64_t Next() {
    s_ ^= s_ << 13;
    s_ ^= s_ >> 7;
    s_ ^= s_ << 17;
    return s_;
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t s_;
};

const std::string kRequests =
    "GET /1?a=b HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\r\n"
    "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello"
    "POST /3 HTTP/1.1\r\nHost: h:1\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3;e=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT-1: x\r\n\r\n"
    "GET /4 HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n"
    "OPTIONS * HTTP/1.0\r\n\r\n";

const std::string kResponses =
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: v\r\n\r\n"
    "HTTP/1.1 404 Not Found\r\n\r\nclose-delimited";

std::string Mutate(std::string s, Rng& rng) {
  static constexpr char kInteresting[] = {'\r', '\n', '\0',   ' ',    '\t', ':', ';', '0',
                                          'f',  '"',  '\x7f', '\xff', 'a',  '/', '?', '#'};
  size_t edits = 1 + rng.Below(4);
  for (size_t i = 0; i < edits && !s.empty(); ++i) {
    size_t pos = rng.Below(s.size());
    char c = rng.Below(2) == 0 ? kInteresting[rng.Below(sizeof(kInteresting))]
                               : static_cast<char>(rng.Below(256));
    switch (rng.Below(3)) {
      case 0:
        s[pos] = c;
        break;
      case 1:
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pos), c);
        break;
      default:
        s.erase(pos, 1);
        break;
    }
  }
  return s;
}

struct Outcome {
  std::vector<std::string> events;
  size_t consumed = 0;
};

// Feeds `input` in random pieces, pausing at random events and resuming
// before the next piece, like a connection with backpressure.
Outcome Run(CodecMode mode, std::string_view input, Rng& rng, bool random) {
  Harness h(mode);
  h.sink.after = [&](std::string_view) {
    if (random && rng.Below(3) == 0) h.codec->Pause();
  };
  std::string pending;
  size_t consumed = 0;
  std::string_view rest = input;
  while (!rest.empty() || !pending.empty()) {
    size_t n = random ? 1 + rng.Below(rest.size() < 40 ? rest.size() : 40) : rest.size();
    pending.append(rest.substr(0, n));
    rest.remove_prefix(std::min(n, rest.size()));
    size_t used = h.FeedAll(pending);
    consumed += used;
    pending.erase(0, used);
    if (h.sink.HasError() || (h.codec->paused() && used == 0 && rest.empty())) break;
    if (rest.empty() && used == 0) break;
  }
  h.codec->FeedEof();

  // Invariants that hold for any input.
  const std::vector<std::string>& ev = h.sink.events;
  int errors = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    if (ev[i].rfind("error", 0) == 0) {
      ++errors;
      CHECK(i + 1 == ev.size());  // nothing after an error
    }
  }
  CHECK(errors <= 1);
  CHECK(consumed <= input.size());
  size_t heads = mode == CodecMode::kServer ? h.sink.requests.size() : h.sink.responses.size();
  CHECK(static_cast<size_t>(h.sink.completed) <= heads);
  // Which of two faults in one message is named first may depend on where the
  // input was split (llhttp reports some only when their span ends), so the
  // comparison across splits keeps just the fact of the error.
  std::vector<std::string> merged = h.sink.Merged();
  if (!merged.empty() && merged.back().rfind("error", 0) == 0) merged.back() = "error";
  return {merged, consumed};
}

TEST_CASE("mutated requests never break the codec's invariants and split the same way") {
  Rng rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string input = Mutate(kRequests, rng);
    Outcome whole = Run(CodecMode::kServer, input, rng, false);
    Outcome pieces = Run(CodecMode::kServer, input, rng, true);
    INFO("case " << i << ": " << input);
    REQUIRE(pieces.events == whole.events);
  }
}

TEST_CASE("mutated responses never break the codec's invariants and split the same way") {
  Rng rng(2);
  for (int i = 0; i < 3000; ++i) {
    std::string input = Mutate(kResponses, rng);
    Outcome whole = Run(CodecMode::kClient, input, rng, false);
    Outcome pieces = Run(CodecMode::kClient, input, rng, true);
    INFO("case " << i);
    REQUIRE(pieces.events == whole.events);
  }
}

TEST_CASE("random bytes never crash either mode") {
  Rng rng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string input(1 + rng.Below(300), '\0');
    for (char& c : input) c = static_cast<char>(rng.Below(256));
    if (rng.Below(2) == 0)
      input.insert(0, i % 2 == 0 ? "GET / HTTP/1.1\r\n" : "HTTP/1.1 200 OK\r\n");
    Run(CodecMode::kServer, input, rng, true);
    Run(CodecMode::kClient, input, rng, true);
  }
}

}  // namespace
}  // namespace gateway::codec_test
