// Encoding heads and bodies, and round trips through the parser of the other
// side.
#include <catch2/catch.hpp>

#include <string>

#include "unit/codec/recording_sink.h"

namespace gateway::codec_test {
namespace {

using Framing = Codec::Framing;

struct Encoder {
  RecordingSink sink;
  std::unique_ptr<Codec> codec = MakeHttp1Codec(CodecMode::kServer, {}, sink);
};

ResponseHead Response(int status, HeaderMap headers = {}) {
  ResponseHead h;
  h.status = status;
  h.headers = std::move(headers);
  return h;
}

RequestHead Request(std::string method, std::string path, std::string query = "",
                    HeaderMap headers = {}) {
  RequestHead h;
  h.method = std::move(method);
  h.path = std::move(path);
  h.query = std::move(query);
  h.target = h.path + (h.query.empty() ? "" : "?" + h.query);
  h.headers = std::move(headers);
  return h;
}

TEST_CASE("response head is encoded with status line, headers and Content-Length") {
  Encoder e;
  std::string out = "prefix:";
  e.codec->EncodeResponseHead(Response(200, {{"Content-Type", "text/plain"}, {"x-a", "1"}}),
                              Framing::kContentLength, 12, out);
  CHECK(out ==
        "prefix:HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nx-a: 1\r\n"
        "Content-Length: 12\r\n\r\n");
}

TEST_CASE("response reason phrase defaults from the status and can be overridden") {
  Encoder e;
  std::string out;
  e.codec->EncodeResponseHead(Response(404), Framing::kNone, 0, out);
  CHECK(out == "HTTP/1.1 404 Not Found\r\n\r\n");
  out.clear();
  ResponseHead custom = Response(499);
  custom.reason = "Client Went Away";
  e.codec->EncodeResponseHead(custom, Framing::kNone, 0, out);
  CHECK(out == "HTTP/1.1 499 Client Went Away\r\n\r\n");
  out.clear();
  e.codec->EncodeResponseHead(Response(299), Framing::kNone, 0, out);
  CHECK(out == "HTTP/1.1 299 Unknown\r\n\r\n");
}

TEST_CASE("a reason phrase with CR or LF is replaced by the standard one") {
  Encoder e;
  std::string out;
  ResponseHead h = Response(200);
  h.reason = "OK\r\nX-Injected: 1";
  e.codec->EncodeResponseHead(h, Framing::kNone, 0, out);
  CHECK(out == "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_CASE("HTTP/1.0 response head uses the 1.0 status line") {
  Encoder e;
  std::string out;
  ResponseHead h = Response(200);
  h.version_minor = 0;
  e.codec->EncodeResponseHead(h, Framing::kClose, 0, out);
  CHECK(out == "HTTP/1.0 200 OK\r\n\r\n");
}

TEST_CASE("encoding replaces framing headers the head carries") {
  Encoder e;
  HeaderMap carried{{"content-length", "999"},
                    {"A", "1"},
                    {"Transfer-Encoding", "gzip, chunked"},
                    {"CONTENT-LENGTH", "5"}};
  std::string out;
  e.codec->EncodeResponseHead(Response(200, carried), Framing::kContentLength, 3, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nA: 1\r\nContent-Length: 3\r\n\r\n");
  out.clear();
  e.codec->EncodeResponseHead(Response(200, carried), Framing::kChunked, 0, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nA: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("no body-framing header is written for kNone and kClose") {
  Framing framing = GENERATE(Framing::kNone, Framing::kClose);
  Encoder e;
  std::string out;
  e.codec->EncodeResponseHead(
      Response(200, {{"Content-Length", "10"}, {"Transfer-Encoding", "chunked"}}), framing, 10,
      out);
  CHECK(out == "HTTP/1.1 200 OK\r\n\r\n");
}

TEST_CASE("header fields that could split the message are not written") {
  Encoder e;
  std::string out;
  e.codec->EncodeResponseHead(Response(200, {{"Good", "yes"},
                                             {"Bad", "a\r\nSet-Cookie: evil"},
                                             {"Bad Name", "v"},
                                             {"", "v"},
                                             {"Nul", std::string_view("a\0b", 3)},
                                             {"Padded", "  v  "}}),
                              Framing::kContentLength, 0, out);
  CHECK(out == "HTTP/1.1 200 OK\r\nGood: yes\r\nPadded: v\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("request head is encoded from method, path and query") {
  Encoder e;
  std::string out;
  e.codec->EncodeRequestHead(Request("POST", "/a/b", "x=1", {{"Host", "up"}, {"X", "y"}}),
                             Framing::kContentLength, 5, out);
  CHECK(out == "POST /a/b?x=1 HTTP/1.1\r\nHost: up\r\nX: y\r\nContent-Length: 5\r\n\r\n");
}

TEST_CASE("request head uses the routed path, not the received target") {
  Encoder e;
  RequestHead h = Request("GET", "/normalised");
  h.target = "/a/../normalised";
  h.headers.Add("Host", "h");
  std::string out;
  e.codec->EncodeRequestHead(h, Framing::kNone, 0, out);
  CHECK(out == "GET /normalised HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("request head without a path uses the target (CONNECT, OPTIONS *)") {
  Encoder e;
  RequestHead h;
  h.method = "CONNECT";
  h.target = "db:5432";
  h.authority = "db:5432";
  std::string out;
  e.codec->EncodeRequestHead(h, Framing::kNone, 0, out);
  CHECK(out == "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n");
}

TEST_CASE("request head gets Host from the authority only when it has none") {
  Encoder e;
  RequestHead h = Request("GET", "/");
  h.authority = "svc.internal:8080";
  std::string out;
  e.codec->EncodeRequestHead(h, Framing::kNone, 0, out);
  CHECK(out == "GET / HTTP/1.1\r\nHost: svc.internal:8080\r\n\r\n");
  out.clear();
  h.headers.Add("host", "explicit");
  e.codec->EncodeRequestHead(h, Framing::kNone, 0, out);
  CHECK(out == "GET / HTTP/1.1\r\nhost: explicit\r\n\r\n");
}

TEST_CASE("bytes that may not appear in a request target are percent-encoded") {
  Encoder e;
  std::string out;
  e.codec->EncodeRequestHead(Request("GET", "/a b\r\nX: y#z", "q=\x01"), Framing::kNone, 0, out);
  CHECK(out == "GET /a%20b%0D%0AX:%20y%23z?q=%01 HTTP/1.1\r\n\r\n");
}

TEST_CASE("chunked request head carries Transfer-Encoding and no Content-Length") {
  Encoder e;
  std::string out;
  e.codec->EncodeRequestHead(Request("PUT", "/u", "", {{"Host", "h"}, {"Content-Length", "4"}}),
                             Framing::kChunked, 0, out);
  CHECK(out == "PUT /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_CASE("EncodeBody frames chunks in hex and passes other framings through") {
  Encoder e;
  std::string out;
  e.codec->EncodeBody(std::string(26, 'x'), Framing::kChunked, out);
  CHECK(out == "1a\r\n" + std::string(26, 'x') + "\r\n");
  out.clear();
  e.codec->EncodeBody("raw", Framing::kContentLength, out);
  e.codec->EncodeBody("more", Framing::kClose, out);
  CHECK(out == "rawmore");
}

TEST_CASE("EncodeBody writes nothing for empty data or kNone") {
  Encoder e;
  std::string out;
  e.codec->EncodeBody("", Framing::kChunked, out);
  e.codec->EncodeBody("", Framing::kContentLength, out);
  e.codec->EncodeBody("data", Framing::kNone, out);
  CHECK(out.empty());
}

TEST_CASE("EncodeChunkedEnd writes the last chunk with optional trailers") {
  Encoder e;
  std::string out;
  e.codec->EncodeChunkedEnd(nullptr, out);
  CHECK(out == "0\r\n\r\n");
  out.clear();
  HeaderMap trailers{{"Grpc-Status", "0"}, {"Bad", "a\nb"}, {"content-length", "1"}};
  e.codec->EncodeChunkedEnd(&trailers, out);
  CHECK(out == "0\r\nGrpc-Status: 0\r\n\r\n");
}

TEST_CASE("an encoded chunked request parses back to the same request") {
  Encoder e;
  RequestHead h = Request("POST", "/upload", "id=7", {{"Host", "example.com"}, {"X-A", "b c"}});
  HeaderMap trailers{{"X-Sum", "123"}};
  std::string wire;
  e.codec->EncodeRequestHead(h, Framing::kChunked, 0, wire);
  e.codec->EncodeBody("hello ", Framing::kChunked, wire);
  e.codec->EncodeBody(std::string(300, 'z'), Framing::kChunked, wire);
  e.codec->EncodeChunkedEnd(&trailers, wire);

  Harness server(CodecMode::kServer);
  FeedResult r = server.Feed(wire);
  CHECK(r.consumed == wire.size());
  REQUIRE_FALSE(server.sink.HasError());
  REQUIRE(server.sink.requests.size() == 1);
  const RequestHead& got = server.sink.requests[0];
  CHECK(got.method == "POST");
  CHECK(got.path == "/upload");
  CHECK(got.query == "id=7");
  CHECK(got.authority == "example.com");
  CHECK(got.chunked);
  CHECK(got.headers.Get("x-a") == "b c");
  CHECK(server.sink.body == "hello " + std::string(300, 'z'));
  REQUIRE(server.sink.trailers.size() == 1);
  CHECK(DescribeHeaders(server.sink.trailers[0]) == DescribeHeaders(trailers));
  CHECK(server.sink.completed == 1);
}

TEST_CASE("an encoded Content-Length request parses back to the same request") {
  Encoder e;
  RequestHead h = Request("PUT", "/k", "", {{"Host", "h"}});
  std::string wire;
  e.codec->EncodeRequestHead(h, Framing::kContentLength, 4, wire);
  e.codec->EncodeBody("data", Framing::kContentLength, wire);
  Harness server(CodecMode::kServer);
  server.Feed(wire);
  REQUIRE(server.sink.requests.size() == 1);
  CHECK(server.sink.requests[0].content_length == 4u);
  CHECK(server.sink.body == "data");
  CHECK(server.sink.completed == 1);
}

TEST_CASE("an encoded response parses back to the same response") {
  Encoder e;
  ResponseHead h =
      Response(203, {{"Cache-Control", "no-store"}, {"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}});
  std::string wire;
  e.codec->EncodeResponseHead(h, Framing::kChunked, 0, wire);
  e.codec->EncodeBody("abc", Framing::kChunked, wire);
  e.codec->EncodeChunkedEnd(nullptr, wire);
  e.codec->EncodeResponseHead(Response(200), Framing::kContentLength, 2, wire);
  e.codec->EncodeBody("ok", Framing::kContentLength, wire);

  Harness client(CodecMode::kClient);
  FeedResult r = client.Feed(wire);
  CHECK(r.consumed == wire.size());
  REQUIRE_FALSE(client.sink.HasError());
  REQUIRE(client.sink.responses.size() == 2);
  const ResponseHead& got = client.sink.responses[0];
  CHECK(got.status == 203);
  CHECK(got.reason == std::string(ReasonPhrase(203)));
  CHECK(got.chunked);
  CHECK(got.headers.GetAll("set-cookie").size() == 2);
  CHECK(got.headers.Get("cache-control") == "no-store");
  CHECK(client.sink.body == "abcok");
  CHECK(client.sink.completed == 2);
}

TEST_CASE("a parsed request re-encodes to an equivalent request") {
  Harness server(CodecMode::kServer);
  std::string original =
      "DELETE /items/9?force=1 HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer t\r\n"
      "Content-Length: 2\r\n\r\n{}";
  server.Feed(original);
  REQUIRE(server.sink.requests.size() == 1);
  Encoder e;
  std::string wire;
  e.codec->EncodeRequestHead(server.sink.requests[0], Framing::kContentLength, 2, wire);
  e.codec->EncodeBody(server.sink.body, Framing::kContentLength, wire);
  CHECK(wire == original);
}

TEST_CASE("fields a filter adds or sets to a parsed head are still checked when encoded") {
  // A parsed head is written without re-checking its fields; a field added
  // or changed afterwards must not slip through with it.
  Harness server(CodecMode::kServer);
  server.Feed("GET /a HTTP/1.1\r\nHost: api\r\nX-Kept: 1\r\nX-Set: 2\r\n\r\n");
  REQUIRE(server.sink.requests.size() == 1);
  Encoder e;
  RequestHead added = server.sink.requests[0];
  added.headers.Add("X-Evil", "a\r\nX-Smuggled: 1");
  added.headers.Add("X-Fine", "3");
  std::string wire;
  e.codec->EncodeRequestHead(added, Framing::kNone, 0, wire);
  CHECK(wire == "GET /a HTTP/1.1\r\nHost: api\r\nX-Kept: 1\r\nX-Set: 2\r\nX-Fine: 3\r\n\r\n");

  RequestHead set = server.sink.requests[0];
  set.headers.Set("X-Set", std::string_view("b\0c", 3));
  wire.clear();
  e.codec->EncodeRequestHead(set, Framing::kNone, 0, wire);
  CHECK(wire == "GET /a HTTP/1.1\r\nHost: api\r\nX-Kept: 1\r\n\r\n");

  RequestHead padded = server.sink.requests[0];
  padded.headers.Add("Bad Name", "v");
  padded.headers.Add("X-Padded", " v ");
  wire.clear();
  e.codec->EncodeRequestHead(padded, Framing::kNone, 0, wire);
  CHECK(wire == "GET /a HTTP/1.1\r\nHost: api\r\nX-Kept: 1\r\nX-Set: 2\r\nX-Padded: v\r\n\r\n");
}

}  // namespace
}  // namespace gateway::codec_test
