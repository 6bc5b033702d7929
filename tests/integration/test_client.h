// A blocking raw TCP client for integration tests: connects over loopback,
// sends exact bytes, and reads with deadlines (never blocks past them).
//
// Responses are parsed just enough to check behaviour: status line, header
// fields, and a body framed by Content-Length, chunked encoding or close.
// Bytes after one response stay buffered for the next `ReadResponse`, so
// pipelined answers can be read one by one.
//
// Header-only because the integration glob compiles only *_test.cc files.
#ifndef GATEWAY_TESTS_INTEGRATION_TEST_CLIENT_H_
#define GATEWAY_TESTS_INTEGRATION_TEST_CLIENT_H_

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace gateway::itest {

using SteadyTime = std::chrono::steady_clock::time_point;

inline SteadyTime DeadlineAfter(absl::Duration d) {
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(d);
}

// Milliseconds left until `deadline`, at least 0, for poll().
inline int MillisLeft(SteadyTime deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

inline absl::Duration ElapsedSince(SteadyTime start) {
  return absl::FromChrono(std::chrono::steady_clock::now() - start);
}

// Polls `condition` every few ms until it holds or `timeout` passes: for
// state that only another thread can observe and nothing signals.
template <typename Fn>
bool Eventually(Fn condition, absl::Duration timeout = absl::Seconds(2)) {
  SteadyTime deadline = DeadlineAfter(timeout);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Descriptors open in this process now (entries of /proc/self/fd).
inline int OpenFileDescriptors() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

struct HttpResponse {
  int version_minor = 1;
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool chunked = false;

  // The first value of `name` (case-insensitive).
  std::optional<std::string> Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (absl::EqualsIgnoreCase(n, absl::string_view(name.data(), name.size()))) return v;
    }
    return std::nullopt;
  }
  // True if any comma-separated element of `name` equals `token`.
  bool HasToken(std::string_view name, std::string_view token) const {
    absl::string_view t(token.data(), token.size());
    for (const auto& [n, v] : headers) {
      if (!absl::EqualsIgnoreCase(n, absl::string_view(name.data(), name.size()))) continue;
      for (absl::string_view e : absl::StrSplit(v, ',')) {
        if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(e), t)) return true;
      }
    }
    return false;
  }
  bool closes() const { return HasToken("connection", "close"); }
};

// "METHOD target HTTP/1.1" with a Host header, `extra` header lines (each
// without CRLF) and, for a non-empty body, a Content-Length.
inline std::string MakeRequest(std::string_view method, std::string_view target,
                               std::vector<std::string> extra = {}, std::string_view body = {}) {
  std::string out;
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: test.local\r\n");
  for (const std::string& line : extra) out.append(line).append("\r\n");
  if (!body.empty()) out.append("Content-Length: ").append(std::to_string(body.size()));
  if (!body.empty()) out.append("\r\n");
  out.append("\r\n").append(body);
  return out;
}

inline std::string Get(std::string_view target, std::vector<std::string> extra = {}) {
  return MakeRequest("GET", target, std::move(extra));
}

class TestClient {
 public:
  struct Options {
    std::string address = "127.0.0.1";
    absl::Duration connect_timeout = absl::Seconds(2);
    int receive_buffer = 0;  // SO_RCVBUF before connecting; 0 keeps the default
  };

