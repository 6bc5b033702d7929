// StreamSocket over the TCP transport, against a loopback peer the test drives
// with plain non-blocking syscalls. The socket runs on a libuv loop the test
// turns itself; every wait is bounded by a deadline, none sleeps.
#include "net/stream_socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "event/uv_dispatcher.h"
#include "event/uv_handle.h"
#include "net/tcp_transport.h"

namespace gateway::internal {
namespace {

// Small kernel buffers, so a write of a few hundred KiB is only partly taken.
constexpr int kSmallBuffer = 16 * 1024;

// What the socket told its owner, in order.
struct Recorder final : StreamSocketCallbacks {
  void OnSocketData(std::string_view data) override {
    received.append(data);
    events.push_back("data");
  }
  void OnSocketEof() override { events.push_back("eof"); }
  void OnSocketClosed(SocketCloseReason reason) override {
    closed.push_back(reason);
    events.push_back("closed");
  }
  void OnSocketSent() override { ++sent; }
  void OnSocketBelowLowWatermark() override {
    ++below_low;
    events.push_back("below_low");
  }

  std::string received;
  std::vector<std::string> events;
  std::vector<SocketCloseReason> closed;
  int sent = 0;
  int below_low = 0;
};

// A connected loopback pair: `fd` goes to the socket under test, `peer` stays
// a plain non-blocking descriptor the test reads and writes.
struct Pair {
  int fd = -1;
  int peer = -1;
};

Pair Connect() {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(listen(listener, 1) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  Pair p;
  p.peer = socket(AF_INET, SOCK_STREAM, 0);
  setsockopt(p.peer, SOL_SOCKET, SO_RCVBUF, &kSmallBuffer, sizeof(kSmallBuffer));
  // Loopback: the handshake completes inside connect, and accept finds it queued.
  REQUIRE(connect(p.peer, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  p.fd = accept(listener, nullptr, nullptr);
  REQUIRE(p.fd >= 0);
  close(listener);
  setsockopt(p.fd, SOL_SOCKET, SO_SNDBUF, &kSmallBuffer, sizeof(kSmallBuffer));
  fcntl(p.peer, F_SETFL, fcntl(p.peer, F_GETFL) | O_NONBLOCK);
  return p;
}

class Fixture {
 public:
  explicit Fixture(StreamSocket::Options options = {}) {
    // Writing to a socket the peer reset raises SIGPIPE, which would end the test.
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop_);
    dispatcher_ = std::make_unique<UvDispatcher>(&loop_);
    Pair pair = Connect();
    peer_ = pair.peer;
    UvHandle<uv_tcp_t> tcp;
    REQUIRE(tcp.Init(&loop_, uv_tcp_init) == 0);
    REQUIRE(uv_tcp_open(tcp.get(), pair.fd) == 0);
    buffer_.resize(64 * 1024);
    socket_ = std::make_unique<StreamSocket>(
        *dispatcher_,
        std::make_unique<TcpTransport>(std::move(tcp),
                                       ReadBuffer{.data = buffer_.data(), .size = buffer_.size()}),
        rec, options);
  }
  ~Fixture() {
    socket_.reset();
    dispatcher_.reset();
    if (peer_ >= 0) close(peer_);
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0 && absl::Now() < deadline) {
    }
    CHECK(uv_loop_close(&loop_) == 0);
  }

  StreamSocket& socket() { return *socket_; }

  // Turns the loop until `done` holds (at most 5 s); returns `done()`.
  bool RunUntil(const std::function<bool()>& done) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (!done() && absl::Now() < deadline) uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  void Turns(int n) {
    for (int i = 0; i < n; ++i) uv_run(&loop_, UV_RUN_NOWAIT);
  }

  // Reads what the peer has been sent so far into `peer_received`.
  void PeerRead() {
    char buf[64 * 1024];
    for (;;) {
      ssize_t n = recv(peer_, buf, sizeof(buf), 0);
      if (n > 0) {
        peer_received.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) peer_eof = true;
      if (n < 0 && errno == ECONNRESET) peer_reset = true;
      return;
    }
  }
  void PeerSend(std::string_view data) {
    REQUIRE(send(peer_, data.data(), data.size(), 0) == static_cast<ssize_t>(data.size()));
  }
  void PeerShutdown() { shutdown(peer_, SHUT_WR); }
  // An abortive close: the socket under test gets a reset.
  void PeerReset() {
    linger l{1, 0};
    setsockopt(peer_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(peer_);
    peer_ = -1;
  }

  Recorder rec;
  std::string peer_received;
  bool peer_eof = false;
  bool peer_reset = false;

 private:
  uv_loop_t loop_;
  std::unique_ptr<UvDispatcher> dispatcher_;
  std::vector<char> buffer_;
  std::unique_ptr<StreamSocket> socket_;
  int peer_ = -1;
};

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

TEST_CASE("a write the kernel takes at once queues nothing") {
  Fixture f;
  REQUIRE(f.socket().Write("hello"));
  CHECK(f.socket().write_queue_bytes() == 0);
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_received.size() == 5;
  }));
  CHECK(f.peer_received == "hello");
  CHECK(f.rec.sent == 0);
}

TEST_CASE("the part of a write the kernel does not take is queued and sent in order") {
  Fixture f;
  std::string a = Pattern(512 * 1024, 'a');
  std::string b = Pattern(100 * 1024, 'K');
  REQUIRE(f.socket().Write(a));
  size_t after_first = f.socket().write_queue_bytes();
  CHECK(after_first > 0);
  CHECK(after_first < a.size());  // partly taken at once
  REQUIRE(f.socket().Write(b));
  REQUIRE(f.socket().Write("tail"));
  CHECK(f.socket().write_queue_bytes() == after_first + b.size() + 4);
  CHECK(f.socket().UnsentBytes() > 0);
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_received.size() == a.size() + b.size() + 4;
  }));
  CHECK(f.peer_received == a + b + "tail");
  REQUIRE(f.RunUntil([&] { return f.socket().write_queue_bytes() == 0; }));
  CHECK(f.rec.sent >= 1);
  CHECK(f.rec.closed.empty());
  // The queue's buffers went with it, and the next write goes straight out.
  REQUIRE(f.socket().Write("again"));
  CHECK(f.socket().write_queue_bytes() == 0);
}

