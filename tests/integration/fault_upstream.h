// A misbehaving HTTP/1.1 upstream for proxy fault tests, plus the loopback
// socket helpers the proxy and pool tests share.
//
// `FaultUpstream` listens on a loopback address (ephemeral port by default)
// and answers each request as its `X-Fault-*` request headers say. The
// gateway removes hop-by-hop headers but forwards these, so a test steers the
// upstream through the proxy, one request at a time:
//
//   X-Fault-Status: N              status of the answer (default 200)
//   X-Fault-Body-Bytes: N          body of N bytes of FaultBody (default 2)
//   X-Fault-Chunked: 1             chunked body
//   X-Fault-Close-Delimited: 1     no length, "Connection: close", the body, then FIN
//   X-Fault-Trailers: 1            chunked body with trailer "X-Checksum: t"; with
//                                  "invalid", trailer "Content-Length: 5" instead
//   X-Fault-Header: Name: value    an extra response header (repeatable)
//   X-Fault-Delay-Head-Ms: N       nothing for N ms, then the answer
//   X-Fault-Delay-Body-Ms: N       the head at once, the body N ms later
//   X-Fault-Stall-After: N         the head and N body bytes, then nothing until
//                                  the peer closes
//   X-Fault-Read-Delay-Ms: N       the request body is read only after N ms, or
//                                  once the test calls ReleaseReadDelays()
//   X-Fault-Answer-Before-Body: 1  the answer right after the request head, the
//                                  body unread, then close (an RST, since input
//                                  is left unread), as a server refusing an
//                                  upload (413, 401) does
//   X-Fault-Reset-After: N         the first N bytes of the answer, then RST
//   X-Fault-Fin-Before-Length: 1   head and half the Content-Length body, then FIN
//   X-Fault-Missing-Last-Chunk: 1  chunked body without its last chunk, then FIN
//   X-Fault-Close: 1               FIN without answering
//   X-Fault-Drop-Reused: 1         FIN without answering, unless the request is
//                                  the first on its connection
//   X-Fault-Garbage: 1             bytes that are not HTTP
//   X-Fault-Bad: kind              an invalid head, see BadResponse()
//   X-Fault-Oversized-Headers: K   a head with K KiB of header fields
//   X-Fault-Extra: 1               a second, unrequested response in the same write
//   X-Fault-Body-On-204: 1         a 204 followed by body bytes
//   X-Fault-Body-On-304: 1         a 304 followed by body bytes
//   X-Fault-Body-On-Head: 1        the body even though the request is a HEAD
//
// `Options::faults` lines apply to every request as if it carried them, so
// one upstream of a cluster can misbehave while the others do not.
//
// After garbage, a bad head or an oversized head the upstream keeps the
// connection open until the peer closes it: a 502 then proves the gateway
// judged the bytes, not the close. Every answer names the upstream in
// "X-Fault-Upstream".
//
// Threads: one acceptor and one per accepted connection, at most
// `max_connections` (later ones are closed at once). Every wait also polls a
// stop pipe; a connection's waits last at most `io_timeout` each and its
// loops are bounded, so the destructor wakes all threads, joins them and
// closes every socket. Counters are atomics, readable from the test thread
// at any time.
//
// Header-only because the integration glob compiles only *_test.cc files.
#ifndef GATEWAY_TESTS_INTEGRATION_FAULT_UPSTREAM_H_
#define GATEWAY_TESTS_INTEGRATION_FAULT_UPSTREAM_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace gateway::itest {

// A socket bound to an ephemeral 127.0.0.1 port; listening if `backlog` > 0.
inline int BindLoopback(uint16_t* port, int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  if (backlog > 0) listen(fd, backlog);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

// A port on 127.0.0.1 that nothing listens on: connecting is refused.
inline uint16_t ClosedPort() {
  uint16_t port;
  close(BindLoopback(&port, 0));
  return port;
}

// A loopback listener that never answers a new SYN: its accept queue
// (backlog 0) is filled by a connection it never accepts, after which Linux
// drops further SYNs and connects hang until the client gives up. Nothing
// leaves loopback. `ok()` is false if the kernel does not behave that way.
class BlackholeListener {
 public:
  BlackholeListener() {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    if (listen(listener_, 0) != 0) return;
    socklen_t len = sizeof(a);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 16 && !ok_; ++i) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
      fillers_.push_back(c);
      pollfd p{c, POLLOUT, 0};
      // A connect that is still pending after 100 ms on loopback was dropped.
      ok_ = poll(&p, 1, 100) == 0;
    }
  }
  ~BlackholeListener() {
    for (int fd : fillers_) close(fd);
    if (listener_ >= 0) close(listener_);
  }
  BlackholeListener(const BlackholeListener&) = delete;
  BlackholeListener& operator=(const BlackholeListener&) = delete;

  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }

 private:
  int listener_ = -1;
  uint16_t port_ = 0;
  bool ok_ = false;
  std::vector<int> fillers_;
};

