// A gateway assembled from a YAML config (StartFromConfig) with the user's
// own components in every seam: an upstream pool made by the user's pool
// factory (wrapping the built-in TCP pool), a balancer registered by name in
// LoadBalancerRegistry::Global() and named from YAML, user circuit
// breakers on the cluster and on the route, and user codec factories on the
// server and the cluster (wrapping the built-in HTTP/1.1 codecs). Real loopback
// traffic; each component counts its calls, so the test proves each one is the
// one used.
#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/circuit_breaker.h"
#include "gateway/codec.h"
#include "gateway/load_balancer.h"
#include "gateway/upstream_pool.h"
#include "gateway/yaml_config.h"
#include "integration/named_upstreams.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

constexpr char kConfig[] = R"(
workers: 1
listeners: [{address: 127.0.0.1, port: 18090}]
clusters:
  - name: users
    lb:
      policy: pick_nth
      config: {index: 1}
    endpoints:
      - {address: 127.0.0.1, port: 19311}
      - {address: 127.0.0.1, port: 19312}
routes:
  - {name: users, match: {prefix: /users}, cluster: users}
)";

// A balancer that always picks the configured host, counting its picks.
struct BalancerCounters {
  std::atomic<int> factories{0};
  std::atomic<int> balancers{0};
  std::atomic<int> picks{0};
};

class PickNth final : public LoadBalancer {
 public:
  PickNth(std::shared_ptr<const HostSet> hosts, size_t index, BalancerCounters& counters)
      : hosts_(std::move(hosts)), index_(index), counters_(counters) {}
  HostPtr Pick(const LbContext&) override {
    counters_.picks.fetch_add(1);
    if (hosts_ == nullptr || hosts_->hosts().empty()) return nullptr;
    return hosts_->hosts()[index_ % hosts_->hosts().size()];
  }

 private:
  std::shared_ptr<const HostSet> hosts_;
  size_t index_;
  BalancerCounters& counters_;
};

class PickNthFactory final : public LoadBalancerFactory {
 public:
  PickNthFactory(size_t index, BalancerCounters& counters) : index_(index), counters_(counters) {}
  std::unique_ptr<LoadBalancer> Create(std::shared_ptr<const HostSet> hosts) const override {
    counters_.balancers.fetch_add(1);
    return std::make_unique<PickNth>(std::move(hosts), index_, counters_);
  }

 private:
  size_t index_;
  BalancerCounters& counters_;
};

// A pool factory that wraps the built-in TCP pool and counts what goes through.
// Codec factories that hand out the built-in HTTP/1.1 codecs and count how
// many they made: a connection or upstream exchange that did not go through
// them would leave the count short.
class CountingServerCodecs final : public ServerCodecFactory {
 public:
  std::unique_ptr<ServerCodec> CreateServerCodec(const CodecLimits& limits,
                                                 ServerCodecCallbacks& callbacks) const override {
    made.fetch_add(1);
    return Http1ServerCodecFactory()->CreateServerCodec(limits, callbacks);
  }
  mutable std::atomic<int> made{0};
};

class CountingClientCodecs final : public ClientCodecFactory {
 public:
  std::unique_ptr<ClientCodec> CreateClientCodec(const CodecLimits& limits,
                                                 ClientCodecCallbacks& callbacks) const override {
    made.fetch_add(1);
    return Http1ClientCodecFactory()->CreateClientCodec(limits, callbacks);
  }
  mutable std::atomic<int> made{0};
};

struct PoolCounters {
  std::atomic<int> pools{0};
  std::atomic<int> acquires{0};
  std::atomic<int> leases{0};
};

