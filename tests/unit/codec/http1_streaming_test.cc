// Server mode: streaming bodies, pipelining, input split anywhere, pause and
// resume with exact byte accounting, trailers, upgrades and connection ends.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

const std::string kPipeline =
    "GET /1?a=b HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\r\n"
    "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    "POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nT-1: x\r\nT-2:  y \r\n\r\n"
    "\r\n"
    "PUT /4 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n"
    "GET /5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";

// Feeds `pieces` as a connection would: every piece is appended to what the
// codec left unconsumed, which is then fed (resuming a paused codec first).
// `pause_on` names an event kind at which the sink pauses ("" for none).
std::vector<std::string> RunConnection(const std::vector<std::string_view>& pieces,
                                       std::string_view pause_on = "",
                                       std::string* left_over = nullptr) {
  Harness h;
  h.sink.after = [&](std::string_view kind) {
    if (kind == pause_on) h.codec->Pause();
  };
  std::string pending;
  for (std::string_view piece : pieces) {
    pending.append(piece);
    size_t consumed = h.FeedAll(pending);
    pending.erase(0, consumed);
  }
  if (left_over != nullptr) *left_over = pending;
  return h.sink.Merged();
}

std::vector<std::string> Reference() { return RunConnection({kPipeline}); }

TEST_CASE("pipelined requests in one Feed are reported in order") {
  Harness h;
  FeedResult r = h.Feed(kPipeline);
  CHECK(r.consumed == kPipeline.size());
  CHECK_FALSE(r.paused);
  REQUIRE(h.sink.requests.size() == 5);
  CHECK(h.sink.requests[0].target == "/1?a=b");
  CHECK(h.sink.requests[1].target == "/2");
  CHECK(h.sink.requests[2].target == "/3");
  CHECK(h.sink.requests[3].target == "/4");
  CHECK(h.sink.requests[4].target == "/5");
  CHECK(h.sink.completed == 5);
  CHECK_FALSE(h.sink.HasError());
  std::vector<std::string> merged = h.sink.Merged();
  REQUIRE(merged.size() == 14);
  CHECK(merged[3] == "body hello");
  CHECK(merged[6] == "body abc0123456789abcdef");
  CHECK(merged[7] == "trailers T-1=x;T-2=y;");
  CHECK(merged[8] == "complete");
  CHECK(merged[10] == "body z");
  CHECK(merged[13] == "complete");
}

TEST_CASE("a codec is between messages only with no message partly parsed") {
  Harness h;
  CHECK(h.codec->between_messages());
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
  CHECK(h.Feed(first.substr(0, 10)).consumed == 10);
  CHECK_FALSE(h.codec->between_messages());
  h.Feed(first.substr(10));
  REQUIRE(h.sink.completed == 1);
  CHECK(h.codec->between_messages());
  // The start of a pipelined request: a new codec would lose it.
  h.Feed(second.substr(0, 5));
  CHECK_FALSE(h.codec->between_messages());
  h.Feed(second.substr(5));
  CHECK(h.sink.completed == 2);
  CHECK(h.codec->between_messages());
  // After an invalid message nothing may replace the codec.
  h.Feed("BAD\r\n\r\n");
  CHECK(h.sink.HasError());
  CHECK_FALSE(h.codec->between_messages());
}