// Byte `i` of every FaultUpstream body: a pattern in which a lost, repeated
// or reordered piece shows up.
inline char FaultBodyByte(uint64_t i) { return static_cast<char>('a' + i % 26); }

// Bytes [offset, offset + n) of a FaultUpstream body.
inline std::string FaultBody(uint64_t n, uint64_t offset = 0) {
  std::string out(n, '\0');
  for (uint64_t i = 0; i < n; ++i) out[i] = FaultBodyByte(offset + i);
  return out;
}

class FaultUpstream {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    uint16_t port = 0;  // 0: ephemeral
    std::string name = "fault";
    int max_connections = 64;
    absl::Duration io_timeout = absl::Seconds(10);
    int send_buffer = 0;     // SO_SNDBUF of accepted sockets; 0 keeps the default
    int receive_buffer = 0;  // SO_RCVBUF of accepted sockets; 0 keeps the default
    // "X-Fault-Name: value" lines added to every request (see the banner).
    std::vector<std::string> faults;
  };

  FaultUpstream() : FaultUpstream(Options{}) {}
  explicit FaultUpstream(Options options) : o_(std::move(options)) {
    if (pipe2(stop_pipe_, O_CLOEXEC) != 0) return;
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (o_.receive_buffer > 0) {
      // Set before listen: accepted sockets inherit it, and the window scale
      // offered in the handshake depends on it.
      setsockopt(listener_, SOL_SOCKET, SO_RCVBUF, &o_.receive_buffer, sizeof(o_.receive_buffer));
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(o_.port);
    if (inet_pton(AF_INET, o_.address.c_str(), &a.sin_addr) != 1) return;
    if (bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return;
    if (listen(listener_, 1024) != 0) return;
    socklen_t len = sizeof(a);
    getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ok_ = true;
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~FaultUpstream() {
    if (stop_pipe_[1] >= 0) (void)!write(stop_pipe_[1], "x", 1);  // stays readable: wakes all
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
    if (listener_ >= 0) close(listener_);
    for (int fd : stop_pipe_) {
      if (fd >= 0) close(fd);
    }
  }
  FaultUpstream(const FaultUpstream&) = delete;
  FaultUpstream& operator=(const FaultUpstream&) = delete;

  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }
  const std::string& name() const { return o_.name; }

  // Connections accepted (and served).
  int accepted() const { return accepted_; }
  // Requests read in full, whatever the answer.
  int requests() const { return requests_; }
  // Connections that ended because the peer closed or reset them.
  int peer_closes() const { return peer_closes_; }
  // Connections being served now.
  int open_connections() const { return open_; }
  // Response body bytes handed to the kernel, over all connections.
  uint64_t body_bytes_sent() const { return body_bytes_sent_; }
  // Request body bytes read (decoded), over all connections.
  uint64_t request_body_bytes() const { return request_body_bytes_; }
  // Ends X-Fault-Read-Delay-Ms waits now, and later ones at once.
  void ReleaseReadDelays() { reads_released_ = true; }

  // The head an `X-Fault-Bad: kind` request gets; each is invalid HTTP/1.1.
  // Every one carries "X-Secret" and a "secret" body, which must never reach
  // a client.
  static std::string BadResponse(std::string_view kind) {
    const std::string tail = "X-Secret: 1\r\nContent-Length: 6\r\n\r\nsecret";
    const std::string ok = "HTTP/1.1 200 OK\r\n";
    if (kind == "status-line") return "HTTP/1.1 2x0 OK\r\n" + tail;
    if (kind == "no-colon") return ok + "X-Bad value\r\n" + tail;
    if (kind == "nul-in-value") return ok + "X-Bad: a" + '\0' + "b\r\n" + tail;
    if (kind == "cr-in-value") return ok + "X-Bad: a\rb\r\n" + tail;
    if (kind == "lf-in-value") return ok + "X-Bad: a\nb\r\n" + tail;
    if (kind == "cl-and-te") {
      return ok +
             "X-Secret: 1\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
             "6\r\nsecret\r\n0\r\n\r\n";
    }
    if (kind == "two-cl") {
      return ok + "X-Secret: 1\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\nsecret!";
    }
    return ok + "X-Bad: unknown kind\r\n" + tail;
  }
  // What X-Fault-Garbage sends: a TLS-looking record, then text.
  static std::string_view Garbage() {
    static constexpr char kBytes[] =
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 secret: this is not HTTP\r\n\r\n";
    return std::string_view(kBytes, sizeof(kBytes) - 1);
  }
  // What X-Fault-Extra sends after the answer.
  static constexpr std::string_view kSmuggled =
      "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled";

 private:
  struct Request {
    std::string method;
    std::vector<std::pair<std::string, std::string>> headers;

    std::optional<std::string> Get(std::string_view name) const {
      for (const auto& [n, v] : headers) {
        if (absl::EqualsIgnoreCase(n, absl::string_view(name.data(), name.size()))) return v;
      }
      return std::nullopt;
    }
    bool Has(std::string_view name) const { return Get(name).has_value(); }
    uint64_t Number(std::string_view name, uint64_t fallback) const {
      std::optional<std::string> v = Get(name);
      uint64_t n = 0;
      return v.has_value() && absl::SimpleAtoi(*v, &n) ? n : fallback;
    }
  };

  enum class Io { kOk, kPeerGone, kStop, kTimeout, kBad };
  // How a connection goes on after an answer.
  enum class Next { kKeep, kClose, kReset, kAwaitPeerClose, kPeerGone, kStop };

  void AcceptLoop() {
    for (;;) {
      pollfd p[2] = {{listener_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
      int n = poll(p, 2, -1);  // bounded by the destructor's stop signal
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || p[1].revents != 0) return;
      int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      if (accepted_ >= o_.max_connections) {
        close(c);
        continue;
      }
      if (o_.send_buffer > 0) {
        setsockopt(c, SOL_SOCKET, SO_SNDBUF, &o_.send_buffer, sizeof(o_.send_buffer));
      }
      ++accepted_;
      ++open_;
      std::lock_guard<std::mutex> lock(mu_);
      workers_.emplace_back([this, c] { Serve(c); });
    }
  }

  void Serve(int fd) {
    std::string in;
    bool closed = false;
    for (int index = 1; index <= 10000; ++index) {  // bounded
      Request req;
      Io io = ReadRequest(fd, in, req);
      if (io == Io::kPeerGone) ++peer_closes_;
      if (io != Io::kOk) break;
      ++requests_;
      Next next = Answer(fd, req, index);
      if (next == Next::kKeep) continue;
      if (next == Next::kAwaitPeerClose && AwaitPeerClose(fd)) ++peer_closes_;
      if (next == Next::kPeerGone) ++peer_closes_;
      if (next == Next::kReset) {
        // Let the bytes already sent reach the peer before the RST overtakes them.
        SettleOutput(fd);
        linger l{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        close(fd);
        closed = true;
      }
      break;
    }
    if (!closed) close(fd);
    --open_;
  }

  // Waits until `fd` (if not -1) is ready for `events`, the stop pipe fires,
  // or `timeout` passes.
  Io WaitFor(int fd, short events, absl::Duration timeout) {
    auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
    for (int i = 0; i < 1000; ++i) {  // bounded: EINTR only
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p[2] = {{stop_pipe_[0], POLLIN, 0}, {fd, events, 0}};
      int n = poll(p, fd >= 0 ? 2 : 1, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Io::kBad;
      if (p[0].revents != 0) return Io::kStop;
      return n == 0 ? Io::kTimeout : Io::kOk;
    }
    return Io::kTimeout;
  }

  // Appends what arrives on `fd` to `in`.
  Io ReadMore(int fd, std::string& in) {
    Io w = WaitFor(fd, POLLIN, o_.io_timeout);
    if (w != Io::kOk) return w;
    char buf[16 * 1024];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      in.append(buf, static_cast<size_t>(n));
      return Io::kOk;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return Io::kOk;
    return Io::kPeerGone;
  }

  // Reads one request (head, then a Content-Length or chunked body, which is
  // discarded) from `in` + `fd`; leaves what follows it in `in`.
  Io ReadRequest(int fd, std::string& in, Request& req) {
    size_t end;
    for (int i = 0; (end = in.find("\r\n\r\n")) == std::string::npos; ++i) {
      if (i > 1000 || in.size() > 1024 * 1024) return Io::kBad;
      Io io = ReadMore(fd, in);
      if (io != Io::kOk) return in.empty() ? io : (io == Io::kPeerGone ? Io::kBad : io);
    }
    std::string_view head(in.data(), end);
    size_t line_end = head.find("\r\n");
    std::string_view request_line = head.substr(0, line_end);
    req.method = std::string(request_line.substr(0, request_line.find(' ')));
    while (line_end != std::string_view::npos) {
      size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      std::string_view line = head.substr(
          start, line_end == std::string_view::npos ? std::string_view::npos : line_end - start);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      req.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(absl::string_view(
                                   line.data() + colon + 1, line.size() - colon - 1))));
    }
    in.erase(0, end + 4);
    for (const std::string& line : o_.faults) {
      size_t colon = line.find(':');
      req.headers.emplace_back(line.substr(0, colon),
                               std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
    if (req.Has("x-fault-answer-before-body")) return Io::kOk;
    if (uint64_t ms = req.Number("x-fault-read-delay-ms", 0); ms > 0) {
      Io io = Delay(fd, absl::Milliseconds(ms), &reads_released_);
      if (io != Io::kOk) return io;
    }
    std::optional<std::string> te = req.Get("transfer-encoding");
    if (te.has_value() && absl::EqualsIgnoreCase(*te, "chunked")) return SkipChunked(fd, in);
    uint64_t length = req.Number("content-length", 0);
    for (int i = 0; length > 0; ++i) {
      if (i > 100000) return Io::kBad;
      if (in.empty()) {
        Io io = ReadMore(fd, in);
        if (io != Io::kOk) return io == Io::kPeerGone ? Io::kBad : io;
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(length, in.size()));
      in.erase(0, take);
      request_body_bytes_ += take;
      length -= take;
    }
    return Io::kOk;
  }

  Io SkipChunked(int fd, std::string& in) {
    for (int i = 0; i < 100000; ++i) {  // bounded
      Io io = Io::kOk;
      size_t eol = in.find("\r\n");
      if (eol == std::string::npos) {
        io = ReadMore(fd, in);
      } else {
        uint64_t size = 0;
        std::string size_text = in.substr(0, std::min(eol, in.find(';')));
        if (!absl::SimpleHexAtoi(size_text, &size)) return Io::kBad;
        if (size == 0) {
          // Trailer fields, if any, then the empty line.
          size_t end = in.find("\r\n\r\n", eol);
          if (end != std::string::npos) {
            in.erase(0, end + 4);
            return Io::kOk;
          }
          io = ReadMore(fd, in);
        } else if (in.size() < eol + 2 + size + 2) {
          io = ReadMore(fd, in);
        } else {
          in.erase(0, eol + 2 + size + 2);
          request_body_bytes_ += size;
        }
      }
      if (io != Io::kOk) return io == Io::kPeerGone ? Io::kBad : io;
    }
    return Io::kBad;
  }

  // Sends `data`, but no more than `budget` bytes of it when `budget` is set
  // (X-Fault-Reset-After): kBad once the budget is used up. `body` bytes
  // count in body_bytes_sent() as they are handed to the kernel.
  Io Send(int fd, std::string_view data, std::optional<uint64_t>& budget, bool body) {
    bool cut = false;
    if (budget.has_value() && *budget < data.size()) {
      data = data.substr(0, *budget);
      cut = true;
    }
    for (int i = 0; !data.empty(); ++i) {
      if (i > 1000000) return Io::kBad;
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        if (budget.has_value()) *budget -= static_cast<uint64_t>(n);
        if (body) body_bytes_sent_ += static_cast<uint64_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        Io w = WaitFor(fd, POLLOUT, o_.io_timeout);
        if (w != Io::kOk) return w;
        continue;
      }
      return Io::kPeerGone;
    }
    return cut ? Io::kBad : Io::kOk;
  }

  // Waits `delay`, ending early if the peer closes or `*released` is set.
  Io Delay(int fd, absl::Duration delay, const std::atomic<bool>* released = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(delay);
    bool watch_peer = true;
    for (int i = 0; i < 100000; ++i) {
      if (released != nullptr && *released) return Io::kOk;
      absl::Duration left = absl::FromChrono(deadline - std::chrono::steady_clock::now());
      if (left <= absl::ZeroDuration()) return Io::kOk;
      // A release is noticed within a slice.
      if (released != nullptr) left = std::min(left, absl::Milliseconds(10));
      Io w = WaitFor(watch_peer ? fd : -1, POLLIN, left);
      if (w == Io::kTimeout) continue;
      if (w != Io::kOk) return w;
      char c;
      ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return Io::kPeerGone;
      // Bytes the peer sent (a body not read yet, a pipelined request) stay
      // queued; only the stop pipe is watched from here on.
      if (n > 0) watch_peer = false;
    }
    return Io::kOk;
  }

  // Reads and drops input until the peer closes; false on timeout or stop.
  bool AwaitPeerClose(int fd) {
    std::string sink;
    for (int i = 0; i < 10000; ++i) {
      sink.clear();
      Io io = ReadMore(fd, sink);
      if (io == Io::kPeerGone) return true;
      if (io != Io::kOk) return false;
    }
    return false;
  }

  // Waits (briefly, bounded) until the kernel has no unacknowledged output.
  void SettleOutput(int fd) {
    for (int i = 0; i < 100; ++i) {
      int pending = 0;
      if (ioctl(fd, SIOCOUTQ, &pending) != 0 || pending == 0) break;
      if (WaitFor(-1, 0, absl::Milliseconds(5)) == Io::kStop) return;
    }
    // The peer application, not just its kernel, should see the bytes first.
    WaitFor(-1, 0, absl::Milliseconds(20));
  }

  static const char* Reason(int status) {
    switch (status) {
      case 200:
        return "OK";
      case 204:
        return "No Content";
      case 304:
        return "Not Modified";
      case 404:
        return "Not Found";
      case 413:
        return "Content Too Large";
      case 500:
        return "Internal Server Error";
      case 503:
        return "Service Unavailable";
      default:
        return "Status";
    }
  }

  Next Answer(int fd, const Request& req, int index) {
    auto after = [](Io io) {
      if (io == Io::kPeerGone) return Next::kPeerGone;
      return io == Io::kStop ? Next::kStop : Next::kClose;
    };
    std::optional<uint64_t> unlimited;
    if (req.Has("x-fault-close")) return Next::kClose;
    if (req.Has("x-fault-drop-reused") && index > 1) return Next::kClose;
    if (uint64_t ms = req.Number("x-fault-delay-head-ms", 0); ms > 0) {
      if (Io io = Delay(fd, absl::Milliseconds(ms)); io != Io::kOk) return after(io);
    }
    if (req.Has("x-fault-garbage")) {
      Io io = Send(fd, Garbage(), unlimited, false);
      return io == Io::kOk ? Next::kAwaitPeerClose : after(io);
    }
    if (std::optional<std::string> kind = req.Get("x-fault-bad")) {
      Io io = Send(fd, BadResponse(*kind), unlimited, false);
      return io == Io::kOk ? Next::kAwaitPeerClose : after(io);
    }
    if (uint64_t kib = req.Number("x-fault-oversized-headers", 0); kib > 0) {
      std::string head = "HTTP/1.1 200 OK\r\n";
      for (int i = 0; head.size() < kib * 1024; ++i) {
        absl::StrAppend(&head, "X-Filler-", i, ": ", std::string(1000, 'f'), "\r\n");
      }
      head.append("Content-Length: 6\r\n\r\nsecret");
      Io io = Send(fd, head, unlimited, false);
      return io == Io::kOk ? Next::kAwaitPeerClose : after(io);
    }
    if (req.Has("x-fault-body-on-204") || req.Has("x-fault-body-on-304")) {
      std::string out = req.Has("x-fault-body-on-204")
                            ? "HTTP/1.1 204 No Content\r\n"
                            : "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n";
      absl::StrAppend(&out, "X-Fault-Upstream: ", o_.name, "\r\n\r\n", "smuggled");
      Io io = Send(fd, out, unlimited, false);
      return io == Io::kOk ? Next::kKeep : after(io);
    }

    const int status = static_cast<int>(req.Number("x-fault-status", 200));
    const uint64_t length = req.Number("x-fault-body-bytes", 2);
    const std::optional<std::string> trailers = req.Get("x-fault-trailers");
    const bool missing_last_chunk = req.Has("x-fault-missing-last-chunk");
    const bool close_delimited = req.Has("x-fault-close-delimited");
    const bool chunked = !close_delimited &&
                         (req.Has("x-fault-chunked") || trailers.has_value() || missing_last_chunk);
    const bool fin_early = req.Has("x-fault-fin-before-length");
    const bool head_request = req.method == "HEAD" && !req.Has("x-fault-body-on-head");
    std::optional<uint64_t> budget;
    if (req.Has("x-fault-reset-after")) budget = req.Number("x-fault-reset-after", 0);
    std::optional<uint64_t> stall_after;
    if (req.Has("x-fault-stall-after")) stall_after = req.Number("x-fault-stall-after", 0);

    std::string out = absl::StrCat("HTTP/1.1 ", status, " ", Reason(status), "\r\n");
    if (chunked) {
      out.append("Transfer-Encoding: chunked\r\n");
    } else if (close_delimited) {
      out.append("Connection: close\r\n");
    } else {
      absl::StrAppend(&out, "Content-Length: ", length, "\r\n");
    }
    absl::StrAppend(&out, "X-Fault-Upstream: ", o_.name, "\r\n");
    for (const auto& [n, v] : req.headers) {
      if (absl::EqualsIgnoreCase(n, "x-fault-header")) absl::StrAppend(&out, v, "\r\n");
    }
    out.append("\r\n");
    uint64_t body = head_request ? 0 : (fin_early ? length / 2 : length);
    if (stall_after.has_value()) body = std::min(body, *stall_after);
    std::string tail;
    if (chunked && !head_request && !missing_last_chunk) {
      tail = !trailers.has_value()    ? "0\r\n\r\n"
             : *trailers == "invalid" ? "0\r\nContent-Length: 5\r\n\r\n"
                                      : "0\r\nX-Checksum: t\r\n\r\n";
    }
    if (req.Has("x-fault-extra")) tail.append(kSmuggled);

    // Small answers go out in one write, so that bytes after a response
    // arrive together with it, as they would from a real server.
    const uint64_t delay_body_ms = req.Number("x-fault-delay-body-ms", 0);
    const bool one_write = body <= 64 * 1024 && delay_body_ms == 0;
    if (!one_write) {
      if (Io io = Send(fd, out, budget, false); io != Io::kOk) {
        return io == Io::kBad ? Next::kReset : after(io);
      }
      out.clear();
      if (delay_body_ms > 0) {
        if (Io io = Delay(fd, absl::Milliseconds(delay_body_ms)); io != Io::kOk) return after(io);
      }
    }
    constexpr uint64_t kPiece = 64 * 1024;
    for (uint64_t offset = 0; offset < body;) {  // bounded by `body`
      uint64_t n = std::min(kPiece, body - offset);
      std::string piece = FaultBody(n, offset);
      offset += n;
      if (chunked) {
        absl::StrAppend(&out, absl::Hex(n), "\r\n", piece, "\r\n");
      } else {
        out.append(piece);
      }
      if (one_write) continue;
      if (Io io = Send(fd, out, budget, true); io != Io::kOk) {
        return io == Io::kBad ? Next::kReset : after(io);
      }
      out.clear();
    }
    if (stall_after.has_value()) {
      if (Io io = Send(fd, out, budget, false); io != Io::kOk) {
        return io == Io::kBad ? Next::kReset : after(io);
      }
      if (one_write) body_bytes_sent_ += body;
      Io io = Delay(fd, o_.io_timeout);  // the rest never comes
      return io == Io::kOk ? Next::kClose : after(io);
    }
    out.append(tail);
    if (Io io = Send(fd, out, budget, false); io != Io::kOk) {
      return io == Io::kBad ? Next::kReset : after(io);
    }
    if (one_write) body_bytes_sent_ += body;
    if (budget.has_value()) return Next::kReset;
    if (fin_early || missing_last_chunk || close_delimited) return Next::kClose;
    if (req.Has("x-fault-answer-before-body")) return Next::kClose;
    return Next::kKeep;
  }

  Options o_;
  int listener_ = -1;
  int stop_pipe_[2] = {-1, -1};
  uint16_t port_ = 0;
  bool ok_ = false;
  std::atomic<int> accepted_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> peer_closes_{0};
  std::atomic<int> open_{0};
  std::atomic<uint64_t> body_bytes_sent_{0};
  std::atomic<uint64_t> request_body_bytes_{0};
  std::atomic<bool> reads_released_{false};
  std::mutex mu_;
  std::vector<std::thread> workers_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_FAULT_UPSTREAM_H_
