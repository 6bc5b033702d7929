// Hash policies end to end: gatewayd's assembly (StartFromConfig) with two
// workers and loopback upstreams that name themselves (their ports mapped
// with StartOverrides::endpoint_ports), real connections, one test per policy,
// and the share of keys a consistent hash moves when a host leaves on reload
// (in-process, and the gatewayd binary on SIGHUP).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/yaml_config.h"
#include "integration/gatewayd_process.h"
#include "integration/named_upstreams.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

// Three "users" instances (kThreeUsers); each cluster balances over all three with another
// balancer, each route keys requests with another policy.
constexpr char kConfig[] = R"(
workers: 2
listeners: [{address: 127.0.0.1, port: 18080}]
proxy: {trusted_proxies: [127.0.0.1]}
filters: [worker_probe]
clusters:
  - name: by_ip
    lb: ip_hash
    endpoints: &three
      - {address: 127.0.0.1, port: 19201}
      - {address: 127.0.0.1, port: 19202}
      - {address: 127.0.0.1, port: 19203}
  - {name: ring, lb: ring_hash, endpoints: *three}
  - {name: maglev, lb: maglev, endpoints: *three}
  - name: down
    endpoints: [{address: 127.0.0.1, port: 1}]
    fallback: {cluster: by_ip}
  - name: sessions
    lb: ring_hash
    hash_policy: [{cookie: sid, ttl: 1h, path: /}]
    endpoints: *three
routes:
  - {name: ip, match: {prefix: /ip}, cluster: by_ip}
  - {name: fallback, match: {prefix: /fallback}, cluster: down}
  - name: header
    match: {prefix: /header}
    cluster: ring
    hash_policy: [{header: x-user}]
  - name: cookie
    match: {prefix: /cookie}
    cluster: maglev
    hash_policy: [{cookie: session}]
  - {name: generated, match: {prefix: /generated}, cluster: sessions}
  - name: query
    match: {prefix: /query}
    cluster: ring
    hash_policy: [{query_parameter: user}]
  - name: capture
    match: {template: "/capture/{user}/**"}
    cluster: maglev
    hash_policy: [{route_capture: user}]
)";

// Spread over both workers by SO_REUSEPORT (all on one: a chance of 2^-15).
constexpr int kConnections = 16;
constexpr int kRequests = 1000;

// The worker threads that ran a request, as seen by the "worker_probe" filter.
std::mutex workers_mu;
std::set<std::thread::id> workers_seen;

size_t WorkersSeen() {
  std::lock_guard<std::mutex> lock(workers_mu);
  return workers_seen.size();
}

class WorkerProbe final : public Filter {
 public:
  FilterStatus OnRequestHeaders(FilterContext&) override {
    std::lock_guard<std::mutex> lock(workers_mu);
    workers_seen.insert(std::this_thread::get_id());
    return FilterStatus::kContinue;
  }
};

const std::vector<itest::NamedUpstreams::Spec> kThreeUsers = {
    {"users-1", 19201}, {"users-2", 19202}, {"users-3", 19203}};

// A gateway and the upstreams it balances over (stopped after it).
struct Started {
  itest::NamedUpstreams upstreams;
  std::unique_ptr<ConfiguredGateway> gateway;
  ConfiguredGateway* operator->() const { return gateway.get(); }
};

