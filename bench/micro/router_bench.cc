// Router::Match over route tables of 10, 1 000 and 10 000 routes.
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "gateway/http.h"
#include "gateway/router.h"

namespace gateway {
namespace {

// Route i is, by i % 3: exact "/svc<i>/health", prefix "/api<i>/" or template
// "/t<i>/users/{id}/orders/{order}". Some restrict methods, as real tables do.
std::vector<RouteSpec> MakeRoutes(int count) {
  std::vector<RouteSpec> routes;
  routes.reserve(count);
  for (int i = 0; i < count; ++i) {
    RouteBuilder builder(absl::StrCat("route-", i));
    switch (i % 3) {
      case 0:
        builder.Exact(absl::StrCat("/svc", i, "/health"));
        break;
      case 1:
        builder.Prefix(absl::StrCat("/api", i, "/"));
        break;
      default:
        builder.Template(absl::StrCat("/t", i, "/users/{id}/orders/{order}"));
        break;
    }
    if (i % 4 == 0) builder.Methods({"GET", "HEAD"});
    builder.ToCluster(absl::StrCat("cluster-", i % 16));
    routes.push_back(std::move(builder).Build());
  }
  return routes;
}

// Built once per table size, outside every timed loop.
const Router& RouterWith(int count) {
  static auto* routers = new std::map<int, std::shared_ptr<const Router>>();
  auto it = routers->find(count);
  if (it == routers->end()) {
    auto router = Router::Build(MakeRoutes(count));
    if (!router.ok()) std::abort();
    it = routers->emplace(count, *std::move(router)).first;
  }
  return *it->second;
}

// The index of a route of kind `kind` (0 exact, 1 prefix, 2 template) near the
// middle of a table of `count` routes: a typical hit position.
int MiddleRoute(int count, int kind) {
  int i = count / 2;
  while (i % 3 != kind) ++i;
  return i < count ? i : kind;
}

RequestHead MakeRequest(std::string path) {
  RequestHead head;
  head.method = "GET";
  head.target = path;
  head.path = std::move(path);
  head.authority = "api.example.com";
  head.headers = HeaderMap{{"Host", "api.example.com"}, {"Accept", "application/json"}};
  return head;
}

void RunMatch(benchmark::State& state, const RequestHead& head, RouteMatch::Result expected) {
  const Router& router = RouterWith(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    RouteMatch match = router.Match(head);
    if (match.result != expected) {
      state.SkipWithError("unexpected match result");
      break;
    }
    benchmark::DoNotOptimize(match.route);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RouterMatchExactHit(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  RequestHead head = MakeRequest(absl::StrCat("/svc", MiddleRoute(count, 0), "/health"));
  RunMatch(state, head, RouteMatch::Result::kMatched);
}

void BM_RouterMatchPrefixHit(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  RequestHead head = MakeRequest(absl::StrCat("/api", MiddleRoute(count, 1), "/items/42/details"));
  RunMatch(state, head, RouteMatch::Result::kMatched);
}

void BM_RouterMatchTemplateHit(benchmark::State& state) {
  int count = static_cast<int>(state.range(0));
  RequestHead head =
      MakeRequest(absl::StrCat("/t", MiddleRoute(count, 2), "/users/12345/orders/987"));
  RunMatch(state, head, RouteMatch::Result::kMatched);
}

void BM_RouterMatchMiss(benchmark::State& state) {
  RequestHead head = MakeRequest("/unknown/service/resource/42");
  RunMatch(state, head, RouteMatch::Result::kNotFound);
}

BENCHMARK(BM_RouterMatchExactHit)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_RouterMatchPrefixHit)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_RouterMatchTemplateHit)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_RouterMatchMiss)->Arg(10)->Arg(1000)->Arg(10000);

void BM_NormalizePathClean(benchmark::State& state) {
  PathPolicy policy;
  const std::string path = "/api/v1/users/12345/orders/987";
  for (auto _ : state) {
    auto normalized = NormalizePath(path, policy);
    benchmark::DoNotOptimize(normalized);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NormalizePathClean);

void BM_NormalizePathDirty(benchmark::State& state) {
  PathPolicy policy;
  const std::string path = "/api//v1/./users/%7Ealice/../bob/%41%42c//orders/./987/";
  for (auto _ : state) {
    auto normalized = NormalizePath(path, policy);
    if (!normalized.ok()) {
      state.SkipWithError("dirty path was rejected");
      break;
    }
    benchmark::DoNotOptimize(normalized);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NormalizePathDirty);

}  // namespace
}  // namespace gateway
