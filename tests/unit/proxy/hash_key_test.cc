// ComputeHashKey: what each hash policy takes from a request, the order they
// are tried in, the generated cookie, and the cluster-side validation.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "gateway/client_address.h"
#include "gateway/cluster.h"
#include "gateway/hash_policy.h"
#include "gateway/load_balancer.h"
#include "gateway/pipeline.h"

namespace gateway {
namespace {

struct Request {
  std::string peer = "192.0.2.10";
  HeaderMap headers;
  std::string query;
  std::vector<std::pair<std::string, std::string>> captures;
  AddressRanges trusted;

  HashKeyInput Input() const {
    return {.peer_address = peer,
            .headers = &headers,
            .query = query,
            .captures = captures,
            .trusted_proxies = &trusted};
  }
};

uint64_t NoRandom() {
  FAIL("random() called without a generated cookie");
  return 0;
}

std::optional<uint64_t> KeyOf(const std::vector<HashPolicy>& policies, const Request& r) {
  return ComputeHashKey(policies, r.Input(), NoRandom).key;
}

TEST_CASE("each policy hashes its value from the request") {
  Request r;
  r.headers.Add("X-User", "alice");
  r.headers.Add("Cookie", "theme=dark; sid=\"s-42\"");
  r.headers.Add("Cookie", "other=1");
  r.query = "page=2&user=bob%20b&empty=";
  r.captures = {{"id", "7"}, {"**", "rest/of/it"}};

  CHECK(KeyOf({HashPolicy::ClientIp()}, r) == HashKey("192.0.2.10"));
  CHECK(KeyOf({HashPolicy::Header("x-user")}, r) == HashKey("alice"));        // any case
  CHECK(KeyOf({HashPolicy::Cookie("sid")}, r) == HashKey("s-42"));            // quotes dropped
  CHECK(KeyOf({HashPolicy::Cookie("other")}, r) == HashKey("1"));             // second field
  CHECK(KeyOf({HashPolicy::QueryParameter("user")}, r) == HashKey("bob b"));  // decoded
  CHECK(KeyOf({HashPolicy::RouteCapture("id")}, r) == HashKey("7"));
  CHECK(KeyOf({HashPolicy::RouteCapture("**")}, r) == HashKey("rest/of/it"));
}

TEST_CASE("policies are tried in order, and the first with a non-empty value wins") {
  Request r;
  r.headers.Add("x-empty", "");
  r.headers.Add("x-tenant", "acme");
  r.query = "empty=&user=bob";
  const std::vector<HashPolicy> policies = {
      HashPolicy::Header("x-missing"),  HashPolicy::Header("x-empty"),
      HashPolicy::Cookie("sid"),        HashPolicy::QueryParameter("empty"),
      HashPolicy::RouteCapture("none"), HashPolicy::QueryParameter("user"),
      HashPolicy::Header("x-tenant")};
  CHECK(KeyOf(policies, r) == HashKey("bob"));
  // Cookie names are case-sensitive; nothing found at all: no key.
  r.headers.Add("cookie", "SID=x");
  CHECK(KeyOf({HashPolicy::Cookie("sid"), HashPolicy::Header("x-none")}, r) == std::nullopt);
  CHECK(KeyOf({}, r) == std::nullopt);
}

TEST_CASE("the client address honours trusted proxies, with or without a policy") {
  Request r;
  r.peer = "10.0.0.5";
  r.headers.Add("X-Forwarded-For", "198.51.100.1, 203.0.113.9");
  r.headers.Add("x-forwarded-for", "10.0.0.4:8080");
  // Untrusted peer: its X-Forwarded-For is not believed.
  CHECK(KeyOf({HashPolicy::ClientIp()}, r) == HashKey("10.0.0.5"));
  CHECK(ClientIpHashKey(r.Input()) == HashKey("10.0.0.5"));
  // Trusted: walk from the right past trusted hops to the first untrusted one.
  r.trusted = *AddressRanges::Parse({"10.0.0.0/8"});
  CHECK(KeyOf({HashPolicy::ClientIp()}, r) == HashKey("203.0.113.9"));
  CHECK(ClientIpHashKey(r.Input()) == HashKey("203.0.113.9"));
  CHECK(ClientAddress({.peer_address = r.peer}, r.headers, r.trusted) == "203.0.113.9");
  // Garbage ends the walk at the last hop that could be believed.
  r.headers.Add("x-forwarded-for", "not-an-ip");
  CHECK(ClientAddress({.peer_address = r.peer}, r.headers, r.trusted) == "10.0.0.5");
}

TEST_CASE("a generated cookie keys the first request as later requests carrying it") {
  const std::vector<HashPolicy> policies = {HashPolicy::Header("x-user"),
                                            HashPolicy::GeneratedCookie("sid", absl::Hours(2))};
  Request first;
  int calls = 0;
  HashKeyResult made = ComputeHashKey(policies, first.Input(), [&] {
    ++calls;
    return uint64_t{0x0123456789abcdef};
  });
  CHECK(calls == 1);
  REQUIRE(made.generated_cookie == &policies[1]);
  CHECK(made.cookie() == "0123456789abcdef");
  CHECK(made.key == HashKey("0123456789abcdef"));
  CHECK(made.SetCookie() == "sid=0123456789abcdef; Path=/; Max-Age=7200; HttpOnly");

  Request later;
  later.headers.Add("cookie", "sid=0123456789abcdef");
  HashKeyResult again = ComputeHashKey(policies, later.Input(), NoRandom);
  CHECK(again.generated_cookie == nullptr);
  CHECK(again.SetCookie().empty());
  CHECK(again.key == made.key);

  // A policy earlier in the list that finds a value means no cookie is made.
  Request with_header;
  with_header.headers.Add("x-user", "alice");
  CHECK(ComputeHashKey(policies, with_header.Input(), NoRandom).generated_cookie == nullptr);
  // A session cookie (ttl 0) has no Max-Age; the path is the configured one.
  const std::vector<HashPolicy> session = {
      HashPolicy::GeneratedCookie("s", absl::ZeroDuration(), "/app")};
  HashKeyResult s = ComputeHashKey(session, first.Input(), [] { return uint64_t{15}; });
  CHECK(s.SetCookie() == "s=000000000000000f; Path=/app; HttpOnly");
}

TEST_CASE("UsesHashKey is true for ip_hash, ring_hash and maglev only") {
  CHECK(UsesHashKey(LbPolicy::kIpHash));
  CHECK(UsesHashKey(LbPolicy::kRingHash));
  CHECK(UsesHashKey(LbPolicy::kMaglev));
  CHECK_FALSE(UsesHashKey(LbPolicy::kRoundRobin));
  CHECK_FALSE(UsesHashKey(LbPolicy::kWeightedRoundRobin));
  CHECK_FALSE(UsesHashKey(LbPolicy::kRandom));
  CHECK_FALSE(UsesHashKey(LbPolicy::kLeastRequest));
  CHECK_FALSE(UsesHashKey(LbPolicy::kLeastConnections));
}

ClusterSpec Cluster(LbPolicy policy, std::vector<HashPolicy> hash) {
  return {.name = "c",
          .endpoints = {{.address = "127.0.0.1", .port = 1}},
          .lb = {.policy = policy},
          .hash_policy = std::move(hash)};
}

TEST_CASE("ClusterSpec::Validate rejects hash policies that could never be used") {
  CHECK(Cluster(LbPolicy::kMaglev, {HashPolicy::Header("x-a")}).Validate().ok());
  CHECK(Cluster(LbPolicy::kRoundRobin, {}).Validate().ok());
  auto message = [](const ClusterSpec& c) { return std::string(c.Validate().message()); };
  CHECK_THAT(message(Cluster(LbPolicy::kRoundRobin, {HashPolicy::Header("x-a")})),
             Catch::Contains("hash_policy needs a balancer that hashes"));
  CHECK_THAT(message(Cluster(LbPolicy::kRingHash, {HashPolicy::RouteCapture("id")})),
             Catch::Contains("hash_policy[0].route_capture: captures differ between routes"));
  CHECK_THAT(message(Cluster(LbPolicy::kIpHash, {HashPolicy::ClientIp(), HashPolicy::Cookie("")})),
             Catch::Contains("hash_policy[1].cookie: the cookie name must not be empty"));
}

TEST_CASE("PipelineBuilder refuses a route hash policy on a cluster that does not hash") {
  auto clusters = ClusterManager::Create({Cluster(LbPolicy::kRoundRobin, {})});
  REQUIRE(clusters.ok());
  auto router = Router::Build(
      {RouteBuilder("r").Prefix("/").ToCluster("c").Hash(HashPolicy::Header("x-a")).Build()});
  REQUIRE(router.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Clusters(*clusters).Build();
  REQUIRE(!pipeline.ok());
  CHECK_THAT(std::string(pipeline.status().message()),
             Catch::Contains("route 'r': hash_policy: cluster 'c' does not balance by hash"));
}

TEST_CASE("the hash policy example of docs/load-balancing.md validates") {
  ClusterSpec users{.name = "users",
                    .endpoints = {{.address = "10.0.0.1"}, {.address = "10.0.0.2"}},
                    .lb = {.policy = LbPolicy::kRingHash},
                    .hash_policy = {HashPolicy::Header("x-user-id"),
                                    HashPolicy::GeneratedCookie("sid", absl::Hours(1))}};
  RouteSpec profile = RouteBuilder("profile")
                          .Template("/users/{id}/**")
                          .ToCluster("users")
                          .Hash(HashPolicy::RouteCapture("id"))
                          .Build();
  CHECK(users.Validate().ok());
  CHECK(profile.Validate().ok());
}

}  // namespace
}  // namespace gateway
