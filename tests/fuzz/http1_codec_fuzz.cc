// Feeds arbitrary bytes to the server and client codecs, split at a
// data-derived point and with pauses, checking the sink contract: no events
// after an error, consumed never exceeds the input, bodies never exceed the
// declared length.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "gateway/codec.h"

namespace {

class CheckingSink final : public gateway::CodecSink {
 public:
  void OnRequestHead(gateway::RequestHead&& head) override {
    Event();
    in_message_ = true;
    body_ = 0;
    declared_ = head.content_length;
  }
  void OnResponseHead(gateway::ResponseHead&& head) override {
    Event();
    in_message_ = true;
    body_ = 0;
    declared_ = head.content_length;
  }
  void OnBody(std::string_view chunk) override {
    Event();
    body_ += chunk.size();
    if (declared_ && body_ > *declared_) std::abort();
  }
  void OnTrailers(gateway::HeaderMap&&) override { Event(); }
  void OnMessageComplete() override {
    Event();
    in_message_ = false;
  }
  void OnError(const gateway::CodecError& e) override {
    Event();
    if (e.status < 400 || e.status > 599) std::abort();
    errored_ = true;
  }
  gateway::Codec* codec = nullptr;
  int pause_every = 0;

 private:
  void Event() {
    if (errored_) std::abort();  // nothing may follow an error
    if (pause_every > 0 && ++events_ % pause_every == 0) codec->Pause();
  }
  bool errored_ = false;
  bool in_message_ = false;
  uint64_t body_ = 0;
  std::optional<uint64_t> declared_;
  int events_ = 0;
};

void Run(gateway::CodecMode mode, std::string_view input, size_t split, int pause_every) {
  CheckingSink sink;
  gateway::CodecLimits limits{.max_uri_bytes = 256,
                              .max_header_bytes = 1024,
                              .max_header_count = 16,
                              .max_body_bytes = 4096};
  auto codec = gateway::MakeHttp1Codec(mode, limits, sink);
  sink.codec = codec.get();
  sink.pause_every = pause_every;
  std::string_view parts[2] = {input.substr(0, split), input.substr(split)};
  for (std::string_view part : parts) {
    for (int guard = 0; !part.empty() && guard < 10000; ++guard) {
      gateway::FeedResult r = codec->Feed(part);
      if (r.consumed > part.size()) std::abort();
      part.remove_prefix(r.consumed);
      if (r.paused) {
        codec->Resume();
      } else if (r.consumed == 0) {
        break;
      }
    }
  }
  codec->FeedEof();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t split = data[0] % (size - 1);
  int pause_every = data[1] % 4;
  std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  split = std::min(split, input.size());
  Run(gateway::CodecMode::kServer, input, split, pause_every);
  Run(gateway::CodecMode::kClient, input, split, pause_every);
  return 0;
}
