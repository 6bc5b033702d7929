// The default TCP upstream pool against scripted upstream servers on
// loopback. Pool and servers share one libuv loop driven by the test thread,
// so every step is deterministic up to the kernel's socket behaviour; every
// wait is bounded.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/functional/any_invocable.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "event/uv_dispatcher.h"
#include "event/uv_handle.h"
#include "gateway/upstream.h"
#include "gateway/upstream_pool.h"
#include "integration/fault_upstream.h"

namespace gateway {
namespace {

using internal::UvDispatcher;
using internal::UvHandle;
using itest::BlackholeListener;
using itest::ClosedPort;

// A loop with a dispatcher, driven by the test. The destructor runs the loop
// until every handle is closed and checks that none was left behind.
class TestLoop {
 public:
  TestLoop() {
    uv_loop_init(&loop_);
    dispatcher_ = std::make_unique<UvDispatcher>(&loop_);
  }
  ~TestLoop() {
    dispatcher_.reset();
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0 && absl::Now() < deadline) {
    }
    CHECK(uv_loop_close(&loop_) == 0);
  }

  uv_loop_t* loop() { return &loop_; }
  Dispatcher& dispatcher() { return *dispatcher_; }

  // Runs the loop until `done` holds or `timeout` passes; returns `done()`.
  bool RunUntil(const std::function<bool()>& done, absl::Duration timeout = absl::Seconds(5)) {
    // A ticking timer makes every UV_RUN_ONCE return within a few ms.
    UvHandle<uv_timer_t> tick;
    tick.Init(&loop_, uv_timer_init);
    uv_timer_start(
        tick.get(), [](uv_timer_t*) {}, 5, 5);
    absl::Time deadline = absl::Now() + timeout;
    while (!done() && absl::Now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }
  void RunFor(absl::Duration d) {
    absl::Time until = absl::Now() + d;
    RunUntil([until] { return absl::Now() >= until; }, d + absl::Seconds(1));
  }
  // Runs exactly one loop iteration without blocking.
  void Turn() { uv_run(&loop_, UV_RUN_NOWAIT); }

 private:
  uv_loop_t loop_;
  std::unique_ptr<UvDispatcher> dispatcher_;
};

// A scripted upstream on the test loop: accepts, records what each accepted
// connection (a "peer") sends and whether it closed, and lets the test reply,
// close, reset or stop reading per peer.
class ScriptedServer {
 public:
  struct Peer {
    ScriptedServer* server = nullptr;
    UvHandle<uv_tcp_t> tcp;
    uint16_t port = 0;  // the pool's local port
    std::string received;
    bool eof = false;
    bool reading = false;
  };