TEST_CASE("the watermarks fire once each way per crossing, never inside Write") {
  Fixture f({.high_watermark = 128 * 1024, .low_watermark = 32 * 1024});
  std::string chunk = Pattern(64 * 1024, 'w');
  for (int round = 1; round <= 2; ++round) {
    INFO("round " << round);
    while (!f.socket().above_high_watermark()) REQUIRE(f.socket().Write(chunk));
    CHECK(f.socket().write_queue_bytes() > 128 * 1024);
    REQUIRE(f.socket().Write(chunk));  // still above: no second crossing
    CHECK(f.socket().above_high_watermark());
    CHECK(f.rec.below_low == round - 1);
    REQUIRE(f.RunUntil([&] {
      f.PeerRead();
      return f.socket().write_queue_bytes() == 0;
    }));
    CHECK_FALSE(f.socket().above_high_watermark());
    CHECK(f.rec.below_low == round);
  }
  // A queue that never rose above the high watermark fires nothing.
  REQUIRE(f.socket().Write(Pattern(160 * 1024, 'v')));
  REQUIRE(f.socket().write_queue_bytes() > 0);
  REQUIRE_FALSE(f.socket().above_high_watermark());
  int sent = f.rec.sent;
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.socket().write_queue_bytes() == 0;
  }));
  CHECK(f.rec.sent > sent);
  CHECK(f.rec.below_low == 2);
}

