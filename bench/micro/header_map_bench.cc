// HeaderMap operations on a typical 12-field request header map.
#include <string>

#include "benchmark/benchmark.h"
#include "gateway/http.h"

namespace gateway {
namespace {

HeaderMap TwelveHeaders() {
  return HeaderMap{{"Host", "api.example.com"},
                   {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64)"},
                   {"Accept", "application/json"},
                   {"Accept-Encoding", "gzip, deflate, br"},
                   {"Accept-Language", "en-US,en;q=0.9"},
                   {"Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
                   {"Cookie", "session=abc123def456; theme=dark"},
                   {"X-Request-Id", "7f9c2ba4-e88f-4d2a-9d3c-1b2a3c4d5e6f"},
                   {"X-Forwarded-For", "203.0.113.7"},
                   {"X-Forwarded-Proto", "https"},
                   {"Content-Type", "application/json"},
                   {"Connection", "keep-alive"}};
}

void BM_HeaderMapGetHit(benchmark::State& state) {
  HeaderMap map = TwelveHeaders();
  for (auto _ : state) {
    // Near the end, looked up in a different case than stored.
    auto value = map.Get("x-forwarded-proto");
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderMapGetHit);

void BM_HeaderMapGetMiss(benchmark::State& state) {
  HeaderMap map = TwelveHeaders();
  for (auto _ : state) {
    auto value = map.Get("x-not-present");
    benchmark::DoNotOptimize(value);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderMapGetMiss);

// Add one field to the 12-field map, then Remove it again (the pair keeps the
// map at 12 fields across iterations).
void BM_HeaderMapAddRemove(benchmark::State& state) {
  HeaderMap map = TwelveHeaders();
  map.Reserve(16);
  for (auto _ : state) {
    map.Add("X-Gateway-Trace", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    size_t removed = map.Remove("x-gateway-trace");
    benchmark::DoNotOptimize(removed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderMapAddRemove);

// Set on an existing field (replace in place).
void BM_HeaderMapSetExisting(benchmark::State& state) {
  HeaderMap map = TwelveHeaders();
  for (auto _ : state) {
    map.Set("x-request-id", "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9");
    benchmark::DoNotOptimize(map.size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderMapSetExisting);

// Copying a 12-field map, as a filter that keeps request headers would.
void BM_HeaderMapCopy(benchmark::State& state) {
  HeaderMap map = TwelveHeaders();
  for (auto _ : state) {
    HeaderMap copy = map;
    benchmark::DoNotOptimize(copy.size());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HeaderMapCopy);

}  // namespace
}  // namespace gateway