  explicit ScriptedServer(uv_loop_t* loop, std::string ip = "127.0.0.1") : loop_(loop) {
    sockaddr_storage addr{};
    if (ip.find(':') != std::string::npos) {
      uv_ip6_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in6*>(&addr));
    } else {
      uv_ip4_addr(ip.c_str(), 0, reinterpret_cast<sockaddr_in*>(&addr));
    }
    listener_.Init(loop, uv_tcp_init);
    listener_->data = this;
    ok_ = uv_tcp_bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), 0) == 0 &&
          uv_listen(listener_.stream(), 128, &ScriptedServer::OnConnection) == 0;
    sockaddr_storage bound{};
    int len = sizeof(bound);
    uv_tcp_getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);  // same offset for v6
    host_ = std::make_shared<Host>(ip, port_);
  }

  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  const HostPtr& host() const { return host_; }
  size_t accepted() const { return peers_.size(); }
  Peer& peer(size_t i) { return *peers_.at(i); }
  // Echo every byte back to the sender.
  bool echo = false;
  // Start reading new peers at once (false: they are accepted but never read).
  bool read_on_accept = true;

  void StartReading(size_t i) { StartReading(peer(i)); }
  void Send(size_t i, std::string_view data) {
    uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), data.size());
    REQUIRE(uv_try_write(peer(i).tcp.stream(), &buf, 1) == static_cast<int>(data.size()));
  }
  // Graceful close: the pool sees EOF.
  void Close(size_t i) { peer(i).tcp.Close(); }
  // Abortive close: the pool sees a reset.
  void Reset(size_t i) {
    uv_os_fd_t fd;
    REQUIRE(uv_fileno(peer(i).tcp.handle(), &fd) == 0);
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    peer(i).tcp.Close();
  }
  // The peer whose pool-side port is `port`, or -1.
  int IndexOfPort(uint16_t port) const {
    for (size_t i = 0; i < peers_.size(); ++i) {
      if (peers_[i]->port == port) return static_cast<int>(i);
    }
    return -1;
  }
  size_t eofs() const {
    size_t n = 0;
    for (const auto& p : peers_) n += p->eof ? 1 : 0;
    return n;
  }

 private:
  static void OnConnection(uv_stream_t* listener, int status) {
    auto* self = static_cast<ScriptedServer*>(listener->data);
    if (self == nullptr || status != 0) return;
    auto peer = std::make_unique<Peer>();
    peer->server = self;
    peer->tcp.Init(self->loop_, uv_tcp_init);
    peer->tcp->data = peer.get();
    if (uv_accept(listener, peer->tcp.stream()) != 0) return;
    sockaddr_storage ss{};
    int len = sizeof(ss);
    uv_tcp_getpeername(peer->tcp.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    peer->port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    Peer& p = *peer;
    self->peers_.push_back(std::move(peer));
    if (self->read_on_accept) self->StartReading(p);
  }

  void StartReading(Peer& p) {
    if (p.reading || !p.tcp) return;
    p.reading = true;
    uv_read_start(
        p.tcp.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* peer = static_cast<Peer*>(h->data);
          *buf = uv_buf_init(peer->server->buffer_, sizeof(peer->server->buffer_));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* peer = static_cast<Peer*>(s->data);
          if (peer == nullptr) return;
          if (n > 0) {
            peer->received.append(buf->base, static_cast<size_t>(n));
            if (peer->server->echo) {
              uv_buf_t out = uv_buf_init(buf->base, static_cast<unsigned>(n));
              uv_try_write(s, &out, 1);
            }
          } else if (n < 0) {
            peer->eof = true;
            uv_read_stop(s);
          }
        });
  }

  uv_loop_t* loop_;
  UvHandle<uv_tcp_t> listener_;
  bool ok_ = false;
  uint16_t port_ = 0;
  HostPtr host_;
  std::vector<std::unique_ptr<Peer>> peers_;
  char buffer_[64 * 1024];
};

// Where an Acquire callback puts its result.
struct Acquired {
  int calls = 0;
  PoolResult result;
  bool done() const { return calls > 0; }
};

CancelHandle AcquireInto(UpstreamPool& pool, const HostPtr& host, Acquired& out) {
  return pool.Acquire(host, [&out](PoolResult r) {
    ++out.calls;
    out.result = std::move(r);
  });
}

struct Recorder : UpstreamConnectionCallbacks {
  void OnUpstreamData(std::string_view d) override { data.append(d); }
  void OnUpstreamClosed(bool r) override {
    ++closed;
    reset = r;
  }
  void OnUpstreamWritable() override { ++writable; }
  std::string data;
  int closed = 0;
  bool reset = false;
  int writable = 0;
};

PoolOptions SmallOptions() {
  PoolOptions o;
  o.connect_timeout = absl::Seconds(2);
  return o;
}

TEST_CASE("acquire connects and runs its callback once on a later loop turn", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  server.echo = true;
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired got;
  CancelHandle handle = AcquireInto(*pool, server.host(), got);
  REQUIRE(got.calls == 0);  // never inside Acquire
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  REQUIRE(got.result.ok());
  REQUIRE(got.result.error.empty());
  REQUIRE_FALSE(got.result.lease.reused());
  REQUIRE(&got.result.lease->host() == server.host().get());
  REQUIRE(pool->stats().connections_opened == 1);
  REQUIRE(pool->stats().active == 1);
  REQUIRE(server.host()->active_connections() == 1);

  Recorder rec;
  got.result.lease->SetCallbacks(&rec);
  REQUIRE(got.result.lease->Write("ping"));
  REQUIRE(loop.RunUntil([&] { return rec.data == "ping"; }));

  loop.RunFor(absl::Milliseconds(20));
  REQUIRE(got.calls == 1);
  got.result.lease->SetCallbacks(nullptr);
}

