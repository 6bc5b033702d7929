// ClientAddress: the peer, or the first untrusted hop of X-Forwarded-For when
// the peer is a trusted proxy.
#include <string>

#include <catch2/catch.hpp>

#include "gateway/client_address.h"

namespace gateway {
namespace {

ConnectionInfo Peer(std::string address) {
  ConnectionInfo c;
  c.peer_address = std::move(address);
  return c;
}

TEST_CASE("without trusted proxies the client is the peer, whatever X-Forwarded-For says") {
  HeaderMap h{{"x-forwarded-for", "1.2.3.4"}};
  CHECK(ClientAddress(Peer("10.0.0.1"), h, AddressRanges()) == "10.0.0.1");
}

TEST_CASE("a trusted proxy's X-Forwarded-For is walked from the right past trusted hops") {
  auto trusted = AddressRanges::Parse({"10.0.0.0/8", "::1/128"});
  REQUIRE(trusted.ok());
  // The client forged "6.6.6.6"; 203.0.113.9 reached the first proxy 10.1.1.1.
  HeaderMap h{{"x-forwarded-for", "6.6.6.6, 203.0.113.9"}, {"X-Forwarded-For", "10.1.1.1"}};
  CHECK(ClientAddress(Peer("10.0.0.2"), h, *trusted) == "203.0.113.9");
  CHECK(ClientAddress(Peer("::1"), h, *trusted) == "203.0.113.9");
  // From an untrusted peer nothing in the header is believed.
  CHECK(ClientAddress(Peer("198.51.100.7"), h, *trusted) == "198.51.100.7");
}

TEST_CASE("a trusted proxy without X-Forwarded-For, or with only trusted hops, is the client") {
  auto trusted = *AddressRanges::Parse({"10.0.0.0/8"});
  CHECK(ClientAddress(Peer("10.0.0.2"), HeaderMap{}, trusted) == "10.0.0.2");
  HeaderMap h{{"x-forwarded-for", "10.9.9.9"}};
  CHECK(ClientAddress(Peer("10.0.0.2"), h, trusted) == "10.9.9.9");
}

TEST_CASE("garbage in X-Forwarded-For stops the walk at the last believable hop") {
  auto trusted = *AddressRanges::Parse({"10.0.0.0/8"});
  HeaderMap h{{"x-forwarded-for", "203.0.113.9, not-an-ip, 10.1.1.1"}};
  CHECK(ClientAddress(Peer("10.0.0.2"), h, trusted) == "10.1.1.1");
}

TEST_CASE("ports and brackets around forwarded addresses are ignored") {
  auto trusted = *AddressRanges::Parse({"10.0.0.0/8"});
  CHECK(ClientAddress(Peer("10.0.0.2"), HeaderMap{{"x-forwarded-for", "203.0.113.9:5555"}},
                      trusted) == "203.0.113.9");
  CHECK(ClientAddress(Peer("10.0.0.2"), HeaderMap{{"x-forwarded-for", "[2001:db8::1]:443"}},
                      trusted) == "2001:db8::1");
}

TEST_CASE("AddressRanges parses CIDRs and rejects garbage") {
  auto r = AddressRanges::Parse({"192.168.0.0/16", "2001:db8::/32"});
  REQUIRE(r.ok());
  CHECK(r->Contains("192.168.4.5"));
  CHECK(r->Contains("::ffff:192.168.4.5"));
  CHECK(r->Contains("2001:db8::7"));
  CHECK_FALSE(r->Contains("192.169.0.1"));
  CHECK_FALSE(r->Contains("nonsense"));
  CHECK(AddressRanges().empty());
  CHECK_FALSE(AddressRanges::Parse({"10.0.0.0/33"}).ok());
  CHECK_FALSE(AddressRanges::Parse({"ten"}).ok());
}

}  // namespace
}  // namespace gateway
