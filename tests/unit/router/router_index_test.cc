// The indexed matcher must pick exactly what a linear scan picks. Thousands of
// random routes and requests (fixed seed) are matched three ways: by the
// indexed router, by the same router with its index turned off, and by a
// deliberately naive model written here from the documented semantics.
#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gateway/router.h"
#include "router/router_internal.h"
#include "unit/router/router_test_util.h"

namespace gateway::test {
namespace {

class Rng {
 public:
  explicit Rng(uint32_t seed) : engine_(seed) {}
  // Uses the engine's raw output: std distributions differ between libraries.
  size_t Below(size_t n) { return engine_() % n; }
  bool OneIn(size_t n) { return Below(n) == 0; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

 private:
  std::mt19937 engine_;
};

const std::vector<std::string> kSegments = {"a", "b", "api", "v1", "users", "x", "7"};
const std::vector<std::string> kMethods = {"GET", "POST", "PUT", "DELETE", "PURGE"};
const std::vector<std::string> kHostPatterns = {"a.com", "*.a.com", "api.*", "*", "b.org"};
const std::vector<std::string> kRequestHosts = {"a.com", "x.a.com", "api.a.com:8080", "API.b.org",
                                                "b.org", "",        "[::1]:80"};

std::string RandomPath(Rng& rng, bool allow_empty_segments) {
  std::string p;
  const size_t n = rng.Below(5);
  for (size_t i = 0; i < n; ++i) {
    p += "/";
    if (allow_empty_segments && rng.OneIn(12)) continue;
    p += rng.Pick(kSegments);
  }
  if (p.empty() || rng.OneIn(5)) p += "/";
  return p;
}

std::string RandomTemplate(Rng& rng) {
  std::string t;
  const size_t n = rng.Below(4);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = rng.Below(6);
    if (k == 0) {
      t += "/{v" + std::to_string(i) + "}";
    } else if (k == 1) {
      t += "/*";
    } else {
      t += "/" + rng.Pick(kSegments);
    }
  }
  switch (rng.Below(4)) {
    case 0:
      t += "/**";
      break;
    case 1:
      t += "/{rest=**}";
      break;
    default:
      if (t.empty()) t = "/";
  }
  return t;
}

RouteSpec RandomRoute(Rng& rng, size_t i, bool simple) {
  RouteBuilder b("r" + std::to_string(i));
  b.Priority(static_cast<int>(rng.Below(4)));
  switch (rng.Below(simple ? 4 : 5)) {
    case 0:
      b.Exact(RandomPath(rng, false));
      break;
    case 1:
      b.Prefix(rng.OneIn(8) ? std::string("/") : RandomPath(rng, false));
      break;
    case 2:
      b.Template(RandomTemplate(rng));
      break;
    case 3:
      if (rng.OneIn(4)) break;  // any path
      b.Prefix(RandomPath(rng, false));
      break;
    case 4:
      b.Regex(rng.Pick(std::vector<std::string>{"/(?P<first>[a-z]+)/.*", "/api/v1/.*", ".*/7",
                                                "/(a|b)/(?P<n>[0-9]+)/?"}));
      break;
  }
  if (rng.OneIn(3)) {
    const size_t n = 1 + rng.Below(2);
    for (size_t h = 0; h < n; ++h) b.Host(rng.Pick(kHostPatterns));
  }
  if (!rng.OneIn(3)) {
    std::vector<std::string> methods;
    const size_t n = 1 + rng.Below(3);
    for (size_t m = 0; m < n; ++m) methods.push_back(rng.Pick(kMethods));
    b.Methods(methods);
  }
  if (!simple && rng.OneIn(5)) b.Header({.name = "x-h", .value = "1"});
  if (!simple && rng.OneIn(6)) b.Query({.name = "q", .kind = QueryMatcher::Kind::kPresent});
  RouteSpec spec = std::move(b).ToCluster("c").Build();
  // Routes that match (nearly) every path are pinned to one host, or with
  // thousands of routes some catch-all would leave no request unmatched.
  const std::string& v = spec.path.value;
  const bool broad = spec.path.kind == PathMatch::Kind::kAny ||
                     spec.path.kind == PathMatch::Kind::kRegex || v == "/" ||
                     (spec.path.kind == PathMatch::Kind::kTemplate && (v[1] == '{' || v[1] == '*'));
  if (broad) spec.hosts = {rng.Pick(std::vector<std::string>{"a.com", "*.a.com", "api.*"})};
  if (!simple && rng.OneIn(4)) {
    if (spec.path.kind == PathMatch::Kind::kPrefix || spec.path.kind == PathMatch::Kind::kExact) {
      spec.rewrite = {.kind = PathRewrite::Kind::kReplacePrefix, .value = "/up"};
    } else {
      spec.rewrite = {.kind = PathRewrite::Kind::kRegex, .value = "/\\1", .pattern = "/([a-z]+)"};
    }
  }
  return spec;
}

RequestHead RandomRequest(Rng& rng) {
  HeaderMap headers;
  if (rng.OneIn(3)) headers.Add("X-H", rng.OneIn(2) ? "1" : "2");
  return Req(rng.Pick(kMethods), RandomPath(rng, true), rng.Pick(kRequestHosts),
             rng.OneIn(3) ? "q=1" : "", std::move(headers));
}

// ---------------------------------------------------------------------------
// Naive model: exact, prefix, template and any paths; hosts; methods.

std::vector<std::string> Segments(const std::string& path) {
  return absl::StrSplit(path.substr(1), '/');
}

bool ModelPath(const PathMatch& p, const std::string& path, std::vector<std::string>* caps) {
  caps->clear();
  switch (p.kind) {
    case PathMatch::Kind::kAny:
      return true;
    case PathMatch::Kind::kExact:
      return path == p.value;
    case PathMatch::Kind::kPrefix:
      return path.rfind(p.value, 0) == 0 &&
             (p.value.back() == '/' || path.size() == p.value.size() ||
              path[p.value.size()] == '/');
    case PathMatch::Kind::kTemplate: {
      std::vector<std::string> t = Segments(p.value);
      const std::vector<std::string> s = Segments(path);
      const bool tail = t.back() == "**" || t.back() == "{rest=**}";
      const size_t fixed = tail ? t.size() - 1 : t.size();
      if (tail ? s.size() < fixed : s.size() != fixed) return false;
      for (size_t i = 0; i < fixed; ++i) {
        if (t[i] == "*" || t[i][0] == '{') {
          if (s[i].empty()) return false;
          if (t[i][0] == '{') caps->push_back(s[i]);
        } else if (t[i] != s[i]) {
          return false;
        }
      }
      if (tail) {
        caps->push_back(absl::StrJoin(s.begin() + fixed, s.end(), "/"));
      }
      return true;
    }
    case PathMatch::Kind::kRegex:
      FAIL("no regex in the model");
  }
  return false;
}

bool ModelHost(const std::vector<std::string>& patterns, std::string authority) {
  if (patterns.empty()) return true;
  std::string host = absl::AsciiStrToLower(authority);
  if (!host.empty() && host[0] == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  for (const std::string& p : patterns) {
    if (p == "*" || p == host) return true;
    if (p.rfind("*.", 0) == 0 && host.size() > p.size() - 1 &&
        host.compare(host.size() - (p.size() - 1), p.size() - 1, p.substr(1)) == 0) {
      return true;
    }
    if (p.size() > 2 && p.compare(p.size() - 2, 2, ".*") == 0 && host.size() > p.size() - 1 &&
        host.compare(0, p.size() - 1, p.substr(0, p.size() - 1)) == 0) {
      return true;
    }
  }
  return false;
}

std::string ModelOutcome(const std::vector<RouteSpec>& routes, const RequestHead& head,
                         std::vector<std::string>* caps) {
  std::vector<size_t> order(routes.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return routes[a].priority > routes[b].priority; });
  std::set<std::string> allow;
  for (size_t i : order) {
    const RouteSpec& r = routes[i];
    if (!ModelHost(r.hosts, head.authority) || !ModelPath(r.path, head.path, caps)) continue;
    const bool method_ok = r.methods.empty() || std::find(r.methods.begin(), r.methods.end(),
                                                          head.method) != r.methods.end();
    if (method_ok) return r.name;
    allow.insert(r.methods.begin(), r.methods.end());
  }
  caps->clear();
  if (allow.empty()) return "404";
  return "405 " + absl::StrJoin(allow, ", ");
}

std::vector<std::string> CaptureValues(const RouteMatch& m) {
  std::vector<std::string> v;
  for (const auto& [name, value] : m.captures) v.push_back(value);
  return v;
}

TEST_CASE("the indexed matcher agrees with a linear scan on random routes and requests") {
  Rng rng(20240611);
  size_t matched = 0, not_allowed = 0, not_found = 0;
  for (int round = 0; round < 12; ++round) {
    std::vector<RouteSpec> routes;
    const size_t n = round < 4 ? 20 : (round < 8 ? 300 : 2500);
    for (size_t i = 0; i < n; ++i) routes.push_back(RandomRoute(rng, i, /*simple=*/false));
    auto indexed = MustBuild(routes);
    auto linear = internal::BuildUnindexedRouterForTesting(routes);
    REQUIRE(linear.ok());
    for (int k = 0; k < 400; ++k) {
      const RequestHead head = RandomRequest(rng);
      const RouteMatch a = indexed->Match(head);
      const RouteMatch b = (*linear)->Match(head);
      INFO("round " << round << " request " << head.method << " " << head.authority << head.path
                    << "?" << head.query);
      REQUIRE(Outcome(a) == Outcome(b));
      REQUIRE(a.captures == b.captures);
      REQUIRE(a.rewritten_path == b.rewritten_path);
      REQUIRE(a.allow == b.allow);
      matched += a.result == RouteMatch::Result::kMatched;
      not_allowed += a.result == RouteMatch::Result::kMethodNotAllowed;
      not_found += a.result == RouteMatch::Result::kNotFound;
    }
  }
  // The generator must exercise every outcome, or the comparison proves little.
  REQUIRE(matched > 1000);
  REQUIRE(not_allowed > 100);
  REQUIRE(not_found > 300);
}

TEST_CASE("the router agrees with a naive model of the documented semantics") {
  Rng rng(7);
  size_t matched = 0, not_allowed = 0, not_found = 0;
  for (int round = 0; round < 10; ++round) {
    std::vector<RouteSpec> routes;
    const size_t n = round < 5 ? 15 : 1500;
    for (size_t i = 0; i < n; ++i) routes.push_back(RandomRoute(rng, i, /*simple=*/true));
    auto router = MustBuild(routes);
    for (int k = 0; k < 400; ++k) {
      const RequestHead head = RandomRequest(rng);
      const RouteMatch m = router->Match(head);
      std::vector<std::string> model_caps;
      const std::string model = ModelOutcome(routes, head, &model_caps);
      INFO("round " << round << " request " << head.method << " " << head.authority << head.path);
      REQUIRE(Outcome(m) == model);
      REQUIRE(CaptureValues(m) == model_caps);
      matched += m.result == RouteMatch::Result::kMatched;
      not_allowed += m.result == RouteMatch::Result::kMethodNotAllowed;
      not_found += m.result == RouteMatch::Result::kNotFound;
    }
  }
  REQUIRE(matched > 1000);
  REQUIRE(not_allowed > 100);
  REQUIRE(not_found > 300);
}

}  // namespace
}  // namespace gateway::test