TEST_CASE("bytes from the peer arrive in order and its end is reported once") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  f.PeerSend("one ");
  REQUIRE(f.RunUntil([&] { return f.rec.received == "one "; }));
  f.PeerSend("two");
  f.PeerShutdown();
  REQUIRE(f.RunUntil([&] { return !f.rec.events.empty() && f.rec.events.back() == "eof"; }));
  CHECK(f.rec.received == "one two");
  CHECK(f.socket().input_ended());
  CHECK_FALSE(f.socket().reading());
  CHECK_FALSE(f.socket().SetReading(true));
  // Half-closed by the peer: the socket still writes.
  REQUIRE(f.socket().Write("answer"));
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_received == "answer";
  }));
  f.Turns(3);
  CHECK(f.rec.closed.empty());
  CHECK(std::count(f.rec.events.begin(), f.rec.events.end(), "eof") == 1);
}

TEST_CASE("stopped reading holds the peer's bytes until reading starts again") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  CHECK_FALSE(f.socket().SetReading(false));
  f.PeerSend("held");
  f.Turns(5);
  CHECK(f.rec.received.empty());
  REQUIRE(f.socket().SetReading(true));
  REQUIRE(f.RunUntil([&] { return f.rec.received == "held"; }));
}

TEST_CASE("Shutdown sends the queue, then the end of stream, and reading goes on") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  std::string body = Pattern(300 * 1024, 's');
  REQUIRE(f.socket().Write(body));
  REQUIRE(f.socket().write_queue_bytes() > 0);
  f.socket().Shutdown();
  CHECK_FALSE(f.socket().writable());
  CHECK_FALSE(f.socket().Write("late"));
  // The peer gets every byte and then the end, nothing after it.
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_eof;
  }));
  CHECK(f.peer_received == body);
  // The other direction is still open.
  f.PeerSend("reply");
  REQUIRE(f.RunUntil([&] { return f.rec.received == "reply"; }));
  f.PeerShutdown();
  REQUIRE(f.RunUntil([&] { return f.socket().input_ended(); }));
  CHECK(f.rec.closed.empty());
}

TEST_CASE("Shutdown with nothing queued ends the stream at once") {
  Fixture f;
  f.socket().Shutdown();
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_eof;
  }));
  CHECK(f.peer_received.empty());
}

TEST_CASE("CloseAfterDrain sends what is queued, then closes and reports kDrained once") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  std::string body = Pattern(400 * 1024, 'c');
  REQUIRE(f.socket().Write(body));
  REQUIRE_FALSE(f.socket().CloseAfterDrain());
  CHECK_FALSE(f.socket().reading());
  CHECK_FALSE(f.socket().SetReading(true));
  // Still accepted while closing: it goes out before the close.
  REQUIRE(f.socket().Write("last"));
  f.PeerSend("ignored");
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_eof;
  }));
  CHECK(f.peer_received == body + "last");
  CHECK(f.rec.received.empty());
  REQUIRE(f.rec.closed == std::vector<SocketCloseReason>{SocketCloseReason::kDrained});
  CHECK(f.socket().closed());
  f.Turns(3);
  CHECK(f.rec.closed.size() == 1);
}

TEST_CASE("CloseAfterDrain with nothing queued closes at once and reports nothing") {
  Fixture f;
  REQUIRE(f.socket().CloseAfterDrain());
  CHECK(f.socket().closed());
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_eof;
  }));
  f.Turns(3);
  CHECK(f.rec.events.empty());
}

TEST_CASE("Close with a write in flight drops the queue and nothing is reported") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  REQUIRE(f.socket().Write(Pattern(400 * 1024, 'x')));
  REQUIRE(f.socket().write_queue_bytes() > 0);
  f.socket().Close();
  CHECK(f.socket().write_queue_bytes() == 0);
  CHECK_FALSE(f.socket().Write("more"));
  // The peer sees the connection end (after some of the bytes, or a reset).
  REQUIRE(f.RunUntil([&] {
    f.PeerRead();
    return f.peer_eof || f.peer_reset;
  }));
  f.Turns(3);
  CHECK(f.rec.events.empty());
}

