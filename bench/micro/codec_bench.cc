// HTTP/1.1 codec: parsing requests and responses, encoding response heads.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway {
namespace {

// A typical browser-ish GET: about 400 bytes, 9 headers.
constexpr std::string_view kGetRequest =
    "GET /api/v1/users/12345/orders?limit=20&offset=40 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n"
    "Accept: application/json, text/plain, */*\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl\r\n"
    "X-Request-Id: 7f9c2ba4-e88f-4d2a-9d3c-1b2a3c4d5e6f\r\n"
    "Cookie: session=abc123def456; theme=dark\r\n"
    "Connection: keep-alive\r\n"
    "\r\n";

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\n"
    "Date: Mon, 23 Nov 2026 14:00:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 62\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Request-Id: 7f9c2ba4-e88f-4d2a-9d3c-1b2a3c4d5e6f\r\n"
    "Server: upstream\r\n"
    "\r\n"
    "{\"id\":12345,\"name\":\"Ada Lovelace\",\"orders\":[1,2,3],\"ok\":true}\n";

class CountingSink : public CodecSink {
 public:
  void OnRequestHead(RequestHead&& head) override {
    benchmark::DoNotOptimize(head.path.data());
    ++heads;
  }
  void OnResponseHead(ResponseHead&& head) override {
    benchmark::DoNotOptimize(head.status);
    ++heads;
  }
  void OnBody(std::string_view chunk) override { body_bytes += chunk.size(); }
  void OnMessageComplete() override { ++messages; }
  void OnError(const CodecError& error) override { failed = true; }

  int64_t heads = 0;
  int64_t messages = 0;
  int64_t body_bytes = 0;
  bool failed = false;
};

// Feeds `input` (holding `per_feed` requests) once per iteration into one
// keep-alive server codec.
void RunRequestParse(benchmark::State& state, const std::string& input, int per_feed) {
  CountingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kServer, CodecLimits{}, sink);
  for (auto _ : state) {
    FeedResult result = codec->Feed(input);
    if (result.consumed != input.size() || sink.failed) {
      state.SkipWithError("codec did not consume the whole input");
      break;
    }
  }
  if (sink.messages != state.iterations() * per_feed && !sink.failed) {
    state.SkipWithError("unexpected message count");
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(input.size()));
  state.SetItemsProcessed(state.iterations() * per_feed);
  state.counters["requests/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * per_feed), benchmark::Counter::kIsRate);
}

void BM_CodecParseRequest(benchmark::State& state) {
  RunRequestParse(state, std::string(kGetRequest), 1);
}
BENCHMARK(BM_CodecParseRequest);

void BM_CodecParsePipelined16(benchmark::State& state) {
  std::string batch;
  for (int i = 0; i < 16; ++i) batch.append(kGetRequest);
  RunRequestParse(state, batch, 16);
}
BENCHMARK(BM_CodecParsePipelined16);

void BM_CodecParseResponse(benchmark::State& state) {
  CountingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kClient, CodecLimits{}, sink);
  for (auto _ : state) {
    codec->ExpectResponseTo("GET");
    FeedResult result = codec->Feed(kResponse);
    if (result.consumed != kResponse.size() || sink.failed) {
      state.SkipWithError("codec did not consume the whole response");
      break;
    }
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kResponse.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CodecParseResponse);

void BM_CodecEncodeResponseHead(benchmark::State& state) {
  CountingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kServer, CodecLimits{}, sink);
  ResponseHead head;
  head.status = 200;
  head.headers = HeaderMap{{"Date", "Mon, 23 Nov 2026 14:00:00 GMT"},
                           {"Content-Type", "application/json"},
                           {"Cache-Control", "no-cache"},
                           {"X-Request-Id", "7f9c2ba4-e88f-4d2a-9d3c-1b2a3c4d5e6f"},
                           {"Server", "gateway"},
                           {"Vary", "Accept-Encoding"}};
  std::string out;
  out.reserve(1024);
  int64_t bytes = 0;
  for (auto _ : state) {
    out.clear();
    codec->EncodeResponseHead(head, Codec::Framing::kContentLength, 64, out);
    bytes += static_cast<int64_t>(out.size());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CodecEncodeResponseHead);

}  // namespace
}  // namespace gateway
