// Shared helpers for the router tests.
#ifndef GATEWAY_TESTS_UNIT_ROUTER_ROUTER_TEST_UTIL_H_
#define GATEWAY_TESTS_UNIT_ROUTER_ROUTER_TEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/router.h"

namespace gateway::test {

inline RequestHead Req(std::string method, std::string path, std::string authority = "example.com",
                       std::string query = "", HeaderMap headers = {}) {
  RequestHead h;
  h.method = std::move(method);
  h.path = std::move(path);
  h.query = std::move(query);
  h.target = h.query.empty() ? h.path : h.path + "?" + h.query;
  h.authority = std::move(authority);
  h.headers = std::move(headers);
  return h;
}

inline std::shared_ptr<const Router> MustBuild(std::vector<RouteSpec> routes) {
  auto r = Router::Build(std::move(routes));
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *std::move(r);
}

// "<route name>", "404" or "405 <allow>": compact enough to compare in REQUIRE.
inline std::string Outcome(const RouteMatch& m) {
  switch (m.result) {
    case RouteMatch::Result::kMatched:
      return m.route->name();
    case RouteMatch::Result::kNotFound:
      return "404";
    case RouteMatch::Result::kMethodNotAllowed:
      return "405 " + m.allow;
  }
  return "?";
}

inline std::string Outcome(const Router& router, const RequestHead& head) {
  return Outcome(router.Match(head));
}

}  // namespace gateway::test

#endif  // GATEWAY_TESTS_UNIT_ROUTER_ROUTER_TEST_UTIL_H_