TEST_CASE("kDrainInput: the peer's unread answer comes before the failed write is reported") {
  Fixture f({.on_write_error = StreamSocket::WriteErrorMode::kDrainInput});
  // An upstream answering early and resetting without reading the request.
  f.PeerSend("HTTP/1.1 413 Payload Too Large\r\n\r\n");
  f.PeerReset();
  // Reading is not started yet: the answer waits in the kernel.
  bool failed = false;
  for (int i = 0; i < 100 && !failed; ++i) {
    failed = !f.socket().Write(Pattern(64 * 1024, 'r'));
    f.Turns(1);
  }
  REQUIRE(failed);
  CHECK_FALSE(f.socket().writable());
  CHECK(f.socket().write_queue_bytes() == 0);
  CHECK_FALSE(f.socket().Write("dropped"));
  // Not reported while nothing reads: the answer would be lost.
  f.Turns(3);
  CHECK(f.rec.events.empty());
  REQUIRE(f.socket().SetReading(true));
  REQUIRE(f.RunUntil([&] { return !f.rec.closed.empty(); }));
  CHECK(f.rec.received == "HTTP/1.1 413 Payload Too Large\r\n\r\n");
  CHECK(f.rec.events.front() == "data");
  CHECK(f.rec.events.back() == "closed");
  CHECK(f.rec.closed == std::vector<SocketCloseReason>{SocketCloseReason::kWriteFailed});
  CHECK(f.socket().closed());
}

TEST_CASE("kDrainInput: a peer resetting with a write in flight has its answer delivered first") {
  Fixture f({.on_write_error = StreamSocket::WriteErrorMode::kDrainInput});
  REQUIRE(f.socket().SetReading(true));
  // Queued, so the failure comes from the write in flight, on the loop.
  REQUIRE(f.socket().Write(Pattern(512 * 1024, 'q')));
  REQUIRE(f.socket().write_queue_bytes() > 0);
  f.PeerSend("early answer");
  f.PeerReset();
  REQUIRE(f.RunUntil([&] { return !f.rec.closed.empty(); }));
  CHECK(f.rec.received == "early answer");
  CHECK(f.rec.events.front() == "data");
  CHECK(f.rec.events.back() == "closed");
  // Whichever of the read and the write met the reset first.
  REQUIRE(f.rec.closed.size() == 1);
  CHECK(f.rec.closed.front() != SocketCloseReason::kDrained);
}

TEST_CASE("kClose: a failed write closes at once and is reported on a later turn") {
  Fixture f;
  f.PeerReset();  // not reading: only a write can find out
  bool failed = false;
  for (int i = 0; i < 100 && !failed; ++i) {
    failed = !f.socket().Write(Pattern(64 * 1024, 'k'));
    if (!failed) f.Turns(1);
  }
  REQUIRE(failed);
  CHECK(f.rec.closed.empty());  // nothing inside the call
  CHECK(f.socket().closed());
  CHECK(f.socket().write_queue_bytes() == 0);
  REQUIRE(f.RunUntil([&] { return !f.rec.closed.empty(); }));
  CHECK(f.rec.closed == std::vector<SocketCloseReason>{SocketCloseReason::kWriteFailed});
  f.Turns(3);
  CHECK(f.rec.closed.size() == 1);
}

TEST_CASE("a reset peer is reported once as kReadFailed") {
  Fixture f;
  REQUIRE(f.socket().SetReading(true));
  f.PeerReset();
  REQUIRE(f.RunUntil([&] { return !f.rec.closed.empty(); }));
  CHECK(f.rec.closed == std::vector<SocketCloseReason>{SocketCloseReason::kReadFailed});
  CHECK(f.socket().closed());
  CHECK_FALSE(f.socket().Write("x"));
  f.Turns(3);
  CHECK(f.rec.closed.size() == 1);
}

TEST_CASE("Close before a pending failure report cancels it") {
  Fixture f;
  f.PeerReset();
  bool failed = false;
  for (int i = 0; i < 100 && !failed; ++i) {
    failed = !f.socket().Write(Pattern(64 * 1024, 'c'));
    if (!failed) f.Turns(1);
  }
  REQUIRE(failed);
  f.socket().Close();
  f.Turns(5);
  CHECK(f.rec.events.empty());
}

}  // namespace
}  // namespace gateway::internal
