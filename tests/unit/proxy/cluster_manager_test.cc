#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gateway/cluster.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

ClusterSpec Static(std::string name, std::vector<EndpointSpec> endpoints) {
  ClusterSpec spec;
  spec.name = std::move(name);
  spec.endpoints = std::move(endpoints);
  return spec;
}

TEST_CASE("cluster manager publishes static endpoints as one snapshot") {
  auto cm = ClusterManager::Create(
      {Static("users", {{"127.0.0.1", 9001}, {"127.0.0.1", 9002, 3}, {"::1", 9003}})});
  REQUIRE(cm.ok());
  auto hosts = (*cm)->Hosts("users");
  REQUIRE(hosts != nullptr);
  REQUIRE(hosts->hosts().size() == 3);
  REQUIRE(hosts->healthy_hosts().size() == 3);
  REQUIRE(hosts->hosts()[1]->name() == "127.0.0.1:9002");
  REQUIRE(hosts->hosts()[1]->weight() == 3);
  REQUIRE(hosts->hosts()[2]->name() == "[::1]:9003");
  REQUIRE((*cm)->Version("users") == hosts->version());
  REQUIRE((*cm)->Hosts("missing") == nullptr);
  REQUIRE((*cm)->Version("missing") == 0);
  REQUIRE((*cm)->Balancer("users") != nullptr);
}

TEST_CASE("marking a host unhealthy publishes a new snapshot that keeps the same host objects") {
  auto cm = ClusterManager::Create({Static("a", {{"127.0.0.1", 1}, {"127.0.0.1", 2}})});
  REQUIRE(cm.ok());
  auto before = (*cm)->Hosts("a");
  before->hosts()[0]->AddActiveRequests(2);
  (*cm)->SetHealthy("a", "127.0.0.1:1", false);
  auto after = (*cm)->Hosts("a");
  REQUIRE(after->version() > before->version());
  REQUIRE(after->healthy_hosts().size() == 1);
  REQUIRE(after->healthy_hosts()[0]->name() == "127.0.0.1:2");
  // Same Host object: in-flight counts survive the update.
  REQUIRE(after->hosts()[0].get() == before->hosts()[0].get());
  REQUIRE(after->hosts()[0]->active_requests() == 2);
  before->hosts()[0]->AddActiveRequests(-2);
}

TEST_CASE("setting the health a host already has publishes nothing") {
  auto cm = ClusterManager::Create({Static("a", {{"127.0.0.1", 1}})});
  REQUIRE(cm.ok());
  uint64_t v = (*cm)->Version("a");
  (*cm)->SetHealthy("a", "127.0.0.1:1", true);
  REQUIRE((*cm)->Version("a") == v);
}

TEST_CASE("invalid cluster specs are rejected naming the cluster and field") {
  auto dup =
      ClusterManager::Create({Static("a", {{"127.0.0.1", 1}}), Static("a", {{"127.0.0.1", 2}})});
  REQUIRE_FALSE(dup.ok());
  REQUIRE(std::string(dup.status().message()).find("'a'") != std::string::npos);
  auto empty = ClusterManager::Create({Static("b", {})});
  REQUIRE_FALSE(empty.ok());
  REQUIRE(std::string(empty.status().message()).find("no endpoints") != std::string::npos);
  auto port = ClusterManager::Create({Static("c", {{"127.0.0.1", 0}})});
  REQUIRE_FALSE(port.ok());
  REQUIRE(std::string(port.status().message()).find("endpoints[0].port") != std::string::npos);
}

// A libuv loop the test thread runs by hand; the manager's lookups run on
// libuv's pool. Declare it before the manager: it outlives it, and its
// destructor runs the loop until the manager's handles closed and its lookups
// returned.
class TestLoop {
 public:
  TestLoop() {
    uv_loop_init(&loop_);
    // The manager's handles do not keep a loop running: this one does, as an
    // application's listeners would.
    uv_async_init(&loop_, &keepalive_, nullptr);
  }
  ~TestLoop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&keepalive_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop_) == 0);  // nothing of the manager left on it
  }
  uv_loop_t* get() { return &loop_; }
  // Runs the loop until `done` holds; false after 5 s.
  bool RunUntil(const std::function<bool()>& done) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!done()) {
      if (absl::Now() > deadline) return false;
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    return true;
  }
  void Turn() { uv_run(&loop_, UV_RUN_NOWAIT); }

 private:
  uv_loop_t loop_;
  uv_async_t keepalive_;
};