TEST_CASE("a released connection is reused by the next acquire of the same host",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired first;
  CancelHandle h1 = AcquireInto(*pool, server.host(), first);
  REQUIRE(loop.RunUntil([&] { return first.done() && server.accepted() == 1; }));
  REQUIRE(first.result.lease->Write("one"));
  REQUIRE(loop.RunUntil([&] { return server.peer(0).received == "one"; }));
  first.result.lease.Release();
  REQUIRE_FALSE(first.result.lease);
  REQUIRE(pool->stats().idle == 1);
  REQUIRE(pool->stats().active == 0);

  Acquired second;
  CancelHandle h2 = AcquireInto(*pool, server.host(), second);
  REQUIRE(second.calls == 0);
  REQUIRE(loop.RunUntil([&] { return second.done(); }));
  REQUIRE(second.result.ok());
  REQUIRE(second.result.lease.reused());
  REQUIRE(second.result.lease->Write("two"));
  REQUIRE(loop.RunUntil([&] { return server.peer(0).received == "onetwo"; }));
  REQUIRE(server.accepted() == 1);  // same connection, same peer port
  PoolStats s = pool->stats();
  REQUIRE(s.connections_opened == 1);
  REQUIRE(s.connections_reused == 1);
  REQUIRE(s.idle == 0);
  REQUIRE(s.active == 1);
}

TEST_CASE("the most recently released idle connection is handed out first", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired a, b;
  CancelHandle ha = AcquireInto(*pool, server.host(), a);
  CancelHandle hb = AcquireInto(*pool, server.host(), b);
  REQUIRE(loop.RunUntil([&] { return a.done() && b.done() && server.accepted() == 2; }));
  REQUIRE(a.result.lease->Write("a"));
  REQUIRE(b.result.lease->Write("b"));
  REQUIRE(loop.RunUntil(
      [&] { return server.peer(0).received.size() == 1 && server.peer(1).received.size() == 1; }));
  size_t b_peer = server.peer(0).received == "b" ? 0 : 1;
  a.result.lease.Release();
  b.result.lease.Release();  // b is the warmest now
  REQUIRE(pool->stats().idle == 2);

  Acquired c;
  CancelHandle hc = AcquireInto(*pool, server.host(), c);
  REQUIRE(loop.RunUntil([&] { return c.done(); }));
  REQUIRE(c.result.lease.reused());
  REQUIRE(c.result.lease->Write("c"));
  REQUIRE(loop.RunUntil([&] { return server.peer(b_peer).received == "bc"; }));
}

TEST_CASE("destroying a lease without Release closes the connection", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  got.result.lease = PoolLease();  // destroys the lease
  REQUIRE(loop.RunUntil([&] { return server.peer(0).eof; }));
  REQUIRE(pool->stats().idle == 0);
  REQUIRE(pool->stats().active == 0);
  REQUIRE(server.host()->active_connections() == 0);
}

TEST_CASE("an idle connection closed by the upstream is discarded and the next acquire connects",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired first;
  CancelHandle h1 = AcquireInto(*pool, server.host(), first);
  REQUIRE(loop.RunUntil([&] { return first.done() && server.accepted() == 1; }));
  first.result.lease.Release();
  REQUIRE(pool->stats().idle == 1);

  server.Close(0);
  REQUIRE(loop.RunUntil([&] { return pool->stats().idle_closed_by_upstream == 1; }));
  REQUIRE(pool->stats().idle == 0);
  REQUIRE(server.host()->active_connections() == 0);

  Acquired second;
  CancelHandle h2 = AcquireInto(*pool, server.host(), second);
  REQUIRE(loop.RunUntil([&] { return second.done() && server.accepted() == 2; }));
  REQUIRE(second.result.ok());
  REQUIRE_FALSE(second.result.lease.reused());
  REQUIRE(pool->stats().connections_opened == 2);
  REQUIRE(pool->stats().connections_reused == 0);
}

TEST_CASE("stray bytes from the upstream on an idle connection discard it", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  got.result.lease.Release();
  server.Send(0, "HTTP/1.1 200 OK\r\n\r\n");  // nothing was asked for
  REQUIRE(loop.RunUntil([&] { return server.peer(0).eof; }));
  REQUIRE(pool->stats().idle_closed_by_upstream == 1);
  REQUIRE(pool->stats().idle == 0);
}

TEST_CASE("an upstream closing a leased connection is reported once, as EOF or reset",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  Recorder rec;
  got.result.lease->SetCallbacks(&rec);
  bool expect_reset = false;
  SECTION("graceful close") {
    server.Send(0, "bye");
    server.Close(0);
  }
  SECTION("reset") {
    expect_reset = true;
    server.Reset(0);
  }
  REQUIRE(loop.RunUntil([&] { return rec.closed > 0; }));
  loop.RunFor(absl::Milliseconds(20));
  REQUIRE(rec.closed == 1);
  REQUIRE(rec.reset == expect_reset);
  if (!expect_reset) REQUIRE(rec.data == "bye");
  REQUIRE_FALSE(got.result.lease->Write("late"));
  REQUIRE(server.host()->active_connections() == 0);
  REQUIRE(pool->stats().active == 0);
  // Releasing a dead connection does not pool it.
  got.result.lease.Release();
  REQUIRE(pool->stats().idle == 0);
}

