// Test helpers for the HTTP/1.1 codec: a sink that records every event as a
// line of text (so whole conversations compare with one REQUIRE), and a feeder
// that behaves like a connection (keeps unconsumed bytes, resumes, feeds again).
#ifndef GATEWAY_TESTS_UNIT_CODEC_RECORDING_SINK_H_
#define GATEWAY_TESTS_UNIT_CODEC_RECORDING_SINK_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/codec.h"
#include "gateway/http.h"

namespace gateway::codec_test {

inline std::string DescribeHeaders(const HeaderMap& headers) {
  std::string out;
  for (const auto& f : headers) {
    out += f.name;
    out += '=';
    out += f.value;
    out += ';';
  }
  return out;
}

inline std::string Describe(const RequestHead& h) {
  std::string out = "head " + h.method + " target=" + h.target + " path=" + h.path +
                    " query=" + h.query + " authority=" + h.authority + " v=1." +
                    std::to_string(h.version_minor) + " headers=" + DescribeHeaders(h.headers);
  out += h.keep_alive ? " keep-alive" : " close";
  if (h.expect_continue) out += " expect-continue";
  if (h.upgrade) out += " upgrade";
  if (h.content_length) out += " cl=" + std::to_string(*h.content_length);
  if (h.chunked) out += " chunked";
  return out;
}

inline std::string Describe(const ResponseHead& h) {
  std::string out = "head " + std::to_string(h.status) + " reason=" + h.reason + " v=1." +
                    std::to_string(h.version_minor) + " headers=" + DescribeHeaders(h.headers);
  out += h.keep_alive ? " keep-alive" : " close";
  if (h.content_length) out += " cl=" + std::to_string(*h.content_length);
  if (h.chunked) out += " chunked";
  return out;
}

class RecordingSink : public CodecSink {
 public:
  void OnRequestHead(RequestHead&& head) override {
    events.push_back(Describe(head));
    requests.push_back(std::move(head));
    After("head");
  }
  void OnResponseHead(ResponseHead&& head) override {
    events.push_back(Describe(head));
    responses.push_back(std::move(head));
    After("head");
  }
  void OnBody(std::string_view chunk) override {
    events.push_back("body " + std::string(chunk));
    body.append(chunk);
    After("body");
  }
  void OnTrailers(HeaderMap&& t) override {
    events.push_back("trailers " + DescribeHeaders(t));
    trailers.push_back(std::move(t));
    After("trailers");
  }
  void OnFieldDropped(std::string_view name) override {
    events.push_back("dropped " + std::string(name));
    dropped.emplace_back(name);
  }
  void OnMessageComplete() override {
    events.push_back("complete");
    ++completed;
    After("complete");
  }
  void OnError(const CodecError& e) override {
    events.push_back("error " + std::to_string(e.status) + " " + e.flag);
    ++errors;
    error = e;
  }

  // The events with adjacent body pieces joined, so that different ways of
  // splitting the input compare equal.
  std::vector<std::string> Merged() const {
    std::vector<std::string> out;
    for (const std::string& e : events) {
      if (e.rfind("body ", 0) == 0 && !out.empty() && out.back().rfind("body ", 0) == 0) {
        out.back().append(e.substr(5));
      } else {
        out.push_back(e);
      }
    }
    return out;
  }

  bool HasError() const { return error.has_value(); }
  int status() const { return error ? error->status : 0; }
  std::string flag() const { return error ? error->flag : std::string(); }

  // Called after each recorded event other than errors, with its kind
  // ("head", "body", "trailers", "complete"); tests use it to pause.
  std::function<void(std::string_view kind)> after;

  std::vector<std::string> events;
  std::vector<RequestHead> requests;
  std::vector<ResponseHead> responses;
  std::vector<HeaderMap> trailers;
  std::vector<std::string> dropped;  // names OnFieldDropped reported
  std::string body;
  int completed = 0;
  int errors = 0;
  std::optional<CodecError> error;

 private:
  void After(std::string_view kind) {
    if (after) after(kind);
  }
};

// A codec with its recording sink.
struct Harness {
  explicit Harness(CodecMode mode = CodecMode::kServer, CodecLimits limits = {})
      : codec(MakeHttp1Codec(mode, limits, sink)) {}

  // Feeds all of `input` the way a connection does: bytes left over when the
  // codec pauses are kept, the codec is resumed and they are fed again. Stops
  // on error, when the connection has ended, or when nothing moves.
  size_t FeedAll(std::string_view input) {
    size_t total = 0;
    for (int round = 0; round < 1000000 && !input.empty() && !sink.HasError(); ++round) {
      if (codec->paused()) {
        codec->Resume();
        if (codec->paused()) break;  // the connection ended; the rest is left over
      }
      FeedResult r = codec->Feed(input);
      total += r.consumed;
      input.remove_prefix(r.consumed);
      if (r.consumed == 0 && !r.paused) break;
    }
    return total;
  }

  // Feeds once; the result as the codec returned it.
  FeedResult Feed(std::string_view input) { return codec->Feed(input); }

  RecordingSink sink;
  std::unique_ptr<Codec> codec;
};

}  // namespace gateway::codec_test

#endif  // GATEWAY_TESTS_UNIT_CODEC_RECORDING_SINK_H_
