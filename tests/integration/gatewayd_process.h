// A gatewayd process a test starts itself: its YAML written to a fresh
// temporary directory, stdout and stderr into a log file there, stopped by
// PID (SIGTERM, then SIGKILL) when the object goes.
//
// The config text names its listener port as LISTEN; Start replaces it with a
// free loopback port and waits until gatewayd accepts connections there.
// Reload rewrites the config (LISTEN as before) and sends SIGHUP.
#ifndef GATEWAY_TESTS_INTEGRATION_GATEWAYD_PROCESS_H_
#define GATEWAY_TESTS_INTEGRATION_GATEWAYD_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "integration/redis_server.h"
#include "integration/test_client.h"

namespace gateway::itest {

class GatewaydProcess {
 public:
  // nullptr with `error` set if gatewayd is not built, exits at once or does
  // not listen within 5 s (the error then carries its log). `env` entries
  // ("NAME=value") are added to the child's environment, replacing the
  // test's own value of NAME.
  static std::unique_ptr<GatewaydProcess> Start(const std::string& yaml, std::string* error,
                                                const std::vector<std::string>& env = {}) {
    const std::string binary = GATEWAYD_BINARY;
    if (access(binary.c_str(), X_OK) != 0) {
      *error = "gatewayd is not built: " + binary;
      return nullptr;
    }
    char dir_template[] = "/tmp/gateway-gatewayd.XXXXXX";
    if (mkdtemp(dir_template) == nullptr) {
      *error = "mkdtemp failed";
      return nullptr;
    }
    std::unique_ptr<GatewaydProcess> p(new GatewaydProcess(dir_template));
    p->port_ = FreeLoopbackPort();
    p->WriteConfig(yaml);
    const std::string config = p->config_path();
    const std::string log = p->log_path();
    std::vector<std::string> environment = env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string_view entry(*e);
      std::string_view name = entry.substr(0, entry.find('=') + 1);
      bool replaced = false;
      for (const std::string& mine : env) replaced |= mine.rfind(name, 0) == 0;
      if (!replaced) environment.emplace_back(entry);
    }
    std::vector<char*> envp;
    for (std::string& e : environment) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      FILE* out = freopen(log.c_str(), "w", stdout);
      (void)out;
      dup2(STDOUT_FILENO, STDERR_FILENO);
      execle(binary.c_str(), binary.c_str(), config.c_str(), static_cast<char*>(nullptr),
             envp.data());
      _exit(127);
    }
    if (pid < 0) {
      *error = "fork failed";
      return nullptr;
    }
    p->pid_ = pid;
    auto start = std::chrono::steady_clock::now();
    while (ElapsedSince(start) < absl::Seconds(5)) {
      if (p->Exited(std::chrono::milliseconds(0))) break;
      if (TestClient::Connect(p->port_) != nullptr) return p;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    *error = "gatewayd did not start listening:\n" + p->Log();
    return nullptr;
  }

  ~GatewaydProcess() {
    if (pid_ > 0 && !exited_) StopChild(pid_);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);  // our own mkdtemp directory
  }

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // What it printed so far on stdout and stderr.
  std::string Log() const {
    std::ifstream in(log_path());
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  void Signal(int sig) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
  }

  // Rewrites the config file (LISTEN is this process's port) and sends SIGHUP.
  void Reload(const std::string& yaml) {
    WriteConfig(yaml);
    Signal(SIGHUP);
  }

  // True once the log holds `text` at least `count` times, waiting up to `timeout`.
  bool WaitForLog(std::string_view text, int count = 1,
                  absl::Duration timeout = absl::Seconds(10)) {
    SteadyTime deadline = DeadlineAfter(timeout);
    do {
      const std::string log = Log();
      int found = 0;
      for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
        ++found;
      }
      if (found >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }

  // Resident memory of the process in KiB (VmRSS), 0 if unreadable.
  uint64_t RssKib() const {
    std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) != 0) continue;
      uint64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits += c;
      }
      return absl::SimpleAtoi(digits, &kib) ? kib : 0;
    }
    return 0;
  }

  // True once the process has exited (reaped here), waiting up to `timeout`.
  bool Exited(std::chrono::milliseconds timeout) {
    if (exited_) return true;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
  }
  int exit_code() const { return exit_code_; }

 private:
  explicit GatewaydProcess(std::string dir) : dir_(std::move(dir)) {}
  std::string log_path() const { return dir_ + "/gatewayd.log"; }
  std::string config_path() const { return dir_ + "/gatewayd.yaml"; }
  void WriteConfig(const std::string& yaml) const {
    std::ofstream(config_path()) << absl::StrReplaceAll(yaml, {{"LISTEN", absl::StrCat(port_)}});
  }

  std::string dir_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_GATEWAYD_PROCESS_H_