TEST_CASE("a refused connect fails fast with kConnectFailed", "[upstream_pool]") {
  TestLoop loop;
  auto host = std::make_shared<Host>("127.0.0.1", ClosedPort());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  absl::Time start = absl::Now();
  Acquired got;
  CancelHandle h = AcquireInto(*pool, host, got);
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  REQUIRE(absl::Now() - start < absl::Seconds(1));
  REQUIRE_FALSE(got.result.ok());
  REQUIRE(got.result.failure == PoolFailure::kConnectFailed);
  REQUIRE_THAT(got.result.error, Catch::Contains(host->name()));
  REQUIRE(pool->stats().connect_failures == 1);
  REQUIRE(pool->stats().connections_opened == 0);
  REQUIRE(host->active_connections() == 0);
}

TEST_CASE("an address that is not an IP literal fails with kConnectFailed", "[upstream_pool]") {
  TestLoop loop;
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());
  Acquired got;
  CancelHandle h = AcquireInto(*pool, std::make_shared<Host>("localhost", 80), got);
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  REQUIRE(got.result.failure == PoolFailure::kConnectFailed);
  REQUIRE_FALSE(got.result.error.empty());
}

TEST_CASE("a connect that gets no answer fails with kConnectTimeout", "[upstream_pool]") {
  TestLoop loop;
  BlackholeListener blackhole;
  if (!blackhole.ok()) {
    WARN("this kernel answers SYNs to a full accept queue; the timeout path is not reachable");
    return;
  }
  PoolOptions options;
  options.connect_timeout = absl::Milliseconds(100);
  auto pool = MakeTcpPool(loop.dispatcher(), options);
  HostPtr host = std::make_shared<Host>("127.0.0.1", blackhole.port());

  absl::Time start = absl::Now();
  Acquired got;
  CancelHandle h = AcquireInto(*pool, host, got);
  REQUIRE(host->active_connections() == 0);  // counted from the connect, on a later turn
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  absl::Duration took = absl::Now() - start;
  // libuv's clock has millisecond resolution.
  REQUIRE(took >= absl::Milliseconds(99));
  REQUIRE(took < absl::Seconds(2));
  REQUIRE(got.result.failure == PoolFailure::kConnectTimeout);
  REQUIRE_THAT(got.result.error, Catch::Contains("timed out"));
  REQUIRE(pool->stats().connect_failures == 1);
  REQUIRE(host->active_connections() == 0);
}

TEST_CASE("acquires beyond max_connections_per_host fail at once with kOverflow",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  PoolOptions options = SmallOptions();
  options.max_connections_per_host = 2;
  auto pool = MakeTcpPool(loop.dispatcher(), options);

  Acquired a, b, c;
  CancelHandle ha = AcquireInto(*pool, server.host(), a);
  CancelHandle hb = AcquireInto(*pool, server.host(), b);
  CancelHandle hc = AcquireInto(*pool, server.host(), c);
  REQUIRE(c.calls == 0);
  loop.Turn();
  // Decided on the first turn, before any connect completes.
  REQUIRE(c.done());
  REQUIRE(c.result.failure == PoolFailure::kOverflow);
  REQUIRE_FALSE(c.result.error.empty());
  REQUIRE(loop.RunUntil([&] { return a.done() && b.done(); }));
  REQUIRE(a.result.ok());
  REQUIRE(b.result.ok());

  // Idle connections count too; once one closes there is room again.
  a.result.lease.Release();
  Acquired d;
  CancelHandle hd = AcquireInto(*pool, server.host(), d);
  REQUIRE(loop.RunUntil([&] { return d.done(); }));
  REQUIRE(d.result.lease.reused());
  Acquired e;
  CancelHandle he = AcquireInto(*pool, server.host(), e);
  REQUIRE(loop.RunUntil([&] { return e.done(); }));
  REQUIRE(e.result.failure == PoolFailure::kOverflow);
  b.result.lease = PoolLease();
  Acquired f;
  CancelHandle hf = AcquireInto(*pool, server.host(), f);
  REQUIRE(loop.RunUntil([&] { return f.done(); }));
  REQUIRE(f.result.ok());
}

