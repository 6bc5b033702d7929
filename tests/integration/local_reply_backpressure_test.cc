// Output backpressure for answers the gateway produces itself (direct
// responses, 404s, redirects): clients that pipeline requests and never read
// must not make the gateway's memory grow, and must not delay other clients.
//
// The gateway runs as a child `gatewayd` process so that its resident memory
// (VmRSS) is measured apart from the test's clients.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "integration/gatewayd_process.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

using itest::DeadlineAfter;
using itest::GatewaydProcess;
using itest::SteadyTime;
using itest::TestClient;

// A gatewayd child whose allocator keeps no freed memory aside: a sanitizer
// build would hold freed blocks in its quarantine, and RSS would measure that
// instead of what the gateway holds.
std::unique_ptr<GatewaydProcess> StartGatewayd(const std::string& yaml) {
  std::string asan = "ASAN_OPTIONS=quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
  if (const char* own = std::getenv("ASAN_OPTIONS"); own != nullptr && *own != '\0') {
    asan = absl::StrCat("ASAN_OPTIONS=", own, ":", asan.substr(13));
  }
  std::string error;
  auto gw = GatewaydProcess::Start(yaml, &error, {asan});
  INFO(error);
  REQUIRE(gw != nullptr);
  return gw;
}

std::string Config(size_t big_body_bytes) {
  return absl::StrCat(R"(listeners:
  - {address: 127.0.0.1, port: LISTEN}
workers: 1
routes:
  - name: health
    match: {path: /healthz}
    direct_response: {status: 200, body: "ok\n"}
  - name: small
    match: {path: /small}
    direct_response: {status: 200, body: "abc"}
  - name: big
    match: {path: /big}
    direct_response: {status: 200, body: ")",
                      std::string(big_body_bytes, 'x'), R"("}
  - name: moved
    match: {path: /moved}
    redirect: {status: 301, host: example.com, path: /new}
)");
}

// Four clients each try to send 24 MiB of `request` pipelined without reading
// a byte. Returns the largest growth of the gateway's RSS seen meanwhile, in
// KiB. Bounded: stops when no client made progress for 500 ms, or after 20 s.
uint64_t PipelineWithoutReading(const GatewaydProcess& gw, const std::string& request,
                                std::vector<std::unique_ptr<TestClient>>& clients) {
  constexpr size_t kClients = 4;
  constexpr uint64_t kPerClient = 24 << 20;
  std::string burst;
  while (burst.size() < 64 * 1024) burst += request;
  uint64_t baseline = gw.RssKib();
  uint64_t peak = baseline;
  for (size_t i = 0; i < kClients; ++i) {
    clients.push_back(TestClient::Connect(gw.port()));
    if (clients.back() == nullptr) return UINT64_MAX;
  }
  std::vector<uint64_t> sent(kClients, 0);
  SteadyTime deadline = DeadlineAfter(absl::Seconds(20));
  SteadyTime quiet_since = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() < deadline &&
         std::chrono::steady_clock::now() - quiet_since < std::chrono::milliseconds(500)) {
    bool progress = false;
    for (size_t i = 0; i < kClients; ++i) {
      if (sent[i] >= kPerClient) continue;
      size_t offset = sent[i] % burst.size();
      ssize_t n = ::send(clients[i]->fd(), burst.data() + offset, burst.size() - offset,
                         MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        sent[i] += static_cast<uint64_t>(n);
        progress = true;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return UINT64_MAX;  // the gateway must not drop these clients
      }
    }
    if (progress) {
      quiet_since = std::chrono::steady_clock::now();
    } else {
      usleep(5'000);
    }
    peak = std::max(peak, gw.RssKib());
  }
  usleep(200'000);
  peak = std::max(peak, gw.RssKib());
  uint64_t total = 0;
  for (uint64_t s : sent) total += s;
  UNSCOPED_INFO("sent " << total / 1024 << " KiB in all; RSS " << baseline << " KiB -> peak "
                        << peak << " KiB");
  return peak - baseline;
}

// A new client's GET to the health route, timed from connect to response.
absl::Duration HealthLatency(uint16_t port) {
  SteadyTime start = std::chrono::steady_clock::now();
  auto client = TestClient::Connect(port);
  if (client == nullptr) return absl::InfiniteDuration();
  auto r = client->RoundTrip(itest::Get("/healthz"), absl::Seconds(5));
  if (!r.has_value() || r->status != 200) return absl::InfiniteDuration();
  return itest::ElapsedSince(start);
}

void CheckBoundedWhilePipelining(const std::string& request, size_t big_body_bytes = 3) {
  auto gw = StartGatewayd(Config(big_body_bytes));
  // Warm up the worker (its allocator arena, the codec's caches) first.
  REQUIRE(HealthLatency(gw->port()) < absl::Seconds(5));
  std::vector<std::unique_ptr<TestClient>> clients;
  uint64_t growth_kib = PipelineWithoutReading(*gw, request, clients);
  // Per connection the gateway may hold its input buffer (64 KiB, plus one
  // read), its output above the watermark and one burst's objects; 4 MiB
  // covers that for four clients with room for the allocator.
  CHECK(growth_kib < 4 * 1024);
  absl::Duration latency = HealthLatency(gw->port());
  INFO("health route answered in " << latency);
  CHECK(latency < absl::Milliseconds(100));
}

TEST_CASE("pipelined direct responses to clients that do not read leave gateway memory flat") {
  CheckBoundedWhilePipelining(itest::Get("/small"));
}

TEST_CASE("pipelined large direct responses to clients that do not read leave memory flat") {
  CheckBoundedWhilePipelining(itest::Get("/big"), 100 * 1024);
}

TEST_CASE("pipelined 404s to clients that do not read leave gateway memory flat") {
  CheckBoundedWhilePipelining(itest::Get("/nothing-here"));
}

TEST_CASE("pipelined redirects to clients that do not read leave gateway memory flat") {
  CheckBoundedWhilePipelining(itest::Get("/moved"));
}

TEST_CASE("pipelined HEAD requests to clients that do not read leave gateway memory flat") {
  CheckBoundedWhilePipelining("HEAD /small HTTP/1.1\r\nHost: test.local\r\n\r\n");
}

}  // namespace
}  // namespace gateway
