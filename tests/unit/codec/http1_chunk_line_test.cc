// CodecLimits::max_chunk_line_bytes: a chunk-size line (the size, its
// extensions and their separators, without the CRLF) longer than the limit
// is refused as it arrives: 400 for requests, 502 for responses.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

CodecLimits ChunkLine(size_t max) {
  CodecLimits l;
  l.max_chunk_line_bytes = max;
  return l;
}

const std::string kChunkedHead = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

// "5;" plus an extension that makes the whole line `line_bytes` long.
std::string ChunkLineOf(size_t line_bytes) { return "5;" + std::string(line_bytes - 2, 'e'); }

TEST_CASE("the default chunk line limit is 4 KiB") {
  CHECK(CodecLimits{}.max_chunk_line_bytes == 4096);
}

TEST_CASE("a chunk line exactly at max_chunk_line_bytes is accepted") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead + ChunkLineOf(64) + "\r\nhello\r\n0\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "hello");
  CHECK(h.sink.completed == 1);
}

TEST_CASE("a chunk line one byte over max_chunk_line_bytes is rejected with 400") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead + ChunkLineOf(65) + "\r\nhello\r\n0\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.flag() == "invalid_framing");
  CHECK(h.sink.body.empty());
  CHECK(h.sink.completed == 0);
}

TEST_CASE("a long extension on a later chunk is rejected") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead + "5\r\nhello\r\n" + ChunkLineOf(65) + "\r\nworld\r\n0\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.body == "hello");
}

TEST_CASE("a long extension on the last chunk is rejected") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead + "5\r\nhello\r\n0;" + std::string(70, 'e') + "\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.completed == 0);
}

TEST_CASE("a long extension before trailers is rejected") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead + "0;" + std::string(70, 'e') + "\r\nX-T: 1\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(h.sink.trailers.empty());
}

TEST_CASE("short extensions on every chunk, at the limit each, are accepted") {
  Harness h(CodecMode::kServer, ChunkLine(16));
  std::string body;
  for (int i = 0; i < 50; ++i) body += "1;a=bbbbbbbbbbbb\r\nx\r\n";  // 16-byte lines
  h.FeedAll(kChunkedHead + body + "0;a=bbbbbbbbbbbb\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == std::string(50, 'x'));
  CHECK(h.sink.completed == 1);
}

TEST_CASE("an endless chunk extension is rejected as soon as it passes the limit") {
  Harness h(CodecMode::kServer, ChunkLine(64));
  h.FeedAll(kChunkedHead);
  REQUIRE_FALSE(h.sink.HasError());
  // Byte by byte, never a line end: refused at the first byte over.
  std::string line = "5;" + std::string(1000, 'e');
  size_t fed = 0;
  for (char c : line) {
    if (h.sink.HasError()) break;
    fed += h.Feed(std::string_view(&c, 1)).consumed;
  }
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 400);
  CHECK(fed <= 65);
}

TEST_CASE("a chunk line at the limit split anywhere across feeds is accepted") {
  const std::string input = kChunkedHead + ChunkLineOf(32) + "\r\nhello\r\n0\r\n\r\n";
  for (size_t split = kChunkedHead.size(); split < input.size(); ++split) {
    Harness h(CodecMode::kServer, ChunkLine(32));
    h.FeedAll(input.substr(0, split));
    h.FeedAll(input.substr(split));
    INFO("split at " << split);
    CHECK_FALSE(h.sink.HasError());
    CHECK(h.sink.body == "hello");
  }
}

TEST_CASE("a response chunk line over the limit is rejected with 502 in client mode") {
  Harness h(CodecMode::kClient, ChunkLine(64));
  h.FeedAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + ChunkLineOf(65) +
            "\r\nhello\r\n0\r\n\r\n");
  REQUIRE(h.sink.HasError());
  CHECK(h.sink.status() == 502);
  CHECK(h.sink.flag() == "upstream_protocol_error");
}

TEST_CASE("a response chunk line at the limit is accepted in client mode") {
  Harness h(CodecMode::kClient, ChunkLine(64));
  h.FeedAll("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + ChunkLineOf(64) +
            "\r\nhello\r\n0\r\n\r\n");
  CHECK_FALSE(h.sink.HasError());
  CHECK(h.sink.body == "hello");
}

}  // namespace
}  // namespace gateway::codec_test