TEST_CASE("a cancelled acquire never runs its callback", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired cancelled, other;
  CancelHandle h1 = AcquireInto(*pool, server.host(), cancelled);
  CancelHandle h2 = AcquireInto(*pool, server.host(), other);
  h1.Cancel();
  REQUIRE(loop.RunUntil([&] { return other.done(); }));
  loop.RunFor(absl::Milliseconds(50));
  REQUIRE(cancelled.calls == 0);
  REQUIRE(server.accepted() == 1);  // nothing was connected for it
  h1.Cancel();                      // twice is harmless
  h2.Cancel();                      // after the callback ran: nothing
  REQUIRE(other.result.ok());
}

TEST_CASE("an acquire cancelled while connecting never runs and its connection is kept warm",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired got;
  {
    CancelHandle h = AcquireInto(*pool, server.host(), got);
    loop.Turn();  // the connect has started
    REQUIRE(server.host()->active_connections() == 1);
    REQUIRE(got.calls == 0);
  }  // destroying the handle cancels
  REQUIRE(loop.RunUntil([&] { return pool->stats().idle == 1; }));
  REQUIRE(got.calls == 0);
  REQUIRE(pool->stats().connections_opened == 1);

  Acquired next;
  CancelHandle h = AcquireInto(*pool, server.host(), next);
  REQUIRE(loop.RunUntil([&] { return next.done(); }));
  REQUIRE(next.result.lease.reused());
  REQUIRE(server.accepted() == 1);
}

TEST_CASE("an acquire cancelled during a connect that times out stays silent", "[upstream_pool]") {
  TestLoop loop;
  BlackholeListener blackhole;
  if (!blackhole.ok()) {
    WARN("this kernel answers SYNs to a full accept queue; the timeout path is not reachable");
    return;
  }
  PoolOptions options;
  options.connect_timeout = absl::Milliseconds(50);
  auto pool = MakeTcpPool(loop.dispatcher(), options);
  HostPtr host = std::make_shared<Host>("127.0.0.1", blackhole.port());
  Acquired got;
  CancelHandle h = AcquireInto(*pool, host, got);
  loop.Turn();
  h.Cancel();
  REQUIRE(loop.RunUntil([&] { return pool->stats().connect_failures == 1; }));
  REQUIRE(got.calls == 0);
  REQUIRE(host->active_connections() == 0);
}

TEST_CASE("idle connections are closed after idle_timeout", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  PoolOptions options = SmallOptions();
  options.idle_timeout = absl::Milliseconds(50);
  auto pool = MakeTcpPool(loop.dispatcher(), options);

  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  absl::Time released = absl::Now();
  got.result.lease.Release();
  REQUIRE(pool->stats().idle == 1);
  REQUIRE(loop.RunUntil([&] { return server.peer(0).eof; }));
  REQUIRE(absl::Now() - released >= absl::Milliseconds(49));  // libuv's clock: 1 ms steps
  REQUIRE(pool->stats().idle == 0);
  REQUIRE(pool->stats().idle_closed_by_upstream == 0);
  REQUIRE(server.host()->active_connections() == 0);
}

TEST_CASE("max_idle_per_host closes the oldest idle connection", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  PoolOptions options = SmallOptions();
  options.max_idle_per_host = 1;
  auto pool = MakeTcpPool(loop.dispatcher(), options);

  Acquired a, b;
  CancelHandle ha = AcquireInto(*pool, server.host(), a);
  CancelHandle hb = AcquireInto(*pool, server.host(), b);
  REQUIRE(loop.RunUntil([&] { return a.done() && b.done() && server.accepted() == 2; }));
  REQUIRE(a.result.lease->Write("a"));
  REQUIRE(loop.RunUntil(
      [&] { return server.peer(0).received == "a" || server.peer(1).received == "a"; }));
  size_t a_peer = server.peer(0).received == "a" ? 0 : 1;
  a.result.lease.Release();
  b.result.lease.Release();
  REQUIRE(pool->stats().idle == 1);
  REQUIRE(loop.RunUntil([&] { return server.peer(a_peer).eof; }));
  REQUIRE_FALSE(server.peer(1 - a_peer).eof);
  REQUIRE(server.host()->active_connections() == 1);
}

