// The multi-worker Runtime over real sockets: several loops on one port.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "integration/test_client.h"
#include "integration/test_server.h"

namespace gateway::itest {
namespace {

TEST_CASE("a two-worker runtime serves every request and sums its stats") {
  RuntimeOptions options;
  options.workers = 2;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), MakeTestPipeline());
  REQUIRE(runtime.ok());
  Runtime& rt = **runtime;
  REQUIRE(rt.workers() == 2);
  REQUIRE(rt.ports().size() == 1);
  uint16_t port = rt.ports()[0];
  REQUIRE(port != 0);

  constexpr int kConnections = 8;
  constexpr int kPerConnection = 25;
  std::atomic<int> ok{0};
  std::atomic<int> failed_connects{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      auto client = TestClient::Connect(port);
      if (client == nullptr) {
        ++failed_connects;
        return;
      }
      for (int i = 0; i < kPerConnection; ++i) {
        static constexpr const char* kPaths[] = {"/a", "/b", "/c"};
        static constexpr const char* kBodies[] = {"A", "B", "C"};
        int k = (c + i) % 3;
        auto r = client->RoundTrip(Get(kPaths[k]));
        if (!r.has_value() || r->status != 200 || r->body != kBodies[k]) return;
        ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed_connects == 0);
  CHECK(ok == kConnections * kPerConnection);

  rt.Drain(absl::Seconds(2));
  SteadyTime start = std::chrono::steady_clock::now();
  rt.Wait();  // the clients are closed: nothing holds the drain up
  CHECK(ElapsedSince(start) < absl::Seconds(2));

  GatewayStats stats = rt.stats();
  CHECK(stats.requests == kConnections * kPerConnection);
  CHECK(stats.connections_accepted == kConnections);
  CHECK(stats.connections_rejected == 0);
  CHECK(stats.active_connections == 0);
  CHECK(stats.active_requests == 0);
}

TEST_CASE("a runtime drains open keep-alive connections on Drain and Wait") {
  RuntimeOptions options;
  options.workers = 2;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), MakeTestPipeline());
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];
  std::vector<std::unique_ptr<TestClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(TestClient::Connect(port));
    REQUIRE(clients.back() != nullptr);
    REQUIRE(clients.back()->RoundTrip(Get("/a")).has_value());
  }
  SteadyTime start = std::chrono::steady_clock::now();
  (*runtime)->Drain(absl::Seconds(5));
  (*runtime)->Wait();
  CHECK(ElapsedSince(start) < absl::Seconds(1));  // idle connections do not wait for the deadline
  for (auto& c : clients) CHECK(c->WaitForClose(absl::Seconds(1)));
  // Destroying a drained runtime is immediate.
  runtime->reset();
}

TEST_CASE("destroying a running runtime stops it") {
  RuntimeOptions options;
  options.workers = 2;
  options.server = LoopbackOptions();
  auto runtime = Runtime::Start(std::move(options), MakeTestPipeline());
  REQUIRE(runtime.ok());
  uint16_t port = (*runtime)->ports()[0];
  auto client = TestClient::Connect(port);
  REQUIRE(client != nullptr);
  REQUIRE(client->RoundTrip(Get("/a")).has_value());
  SteadyTime start = std::chrono::steady_clock::now();
  runtime->reset();
  CHECK(ElapsedSince(start) < absl::Seconds(1));
  CHECK(client->WaitForClose(absl::Seconds(1)));
  int error = 0;
  CHECK(TestClient::Connect(port, TestClient::Options{}, &error) == nullptr);
}

}  // namespace
}  // namespace gateway::itest
