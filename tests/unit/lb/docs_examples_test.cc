// The code samples of docs/load-balancing.md, compiled and run. Keep the two in
// step: the functions below are copied verbatim from the page.
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/http.h"
#include "gateway/load_balancer.h"
#include "gateway/upstream.h"

namespace docs_example {

using namespace gateway;

HostPtr PickForUser(std::string_view user_id) {
  std::vector<HostPtr> hosts{
      std::make_shared<const Host>("10.0.0.1", 8080, /*weight=*/2),
      std::make_shared<const Host>("10.0.0.2", 8080),
      std::make_shared<const Host>("10.0.0.3", 8080),
  };
  auto snapshot = std::make_shared<const HostSet>(hosts, /*version=*/1);

  absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> factory =
      MakeLoadBalancerFactory({.policy = LbPolicy::kRingHash});
  if (!factory.ok()) return nullptr;  // options out of range

  std::unique_ptr<LoadBalancer> lb = (*factory)->Create(snapshot);
  return lb->Pick({.hash_key = HashKey(user_id)});  // nullptr: no usable host
}

HostPtr PickForRetry(LoadBalancer& lb, const Host* failed) {
  const Host* tried[] = {failed};
  return lb.Pick({.attempted = tried});
}

uint64_t SessionKey(const RequestHead& head) {
  std::optional<std::string_view> session = head.headers.Get("x-session-id");
  return HashKey(session.value_or(head.path));
}

}  // namespace docs_example

namespace gateway {
namespace {

TEST_CASE("docs: a user id always reaches the same host through a fresh ring") {
  HostPtr first = docs_example::PickForUser("alice");
  REQUIRE(first != nullptr);
  for (int i = 0; i < 5; ++i) REQUIRE(docs_example::PickForUser("alice")->name() == first->name());
}

TEST_CASE("docs: a retry avoids the host that failed") {
  std::vector<HostPtr> hosts{std::make_shared<const Host>("10.0.0.1", 80),
                             std::make_shared<const Host>("10.0.0.2", 80)};
  auto factory = MakeLoadBalancerFactory({.policy = LbPolicy::kRandom, .seed = 3});
  REQUIRE(factory.ok());
  auto lb = (*factory)->Create(std::make_shared<const HostSet>(hosts));
  for (int i = 0; i < 50; ++i) REQUIRE(docs_example::PickForRetry(*lb, hosts[0].get()) == hosts[1]);
}

TEST_CASE("docs: the session key comes from the header, else the path") {
  RequestHead head;
  head.path = "/cart";
  REQUIRE(docs_example::SessionKey(head) == HashKey("/cart"));
  head.headers.Add("X-Session-Id", "s-42");
  REQUIRE(docs_example::SessionKey(head) == HashKey("s-42"));
}

}  // namespace
}  // namespace gateway