TEST_CASE("a message that ends the connection leaves the codec not between messages") {
  Harness h;
  h.Feed("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
  REQUIRE(h.sink.completed == 1);
  CHECK_FALSE(h.codec->between_messages());
}

TEST_CASE("pipelined input split at every byte boundary gives the same events") {
  const std::vector<std::string> expected = Reference();
  for (size_t i = 0; i <= kPipeline.size(); ++i) {
    std::string_view all = kPipeline;
    std::string left;
    std::vector<std::string> got = RunConnection({all.substr(0, i), all.substr(i)}, "", &left);
    INFO("split at " << i);
    REQUIRE(got == expected);
    REQUIRE(left.empty());
  }
}

TEST_CASE("pipelined input split at every pair of boundaries gives the same events") {
  const std::vector<std::string> expected = Reference();
  std::string_view all = kPipeline;
  for (size_t i = 0; i <= all.size(); i += 3) {
    for (size_t j = i; j <= all.size(); ++j) {
      std::vector<std::string> got =
          RunConnection({all.substr(0, i), all.substr(i, j - i), all.substr(j)});
      INFO("split at " << i << " and " << j);
      REQUIRE(got == expected);
    }
  }
}

TEST_CASE("pipelined input fed one byte at a time gives the same events") {
  std::vector<std::string_view> bytes;
  std::string_view all = kPipeline;
  for (size_t i = 0; i < all.size(); ++i) bytes.push_back(all.substr(i, 1));
  CHECK(RunConnection(bytes) == Reference());
}

TEST_CASE("field names and values cut by a Feed survive the caller reusing its buffer") {
  const std::string input =
      "GET / HTTP/1.1\r\nHost: example.com\r\nX-Long-Name: a value longer than a word\r\n"
      "\r\n";
  const std::vector<std::string> expected = [&] {
    Harness h;
    h.FeedAll(input);
    return h.sink.Merged();
  }();
  REQUIRE(expected.size() == 2);
  for (size_t cut = 1; cut < input.size(); ++cut) {
    INFO("cut at " << cut);
    Harness h;
    // One buffer for both pieces, overwritten after each Feed as a
    // connection's read buffer would be.
    std::string buffer = input.substr(0, cut);
    REQUIRE(h.codec->Feed(buffer).consumed == cut);
    buffer.assign(buffer.size(), '#');
    buffer = input.substr(cut);
    REQUIRE(h.codec->Feed(buffer).consumed == input.size() - cut);
    buffer.assign(buffer.size(), '#');
    CHECK(h.sink.Merged() == expected);
  }
}

TEST_CASE("pausing at every message end gives the same events at every split") {
  const std::vector<std::string> expected = Reference();
  std::string_view all = kPipeline;
  for (size_t i = 0; i <= all.size(); ++i) {
    std::string left;
    std::vector<std::string> got =
        RunConnection({all.substr(0, i), all.substr(i)}, "complete", &left);
    INFO("split at " << i);
    REQUIRE(got == expected);
    REQUIRE(left.empty());
  }
}

TEST_CASE("pausing at every event gives the same events") {
  for (std::string_view kind : {"head", "body", "trailers"}) {
    INFO("pause on " << kind);
    CHECK(RunConnection({kPipeline}, kind) == Reference());
  }
}

TEST_CASE("pausing in the head of a request with a body consumes exactly the head") {
  Harness h;
  std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n";
  std::string in = head + "hello";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "head") h.codec->Pause();
  };
  FeedResult r = h.Feed(in);
  CHECK(r.consumed == head.size());
  CHECK(r.paused);
  CHECK(h.codec->paused());
  CHECK(h.sink.events.size() == 1);
  CHECK(h.Feed("hello").consumed == 0);  // still paused
  h.sink.after = nullptr;
  h.codec->Resume();
  CHECK_FALSE(h.codec->paused());
  r = h.Feed(std::string_view(in).substr(r.consumed));
  CHECK(r.consumed == 5);
  CHECK_FALSE(r.paused);
  CHECK(h.sink.body == "hello");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("pausing in a body chunk consumes exactly up to the end of that chunk") {
  Harness h;
  std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string in = head + "3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n";
  std::string_view rest = in;
  h.sink.after = [&](std::string_view kind) {
    if (kind == "body") h.codec->Pause();
  };
  FeedResult r = h.Feed(rest);
  CHECK(r.paused);
  CHECK(r.consumed == head.size() + std::string_view("3\r\nabc").size());
  CHECK(h.sink.body == "abc");
  rest.remove_prefix(r.consumed);

  h.codec->Resume();
  r = h.Feed(rest);
  CHECK(r.paused);
  CHECK(r.consumed == std::string_view("\r\n4\r\ndefg").size());
  CHECK(h.sink.body == "abcdefg");
  rest.remove_prefix(r.consumed);

  h.codec->Resume();
  r = h.Feed(rest);
  CHECK(r.consumed == rest.size());
  CHECK_FALSE(r.paused);
  CHECK(h.sink.completed == 1);
  CHECK_FALSE(h.sink.HasError());
}

TEST_CASE("pausing in a partial Content-Length body consumes what was delivered") {
  Harness h;
  std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\n";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "body") h.codec->Pause();
  };
  FeedResult r = h.Feed(head + "abc");
  CHECK(r.consumed == head.size() + 3);
  CHECK(r.paused);
  CHECK(h.sink.completed == 0);
  h.codec->Resume();
  r = h.Feed("def");
  CHECK(r.consumed == 3);
  CHECK(h.sink.body == "abcdef");
  CHECK(h.sink.completed == 1);  // the end needs no more input, so it is reported
  CHECK(r.paused);
}