Started Start(const std::string& yaml,
              std::vector<itest::NamedUpstreams::Spec> upstreams = kThreeUsers) {
  auto named = itest::NamedUpstreams::Start(std::move(upstreams));
  INFO(named.status().message());
  REQUIRE(named.ok());
  auto config = LoadConfigString(yaml, "hash_policy_test.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  FilterRegistry registry = FilterRegistry::WithBuiltins();
  registry.Register("worker_probe", []() -> absl::StatusOr<std::shared_ptr<const FilterFactory>> {
    return MakeFilterFactory("worker_probe",
                             [](const Route&) { return std::make_unique<WorkerProbe>(); });
  });
  {
    std::lock_guard<std::mutex> lock(workers_mu);
    workers_seen.clear();
  }
  auto running = StartFromConfig(
      *config, registry,
      {.ephemeral_ports = true, .workers = 2, .endpoint_ports = named->endpoint_ports()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  return Started{*std::move(named), *std::move(running)};
}

// The instance named in a response body, "" if none.
std::string InstanceOf(const itest::HttpResponse& r) {
  const std::string marker = "\"instance\":\"";
  size_t at = r.body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return r.body.substr(at, r.body.find('"', at) - at);
}

// Keep-alive connections, used in turn; every request must get a 200 from an
// instance.
class Clients {
 public:
  Clients(uint16_t port, int connections) {
    for (int i = 0; i < connections; ++i) {
      clients_.push_back(itest::TestClient::Connect(port));
      REQUIRE(clients_.back() != nullptr);
    }
  }
  itest::HttpResponse Fetch(const std::string& request) {
    itest::TestClient& c = *clients_[next_++ % clients_.size()];
    REQUIRE(c.Send(request));
    auto r = c.ReadResponse(absl::Seconds(5));
    REQUIRE(r.has_value());
    INFO(r->body);
    REQUIRE(r->status == 200);
    REQUIRE(!InstanceOf(*r).empty());
    return *std::move(r);
  }
  std::string Instance(const std::string& request) { return InstanceOf(Fetch(request)); }

 private:
  std::vector<std::unique_ptr<itest::TestClient>> clients_;
  size_t next_ = 0;
};

// kRequests requests for one key, over kConnections connections: the
// instances that answered, counted.
std::map<std::string, int> OneKey(Clients& clients, const std::function<std::string()>& request) {
  std::map<std::string, int> seen;
  for (int i = 0; i < kRequests; ++i) ++seen[clients.Instance(request())];
  CHECK(WorkersSeen() == 2);  // both workers' balancers agreed
  return seen;
}

// 30 keys, 3 requests each on different connections: every key sticks to one
// instance, and the keys do not all share one.
void ManyKeysSpread(Clients& clients, const std::function<std::string(int)>& request) {
  std::set<std::string> all;
  for (int key = 0; key < 30; ++key) {
    std::set<std::string> mine;
    for (int i = 0; i < 3; ++i) mine.insert(clients.Instance(request(key)));
    INFO("key " << key);
    CHECK(mine.size() == 1);
    all.insert(mine.begin(), mine.end());
  }
  CHECK(all.size() > 1);
}

TEST_CASE("ip_hash without a hash policy keeps 1000 requests of one client on one instance") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  auto seen = OneKey(clients, [] { return itest::Get("/ip/1"); });
  INFO("instances: " << seen.size());
  CHECK(seen.size() == 1);
  // Behind the trusted proxy (127.0.0.1) the client is the X-Forwarded-For
  // address: different clients spread, each one sticks.
  ManyKeysSpread(clients, [](int key) {
    return itest::Get("/ip/1", {absl::StrCat("X-Forwarded-For: 10.0.", key, ".7")});
  });
}

TEST_CASE("a header hash policy keeps 1000 requests with one header value on one instance") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  auto seen = OneKey(clients, [] { return itest::Get("/header/1", {"X-User: alice"}); });
  CHECK(seen.size() == 1);
  ManyKeysSpread(clients,
                 [](int key) { return itest::Get("/header/1", {absl::StrCat("X-User: u", key)}); });
}

TEST_CASE("a cookie hash policy keeps 1000 requests with one cookie on one instance") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  auto seen =
      OneKey(clients, [] { return itest::Get("/cookie/1", {"Cookie: theme=dark; session=abc"}); });
  CHECK(seen.size() == 1);
  ManyKeysSpread(clients, [](int key) {
    return itest::Get("/cookie/1", {absl::StrCat("Cookie: session=s", key)});
  });
}

