// Clusters: named groups of upstream endpoints, and the process-wide manager
// that keeps their current host sets.
//
// `ClusterManager` is thread-safe and shared by every worker. Each cluster's
// host set is an immutable snapshot (`std::shared_ptr<const HostSet>`) that
// is replaced whole when DNS answers change or health changes; workers notice
// a new snapshot through a version number read with one relaxed atomic load,
// so the per-request path takes no lock.
//
// DNS names are resolved for the loop given in `ClusterManagerOptions::loop`,
// first at start and then every `dns_refresh`, through a `Resolver`
// (getaddrinfo unless the options name another). Each lookup runs on libuv's
// thread pool (uv_queue_work); its answer is published from that loop. The
// manager starts no thread of its own (see docs/architecture.md#threads).
// Until a name resolves the cluster has no hosts for it and requests fail
// fast with 503; a failed lookup keeps the last good answer.
#ifndef GATEWAY_CLUSTER_H_
#define GATEWAY_CLUSTER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/clock.h"
#include "gateway/cluster_resilience.h"
#include "gateway/codec.h"
#include "gateway/dispatcher.h"
#include "gateway/hash_policy.h"
#include "gateway/health_check.h"
#include "gateway/load_balancer.h"
#include "gateway/response_flag.h"
#include "gateway/upstream.h"
#include "gateway/upstream_pool.h"

namespace gateway {

struct EndpointSpec {
  std::string address;  // IPv4/IPv6 literal or DNS name
  uint16_t port = 80;
  uint32_t weight = 1;  // 0: never picked
};

// What a request gets instead of a 503 when its cluster cannot serve it: a
// configured reply, or the same request sent to another cluster.
//
// It applies only before any byte reached an upstream, for the response flags
// in `on`: the breaker is open (`circuit_open`), no host is healthy
// (`no_healthy_upstream`), a concurrency limit or the pool is full
// (`upstream_overflow`), or every attempt failed to connect
// (`upstream_connect_failed`, `upstream_connect_timeout`). Retries come first:
// the fallback answers once the route's retry policy gave up.
struct FallbackSpec {
  std::vector<std::string> on = {
      std::string(ResponseFlagName(ResponseFlag::kCircuitOpen)),
      std::string(ResponseFlagName(ResponseFlag::kNoHealthyUpstream)),
      std::string(ResponseFlagName(ResponseFlag::kUpstreamOverflow)),
      std::string(ResponseFlagName(ResponseFlag::kUpstreamConnectFailed)),
      std::string(ResponseFlagName(ResponseFlag::kUpstreamConnectTimeout))};
  // Non-empty: send the request to this cluster instead (with its own
  // breaker, limits and hosts; its own fallback is not followed). The reply
  // fields below are then unused.
  std::string cluster;
  // Otherwise this reply. Its response flag is "fallback".
  int status = 503;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  absl::Status Validate() const;
};

struct ClusterSpec {
  std::string name;
  std::vector<EndpointSpec> endpoints;
  LbOptions lb;
  // A balancer factory of the embedder's own; when set it is used instead of
  // the one `lb` names (`lb.panic_threshold_percent` and the rest are then the
  // factory's business). Shared by every worker; see gateway/load_balancer.h.
  std::shared_ptr<const LoadBalancerFactory> load_balancer;
  // The hash key of requests whose route has no `hash_policy` of its own
  // (gateway/hash_policy.h). Only with a hashing `lb.policy` (UsesHashKey);
  // kRouteCapture is per route and not allowed here. Empty: the client
  // address.
  std::vector<HashPolicy> hash_policy;
  PoolOptions pool;
  // Makes each worker's connection pool for this cluster (see
  // gateway/upstream_pool.h); unset: TcpPoolFactory().
  std::shared_ptr<const UpstreamPoolFactory> pool_factory;
  // How often DNS names are resolved again.
  absl::Duration dns_refresh = absl::Seconds(30);
  // Active health checking of every host (see gateway/health_check.h);
  // unset: hosts are only marked down by other means (SetHealthy).
  std::optional<HealthCheckSpec> health_check;
  // Circuit breaker, concurrency limits and outlier detection (see
  // gateway/cluster_resilience.h). The limits are always on, with generous
  // defaults; the breaker and outlier detection only when configured.
  ClusterResilienceSpec resilience;
  // What to answer when the cluster cannot serve; unset: the 503 itself.
  std::optional<FallbackSpec> fallback;
  // Makes the codec of each upstream exchange (gateway/codec.h): the protocol
  // spoken to this cluster's hosts. Per cluster, since that is what hosts
  // have in common; must not be null. Default: HTTP/1.1. Called on worker
  // loops, so it must be thread-safe.
  std::shared_ptr<const ClientCodecFactory> codec = Http1ClientCodecFactory();

