// Rate limits kept in a real redis-server that each test starts on a free
// loopback port: limits shared by gateways, Redis paused, killed and
// restarted, and two gatewayd processes sharing one 100 req/s limit.
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "event/uv_dispatcher.h"
#include "gateway/redis_rate_limiter.h"
#include "gateway/yaml_config.h"
#include "integration/gatewayd_process.h"
#include "integration/redis_server.h"
#include "integration/test_client.h"

namespace gateway {
namespace {

using itest::RedisServer;

// Starts redis-server, or says why the test is skipped (no binary) and
// returns nullptr. A server that is installed but does not start fails.
std::unique_ptr<RedisServer> StartRedisOrSkip() {
  std::string error;
  auto redis = RedisServer::Start(&error);
  if (redis == nullptr) {
    if (itest::FindOnPath("redis-server").empty()) {
      WARN("skipped: " << error);
    } else {
      FAIL(error);
    }
  }
  return redis;
}

// One gateway in this process, on a free port, with one worker. Routes:
// /closed and /open (a Redis fixed window that fails closed / open), /tb, /sw,
// /fw (one Redis rule per algorithm) and /health (no rule).
constexpr char kGatewayYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: 0}]
workers: 1
filters:
  - rate_limit:
      rules:
        - name: closed
          routes: [closed]
          fixed_window: {limit: 1000000, window: 1s}
          failure_mode: deny
          redis: {port: PORT, call_timeout: 50ms, reconnect_backoff_max: 200ms}
        - name: open
          routes: [open]
          fixed_window: {limit: 1000000, window: 1s}
          failure_mode: allow
          redis: {port: PORT, call_timeout: 50ms, reconnect_backoff_max: 200ms}
        - name: tb
          routes: [tb]
          token_bucket: {rate: 1, per: 1h, burst: 10}
          failure_mode: deny
          redis: {port: PORT, key_prefix: "PREFIX:tb:"}
        - name: sw
          routes: [sw]
          sliding_window: {limit: 5, window: 1h}
          failure_mode: deny
          redis: {port: PORT, key_prefix: "PREFIX:sw:"}
        - name: fw
          routes: [fw]
          fixed_window: {limit: 5, window: 1h}
          failure_mode: deny
          redis: {port: PORT, key_prefix: "PREFIX:fw:"}
routes:
  - {name: closed, match: {path: /closed}, direct_response: {status: 200, body: "ok\n"}}
  - {name: open, match: {path: /open}, direct_response: {status: 200, body: "ok\n"}}
  - {name: tb, match: {path: /tb}, direct_response: {status: 200, body: "ok\n"}}
  - {name: sw, match: {path: /sw}, direct_response: {status: 200, body: "ok\n"}}
  - {name: fw, match: {path: /fw}, direct_response: {status: 200, body: "ok\n"}}
  - {name: health, match: {path: /health}, direct_response: {status: 200, body: "ok\n"}}
)yaml";

std::unique_ptr<ConfiguredGateway> StartGateway(uint16_t redis_port, const std::string& prefix) {
  std::string yaml =
      absl::StrReplaceAll(kGatewayYaml, {{"PORT", absl::StrCat(redis_port)}, {"PREFIX", prefix}});
  auto config = LoadConfigString(yaml, "redis.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  auto running = StartFromConfig(*config, FilterRegistry::WithBuiltins(),
                                 {.ephemeral_ports = true, .workers = 1});
  INFO(running.status().message());
  REQUIRE(running.ok());
  return *std::move(running);
}

struct Timed {
  int status = 0;  // 0: no response
  absl::Duration elapsed;
  bool has_ratelimit_header = false;
  std::optional<std::string> retry_after;
};

Timed Fetch(uint16_t port, const std::string& path) {
  Timed t;
  auto start = std::chrono::steady_clock::now();
  auto client = itest::TestClient::Connect(port);
  if (client && client->Send(itest::Get(path))) {
    if (auto r = client->ReadResponse(absl::Seconds(5))) {
      t.status = r->status;
      t.has_ratelimit_header = r->Header("ratelimit").has_value();
      t.retry_after = r->Header("retry-after");
    }
  }
  t.elapsed = itest::ElapsedSince(start);
  return t;
}