TEST_CASE("a connection that served max_requests_per_connection is closed, not pooled",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  PoolOptions options = SmallOptions();
  options.max_requests_per_connection = 2;
  auto pool = MakeTcpPool(loop.dispatcher(), options);

  for (int round = 0; round < 2; ++round) {
    Acquired got;
    CancelHandle h = AcquireInto(*pool, server.host(), got);
    REQUIRE(loop.RunUntil([&] { return got.done(); }));
    REQUIRE(got.result.lease.reused() == (round == 1));
    got.result.lease.Release();
  }
  REQUIRE(pool->stats().idle == 0);
  REQUIRE(loop.RunUntil([&] { return server.accepted() == 1 && server.peer(0).eof; }));

  Acquired third;
  CancelHandle h = AcquireInto(*pool, server.host(), third);
  REQUIRE(loop.RunUntil([&] { return third.done() && server.accepted() == 2; }));
  REQUIRE_FALSE(third.result.lease.reused());
}

TEST_CASE("writes above the high watermark wait for the upstream and then report writable",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  server.read_on_accept = false;
  PoolOptions options = SmallOptions();
  options.write_high_watermark = 64 * 1024;
  options.write_low_watermark = 16 * 1024;
  auto pool = MakeTcpPool(loop.dispatcher(), options);

  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  UpstreamConnection& conn = *got.result.lease.connection();
  Recorder rec;
  conn.SetCallbacks(&rec);

  // Fill the socket buffers of both ends until bytes queue in the pool.
  const std::string chunk(16 * 1024, 'x');
  size_t written = 0;
  for (int i = 0; i < 4096 && !conn.above_high_watermark(); ++i) {
    REQUIRE(conn.Write(chunk));
    written += chunk.size();
    if (conn.write_queue_bytes() == 0) loop.Turn();
  }
  REQUIRE(conn.above_high_watermark());
  REQUIRE(conn.write_queue_bytes() > options.write_high_watermark);
  loop.RunFor(absl::Milliseconds(50));
  REQUIRE(rec.writable == 0);  // the upstream is not reading
  REQUIRE(conn.above_high_watermark());

  SECTION("the writable callback fires once the upstream reads") {
    server.StartReading(0);
    REQUIRE(loop.RunUntil([&] { return rec.writable == 1; }));
    REQUIRE_FALSE(conn.above_high_watermark());
    REQUIRE(conn.write_queue_bytes() < options.write_low_watermark);
    REQUIRE(loop.RunUntil([&] { return server.peer(0).received.size() == written; }));
    REQUIRE(conn.write_queue_bytes() == 0);
    REQUIRE(rec.writable == 1);
    got.result.lease.Release();
    REQUIRE(pool->stats().idle == 1);
  }
  SECTION("releasing with queued bytes closes instead of pooling") {
    got.result.lease.Release();
    REQUIRE(pool->stats().idle == 0);
    server.StartReading(0);
    REQUIRE(loop.RunUntil([&] { return server.peer(0).eof; }));
    REQUIRE(server.peer(0).received.size() < written);
  }
  REQUIRE(rec.closed == 0);
}

TEST_CASE("SetReadEnabled(false) holds upstream bytes until reading is enabled again",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());
  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done() && server.accepted() == 1; }));
  Recorder rec;
  got.result.lease->SetCallbacks(&rec);
  got.result.lease->SetReadEnabled(false);
  server.Send(0, "held");
  loop.RunFor(absl::Milliseconds(50));
  REQUIRE(rec.data.empty());
  got.result.lease->SetReadEnabled(true);
  REQUIRE(loop.RunUntil([&] { return rec.data == "held"; }));
}

TEST_CASE("CloseIdle closes every idle connection and leaves leased ones alone",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());
  Acquired a, b;
  CancelHandle ha = AcquireInto(*pool, server.host(), a);
  CancelHandle hb = AcquireInto(*pool, server.host(), b);
  REQUIRE(loop.RunUntil([&] { return a.done() && b.done() && server.accepted() == 2; }));
  a.result.lease.Release();
  pool->CloseIdle();
  REQUIRE(pool->stats().idle == 0);
  REQUIRE(pool->stats().active == 1);
  REQUIRE(loop.RunUntil([&] { return server.eofs() == 1; }));
  REQUIRE(b.result.lease->Write("still here"));
}

