// Hop-by-hop removal and forwarding headers of proxied messages.
#include "proxy/forwarding.h"

#include <cctype>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

namespace gateway::internal {
namespace {

// The rules written plainly: lower-case every name and compare it with each
// list entry in turn.
std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ReferenceIsHopByHop(std::string_view name) {
  static const std::vector<std::string> kNames = {
      "connection", "keep-alive", "proxy-connection",  "te",
      "trailer",    "upgrade",    "transfer-encoding", "http2-settings"};
  for (const std::string& n : kNames) {
    if (Lower(name) == n) return true;
  }
  return false;
}

HeaderMap ReferenceRemoveHopByHop(const HeaderMap& in, std::vector<std::string_view> also) {
  std::vector<std::string> removed;
  for (const auto& f : in) {
    if (Lower(f.name) != "connection") continue;
    std::string value = f.value;
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      std::string token = value.substr(start, comma - start);
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.front()))) {
        token.erase(0, 1);
      }
      while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
        token.pop_back();
      }
      if (!token.empty()) removed.push_back(Lower(token));
      start = comma + 1;
    }
  }
  for (std::string_view a : also) removed.push_back(Lower(a));
  HeaderMap out;
  for (const auto& f : in) {
    bool drop = ReferenceIsHopByHop(f.name);
    for (const std::string& r : removed) drop = drop || Lower(f.name) == r;
    if (!drop) out.Add(f.name, f.value);
  }
  return out;
}

// Every hop-by-hop name in several spellings, and names of the same lengths
// that differ in one byte (first, middle or last).
const std::vector<std::string> kNames = {"te",
                                         "TE",
                                         "Te",
                                         "tE",
                                         "tf",
                                         "ue",
                                         "Ta",
                                         "t-",
                                         "ae",
                                         "trailer",
                                         "Trailer",
                                         "TRAILER",
                                         "tRaIlEr",
                                         "trailes",
                                         "drailer",
                                         "trai1er",
                                         "upgrade",
                                         "Upgrade",
                                         "UPGRADE",
                                         "uPgRaDe",
                                         "upgradf",
                                         "tpgrade",
                                         "upg-ade",
                                         "connection",
                                         "Connection",
                                         "CONNECTION",
                                         "cOnNeCtIoN",
                                         "connectiom",
                                         "konnection",
                                         "connec-ion",
                                         "keep-alive",
                                         "Keep-Alive",
                                         "KEEP-ALIVE",
                                         "keep_alive",
                                         "keep-alivf",
                                         "ceep-alive",
                                         "Keep-Alivd",
                                         "http2-settings",
                                         "HTTP2-Settings",
                                         "Http2-Settings",
                                         "http3-settings",
                                         "http2-settingz",
                                         "xttp2-settings",
                                         "proxy-connection",
                                         "Proxy-Connection",
                                         "PROXY-CONNECTION",
                                         "proxy-connectiom",
                                         "qroxy-connection",
                                         "proxy_connection",
                                         "transfer-encoding",
                                         "Transfer-Encoding",
                                         "TRANSFER-ENCODING",
                                         "transfer-encodinh",
                                         "uransfer-encoding",
                                         "transfer_encoding",
                                         "content-length",
                                         "host",
                                         "x-te",
                                         "",
                                         "t",
                                         "connections",
                                         "keep-alive-",
                                         "transfer-encodings",
                                         "trailers",
                                         "upgrades",
                                         "expect",
                                         "Expect",
                                         "expecu",
                                         "Content-Length",
                                         "content-lengtx",
                                         "x-named",
                                         "X-Named",
                                         "x-namee"};

TEST_CASE("hop-by-hop removal agrees with a plain reference for every spelling and near miss") {
  for (const std::string& name : kNames) {
    CAPTURE(name);
    HeaderMap h{{name, "v"}};
    RemoveHopByHop(h);
    CHECK(h.empty() == ReferenceIsHopByHop(name));

    HeaderMap also{{name, "v"}, {"x-kept", "1"}};
    HeaderMap expected = ReferenceRemoveHopByHop(also, {"expect", "content-length"});
    RemoveHopByHop(also, {"expect", "content-length"});
    CHECK(also == expected);
  }
}