  absl::Status Validate() const;
};

// Turns a DNS name into addresses for a `ClusterManager`.
//
// `Resolve` is called on a thread of libuv's pool (uv_queue_work from the
// manager's loop), one call at a time per manager, never on a loop thread: it
// may block (a slow answer holds one pool thread and delays only the lookups
// after it, never a request). Successive calls may run on different pool
// threads, and a resolver shared by several managers (or with a
// `RedisRateLimitConfig`) is called concurrently: it must be thread-safe.
// `name` is valid during the call. It returns IPv4/IPv6 literals in preference order;
// entries that are not literals are ignored. An error or an empty list is a
// failed lookup: the manager keeps the name's last good answer, or leaves it
// without hosts if it never had one. The manager and a lookup in flight hold
// references to the resolver: destroying the manager cancels a lookup not yet
// started and lets one in progress return on the pool, its answer dropped.
class Resolver {
 public:
  virtual ~Resolver() = default;
  virtual absl::StatusOr<std::vector<std::string>> Resolve(std::string_view name) = 0;
};

// The default resolver: getaddrinfo (both families, duplicates removed),
// blocking the pool thread it is called on.
std::shared_ptr<Resolver> MakeSystemResolver();

struct ClusterManagerOptions {
  // The loop DNS names are resolved for: its timer schedules the refreshes,
  // its libuv thread pool runs the lookups, and it publishes the answers.
  // Required when an endpoint is a DNS name (Create fails otherwise); unused
  // without one. Embedded: the application's loop (the one its `Gateway`
  // runs on). `gatewayd`: its control thread's loop (see `ControlThread` in
  // gateway/runtime.h). The manager's handles on it do not keep it running.
  //
  // Call Create on the thread that runs this loop (or before the loop first
  // runs, on the thread that will). The manager may be destroyed on any
  // thread: on the loop's own thread it closes its handles at once (run the
  // loop once more before uv_loop_close, as for any libuv handle); on
  // another thread it asks the loop to close them, so the loop must still
  // be running then.
  uv_loop_t* loop = nullptr;
  // Resolves the clusters' DNS names; nullptr means MakeSystemResolver().
  std::shared_ptr<Resolver> resolver;
  // Receives breaker transitions and host ejections of every cluster (for
  // example MakeLoggingObserver); may be null. See gateway/resilience_stats.h
  // for when and on which thread it is called.
  std::shared_ptr<ResilienceObserver> observer;
  // The clock of the breakers and outlier detectors; nullptr means
  // SystemClock(). Must outlive the manager.
  const Clock* clock = nullptr;
};

class ClusterManager {
 public:
  // Validates every spec (names unique) and starts resolving DNS names on
  // `options.loop` (the first lookups go out at once, on libuv's pool).
  static absl::StatusOr<std::shared_ptr<ClusterManager>> Create(std::vector<ClusterSpec> clusters);
  static absl::StatusOr<std::shared_ptr<ClusterManager>> Create(std::vector<ClusterSpec> clusters,
                                                                ClusterManagerOptions options);

  virtual ~ClusterManager() = default;

  // The spec of `name`, or nullptr. Valid as long as the manager.
  virtual const ClusterSpec* Find(std::string_view name) const = 0;
  // The current host set of `name` (nullptr for an unknown cluster). Locks
  // briefly; hot paths use `version` to avoid calling this per request.
  virtual std::shared_ptr<const HostSet> Hosts(std::string_view name) const = 0;
  // Increases whenever `name`'s host set changes; 0 for unknown clusters.
  virtual uint64_t Version(std::string_view name) const = 0;
  // The balancer factory configured for `name`, or nullptr.
  virtual std::shared_ptr<const LoadBalancerFactory> Balancer(std::string_view name) const = 0;

  // Marks a host (by "address:port" name) healthy or not in `cluster` and
  // publishes a new snapshot if that changed anything. This is the active
  // health flag; outlier detection keeps a second one (a host is balanced to
  // only while healthy and not ejected). The `HealthChecker` also reports
  // every passing probe to the cluster's outlier detector, which returns an
  // ejected host early if its config says so.
  virtual void SetHealthy(std::string_view cluster, std::string_view host, bool healthy) = 0;

  // `cluster`'s breaker, concurrency limits and outlier detector, built once
  // by Create and shared by every worker; nullptr for an unknown cluster.
  // Valid as long as the manager. Read their stats() for metrics.
  virtual const ClusterResilience* Resilience(std::string_view cluster) const = 0;

  // Resolves DNS names again now (tests and operators); returns at once, from
  // any thread, and the round starts on the loop's next turn. A refresh
  // asked for during a round starts another round after it.
  virtual void RefreshDns() = 0;

  virtual std::vector<std::string> names() const = 0;
};

}  // namespace gateway

#endif  // GATEWAY_CLUSTER_H_
