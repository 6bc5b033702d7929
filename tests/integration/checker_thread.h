// A HealthChecker on a ControlThread of its own, created and destroyed on
// that thread's loop: how gatewayd runs its checks, for tests that drive a
// cluster manager from other threads.
#ifndef GATEWAY_TESTS_INTEGRATION_CHECKER_THREAD_H_
#define GATEWAY_TESTS_INTEGRATION_CHECKER_THREAD_H_

#include <memory>
#include <utility>
#include <vector>

#include "gateway/health_check.h"
#include "gateway/runtime.h"

namespace gateway::itest {

class CheckerThread {
 public:
  CheckerThread(std::shared_ptr<ClusterManager> clusters, HealthChecker::Options options) {
    control_->Run([&](Dispatcher& d) {
      checker_ = HealthChecker::Create(d, std::move(clusters), std::move(options));
    });
  }
  ~CheckerThread() {
    control_->Run([this](Dispatcher&) { checker_.reset(); });
  }

  std::vector<HealthChecker::HostStatus> Status() const { return checker_->Status(); }

 private:
  std::unique_ptr<ControlThread> control_ = ControlThread::Start();
  std::unique_ptr<HealthChecker> checker_;
};

inline std::unique_ptr<CheckerThread> StartChecker(std::shared_ptr<ClusterManager> clusters,
                                                   HealthChecker::Options options = {}) {
  return std::make_unique<CheckerThread>(std::move(clusters), std::move(options));
}

}  // namespace gateway::itest

#endif  // GATEWAY_TESTS_INTEGRATION_CHECKER_THREAD_H_