TEST_CASE("host active connection counts return to zero once everything is closed",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer s1(loop.loop());
  ScriptedServer s2(loop.loop());
  REQUIRE(s1.ok());
  REQUIRE(s2.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  std::vector<Acquired> got(6);
  std::vector<CancelHandle> handles;
  for (size_t i = 0; i < got.size(); ++i) {
    handles.push_back(AcquireInto(*pool, i % 2 == 0 ? s1.host() : s2.host(), got[i]));
  }
  REQUIRE(loop.RunUntil([&] {
    for (auto& g : got) {
      if (!g.done()) return false;
    }
    return true;
  }));
  REQUIRE(s1.host()->active_connections() == 3);
  REQUIRE(s2.host()->active_connections() == 3);
  // Some back to the pool, some closed.
  for (size_t i = 0; i < got.size(); ++i) {
    if (i < 3) {
      got[i].result.lease.Release();
    } else {
      got[i].result.lease = PoolLease();
    }
  }
  REQUIRE(pool->stats().idle == 3);
  REQUIRE(s1.host()->active_connections() + s2.host()->active_connections() == 3);
  pool->CloseIdle();
  REQUIRE(s1.host()->active_connections() == 0);
  REQUIRE(s2.host()->active_connections() == 0);
  REQUIRE(loop.RunUntil([&] { return s1.eofs() == 3 && s2.eofs() == 3; }));
}

TEST_CASE("destroying the pool drops pending acquires and leaves outstanding leases safe",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  Acquired leased, idle, pending;
  CancelHandle h1 = AcquireInto(*pool, server.host(), leased);
  CancelHandle h2 = AcquireInto(*pool, server.host(), idle);
  REQUIRE(loop.RunUntil([&] { return leased.done() && idle.done() && server.accepted() == 2; }));
  idle.result.lease.Release();
  Recorder rec;
  leased.result.lease->SetCallbacks(&rec);

  // A callback that owns something, to see it destroyed rather than run.
  auto token = std::make_shared<int>(0);
  bool ran = false;
  CancelHandle h3 = pool->Acquire(server.host(), [&ran, token](PoolResult) { ran = true; });
  REQUIRE(token.use_count() == 2);
  pool.reset();
  REQUIRE(token.use_count() == 1);

  // Every connection is closed by now; the lease still refers to its own.
  REQUIRE(server.host()->active_connections() == 0);
  REQUIRE(leased.result.lease);
  REQUIRE_FALSE(leased.result.lease->Write("after"));
  REQUIRE(leased.result.lease->host().port() == server.port());
  h3.Cancel();  // the pool is gone: nothing happens
  loop.RunFor(absl::Milliseconds(50));
  REQUIRE_FALSE(ran);
  REQUIRE(rec.closed == 0);  // no callbacks from a dying pool
  REQUIRE(loop.RunUntil([&] { return server.eofs() == 2; }));

  SECTION("the lease is destroyed") { leased.result.lease = PoolLease(); }
  SECTION("the lease is released") { leased.result.lease.Release(); }
  REQUIRE_FALSE(leased.result.lease);
}

TEST_CASE("a callback may destroy the pool while other acquires are due on the same turn",
          "[upstream_pool]") {
  TestLoop loop;
  auto pool = MakeTcpPool(loop.dispatcher(), PoolOptions{.max_connections_per_host = 1});
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());

  Acquired first;
  CancelHandle h1 = AcquireInto(*pool, server.host(), first);
  REQUIRE(loop.RunUntil([&] { return first.done(); }));
  // Both overflow on the next turn; the first callback destroys the pool.
  int calls = 0;
  CancelHandle h2 = pool->Acquire(server.host(), [&](PoolResult r) {
    ++calls;
    REQUIRE(r.failure == PoolFailure::kOverflow);
    pool.reset();
  });
  CancelHandle h3 = pool->Acquire(server.host(), [&](PoolResult) { ++calls; });
  loop.RunFor(absl::Milliseconds(20));
  REQUIRE(calls == 1);
  REQUIRE(pool == nullptr);
  first.result.lease = PoolLease();
  REQUIRE(loop.RunUntil([&] { return server.eofs() == 1; }));
}

TEST_CASE("connects to an IPv6 loopback upstream", "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop(), "::1");
  if (!server.ok()) {
    WARN("no IPv6 loopback here");
    return;
  }
  server.echo = true;
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());
  Acquired got;
  CancelHandle h = AcquireInto(*pool, server.host(), got);
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  REQUIRE(got.result.ok());
  Recorder rec;
  got.result.lease->SetCallbacks(&rec);
  REQUIRE(got.result.lease->Write("v6"));
  REQUIRE(loop.RunUntil([&] { return rec.data == "v6"; }));
  got.result.lease->SetCallbacks(nullptr);
}