  // Connects to `port` on loopback; nullptr if the connection is refused or
  // does not complete in time (`error` gets errno).
  static std::unique_ptr<TestClient> Connect(uint16_t port, Options options, int* error = nullptr) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (options.address.find(':') != std::string::npos) {
      family = AF_INET6;
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
      a6->sin6_family = AF_INET6;
      a6->sin6_port = htons(port);
      if (inet_pton(AF_INET6, options.address.c_str(), &a6->sin6_addr) != 1)
        return Fail(error, EINVAL);
      len = sizeof(sockaddr_in6);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
      a4->sin_family = AF_INET;
      a4->sin_port = htons(port);
      if (inet_pton(AF_INET, options.address.c_str(), &a4->sin_addr) != 1)
        return Fail(error, EINVAL);
      len = sizeof(sockaddr_in);
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Fail(error, errno);
    if (options.receive_buffer > 0) {
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer, sizeof(int));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      if (errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        return Fail(error, err);
      }
      pollfd p{fd, POLLOUT, 0};
      int n = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(options.connect_timeout)));
      int so_error = ETIMEDOUT;
      if (n == 1) {
        socklen_t l = sizeof(so_error);
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &l);
      }
      if (so_error != 0) {
        close(fd);
        return Fail(error, so_error);
      }
    }
    return std::unique_ptr<TestClient>(new TestClient(fd));
  }
  static std::unique_ptr<TestClient> Connect(uint16_t port) { return Connect(port, Options{}); }

  ~TestClient() {
    if (fd_ >= 0) close(fd_);
  }
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  int fd() const { return fd_; }

  // Sends all of `data`; false if the peer is gone or the deadline passes.
  bool Send(std::string_view data, absl::Duration timeout = absl::Seconds(5)) {
    SteadyTime deadline = DeadlineAfter(timeout);
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, MillisLeft(deadline)) <= 0) return false;
        continue;
      }
      return false;
    }
    return true;
  }

  void ShutdownWrite() { shutdown(fd_, SHUT_WR); }

  // Closes with an RST (SO_LINGER 0) instead of a FIN.
  void CloseWithReset() {
    linger l{1, 0};
    setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd_);
    fd_ = -1;
  }

  // Waits until the peer closes (FIN or reset). Bytes received meanwhile are
  // kept in buffer(). False if the connection is still open at the deadline.
  bool WaitForClose(absl::Duration timeout) {
    SteadyTime deadline = DeadlineAfter(timeout);
    while (!closed_) {
      if (Fill(deadline) == FillResult::kTimeout) return false;
    }
    return true;
  }

  // True if, within `timeout`, neither data nor a close arrives.
  bool StaysSilent(absl::Duration timeout) {
    size_t before = buffer_.size();
    SteadyTime deadline = DeadlineAfter(timeout);
    while (!closed_ && buffer_.size() == before) {
      if (Fill(deadline) == FillResult::kTimeout) return true;
    }
    return false;
  }

  // Reads until at least `n` bytes are buffered. False on close or timeout.
  bool ReadAtLeast(size_t n, absl::Duration timeout) {
    SteadyTime deadline = DeadlineAfter(timeout);
    while (buffer_.size() < n) {
      if (Fill(deadline) != FillResult::kData) return false;
    }
    return true;
  }

  // Reads at most `max` bytes from the socket into the buffer (one recv),
  // waiting up to `timeout` for some to arrive. Returns how many were read.
  size_t ReadSome(size_t max, absl::Duration timeout) {
    if (closed_) return 0;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) <= 0) return 0;
    std::string chunk(max, '\0');
    ssize_t n = recv(fd_, chunk.data(), max, 0);
    if (n > 0) {
      buffer_.append(chunk.data(), static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) closed_ = true;
    if (n < 0 && errno == ECONNRESET) reset_ = true;
    return 0;
  }

  // Reads and parses one response. `head_request`: the response has no body.
  // nullopt if it does not arrive in full before the deadline or the close.
  std::optional<HttpResponse> ReadResponse(absl::Duration timeout = absl::Seconds(5),
                                           bool head_request = false) {
    SteadyTime deadline = DeadlineAfter(timeout);
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (Fill(deadline) != FillResult::kData) return std::nullopt;
    }
    HttpResponse r;
    if (!ParseHead(std::string_view(buffer_).substr(0, head_end), r)) return std::nullopt;
    size_t pos = head_end + 4;
    bool no_body = head_request || r.status < 200 || r.status == 204 || r.status == 304;
    if (no_body) {
      buffer_.erase(0, pos);
      return r;
    }
    std::optional<std::string> te = r.Header("transfer-encoding");
    std::optional<std::string> cl = r.Header("content-length");
    if (te.has_value() && absl::StrContains(absl::AsciiStrToLower(*te), "chunked")) {
      r.chunked = true;
      while (true) {
        size_t line_end;
        while ((line_end = buffer_.find("\r\n", pos)) == std::string::npos) {
          if (Fill(deadline) != FillResult::kData) return std::nullopt;
        }
        std::string size_text = buffer_.substr(pos, line_end - pos);
        size_text = size_text.substr(0, size_text.find(';'));
        uint64_t size = 0;
        if (!absl::SimpleHexAtoi(size_text, &size)) return std::nullopt;
        pos = line_end + 2;
        if (size == 0) {
          // Trailers, then an empty line.
          while (true) {
            size_t end;
            while ((end = buffer_.find("\r\n", pos)) == std::string::npos) {
              if (Fill(deadline) != FillResult::kData) return std::nullopt;
            }
            bool empty = end == pos;
            pos = end + 2;
            if (empty) break;
          }
          break;
        }
        while (buffer_.size() < pos + size + 2) {
          if (Fill(deadline) != FillResult::kData) return std::nullopt;
        }
        r.body.append(buffer_, pos, size);
        pos += size + 2;
      }
    } else if (cl.has_value()) {
      uint64_t length = 0;
      if (!absl::SimpleAtoi(*cl, &length)) return std::nullopt;
      while (buffer_.size() < pos + length) {
        if (Fill(deadline) != FillResult::kData) return std::nullopt;
      }
      r.body = buffer_.substr(pos, length);
      pos += length;
    } else {
      while (!closed_) {
        if (Fill(deadline) == FillResult::kTimeout) return std::nullopt;
      }
      r.body = buffer_.substr(pos);
      pos = buffer_.size();
    }
    buffer_.erase(0, pos);
    return r;
  }

  // Sends `request` and reads its response.
  std::optional<HttpResponse> RoundTrip(std::string_view request,
                                        absl::Duration timeout = absl::Seconds(5),
                                        bool head_request = false) {
    if (!Send(request, timeout)) return std::nullopt;
    return ReadResponse(timeout, head_request);
  }

  const std::string& buffer() const { return buffer_; }
  std::string TakeBuffer() { return std::exchange(buffer_, std::string()); }
  bool closed() const { return closed_; }
  bool reset() const { return reset_; }

 private:
  enum class FillResult { kData, kClosed, kTimeout };

  explicit TestClient(int fd) : fd_(fd) {}

  static std::unique_ptr<TestClient> Fail(int* error, int err) {
    if (error != nullptr) *error = err;
    return nullptr;
  }

  // One poll + recv, waiting until `deadline`.
  FillResult Fill(SteadyTime deadline) {
    if (closed_) return FillResult::kClosed;
    while (true) {
      pollfd p{fd_, POLLIN, 0};
      int n = poll(&p, 1, MillisLeft(deadline));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return FillResult::kTimeout;
      char buf[64 * 1024];
      ssize_t got = recv(fd_, buf, sizeof(buf), 0);
      if (got > 0) {
        buffer_.append(buf, static_cast<size_t>(got));
        return FillResult::kData;
      }
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got < 0 && errno == ECONNRESET) reset_ = true;
      closed_ = true;
      return FillResult::kClosed;
    }
  }

  static bool ParseHead(std::string_view head, HttpResponse& r) {
    std::vector<absl::string_view> lines =
        absl::StrSplit(absl::string_view(head.data(), head.size()), "\r\n");
    if (lines.empty()) return false;
    absl::string_view status_line = lines[0];
    if (!absl::StartsWith(status_line, "HTTP/1.") || status_line.size() < 12) return false;
    r.version_minor = status_line[7] - '0';
    if (!absl::SimpleAtoi(status_line.substr(9, 3), &r.status)) return false;
    if (status_line.size() > 13) r.reason = std::string(status_line.substr(13));
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == absl::string_view::npos) return false;
      r.headers.emplace_back(std::string(lines[i].substr(0, colon)),
                             std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
  bool closed_ = false;
  bool reset_ = false;
};

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_TEST_CLIENT_H_
