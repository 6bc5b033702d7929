// A redis-server the test starts itself: loopback only, a free port, no
// persistence, its files in a fresh temporary directory. Stopped by PID.
#ifndef GATEWAY_TESTS_INTEGRATION_REDIS_SERVER_H_
#define GATEWAY_TESTS_INTEGRATION_REDIS_SERVER_H_

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gateway::itest {

// The first executable `name` on PATH, or "" if there is none.
inline std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find(':', start);
    if (end == std::string::npos) end = p.size();
    std::string candidate = p.substr(start, end - start) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

// A port nothing listens on right now (bound and released).
inline uint16_t FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// Waits for `pid` to exit, up to `timeout`; true if it did.
inline bool WaitForExit(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Stops a child we started: SIGTERM, then SIGKILL if it lingers.
inline void StopChild(pid_t pid) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  if (!WaitForExit(pid, std::chrono::seconds(5))) {
    kill(pid, SIGKILL);
    WaitForExit(pid, std::chrono::seconds(5));
  }
}

class RedisServer {
 public:
  // nullptr if redis-server is not installed (the caller skips) or did not
  // come up; `error` says which.
  static std::unique_ptr<RedisServer> Start(std::string* error) {
    std::string binary = FindOnPath("redis-server");
    if (binary.empty()) {
      *error = "redis-server is not installed (scripts/install-deps.sh installs it)";
      return nullptr;
    }
    char dir_template[] = "/tmp/gateway-redis.XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
      *error = "mkdtemp failed";
      return nullptr;
    }
    std::unique_ptr<RedisServer> s(new RedisServer(binary, dir_template));
    s->port_ = FreeLoopbackPort();
    if (!s->Launch()) {
      *error = "redis-server did not answer PING within 5s";
      return nullptr;
    }
    return s;
  }

  ~RedisServer() {
    StopChild(pid_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);  // our own mkdtemp directory
  }

  uint16_t port() const { return port_; }

  // SIGKILL, as a crash would.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    WaitForExit(pid_, std::chrono::seconds(5));
    pid_ = -1;
  }

  // Starts again on the same port.
  bool Restart() { return Launch(); }

  // Runs one command on a short-lived connection; the reply as text
  // (integers in decimal, errors prefixed "ERR:"), nullopt on failure.
  std::optional<std::string> Command(const std::vector<std::string>& args) const {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr) return std::nullopt;
    std::optional<std::string> out;
    if (c->err == 0) {
      redisSetTimeout(c, tv);
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const std::string& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      auto* r = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(args.size()), argv.data(), lens.data()));
      if (r != nullptr) {
        if (r->type == REDIS_REPLY_INTEGER) {
          out = std::to_string(r->integer);
        } else if (r->type == REDIS_REPLY_ERROR) {
          out = "ERR:" + std::string(r->str, r->len);
        } else if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
          out = std::string(r->str, r->len);
        } else {
          out = "";
        }
        freeReplyObject(r);
      }
    }
    redisFree(c);
    return out;
  }

 private:
  RedisServer(std::string binary, std::string dir)
      : binary_(std::move(binary)), dir_(std::move(dir)) {}

  bool Launch() {
    std::string port = std::to_string(port_);
    std::string log = dir_ + "/redis.log";
    pid_ = fork();
    if (pid_ == 0) {
      execl(binary_.c_str(), binary_.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", dir_.c_str(), "--logfile", log.c_str(),
            "--daemonize", "no", static_cast<char*>(nullptr));
      _exit(127);
    }
    if (pid_ < 0) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Command({"PING"}) == std::optional<std::string>("PONG")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::string binary_;
  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_REDIS_SERVER_H_