TEST_CASE("pool options are validated and invalid ones fail every acquire", "[upstream_pool]") {
  REQUIRE(PoolOptions{}.Validate().ok());
  REQUIRE_FALSE(PoolOptions{.max_connections_per_host = 0}.Validate().ok());
  REQUIRE_FALSE(PoolOptions{.idle_timeout = absl::ZeroDuration()}.Validate().ok());
  REQUIRE(PoolOptions{.idle_timeout = absl::InfiniteDuration()}.Validate().ok());
  REQUIRE_FALSE(PoolOptions{.connect_timeout = -absl::Seconds(1)}.Validate().ok());
  REQUIRE_FALSE(PoolOptions{.write_high_watermark = 0, .write_low_watermark = 0}.Validate().ok());
  absl::Status bad = PoolOptions{.write_high_watermark = 10, .write_low_watermark = 10}.Validate();
  REQUIRE_FALSE(bad.ok());
  REQUIRE_THAT(std::string(bad.message()), Catch::Contains("write_low_watermark"));

  TestLoop loop;
  auto pool = MakeTcpPool(loop.dispatcher(), PoolOptions{.max_connections_per_host = 0});
  Acquired got;
  CancelHandle h = AcquireInto(*pool, std::make_shared<Host>("127.0.0.1", 1), got);
  REQUIRE(loop.RunUntil([&] { return got.done(); }));
  REQUIRE_FALSE(got.result.ok());
  REQUIRE_THAT(got.result.error, Catch::Contains("max_connections_per_host"));
}

// The sample in docs/upstream-pool.md, verbatim.
class OneShot : public UpstreamConnectionCallbacks {
 public:
  OneShot(UpstreamPool& pool, HostPtr host, std::string request,
          absl::AnyInvocable<void(std::string)> done)
      : request_(std::move(request)), done_(std::move(done)) {
    pending_ = pool.Acquire(std::move(host), [this](PoolResult r) { OnReady(std::move(r)); });
  }

 private:
  void OnReady(PoolResult result) {
    if (!result.ok()) {
      done_("error: " + result.error);
      return;
    }
    lease_ = std::move(result.lease);
    lease_->SetCallbacks(this);  // reading starts now
    lease_->Write(request_);
  }
  void OnUpstreamData(std::string_view data) override {
    std::string answer(data);  // the view dies with this call
    lease_.Release();          // exchange complete: keep the connection warm
    done_(std::move(answer));
  }
  void OnUpstreamClosed(bool reset) override {
    lease_ = PoolLease();  // dead: close it, never reuse it
    done_(reset ? "reset" : "closed");
  }

  std::string request_;
  absl::AnyInvocable<void(std::string)> done_;
  CancelHandle pending_;  // destroying OneShot cancels a pending Acquire
  PoolLease lease_;       // declared last, destroyed first
};

TEST_CASE("the documented one-shot sample exchanges bytes and keeps the connection warm",
          "[upstream_pool]") {
  TestLoop loop;
  ScriptedServer server(loop.loop());
  REQUIRE(server.ok());
  server.echo = true;
  auto pool = MakeTcpPool(loop.dispatcher(), SmallOptions());

  std::vector<std::string> answers;
  auto done = [&answers](std::string a) { answers.push_back(std::move(a)); };
  {
    OneShot first(*pool, server.host(), "hello", done);
    REQUIRE(loop.RunUntil([&] { return answers.size() == 1; }));
  }
  {
    OneShot second(*pool, server.host(), "again", done);
    REQUIRE(loop.RunUntil([&] { return answers.size() == 2; }));
  }
  {
    OneShot refused(*pool, std::make_shared<Host>("127.0.0.1", ClosedPort()), "x", done);
    REQUIRE(loop.RunUntil([&] { return answers.size() == 3; }));
  }
  REQUIRE(answers[0] == "hello");
  REQUIRE(answers[1] == "again");
  REQUIRE_THAT(answers[2], Catch::StartsWith("error: connect to 127.0.0.1:"));
  REQUIRE(pool->stats().connections_reused == 1);
  REQUIRE(server.accepted() == 1);
  { OneShot cancelled(*pool, server.host(), "never", done); }
  loop.RunFor(absl::Milliseconds(20));
  REQUIRE(answers.size() == 3);
}

}  // namespace
}  // namespace gateway