TEST_CASE("a generated cookie sticks from the first request: same instance for the 1000 after") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  std::set<std::string> firsts;
  for (int client = 0; client < 20; ++client) {
    itest::HttpResponse first = clients.Fetch(itest::Get("/generated/1"));
    std::optional<std::string> set_cookie = first.Header("set-cookie");
    REQUIRE(set_cookie.has_value());
    // sid=<16 hex digits>; Path=/; Max-Age=3600; HttpOnly
    INFO(*set_cookie);
    REQUIRE(set_cookie->size() > 20);
    CHECK(set_cookie->substr(0, 4) == "sid=");
    CHECK(set_cookie->find_first_not_of("0123456789abcdef", 4) == 20);
    CHECK(set_cookie->substr(20) == "; Path=/; Max-Age=3600; HttpOnly");
    const std::string cookie = set_cookie->substr(0, 20);
    firsts.insert(InstanceOf(first));
    const int follow_ups = client == 0 ? kRequests : 5;
    std::set<std::string> later;
    for (int i = 0; i < follow_ups; ++i) {
      itest::HttpResponse r = clients.Fetch(itest::Get("/generated/1", {"Cookie: " + cookie}));
      CHECK(!r.Header("set-cookie").has_value());  // the client has one
      later.insert(InstanceOf(r));
    }
    CHECK(later == std::set<std::string>{InstanceOf(first)});
  }
  CHECK(firsts.size() > 1);  // new clients get new cookies, spread over the instances
  CHECK(WorkersSeen() == 2);
}

TEST_CASE("a query parameter hash policy keeps 1000 requests with one value on one instance") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  auto seen = OneKey(clients, [] { return itest::Get("/query/1?page=2&user=alice"); });
  CHECK(seen.size() == 1);
  // Decoded like route matching: "al%69ce" is "alice".
  CHECK(clients.Instance(itest::Get("/query/1?user=al%69ce")) == seen.begin()->first);
  ManyKeysSpread(clients, [](int key) { return itest::Get(absl::StrCat("/query/1?user=u", key)); });
}

TEST_CASE("a route capture hash policy keeps 1000 requests with one capture on one instance") {
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  auto seen = OneKey(clients, [] { return itest::Get("/capture/alice/profile"); });
  CHECK(seen.size() == 1);
  // Another path under the same capture value: the same instance.
  CHECK(clients.Instance(itest::Get("/capture/alice/orders/7")) == seen.begin()->first);
  ManyKeysSpread(clients,
                 [](int key) { return itest::Get(absl::StrCat("/capture/u", key, "/profile")); });
}

TEST_CASE("a fallback cluster that hashes keys the request by its client address") {
  // "down" balances round robin (no key) and refuses connections; its
  // fallback, by_ip, still keeps each client on one instance.
  auto gw = Start(kConfig);
  Clients clients(gw->ports().at(0), kConnections);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(clients.Instance(itest::Get("/fallback/1")));
  CHECK(seen.size() == 1);
  ManyKeysSpread(clients, [](int key) {
    return itest::Get("/fallback/1", {absl::StrCat("X-Forwarded-For: 10.1.", key, ".7")});
  });
}

// Ten upstreams (u0..u9) behind one cluster keyed by a header; the first
// `hosts` of them are its endpoints. With `demo_ports`, gatewayd runs them
// itself (its demo_upstreams section); without, the test does (TenUpstreams).
std::string TenHosts(const std::string& policy, int hosts, const std::string& listener = "18081",
                     const std::vector<uint16_t>& demo_ports = {}) {
  auto port = [&](int i) { return demo_ports.empty() ? 19300 + i : demo_ports[i]; };
  std::string yaml =
      absl::StrCat("workers: 2\nlisteners: [{address: 127.0.0.1, port: ", listener, "}]\n");
  if (!demo_ports.empty()) {
    absl::StrAppend(&yaml, "demo_upstreams:\n");
    for (int i = 0; i < 10; ++i) {
      absl::StrAppend(&yaml, "  - {name: u", i, ", port: ", port(i), ", service: users}\n");
    }
  }
  absl::StrAppend(&yaml, "clusters:\n  - name: users\n    lb: ", policy,
                  "\n    hash_policy: [{header: x-user}]\n    endpoints:\n");
  for (int i = 0; i < hosts; ++i) {
    absl::StrAppend(&yaml, "      - {address: 127.0.0.1, port: ", port(i), "}\n");
  }
  absl::StrAppend(&yaml, "routes:\n  - {match: {prefix: /}, cluster: users}\n");
  return yaml;
}