// Polls `path` until it answers `status`; how long that took, or nullopt.
std::optional<absl::Duration> WaitForStatus(uint16_t port, const std::string& path, int status,
                                            absl::Duration limit) {
  auto start = std::chrono::steady_clock::now();
  while (itest::ElapsedSince(start) < limit) {
    if (Fetch(port, path).status == status) return itest::ElapsedSince(start);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

// Loose enough for sanitizer builds on a busy machine, far below "hangs".
constexpr absl::Duration kTimeoutSlack = absl::Milliseconds(250);

TEST_CASE("redis limits are shared by two gateways for every algorithm") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  auto a = StartGateway(redis->port(), "shared");
  auto b = StartGateway(redis->port(), "shared");
  uint16_t pa = a->ports().at(0);
  uint16_t pb = b->ports().at(0);

  struct Case {
    std::string path;
    int limit;
  };
  for (const Case& c : {Case{"/tb", 10}, Case{"/sw", 5}, Case{"/fw", 5}}) {
    INFO(c.path);
    int ok = 0;
    int limited = 0;
    for (int i = 0; i < 2 * c.limit; ++i) {
      Timed t = Fetch(i % 2 == 0 ? pa : pb, c.path);
      if (t.status == 200) {
        ++ok;
        CHECK(t.has_ratelimit_header);
      } else if (t.status == 429) {
        ++limited;
        CHECK(t.retry_after.has_value());
      }
    }
    CHECK(ok == c.limit);
    CHECK(limited == c.limit);
  }

  // A server that lost its scripts (restart, SCRIPT FLUSH) gets them again:
  // EVALSHA's NOSCRIPT falls back to EVAL.
  REQUIRE(redis->Command({"SCRIPT", "FLUSH"}) == std::optional<std::string>("OK"));
  CHECK(Fetch(pa, "/closed").status == 200);
  CHECK(Fetch(pb, "/closed").status == 200);
  CHECK(Fetch(pa, "/closed").status == 200);
  a->Drain(absl::Seconds(1));
  b->Drain(absl::Seconds(1));
}

TEST_CASE("a paused redis costs each request at most the call timeout, then fails open or closed") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  auto gw = StartGateway(redis->port(), "pause");
  uint16_t port = gw->ports().at(0);
  REQUIRE(Fetch(port, "/closed").status == 200);  // connected
  REQUIRE(Fetch(port, "/open").has_ratelimit_header);

  REQUIRE(redis->Command({"CLIENT", "PAUSE", "1500"}) == std::optional<std::string>("OK"));
  auto pause_end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  for (int i = 0; i < 3; ++i) {
    Timed closed = Fetch(port, "/closed");
    CHECK(closed.status == 503);
    CHECK(closed.elapsed >= absl::Milliseconds(45));  // it did wait for Redis
    CHECK(closed.elapsed < absl::Milliseconds(50) + kTimeoutSlack);
    Timed open = Fetch(port, "/open");
    CHECK(open.status == 200);
    CHECK_FALSE(open.has_ratelimit_header);  // no decision: the rule was skipped
    CHECK(open.elapsed < absl::Milliseconds(50) + kTimeoutSlack);
    Timed health = Fetch(port, "/health");
    CHECK(health.status == 200);
    CHECK(health.elapsed < absl::Milliseconds(100));
  }
  REQUIRE(std::chrono::steady_clock::now() < pause_end);  // all of it measured while paused

  // Redis answers again once the pause ends, with no help.
  auto recovered = WaitForStatus(port, "/closed", 200, absl::Seconds(5));
  REQUIRE(recovered.has_value());
  gw->Drain(absl::Seconds(1));
}