TEST_CASE("hop-by-hop removal drops names listed in Connection, in any case, and keeps order") {
  HeaderMap h;
  for (const std::string& name : kNames) h.Add(name, "v-" + name);
  h.Add("Connection", " close ,X-NAMED, keep-alive,, Trailers ,x-te");
  HeaderMap expected = ReferenceRemoveHopByHop(h, {"expect", "content-length"});
  RemoveHopByHop(h, {"expect", "content-length"});
  CHECK(h == expected);
  CHECK(h.Has("x-namee"));
  CHECK_FALSE(h.Has("x-named"));
  CHECK_FALSE(h.Has("x-te"));
  CHECK_FALSE(h.Has("trailers"));
  CHECK(h.Has("host"));
}

TEST_CASE("trailers lose hop-by-hop, framing and routing fields only") {
  HeaderMap t;
  for (const std::string& name : kNames) t.Add(name, "v");
  HeaderMap expected = ReferenceRemoveHopByHop(
      t, {"content-length", "host", "content-encoding", "content-type", "content-range"});
  SanitizeTrailers(t);
  CHECK(t == expected);
}

// AddForwardingHeaders as first written, one HeaderMap call per rule.
void ReferenceAddForwardingHeaders(const ProxyOptions& options, bool trusted,
                                   const ConnectionInfo& peer, std::string_view original_host,
                                   HeaderMap& headers) {
  if (options.forwarded_headers) {
    std::string xff;
    if (trusted) {
      for (std::string_view v : headers.GetAll("x-forwarded-for")) {
        if (!xff.empty()) xff += ", ";
        xff.append(v);
      }
    }
    if (!xff.empty()) xff += ", ";
    xff += peer.peer_address;
    headers.Set("x-forwarded-for", xff);
    if (!trusted || !headers.Has("x-forwarded-proto")) headers.Set("x-forwarded-proto", "http");
    if (!trusted || !headers.Has("x-forwarded-host")) {
      if (original_host.empty()) {
        headers.Remove("x-forwarded-host");
      } else {
        headers.Set("x-forwarded-host", original_host);
      }
    }
  }
  if (!options.via.empty()) {
    std::string via(headers.Get("via").value_or(""));
    if (!via.empty()) via += ", ";
    via += "1.1 ";
    via += options.via;
    headers.Set("via", via);
  }
}

TEST_CASE("forwarding headers agree with one map call per rule, trusted or not") {
  const std::vector<HeaderMap> inputs = {
      {},
      {{"host", "a.example"}},
      {{"X-Forwarded-For", "1.1.1.1"}, {"host", "a"}, {"x-forwarded-for", "2.2.2.2, 3.3.3.3"}},
      {{"x-forwarded-for", ""}, {"X-FORWARDED-FOR", "4.4.4.4"}, {"x-forwarded-fox", "no"}},
      {{"X-Forwarded-Proto", "https"}, {"x-forwarded-host", "b.example"}, {"via", "1.0 edge"}},
      {{"Via", ""},
       {"VIA", "1.1 second"},
       {"vib", "x"},
       {"x-forwarded-hosT", "c"},
       {"x-forwarded-proto", "http"},
       {"X-Forwarded-Proto", "again"}},
      {{"x-forwarded-prot0", "no"},
       {"x-forwarded-hos", "no"},
       {"x-forwarded-for", "5.5.5.5"},
       {"accept", "*/*"},
       {"x-forwarded-host", "d"},
       {"X-Forwarded-Host", "e"}},
  };
  ConnectionInfo peer;
  peer.peer_address = "10.0.0.7";
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (bool forwarded : {true, false}) {
      for (std::string via : {"", "gw"}) {
        for (bool trusted : {true, false}) {
          for (std::string_view host : {"", "orig.example"}) {
            CAPTURE(i, forwarded, via, trusted, host);
            ProxyOptions options;
            options.forwarded_headers = forwarded;
            options.via = via;
            HeaderMap got = inputs[i];
            HeaderMap expected = inputs[i];
            AddForwardingHeaders(options, trusted, peer, host, got);
            ReferenceAddForwardingHeaders(options, trusted, peer, host, expected);
            CHECK(got == expected);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace gateway::internal