std::vector<itest::NamedUpstreams::Spec> TenUpstreams() {
  std::vector<itest::NamedUpstreams::Spec> out;
  for (int i = 0; i < 10; ++i) {
    out.push_back({absl::StrCat("u", i), static_cast<uint16_t>(19300 + i)});
  }
  return out;
}

constexpr int kKeys = 1000;

// The instance of each of kKeys keys.
std::vector<std::string> MapKeys(uint16_t port) {
  Clients clients(port, 4);
  std::vector<std::string> where;
  for (int key = 0; key < kKeys; ++key) {
    where.push_back(clients.Instance(itest::Get("/k", {absl::StrCat("X-User: key-", key)})));
  }
  return where;
}

// u9 left between `before` and `after`: about a tenth of the keys moved,
// and the keys of the hosts that stayed mostly did not.
void CheckOneTenthMoved(const std::string& policy, const std::vector<std::string>& before,
                        const std::vector<std::string>& after) {
  int moved = 0, on_removed = 0, survivors_moved = 0;
  for (int key = 0; key < kKeys; ++key) {
    CHECK(after[key] != "u9");
    if (before[key] == "u9") ++on_removed;
    if (before[key] != after[key]) {
      ++moved;
      if (before[key] != "u9") ++survivors_moved;
    }
  }
  const double share = static_cast<double>(moved) / kKeys;
  UNSCOPED_INFO(policy << ": moved " << moved << " of " << kKeys << " keys (" << on_removed
                       << " were on the removed host, " << survivors_moved << " others)");
  CHECK(share > 0.04);
  CHECK(share < 0.20);
  CHECK(moved >= on_removed);
  // Ring: none of them; Maglev: a few.
  CHECK(survivors_moved <= (kKeys - on_removed) / 50);
}

TEST_CASE("removing one of ten hosts on reload moves about a tenth of the keys") {
  for (const char* policy : {"ring_hash", "maglev"}) {
    INFO(policy);
    auto gw = Start(TenHosts(policy, 10), TenUpstreams());
    const std::vector<std::string> before = MapKeys(gw->ports().at(0));
    // What gatewayd does on SIGHUP: load the file again and apply it.
    auto smaller = LoadConfigString(TenHosts(policy, 9), "hash_policy_test.yaml");
    REQUIRE(smaller.ok());
    REQUIRE(gw->Reload(*smaller, FilterRegistry::WithBuiltins()).ok());
    CheckOneTenthMoved(policy, before, MapKeys(gw->ports().at(0)));
    gw->Drain(absl::Seconds(1));
    gw->Wait();
  }
}

// Distinct free loopback ports: all bound to port 0 at once, then released
// for gatewayd to take.
std::vector<uint16_t> FreePorts(int n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (int i = 0; i < n; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    fds.push_back(fd);
    ports.push_back(ntohs(a.sin_port));
  }
  for (int fd : fds) close(fd);
  return ports;
}

TEST_CASE("gatewayd reloaded by SIGHUP without one of ten hosts moves about a tenth of the keys") {
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("gatewayd not built, skipping: " << binary);
    return;
  }
  for (const char* policy : {"ring_hash", "maglev"}) {
    INFO(policy);
    const std::vector<uint16_t> ports = FreePorts(10);
    std::string error;
    auto gatewayd = itest::GatewaydProcess::Start(TenHosts(policy, 10, "LISTEN", ports), &error);
    INFO(error);
    REQUIRE(gatewayd != nullptr);
    INFO(gatewayd->Log());
    const std::vector<std::string> before = MapKeys(gatewayd->port());
    gatewayd->Reload(TenHosts(policy, 9, "LISTEN", ports));
    REQUIRE(gatewayd->WaitForLog("gatewayd: reloaded"));
    CheckOneTenthMoved(policy, before, MapKeys(gatewayd->port()));
  }
}

}  // namespace
}  // namespace gateway