TEST_CASE("pausing in OnMessageComplete leaves the next request's bytes unconsumed") {
  Harness h;
  std::string first = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi";
  std::string second = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "complete") h.codec->Pause();
  };
  FeedResult r = h.Feed(first + second);
  CHECK(r.consumed == first.size());
  CHECK(r.paused);
  CHECK(h.sink.requests.size() == 1);
  h.codec->Resume();
  r = h.Feed(second);
  CHECK(r.consumed == second.size());
  REQUIRE(h.sink.requests.size() == 2);
  CHECK(h.sink.requests[1].target == "/next");
}

TEST_CASE("pausing in OnMessageComplete leaves blank lines before the next request unconsumed") {
  Harness h;
  std::string first = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "complete") h.codec->Pause();
  };
  FeedResult r = h.Feed(first + "\r\n\r\nGET / HTTP/1.1\r\n");
  CHECK(r.consumed == first.size());
}

TEST_CASE("pausing in the head of a bodyless request still reports its end") {
  Harness h;
  std::string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string second = "GET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "head") h.codec->Pause();
  };
  FeedResult r = h.Feed(first + second);
  CHECK(r.consumed == first.size());
  CHECK(r.paused);
  CHECK(h.sink.Merged() == std::vector<std::string>{h.sink.events[0], "complete"});
}

TEST_CASE("pausing in the last Content-Length body chunk still reports the end") {
  Harness h;
  std::string first = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "body") h.codec->Pause();
  };
  FeedResult r = h.Feed(first + "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == first.size());
  CHECK(r.paused);
  CHECK(h.sink.completed == 1);
  CHECK(h.sink.requests.size() == 1);
}

TEST_CASE("pausing in OnTrailers still reports the end and stops before the next request") {
  Harness h;
  std::string first =
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nT: v\r\n\r\n";
  h.sink.after = [&](std::string_view kind) {
    if (kind == "trailers") h.codec->Pause();
  };
  FeedResult r = h.Feed(first + "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == first.size());
  CHECK(r.paused);
  CHECK(h.sink.events.back() == "complete");
  CHECK(h.sink.requests.size() == 1);
}

TEST_CASE("Pause between Feeds makes Feed consume nothing until Resume") {
  Harness h;
  h.codec->Pause();
  CHECK(h.codec->paused());
  FeedResult r = h.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == 0);
  CHECK(r.paused);
  CHECK(h.sink.events.empty());
  h.codec->Resume();
  r = h.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == 27);
  CHECK(h.sink.completed == 1);
}

TEST_CASE("Resume in the same callback as Pause cancels the pause") {
  Harness h;
  h.sink.after = [&](std::string_view kind) {
    h.codec->Pause();
    h.codec->Resume();
  };
  FeedResult r = h.Feed(kPipeline);
  CHECK(r.consumed == kPipeline.size());
  CHECK_FALSE(r.paused);
  CHECK(h.sink.completed == 5);
}

TEST_CASE("body pieces are views into the fed buffer, not copies") {
  Harness h;
  std::string in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  const char* body_ptr = nullptr;
  struct Sink : RecordingSink {
    const char** out;
    void OnBody(std::string_view chunk) override {
      *out = chunk.data();
      RecordingSink::OnBody(chunk);
    }
  };
  Sink sink;
  sink.out = &body_ptr;
  auto codec = MakeHttp1Codec(CodecMode::kServer, {}, sink);
  codec->Feed(in);
  CHECK(body_ptr == in.data() + in.size() - 5);
}

