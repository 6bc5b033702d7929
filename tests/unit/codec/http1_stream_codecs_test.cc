// The built-in HTTP/1.1 connection codecs (ServerCodec / ClientCodec from
// Http1ServerCodecFactory / Http1ClientCodecFactory): stream ids, stream
// capacity, per-stream read control and body framing.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "gateway/codec.h"

namespace gateway {
namespace {

struct ServerEvents final : ServerCodecCallbacks {
  void OnRequestHead(StreamId id, RequestHead&& head) override {
    events.push_back("head " + std::to_string(id) + " " + head.path);
  }
  void OnRequestBody(StreamId id, std::string_view chunk) override {
    events.push_back("body " + std::to_string(id) + " " + std::string(chunk));
  }
  void OnRequestTrailers(StreamId id, HeaderMap&& trailers) override {
    events.push_back("trailers " + std::to_string(id));
  }
  void OnRequestComplete(StreamId id) override {
    events.push_back("complete " + std::to_string(id));
    if (pause_on_complete) codec->Pause();
  }
  void OnCodecError(const CodecError& error) override {
    events.push_back("error " + std::to_string(error.status));
  }
  std::vector<std::string> events;
  ServerCodec* codec = nullptr;
  bool pause_on_complete = true;
};

struct ClientEvents final : ClientCodecCallbacks {
  void OnResponseHead(StreamId id, ResponseHead&& head) override {
    events.push_back("head " + std::to_string(id) + " " + std::to_string(head.status));
  }
  void OnResponseBody(StreamId id, std::string_view chunk) override {
    events.push_back("body " + std::to_string(id) + " " + std::string(chunk));
  }
  void OnResponseComplete(StreamId id) override {
    events.push_back("complete " + std::to_string(id));
  }
  void OnCodecError(const CodecError& error) override {
    events.push_back("error " + std::to_string(error.status));
  }
  std::vector<std::string> events;
};

TEST_CASE("the HTTP/1.1 server codec numbers pipelined requests 1, 2, ... one at a time") {
  ServerEvents ev;
  auto codec = Http1ServerCodecFactory()->CreateServerCodec(CodecLimits{}, ev);
  ev.codec = codec.get();
  CHECK(codec->idle());
  const std::string input =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy";
  FeedResult r = codec->Feed(input);
  // Paused after the first request: the second waits in the input.
  CHECK(r.paused);
  CHECK(ev.events == std::vector<std::string>{"head 1 /a", "complete 1"});
  CHECK(codec->idle());  // between messages, paused or not
  codec->Resume();
  CHECK(codec->idle());
  codec->Feed(std::string_view(input).substr(r.consumed));
  CHECK(ev.events == std::vector<std::string>{"head 1 /a", "complete 1", "head 2 /b", "body 2 xy",
                                              "complete 2"});
}

TEST_CASE("the HTTP/1.1 server codec stops a stream's body while its reading is disabled") {
  ServerEvents ev;
  ev.pause_on_complete = false;
  auto codec = Http1ServerCodecFactory()->CreateServerCodec(CodecLimits{}, ev);
  ev.codec = codec.get();
  FeedResult r = codec->Feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab");
  REQUIRE(ev.events.size() == 2);
  codec->SetStreamReadEnabled(1, false);
  CHECK(codec->paused());
  CHECK(codec->Feed("cd").consumed == 0);
  codec->SetStreamReadEnabled(1, true);
  CHECK_FALSE(codec->paused());
  r = codec->Feed("cd");
  CHECK(r.consumed == 2);
  CHECK(ev.events.back() == "complete 1");
}

TEST_CASE("the HTTP/1.1 server codec frames a response body as its head said") {
  ServerEvents ev;
  auto codec = Http1ServerCodecFactory()->CreateServerCodec(CodecLimits{}, ev);
  std::string out;
  ResponseHead head;
  head.status = 200;
  codec->EncodeContinue(1, out);
  CHECK(out == "HTTP/1.1 100 Continue\r\n\r\n");
  out.clear();
  codec->EncodeResponseHead(1, head, BodyFraming::kChunked, 0, out);
  CHECK(out.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  out.clear();
  HeaderMap trailers;
  trailers.Add("x-t", "1");
  codec->EncodeResponseBody(1, "hello", true, &trailers, out);
  CHECK(out == "5\r\nhello\r\n0\r\nx-t: 1\r\n\r\n");
  out.clear();
  codec->EncodeResponseHead(2, head, BodyFraming::kContentLength, 5, out);
  CHECK(out.find("Content-Length: 5\r\n") != std::string::npos);
  out.clear();
  codec->EncodeResponseBody(2, "hello", true, nullptr, out);
  CHECK(out == "hello");
}

TEST_CASE("the HTTP/1.1 client codec carries one stream at a time and says when it is free") {
  ClientEvents ev;
  auto codec = Http1ClientCodecFactory()->CreateClientCodec(CodecLimits{}, ev);
  CHECK(codec->available_streams() == 1);
  RequestHead req;
  req.method = "GET";
  req.path = "/";
  req.authority = "h";
  std::string out;
  StreamId first = codec->EncodeRequestHead(req, BodyFraming::kNone, 0, out);
  CHECK(first == 1);
  CHECK(codec->available_streams() == 0);
  codec->Feed("HTTP/1.1 100 Continue\r\n\r\n");
  CHECK(codec->available_streams() == 0);  // an interim response ends nothing
  codec->Feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  CHECK(codec->available_streams() == 1);
  // The request's method decides how the response is parsed: HEAD has no body.
  req.method = "HEAD";
  out.clear();
  StreamId second = codec->EncodeRequestHead(req, BodyFraming::kNone, 0, out);
  CHECK(second == 2);
  codec->Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
  CHECK(ev.events == std::vector<std::string>{"head 1 100", "head 1 200", "body 1 ok", "complete 1",
                                              "head 2 200", "complete 2"});
  CHECK(codec->available_streams() == 1);
}

TEST_CASE("the HTTP/1.1 client codec passes Content-Length bodies through and chunks others") {
  ClientEvents ev;
  auto codec = Http1ClientCodecFactory()->CreateClientCodec(CodecLimits{}, ev);
  RequestHead req;
  req.method = "POST";
  req.path = "/";
  std::string out;
  StreamId id = codec->EncodeRequestHead(req, BodyFraming::kContentLength, 3, out);
  out.clear();
  CHECK_FALSE(codec->EncodeRequestBody(id, "abc", true, nullptr, out));
  CHECK(out.empty());  // the caller writes "abc" itself

  auto chunked = Http1ClientCodecFactory()->CreateClientCodec(CodecLimits{}, ev);
  id = chunked->EncodeRequestHead(req, BodyFraming::kChunked, 0, out);
  out.clear();
  CHECK(chunked->EncodeRequestBody(id, "abc", false, nullptr, out));
  CHECK(out == "3\r\nabc\r\n");
  out.clear();
  CHECK(chunked->EncodeRequestBody(id, {}, true, nullptr, out));
  CHECK(out == "0\r\n\r\n");
}

TEST_CASE("a response that ends the connection leaves the HTTP/1.1 client codec no stream") {
  ClientEvents ev;
  auto codec = Http1ClientCodecFactory()->CreateClientCodec(CodecLimits{}, ev);
  RequestHead req;
  req.method = "GET";
  req.path = "/";
  std::string out;
  codec->EncodeRequestHead(req, BodyFraming::kNone, 0, out);
  codec->Feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  CHECK(ev.events.back() == "complete 1");
  CHECK(codec->available_streams() == 0);
}

}  // namespace
}  // namespace gateway