class CountingPool final : public UpstreamPool {
 public:
  CountingPool(std::unique_ptr<UpstreamPool> inner, PoolCounters& counters)
      : inner_(std::move(inner)), counters_(counters) {}
  CancelHandle Acquire(HostPtr host, absl::AnyInvocable<void(PoolResult)> on_ready) override {
    counters_.acquires.fetch_add(1);
    return inner_->Acquire(std::move(host),
                           [this, on_ready = std::move(on_ready)](PoolResult r) mutable {
                             if (r.ok()) counters_.leases.fetch_add(1);
                             on_ready(std::move(r));
                           });
  }
  void CloseIdle() override { inner_->CloseIdle(); }
  PoolStats stats() const override { return inner_->stats(); }

 private:
  std::unique_ptr<UpstreamPool> inner_;
  PoolCounters& counters_;
};

class CountingPoolFactory final : public UpstreamPoolFactory {
 public:
  explicit CountingPoolFactory(PoolCounters& counters) : counters_(counters) {}
  std::unique_ptr<UpstreamPool> Create(const UpstreamPoolContext& context) const override {
    counters_.pools.fetch_add(1);
    return std::make_unique<CountingPool>(TcpPoolFactory()->Create(context), counters_);
  }

 private:
  PoolCounters& counters_;
};

// A breaker that admits everything and counts permits and their outcomes.
class CountingBreaker final : public CircuitBreaker {
 public:
  explicit CountingBreaker(std::string name) : name_(std::move(name)) {}
  std::optional<Permit> TryAcquire() override {
    acquired.fetch_add(1);
    if (refuse.load()) return std::nullopt;
    return MakePermit(0, absl::ZeroDuration());
  }
  BreakerState state() const override {
    return refuse.load() ? BreakerState::kOpen : BreakerState::kClosed;
  }
  BreakerStats stats() const override { return {}; }
  std::string_view name() const override { return name_; }

  std::atomic<int> acquired{0};
  std::atomic<int> responses{0};
  std::atomic<bool> refuse{false};

 protected:
  void OnPermitDone(uint64_t, absl::Duration, const CallOutcome& outcome) override {
    if (outcome.result == CallResult::kResponse && outcome.status == 200) responses.fetch_add(1);
  }

 private:
  std::string name_;
};

BalancerCounters balancer_counters;

void RegisterPickNth() {
  LoadBalancerRegistry::Global().Register(
      "pick_nth",
      [](const LbMakeContext& context)
          -> absl::StatusOr<std::shared_ptr<const LoadBalancerFactory>> {
        if (auto s = context.config.ExpectMap({"index"}); !s.ok()) return s;
        size_t index = 0;
        if (auto s = context.config.ReadInt("index", &index, size_t{0}, size_t{64}); !s.ok()) {
          return s;
        }
        balancer_counters.factories.fetch_add(1);
        return std::make_shared<const PickNthFactory>(index, balancer_counters);
      });
}

std::string InstanceOf(const itest::HttpResponse& r) {
  const std::string marker = "\"instance\":\"";
  size_t at = r.body.find(marker);
  if (at == std::string::npos) return "";
  at += marker.size();
  return r.body.substr(at, r.body.find('"', at) - at);
}