TEST_CASE(
    "a killed redis fails requests fast and after a restart the gateway reconnects by itself") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  auto gw = StartGateway(redis->port(), "kill");
  uint16_t port = gw->ports().at(0);
  REQUIRE(Fetch(port, "/closed").status == 200);

  redis->Kill();
  for (int i = 0; i < 5; ++i) {
    Timed closed = Fetch(port, "/closed");
    CHECK(closed.status == 503);
    CHECK(closed.elapsed < absl::Milliseconds(50) + kTimeoutSlack);
    Timed open = Fetch(port, "/open");
    CHECK(open.status == 200);
    CHECK(open.elapsed < absl::Milliseconds(50) + kTimeoutSlack);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // spans reconnect attempts
  }

  REQUIRE(redis->Restart());
  // Reconnect backoff tops out at 200 ms here.
  auto recovered = WaitForStatus(port, "/closed", 200, absl::Seconds(3));
  REQUIRE(recovered.has_value());
  CHECK(*recovered < absl::Seconds(1));
  CHECK(Fetch(port, "/open").has_ratelimit_header);
  gw->Drain(absl::Seconds(1));
}

// A loopback listener that answers whatever arrives on a connection with
// `reply` and closes it.
class FakeRedis {
 public:
  explicit FakeRedis(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 && listen(fd_, 16) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeRedis() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      char buf[4096];
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 1000) > 0 && recv(c, buf, sizeof(buf), 0) > 0) {
        (void)!send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
        // Let the gateway read it before the close.
        pollfd r{c, POLLIN, 0};
        poll(&r, 1, 200);
      }
      close(c);
    }
  }

  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_CASE("a peer that sends garbage or replies nobody asked for fails calls, not the process") {
  std::string unsolicited;
  for (int i = 0; i < 50; ++i) unsolicited += ":1\r\n";  // more replies than commands
  for (const std::string& reply :
       {std::string("*4\r\n:1\r\n$-7\r\n\x01\x02garbage\r\n"), unsolicited,
        std::string("*4\r\n:1\r\n:999999999\r\n:0\r\n:0\r\n"),
        // An array header claiming half a billion elements: refused before
        // hiredis allocates for them (kMaxRedisReplyElements).
        std::string("*466666666\r\n:1\r\n")}) {
    FakeRedis peer(reply);
    REQUIRE(peer.port() != 0);
    auto gw = StartGateway(peer.port(), "garbage");
    uint16_t port = gw->ports().at(0);
    for (int i = 0; i < 5; ++i) {
      Timed closed = Fetch(port, "/closed");
      CHECK(closed.status == 503);
      CHECK(closed.elapsed < absl::Milliseconds(50) + kTimeoutSlack);
      CHECK(Fetch(port, "/open").status == 200);
    }
    gw->Drain(absl::Seconds(1));
  }
}