TEST_CASE("a DNS endpoint has no hosts until the lookup on the loop's pool answers") {
  TestLoop loop;
  // "localhost" resolves from /etc/hosts without network access.
  auto cm = ClusterManager::Create({Static("dns", {{"localhost", 8080}})}, {.loop = loop.get()});
  REQUIRE(cm.ok());
  // Nothing is published from the pool thread: the answer waits for the loop.
  CHECK((*cm)->Hosts("dns")->hosts().empty());
  REQUIRE(loop.RunUntil([&] { return !(*cm)->Hosts("dns")->hosts().empty(); }));
  auto hosts = (*cm)->Hosts("dns");
  REQUIRE(hosts->hosts()[0]->hostname() == "localhost");
  REQUIRE(hosts->hosts()[0]->port() == 8080);
}

TEST_CASE("a DNS endpoint without a loop to resolve it on is rejected naming the cluster") {
  auto cm = ClusterManager::Create({Static("dns", {{"localhost", 8080}})});
  REQUIRE_FALSE(cm.ok());
  CHECK(std::string(cm.status().message()).find("cluster 'dns'") != std::string::npos);
  CHECK(std::string(cm.status().message()).find("ClusterManagerOptions::loop") !=
        std::string::npos);
}

// Answers from a table the test edits (a missing name fails) and counts calls.
class TableResolver final : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view name) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++calls_;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(5), [this] { return !blocked_; });
    auto it = answers_.find(std::string(name));
    if (it == answers_.end()) {
      return absl::NotFoundError(absl::StrCat("no such name: ", std::string(name)));
    }
    return it->second;
  }
  void Set(std::string name, std::vector<std::string> addresses) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_[std::move(name)] = std::move(addresses);
  }
  void Forget(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    answers_.erase(name);
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  // While blocked, calls wait (at most 5 s) until unblocked.
  void Block(bool blocked) {
    std::lock_guard<std::mutex> lock(mu_);
    blocked_ = blocked;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<std::string>> answers_;
  int calls_ = 0;
  bool blocked_ = false;
};

// Runs `loop` until the manager has applied an answer the resolver gives from
// now on. With one DNS name a round is one Resolve call, and a refresh asked
// for during a round runs after it; so once the call after the next one has
// started, the round of the next one has been published.
void Settle(ClusterManager& cm, TableResolver& resolver, TestLoop& loop) {
  int n = resolver.calls();
  cm.RefreshDns();
  REQUIRE(loop.RunUntil([&] { return resolver.calls() >= n + 1; }));
  cm.RefreshDns();
  REQUIRE(loop.RunUntil([&] { return resolver.calls() >= n + 2; }));
}

std::vector<std::string> Names(const HostSet& hosts) {
  std::vector<std::string> out;
  for (const HostPtr& h : hosts.hosts()) out.push_back(h->name());
  return out;
}

TEST_CASE("DNS names resolve through the configured resolver, keeping IP literals once each") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  resolver->Set("svc", {"10.0.0.2", "not-an-address", "10.0.0.1", "10.0.0.2", "::1"});
  auto cm = ClusterManager::Create({Static("c", {{"svc", 8080}})},
                                   {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  Settle(**cm, *resolver, loop);
  auto hosts = (*cm)->Hosts("c");
  REQUIRE(Names(*hosts) ==
          std::vector<std::string>{"10.0.0.2:8080", "10.0.0.1:8080", "[::1]:8080"});
  REQUIRE(hosts->hosts()[0]->hostname() == "svc");
  REQUIRE(hosts->healthy_hosts().size() == 3);
}

TEST_CASE("a changed DNS answer replaces the hosts and keeps the Host objects that stayed") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  resolver->Set("svc", {"10.0.0.1", "10.0.0.2"});
  auto cm = ClusterManager::Create({Static("c", {{"svc", 80}})},
                                   {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  Settle(**cm, *resolver, loop);
  auto before = (*cm)->Hosts("c");
  REQUIRE(Names(*before) == std::vector<std::string>{"10.0.0.1:80", "10.0.0.2:80"});

  resolver->Set("svc", {"10.0.0.2", "10.0.0.3"});
  Settle(**cm, *resolver, loop);
  auto after = (*cm)->Hosts("c");
  REQUIRE(Names(*after) == std::vector<std::string>{"10.0.0.2:80", "10.0.0.3:80"});
  REQUIRE(after->version() > before->version());
  REQUIRE((*cm)->Version("c") == after->version());
  // The address that stayed keeps its Host object (and in-flight counters).
  REQUIRE(after->hosts()[0].get() == before->hosts()[1].get());
}

TEST_CASE("a failed lookup keeps the last good answer") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  resolver->Set("svc", {"10.0.0.1"});
  auto cm = ClusterManager::Create({Static("c", {{"svc", 80}})},
                                   {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  Settle(**cm, *resolver, loop);
  uint64_t version = (*cm)->Version("c");

  resolver->Forget("svc");
  Settle(**cm, *resolver, loop);
  REQUIRE((*cm)->Version("c") == version);
  REQUIRE(Names(*(*cm)->Hosts("c")) == std::vector<std::string>{"10.0.0.1:80"});

  resolver->Set("svc", {});  // an empty answer is a failed lookup too
  Settle(**cm, *resolver, loop);
  REQUIRE((*cm)->Version("c") == version);
}

TEST_CASE("a name that never resolved leaves only the cluster's other endpoints") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  auto cm = ClusterManager::Create(
      {Static("mixed", {{"127.0.0.1", 1}, {"nowhere", 2}}), Static("dns", {{"nowhere", 3}})},
      {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  // Two clusters resolve "nowhere" per round: wait for two full rounds.
  REQUIRE(loop.RunUntil([&] { return resolver->calls() >= 2; }));
  (*cm)->RefreshDns();
  REQUIRE(loop.RunUntil([&] { return resolver->calls() >= 4; }));
  REQUIRE(Names(*(*cm)->Hosts("mixed")) == std::vector<std::string>{"127.0.0.1:1"});
  REQUIRE((*cm)->Hosts("dns")->hosts().empty());
}

TEST_CASE("static IP endpoints never reach the resolver") {
  auto resolver = std::make_shared<TableResolver>();
  auto cm =
      ClusterManager::Create({Static("c", {{"127.0.0.1", 1}, {"::1", 2}})}, {.resolver = resolver});
  REQUIRE(cm.ok());
  (*cm)->RefreshDns();
  cm->reset();
  REQUIRE(resolver->calls() == 0);
}

TEST_CASE("destroying the manager on its loop with a lookup in flight waits for nothing") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  resolver->Set("svc", {"10.0.0.1"});
  resolver->Block(true);
  auto cm = ClusterManager::Create({Static("c", {{"svc", 80}})},
                                   {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  REQUIRE(loop.RunUntil([&] { return resolver->calls() == 1; }));  // blocked on the pool
  cm->reset();  // returns at once; the lookup's answer will be dropped
  resolver->Block(false);
  // ~TestLoop runs the loop until the lookup returned and the handles closed,
  // then checks that the loop closes: nothing of the manager is left on it.
}

TEST_CASE("the manager can be destroyed and refreshed from another thread than its loop's") {
  TestLoop loop;
  auto resolver = std::make_shared<TableResolver>();
  resolver->Set("svc", {"10.0.0.1"});
  auto cm = ClusterManager::Create({Static("c", {{"svc", 80}})},
                                   {.loop = loop.get(), .resolver = resolver});
  REQUIRE(cm.ok());
  REQUIRE(loop.RunUntil([&] { return !(*cm)->Hosts("c")->hosts().empty(); }));
  std::thread other([&] { (*cm)->RefreshDns(); });
  other.join();
  REQUIRE(loop.RunUntil([&] { return resolver->calls() >= 2; }));
  std::shared_ptr<ClusterManager> last = std::move(*cm);
  std::thread dropper([&] { last.reset(); });
  dropper.join();
  // The running loop closes the handles on its next turns; ~TestLoop checks.
  loop.Turn();
  loop.Turn();
}

TEST_CASE("the system resolver answers localhost from the hosts file") {
  auto answer = MakeSystemResolver()->Resolve("localhost");
  REQUIRE(answer.ok());
  bool loopback = false;
  for (const std::string& a : *answer) loopback |= a == "127.0.0.1" || a == "::1";
  REQUIRE(loopback);
}

}  // namespace
}  // namespace gateway

namespace gateway {
namespace {

bool HealthyByName(const ClusterManager& cm, std::string_view host) {
  auto set = cm.Hosts("a");
  for (size_t i = 0; i < set->hosts().size(); ++i) {
    if (set->hosts()[i]->name() == host) return set->IsHealthy(i);
  }
  return false;
}

TEST_CASE("an ejection is a second health flag beside the active one") {
  testing::ManualClock clock;
  ClusterSpec spec = Static("a", {{"127.0.0.1", 1}, {"127.0.0.1", 2}});
  spec.resilience.outlier_detection = OutlierDetectionConfig{
      .consecutive_5xx = 1, .base_ejection_time = absl::Seconds(10), .max_ejection_percent = 50};
  auto cm = ClusterManager::Create({std::move(spec)}, {.clock = &clock});
  REQUIRE(cm.ok());
  OutlierDetector& detector = *(*cm)->Resilience("a")->outlier_detector;
  auto hosts = (*cm)->Hosts("a");
  auto monitors = detector.Track(hosts);
  monitors->Find(*hosts->hosts()[0])->Report({.result = CallResult::kResponse, .status = 500});
  REQUIRE(detector.IsEjected("127.0.0.1:1"));
  CHECK_FALSE(HealthyByName(**cm, "127.0.0.1:1"));
  CHECK(HealthyByName(**cm, "127.0.0.1:2"));

  // The active flag going up does not bring an ejected host back...
  (*cm)->SetHealthy("a", "127.0.0.1:1", false);
  (*cm)->SetHealthy("a", "127.0.0.1:1", true);
  CHECK_FALSE(HealthyByName(**cm, "127.0.0.1:1"));
  // ...and the ejection ending does not bring an unhealthy one back.
  (*cm)->SetHealthy("a", "127.0.0.1:1", false);
  clock.Advance(absl::Seconds(10));
  detector.Sweep();
  CHECK_FALSE(detector.IsEjected("127.0.0.1:1"));
  CHECK_FALSE(HealthyByName(**cm, "127.0.0.1:1"));
  (*cm)->SetHealthy("a", "127.0.0.1:1", true);
  CHECK(HealthyByName(**cm, "127.0.0.1:1"));
}

TEST_CASE("every cluster gets its resilience bundle, limits always and the rest when configured") {
  ClusterSpec plain = Static("plain", {{"127.0.0.1", 1}});
  ClusterSpec guarded = Static("guarded", {{"127.0.0.1", 2}});
  guarded.resilience.breaker = ConsecutiveFailureBreakerConfig{};
  guarded.resilience.limits.max_requests = 7;
  guarded.resilience.outlier_detection = OutlierDetectionConfig{};
  auto cm = ClusterManager::Create({std::move(plain), std::move(guarded)});
  REQUIRE(cm.ok());
  const ClusterResilience* p = (*cm)->Resilience("plain");
  REQUIRE(p != nullptr);
  CHECK(p->limits != nullptr);
  CHECK(p->breaker == nullptr);
  CHECK(p->outlier_detector == nullptr);
  const ClusterResilience* g = (*cm)->Resilience("guarded");
  REQUIRE(g != nullptr);
  CHECK(g->breaker != nullptr);
  CHECK(g->breaker->name() == "guarded");
  CHECK(g->limits->max(LimitKind::kRequests) == 7);
  CHECK(g->outlier_detector != nullptr);
  CHECK((*cm)->Resilience("missing") == nullptr);
}

TEST_CASE("an invalid resilience config names the cluster and the part") {
  ClusterSpec spec = Static("users", {{"127.0.0.1", 1}});
  spec.resilience.breaker = ConsecutiveFailureBreakerConfig{.failure_threshold = 0};
  auto cm = ClusterManager::Create({std::move(spec)});
  REQUIRE_FALSE(cm.ok());
  CHECK(cm.status().message().find("cluster 'users': breaker:") == 0);
  ClusterSpec fb = Static("users", {{"127.0.0.1", 1}});
  fb.fallback = FallbackSpec{.status = 99};
  auto bad = ClusterManager::Create({std::move(fb)});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "cluster 'users': fallback: status must be 200-599, got 99");
}

}  // namespace
}  // namespace gateway