TEST_CASE("a chunked body streams chunk by chunk as bytes arrive") {
  Harness h;
  h.Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  CHECK(h.sink.body == "ab");
  h.Feed("cde\r\n2\r\nfg");
  CHECK(h.sink.body == "abcdefg");
  CHECK(h.sink.completed == 0);
  h.Feed("\r\n0\r\n\r\n");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("chunked trailers are reported before the message end and kept out of the head") {
  Harness h;
  h.Feed(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nok\r\n0\r\nX-Checksum: abc\r\nX-Other:\t 1 \r\n\r\n");
  REQUIRE(h.sink.trailers.size() == 1);
  const HeaderMap& t = h.sink.trailers[0];
  REQUIRE(t.size() == 2);
  CHECK(t.fields()[0].name == "X-Checksum");
  CHECK(t.fields()[0].value == "abc");
  CHECK(t.fields()[1].value == "1");
  CHECK_FALSE(h.sink.requests[0].headers.Has("x-checksum"));
  std::vector<std::string> merged = h.sink.Merged();
  CHECK(merged[merged.size() - 2].rfind("trailers ", 0) == 0);
  CHECK(merged.back() == "complete");
}

TEST_CASE("a chunked body without trailers reports no trailers") {
  Harness h;
  h.Feed("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  CHECK(h.sink.trailers.empty());
  CHECK(h.sink.completed == 1);
}

TEST_CASE("chunk extensions are accepted and ignored") {
  Harness h;
  h.Feed(
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2;a=\"d e\"\r\nok\r\n1;x;y\r\n!\r\n0;last\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "ok!");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("framing and routing fields in trailers are rejected with 400") {
  std::string field =
      GENERATE(as<std::string>{}, "Content-Length: 5", "Transfer-Encoding: chunked", "Host: evil");
  Harness h;
  h.FeedAll("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" +
            field + "\r\n\r\n");
  INFO("trailer: " << field);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.completed == 0);
}

TEST_CASE("invalid trailer fields are rejected like header fields") {
  std::string field = GENERATE(as<std::string>{}, "T : v", ": v", "T: a\x01", "NoColon");
  Harness h;
  h.FeedAll("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" +
            field + "\r\n\r\n");
  INFO("trailer: " << field);
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.trailers.empty());
}

TEST_CASE("an upgrade request pauses the codec and leaves the following bytes unconsumed") {
  Harness h;
  std::string req =
      "GET /chat HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  std::string frames = "\x81\x05hello";
  FeedResult r = h.Feed(req + frames);
  CHECK(r.consumed == req.size());
  CHECK(r.paused);
  CHECK(h.codec->paused());
  REQUIRE(h.sink.requests.size() == 1);
  CHECK(h.sink.requests[0].upgrade);
  CHECK(h.sink.completed == 1);
  CHECK(h.Feed(frames).consumed == 0);
  CHECK_FALSE(h.sink.HasError());
}

TEST_CASE("after a declined upgrade Resume parses the following bytes as HTTP") {
  Harness h;
  std::string req = "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n";
  std::string next = "GET /after HTTP/1.1\r\nHost: h\r\n\r\n";
  FeedResult r = h.Feed(req + next);
  REQUIRE(r.paused);
  REQUIRE(r.consumed == req.size());
  h.codec->Resume();
  CHECK_FALSE(h.codec->paused());
  r = h.Feed(next);
  CHECK(r.consumed == next.size());
  REQUIRE(h.sink.requests.size() == 2);
  CHECK(h.sink.requests[1].target == "/after");
  CHECK_FALSE(h.sink.requests[1].upgrade);
}

TEST_CASE("an upgrade request with a body delivers the body before pausing") {
  Harness h;
  std::string req =
      "POST /up HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\nContent-Length: 3\r\n"
      "\r\nabc";
  FeedResult r = h.Feed(req + "tail");
  CHECK(r.consumed == req.size());
  CHECK(r.paused);
  CHECK(h.sink.body == "abc");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("CONNECT pauses after the head and leaves tunnel bytes unconsumed") {
  Harness h;
  std::string req = "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n";
  FeedResult r = h.Feed(req + "binary tunnel data");
  CHECK(r.consumed == req.size());
  CHECK(r.paused);
  CHECK(h.sink.completed == 1);
}

TEST_CASE("a request with Connection: close ends the connection and leaves the rest unconsumed") {
  Harness h;
  std::string req = "POST / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx";
  FeedResult r = h.Feed(req + "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == req.size());
  CHECK(r.paused);
  CHECK(h.sink.requests.size() == 1);
  CHECK(h.sink.completed == 1);
  h.codec->Resume();
  CHECK(h.codec->paused());
  r = h.Feed("GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(r.consumed == 0);
  CHECK(h.sink.requests.size() == 1);
  CHECK_FALSE(h.sink.HasError());
}

TEST_CASE("an HTTP/1.0 request without keep-alive ends the connection") {
  Harness h;
  std::string req = "GET / HTTP/1.0\r\n\r\n";
  FeedResult r = h.Feed(req + "GET / HTTP/1.0\r\n\r\n");
  CHECK(r.consumed == req.size());
  CHECK(r.paused);
  CHECK(h.sink.requests.size() == 1);
}

TEST_CASE("Feed with no data does nothing") {
  Harness h;
  FeedResult r = h.Feed("");
  CHECK(r.consumed == 0);
  CHECK_FALSE(r.paused);
  CHECK(h.sink.events.empty());
}

}  // namespace
}  // namespace gateway::codec_test