// Runs `loop` until `done()` or `limit` passes; false on timeout.
template <typename Pred>
bool RunUntil(uv_loop_t* loop, Pred done, absl::Duration limit) {
  auto start = std::chrono::steady_clock::now();
  while (!done()) {
    if (itest::ElapsedSince(start) > limit) return false;
    uv_run(loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_CASE("redis limiter: while Redis is paused, calls beyond max_pending fail at once") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto dispatcher = std::make_unique<internal::UvDispatcher>(&loop);
    auto factory = MakeRedisRateLimiterFactory(
        {.port = redis->port(),
         .algorithm = FixedWindowConfig{.limit = 1000, .window = absl::Seconds(1)},
         .call_timeout = absl::Milliseconds(50),
         .max_pending = 3,
         .stall_timeout = absl::Seconds(5)});
    REQUIRE(factory.ok());
    std::unique_ptr<AsyncRateLimiter> limiter = (*factory)->Create(*dispatcher);
    REQUIRE(limiter != nullptr);

    std::optional<absl::StatusOr<RateDecision>> first;
    CancelHandle h0 = limiter->Acquire("k", 1, [&](auto r) { first = std::move(r); });
    REQUIRE(RunUntil(
        &loop, [&] { return first.has_value(); }, absl::Seconds(2)));
    REQUIRE(first->ok());
    CHECK((*first)->allowed);
    CHECK((*first)->remaining == 999);

    REQUIRE(redis->Command({"CLIENT", "PAUSE", "800"}) == std::optional<std::string>("OK"));
    constexpr int kCalls = 6;
    std::vector<std::optional<absl::Status>> results(kCalls);
    std::vector<absl::Duration> took(kCalls);
    std::vector<CancelHandle> handles;
    bool inside_acquire = true;
    bool called_inside = false;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCalls; ++i) {
      handles.push_back(limiter->Acquire("k", 1, [&, i](absl::StatusOr<RateDecision> r) {
        called_inside |= inside_acquire;
        results[i] = r.status();
        took[i] = itest::ElapsedSince(start);
      }));
    }
    bool cancelled_ran = false;
    CancelHandle cancelled = limiter->Acquire("k", 1, [&](auto) { cancelled_ran = true; });
    cancelled.Cancel();
    inside_acquire = false;
    REQUIRE(RunUntil(
        &loop,
        [&] {
          for (const auto& r : results) {
            if (!r.has_value()) return false;
          }
          return true;
        },
        absl::Seconds(2)));
    CHECK_FALSE(called_inside);
    for (int i = 0; i < kCalls; ++i) {
      INFO("call " << i << ": " << results[i]->ToString());
      if (i < 3) {
        // Sent: they wait for the call timeout.
        CHECK(results[i]->code() == absl::StatusCode::kDeadlineExceeded);
        CHECK(took[i] >= absl::Milliseconds(45));
        CHECK(took[i] < absl::Milliseconds(50) + kTimeoutSlack);
      } else {
        // The queue is full: refused on the next loop turn.
        CHECK(results[i]->code() == absl::StatusCode::kResourceExhausted);
        CHECK(took[i] < absl::Milliseconds(40));
      }
    }
    CHECK_FALSE(cancelled_ran);

    // Once the pause ends the late answers drain the queue and calls succeed.
    std::optional<absl::StatusOr<RateDecision>> after;
    auto retry_start = std::chrono::steady_clock::now();
    CancelHandle h1;
    while (itest::ElapsedSince(retry_start) < absl::Seconds(3)) {
      after.reset();
      h1 = limiter->Acquire("k", 1, [&](auto r) { after = std::move(r); });
      REQUIRE(RunUntil(
          &loop, [&] { return after.has_value(); }, absl::Seconds(1)));
      if (after->ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(after.has_value());
    CHECK(after->ok());
    limiter.reset();
    dispatcher.reset();
  }
  // Every handle (the hiredis poll handle included) was closed.
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("examples/gatewayd/redis_rate_limit.yaml builds: two Redis rules, fail open and closed") {
  auto config =
      LoadConfigFile(std::string(GATEWAY_SOURCE_DIR) + "/examples/gatewayd/redis_rate_limit.yaml");
  INFO(config.status().message());
  REQUIRE(config.ok());
  REQUIRE(config->filters.size() == 1);
  auto rl = ParseRateLimitFilterConfig(config->filters[0].config, *config);
  INFO(rl.status().message());
  REQUIRE(rl.ok());
  REQUIRE(rl->rules.size() == 2);
  CHECK(rl->rules[0].remote != nullptr);
  CHECK(rl->rules[0].failure_mode == RateLimitFailureMode::kAllow);
  CHECK(rl->rules[1].remote != nullptr);
  CHECK(rl->rules[1].failure_mode == RateLimitFailureMode::kDeny);
  CHECK(BuildPipeline(*config, FilterRegistry::WithBuiltins(), nullptr).ok());
}

// --- two gatewayd processes ------------------------------------------------

constexpr char kGatewaydYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
workers: 1
filters:
  - rate_limit:
      rules:
        - name: shared
          fixed_window: {limit: 100, window: 1s}
          failure_mode: deny
          redis: {port: REDIS, key_prefix: "two-gatewayd:"}
routes:
  - {name: hello, match: {prefix: /}, direct_response: {status: 200, body: "ok\n"}}
)yaml";

bool Listening(uint16_t port) {
  auto c = itest::TestClient::Connect(port);
  return c != nullptr;
}

TEST_CASE("two gatewayd processes sharing a 100 req/s redis limit admit 100/s combined") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  const std::string binary = GATEWAYD_BINARY;
  if (access(binary.c_str(), X_OK) != 0) {
    WARN("skipped: gatewayd is not built (GATEWAY_BUILD_EXAMPLES=OFF)");
    return;
  }
  char dir_template[] = "/tmp/gateway-gatewayd.XXXXXX";
  REQUIRE(mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;

  std::vector<uint16_t> ports;
  std::vector<pid_t> pids;
  for (int i = 0; i < 2; ++i) {
    uint16_t port = itest::FreeLoopbackPort();
    std::string path = absl::StrCat(dir, "/gatewayd", i, ".yaml");
    std::ofstream(path) << absl::StrReplaceAll(
        kGatewaydYaml, {{"LISTEN", absl::StrCat(port)}, {"REDIS", absl::StrCat(redis->port())}});
    std::string log = absl::StrCat(dir, "/gatewayd", i, ".log");
    pid_t pid = fork();
    if (pid == 0) {
      FILE* out = freopen(log.c_str(), "w", stdout);
      (void)out;
      dup2(STDOUT_FILENO, STDERR_FILENO);
      execl(binary.c_str(), binary.c_str(), path.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    REQUIRE(pid > 0);
    pids.push_back(pid);
    ports.push_back(port);
  }
  struct Cleanup {
    std::vector<pid_t>& pids;
    std::string dir;
    ~Cleanup() {
      for (pid_t p : pids) itest::StopChild(p);
      std::error_code ignored;
      std::filesystem::remove_all(dir, ignored);  // our own mkdtemp directory
    }
  } cleanup{pids, dir};
  for (uint16_t port : ports) {
    auto start = std::chrono::steady_clock::now();
    while (!Listening(port) && itest::ElapsedSince(start) < absl::Seconds(5)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    REQUIRE(Listening(port));
  }

  // Fixed windows are aligned to whole seconds of Redis' clock, which is this
  // machine's clock. Sending from just after one edge to just before an edge N
  // seconds later covers exactly N windows; each gets far more than 100
  // requests, so exactly 100 of each pass whichever gateway they reach.
  constexpr int kWindows = 4;
  constexpr int kThreadsPerGateway = 2;
  constexpr auto kSpacing = std::chrono::milliseconds(4);  // ~250 req/s per thread
  using Wall = std::chrono::system_clock;
  auto now = Wall::now();
  auto next_second = std::chrono::ceil<std::chrono::seconds>(now) + std::chrono::seconds(1);
  const auto begin = next_second + std::chrono::milliseconds(30);
  const auto end = next_second + std::chrono::seconds(kWindows) - std::chrono::milliseconds(30);

  std::atomic<int> admitted{0}, limited{0}, other{0};
  std::vector<std::thread> threads;
  for (uint16_t port : ports) {
    for (int t = 0; t < kThreadsPerGateway; ++t) {
      threads.emplace_back([&, port] {
        std::unique_ptr<itest::TestClient> client;
        std::this_thread::sleep_until(begin);
        auto next = Wall::now();
        while (true) {
          if (Wall::now() >= end) break;
          if (client == nullptr) client = itest::TestClient::Connect(port);
          if (client == nullptr || !client->Send(itest::Get("/"))) {
            ++other;
            client.reset();
            continue;
          }
          auto r = client->ReadResponse(absl::Seconds(2));
          if (!r) {
            ++other;
            client.reset();
          } else {
            if (r->status == 200) {
              ++admitted;
            } else if (r->status == 429) {
              ++limited;
            } else {
              ++other;
            }
            if (r->closes()) client.reset();
          }
          next += kSpacing;
          std::this_thread::sleep_until(next);
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  INFO("admitted " << admitted << ", limited " << limited << ", other " << other << " over "
                   << kWindows << " windows");
  CHECK(other == 0);
  CHECK(limited > admitted);  // the demand really exceeded the limit
  // 100/s combined within ±2%.
  CHECK(admitted >= 98 * kWindows);
  CHECK(admitted <= 102 * kWindows);
}

// Lines a limiter logs, kept for the test thread.
class LogLines {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> With(std::string_view part) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const std::string& l : lines_) {
      if (l.find(part) != std::string::npos) out.push_back(l);
    }
    return out;
  }
  std::string All() const {
    std::lock_guard<std::mutex> lock(mu_);
    return absl::StrJoin(lines_, "\n");
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// A one-worker Runtime answering 200 on every path behind one Redis rule.
std::unique_ptr<Runtime> StartRuntime(RedisRateLimitConfig redis, RateLimitFailureMode mode) {
  auto router = Router::Build({RouteBuilder("all").Prefix("/").Respond(200, "ok").Build()});
  REQUIRE(router.ok());
  auto remote = MakeRedisRateLimiterFactory(std::move(redis));
  INFO(remote.status().message());
  REQUIRE(remote.ok());
  auto filter =
      MakeRateLimitFilter({.rules = {{.name = "r", .remote = *remote, .failure_mode = mode}}});
  REQUIRE(filter.ok());
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(*filter).Build();
  REQUIRE(pipeline.ok());
  RuntimeOptions options;
  options.workers = 1;
  options.server.listeners.push_back({.address = "127.0.0.1", .port = 0});
  auto runtime = Runtime::Start(std::move(options), *pipeline);
  REQUIRE(runtime.ok());
  return *std::move(runtime);
}

TEST_CASE("redis going down and coming back is logged once each way and not once per attempt") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  LogLines log;
  auto runtime =
      StartRuntime({.port = redis->port(),
                    .algorithm = FixedWindowConfig{.limit = 1'000'000, .window = absl::Seconds(1)},
                    // Generous: on a loaded machine a fresh server's first
                    // reply (SCRIPT LOAD) can take longer than 50 ms, and a
                    // timeout there drops the connection before "up".
                    .call_timeout = absl::Milliseconds(500),
                    .reconnect_backoff_min = absl::Milliseconds(10),
                    .reconnect_backoff_max = absl::Milliseconds(50),
                    .log = log.Sink()},
                   RateLimitFailureMode::kAllow);
  const uint16_t port = runtime->ports()[0];
  REQUIRE(Fetch(port, "/").status == 200);
  CHECK(log.All().empty());  // a first connection that works is not news

  redis->Kill();
  // About a second of requests: fail open; the limiter retries every 50 ms.
  for (int i = 0; i < 40; ++i) {
    CHECK(Fetch(port, "/").status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  INFO(log.All());
  std::vector<std::string> down = log.With(": down (");
  REQUIRE(down.size() == 1);
  CHECK_THAT(down[0], Catch::StartsWith(absl::StrCat("redis 127.0.0.1:", redis->port(),
                                                     " (key prefix \"gateway:rl:\"): down (")));
  // The error, whichever way the loss was seen first.
  CHECK((absl::StrContains(down[0], "closed") || absl::StrContains(down[0], "refused") ||
         absl::StrContains(down[0], "reset")));
  CHECK(log.With(": up").empty());

  REQUIRE(redis->Restart());
  REQUIRE(itest::Eventually([&] { return !log.With(": up").empty(); }, absl::Seconds(8)));
  for (int i = 0; i < 10; ++i) CHECK(Fetch(port, "/").status == 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(log.With(": up").size() == 1);
  CHECK(log.With(": down (").size() == 1);
  runtime->Drain(absl::Seconds(1));
  runtime->Wait();
}

// Answers every name from a fixed table, without touching the network.
class TableResolver final : public Resolver {
 public:
  absl::StatusOr<std::vector<std::string>> Resolve(std::string_view name) override {
    ++calls;
    if (name == "redis.test") return std::vector<std::string>{"127.0.0.1"};
    return absl::NotFoundError(absl::StrCat("resolving '", std::string(name), "': no such name"));
  }
  std::atomic<int> calls{0};
};

TEST_CASE("an unresolvable redis name fails open or closed as configured and is logged once") {
  auto resolver = std::make_shared<TableResolver>();
  for (auto mode : {RateLimitFailureMode::kAllow, RateLimitFailureMode::kDeny}) {
    LogLines log;
    auto runtime = StartRuntime({.address = "redis.nowhere",
                                 .resolver = resolver,
                                 .algorithm = FixedWindowConfig{.limit = 10},
                                 .call_timeout = absl::Milliseconds(50),
                                 .reconnect_backoff_min = absl::Milliseconds(10),
                                 .reconnect_backoff_max = absl::Milliseconds(20),
                                 .log = log.Sink()},
                                mode);
    const uint16_t port = runtime->ports()[0];
    const int calls_before = resolver->calls;
    for (int i = 0; i < 10; ++i) {
      Timed t = Fetch(port, "/");
      CHECK(t.status == (mode == RateLimitFailureMode::kAllow ? 200 : 503));
      CHECK(t.elapsed < absl::Milliseconds(150) + kTimeoutSlack);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    INFO(log.All());
    std::vector<std::string> down = log.With(": down (");
    REQUIRE(down.size() == 1);
    CHECK(down[0] ==
          "redis redis.nowhere:6379 (key prefix \"gateway:rl:\"): down (resolving "
          "'redis.nowhere': no such name)");
    // Every reconnect asks the resolver again.
    CHECK(resolver->calls - calls_before >= 3);
    runtime->Drain(absl::Seconds(1));
    runtime->Wait();
  }
}

TEST_CASE("a redis host name limits as an address would and is resolved again on reconnect") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  auto resolver = std::make_shared<TableResolver>();
  LogLines log;
  auto runtime = StartRuntime({.address = "redis.test",
                               .resolver = resolver,
                               .port = redis->port(),
                               .algorithm = FixedWindowConfig{.limit = 3, .window = absl::Hours(1)},
                               .key_prefix = "resolved:",
                               .reconnect_backoff_min = absl::Milliseconds(10),
                               .reconnect_backoff_max = absl::Milliseconds(20),
                               .log = log.Sink()},
                              RateLimitFailureMode::kDeny);
  const uint16_t port = runtime->ports()[0];
  REQUIRE(itest::Eventually([&] { return Fetch(port, "/").status == 200; }));
  CHECK(Fetch(port, "/").status == 200);
  CHECK(Fetch(port, "/").status == 200);
  CHECK(Fetch(port, "/").status == 429);
  const int calls = resolver->calls;
  redis->Kill();
  REQUIRE(redis->Restart());
  REQUIRE(itest::Eventually([&] { return !log.With(": up").empty(); }, absl::Seconds(8)));
  CHECK(resolver->calls > calls);
  // The new server starts with no counts.
  CHECK(Fetch(port, "/").status == 200);
  runtime->Drain(absl::Seconds(1));
  runtime->Wait();
}

// gatewayd with `address: localhost`, resolved by the system resolver (from
// /etc/hosts: no DNS traffic).
constexpr char kLocalhostYaml[] = R"yaml(
listeners: [{address: 127.0.0.1, port: LISTEN}]
workers: 1
filters:
  - rate_limit:
      rules:
        - name: by-name
          fixed_window: {limit: 2, window: 1h}
          failure_mode: deny
          redis: {address: localhost, port: REDIS, key_prefix: "PREFIX:"}
routes:
  - {name: hello, match: {prefix: /}, direct_response: {status: 200, body: "ok\n"}}
)yaml";

TEST_CASE("gatewayd limits through redis named localhost") {
  auto redis = StartRedisOrSkip();
  if (redis == nullptr) return;
  std::string error;
  auto gatewayd = itest::GatewaydProcess::Start(
      absl::StrReplaceAll(kLocalhostYaml, {{"REDIS", absl::StrCat(redis->port())},
                                           {"PREFIX", absl::StrCat("lh", getpid())}}),
      &error);
  INFO(error);
  REQUIRE(gatewayd != nullptr);
  const uint16_t port = gatewayd->port();
  // Fails closed (503) until the first connection is up, then counts in Redis.
  REQUIRE(itest::Eventually([&] { return Fetch(port, "/").status == 200; }));
  CHECK(Fetch(port, "/").status == 200);
  CHECK(Fetch(port, "/").status == 429);
  INFO(gatewayd->Log());
  CHECK(gatewayd->Log().find("down (") == std::string::npos);
}

}  // namespace
}  // namespace gateway