TEST_CASE("user codec factories, pool factory, YAML-named balancer and breakers carry the traffic",
          "[seams]") {
  RegisterPickNth();
  auto config = LoadConfigString(kConfig, "user_components.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  REQUIRE(config->clusters.size() == 1);
  CHECK(config->clusters[0].lb.name == "pick_nth");

  PoolCounters pool_counters;
  auto cluster_breaker = std::make_shared<CountingBreaker>("users-cluster");
  auto route_breaker = std::make_shared<CountingBreaker>("users-route");
  config->clusters[0].pool_factory = std::make_shared<CountingPoolFactory>(pool_counters);
  config->clusters[0].resilience.breaker = cluster_breaker;
  config->routes[0].breaker = route_breaker;
  auto server_codecs = std::make_shared<CountingServerCodecs>();
  auto client_codecs = std::make_shared<CountingClientCodecs>();
  config->server.codec = server_codecs;
  config->clusters[0].codec = client_codecs;

  // The endpoints' ports are the upstreams' free ones.
  auto upstreams = itest::NamedUpstreams::Start({{"users-1", 19311}, {"users-2", 19312}});
  INFO(upstreams.status().message());
  REQUIRE(upstreams.ok());
  const int factories_before = balancer_counters.factories.load();
  const int picks_before = balancer_counters.picks.load();
  auto running = StartFromConfig(
      *config, FilterRegistry::WithBuiltins(),
      {.ephemeral_ports = true, .workers = 1, .endpoint_ports = upstreams->endpoint_ports()});
  INFO(running.status().message());
  REQUIRE(running.ok());
  auto& gw = **running;

  constexpr int kRequests = 20;
  {
    auto client = itest::TestClient::Connect(gw.ports().at(0));
    REQUIRE(client != nullptr);
    for (int i = 0; i < kRequests; ++i) {
      REQUIRE(client->Send(itest::Get("/users/" + std::to_string(i))));
      auto r = client->ReadResponse(absl::Seconds(5));
      REQUIRE(r.has_value());
      INFO(r->body);
      REQUIRE(r->status == 200);
      // Round robin (the default) would alternate; the user's balancer
      // always picks the second host.
      CHECK(InstanceOf(*r) == "users-2");
    }
  }
  CHECK(balancer_counters.factories.load() == factories_before + 1);
  CHECK(balancer_counters.picks.load() - picks_before == kRequests);
  CHECK(pool_counters.pools.load() == 1);  // one worker, one cluster
  CHECK(pool_counters.acquires.load() == kRequests);
  CHECK(pool_counters.leases.load() == kRequests);
  CHECK(cluster_breaker->acquired.load() == kRequests);
  CHECK(cluster_breaker->responses.load() == kRequests);
  CHECK(route_breaker->acquired.load() == kRequests);
  CHECK(route_breaker->responses.load() == kRequests);
  // The connection's codecs come from the server factory (an idle
  // connection frees its codec and makes a new one when bytes arrive); one
  // client codec per exchange.
  CHECK(server_codecs->made.load() >= 1);
  CHECK(server_codecs->made.load() <= kRequests);
  CHECK(client_codecs->made.load() == kRequests);

  // The user's breaker decides: refused calls never reach the pool.
  route_breaker->refuse.store(true);
  {
    auto client = itest::TestClient::Connect(gw.ports().at(0));
    REQUIRE(client != nullptr);
    REQUIRE(client->Send(itest::Get("/users/open")));
    auto r = client->ReadResponse(absl::Seconds(5));
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(r->body.find(std::string(kCircuitOpenFlag)) != std::string::npos);
  }
  CHECK(pool_counters.acquires.load() == kRequests);
  gw.Drain(absl::Seconds(1));
  gw.Wait();
}

TEST_CASE("an lb policy nobody registered is rejected naming file, line and key", "[seams]") {
  std::string yaml = kConfig;
  yaml.replace(yaml.find("pick_nth"), 8, "pick_none");
  auto config = LoadConfigString(yaml, "user_components.yaml");
  REQUIRE_FALSE(config.ok());
  INFO(config.status().message());
  CHECK(config.status().message().find("user_components.yaml:7:") != std::string::npos);
  CHECK(config.status().message().find("clusters[0].lb.policy") != std::string::npos);
  CHECK(config.status().message().find("pick_none") != std::string::npos);
}

TEST_CASE("a registered balancer's config errors name file, line and key", "[seams]") {
  RegisterPickNth();
  std::string yaml = kConfig;
  yaml.replace(yaml.find("{index: 1}"), 10, "{index: 99}");
  auto config = LoadConfigString(yaml, "user_components.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
  REQUIRE_FALSE(running.ok());
  INFO(running.status().message());
  CHECK(running.status().message().find("user_components.yaml:8:") != std::string::npos);
  CHECK(running.status().message().find("clusters[0].lb.config.index") != std::string::npos);
}

}  // namespace
}  // namespace gateway
