#include "gateway/testing/fake_upstream.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/http.h"

namespace gateway::testing {
namespace {

// True once `bytes` hold one whole request: the head, then a body framed by
// content-length or chunked encoding (no body otherwise).
bool RequestComplete(std::string_view bytes) {
  size_t end = bytes.find("\r\n\r\n");
  if (end == std::string_view::npos) return false;
  std::string_view head = bytes.substr(0, end);
  std::string_view body = bytes.substr(end + 4);
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(head.data(), head.size()), "\r\n")) {
    size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
    absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "content-length")) {
      uint64_t length = 0;
      return absl::SimpleAtoi(value, &length) && body.size() >= length;
    }
    if (absl::EqualsIgnoreCase(name, "transfer-encoding") &&
        absl::StrContains(absl::AsciiStrToLower(value), "chunked")) {
      return absl::StartsWith(absl::string_view(body.data(), body.size()), "0\r\n\r\n") ||
             absl::StrContains(absl::string_view(body.data(), body.size()), "\r\n0\r\n\r\n");
    }
  }
  return true;
}

class ScriptedPool;

class ScriptedConnection final : public UpstreamConnection {
 public:
  ScriptedConnection(ScriptedPool& pool, Dispatcher& dispatcher, HostPtr host,
                     const ScriptedAttempt& attempt, size_t index,
                     std::shared_ptr<ScriptedUpstream> upstream)
      : pool_(pool),
        dispatcher_(dispatcher),
        host_(std::move(host)),
        attempt_(attempt),
        index_(index),
        upstream_(std::move(upstream)),
        started_(attempt.respond_early()),
        timer_(dispatcher.CreateTimer([this] { Run(); })) {}

  void SetCallbacks(UpstreamConnectionCallbacks* callbacks) override {
    callbacks_ = callbacks;
    if (callbacks_ != nullptr) Schedule();
  }
  bool Write(std::string_view data) override {
    if (done_ || returned_) return false;
    ScriptedUpstream::AttemptRecord& r = upstream_->record(index_);
    r.request.append(data);
    if (!r.request_complete && RequestComplete(r.request)) {
      r.request_complete = true;
      if (!started_) {
        started_ = true;
        Schedule();
      }
    }
    return true;
  }
  size_t write_queue_bytes() const override { return 0; }
  bool above_high_watermark() const override { return false; }
  void SetReadEnabled(bool enabled) override {
    read_enabled_ = enabled;
    if (enabled) Schedule();
  }
  const Host& host() const override { return *host_; }

  // The lease is gone: nothing more is delivered.
  void Returned(bool reusable) {
    returned_ = true;
    callbacks_ = nullptr;
    timer_->Disable();
    ScriptedUpstream::AttemptRecord& r = upstream_->record(index_);
    (reusable ? r.released : r.closed_by_proxy) = true;
  }

 private:
  // Steps run on a later loop turn, never inside the call that enabled them.
  void Schedule();

  void Run() {
    const auto& steps = attempt_.steps();
    while (!done_ && !returned_ && started_ && step_ < steps.size()) {
      if (callbacks_ == nullptr || !read_enabled_) return;  // resumes when they come back
      const ScriptedAttempt::Step& s = steps[step_];
      switch (s.kind) {
        case ScriptedAttempt::Step::Kind::kWait:
          if (timer_->enabled()) return;
          if (!waited_) {
            waited_ = true;
            timer_->Enable(s.delay);
            return;
          }
          waited_ = false;
          ++step_;
          break;
        case ScriptedAttempt::Step::Kind::kSend:
          ++step_;
          callbacks_->OnUpstreamData(s.bytes);
          break;
        case ScriptedAttempt::Step::Kind::kClose:
        case ScriptedAttempt::Step::Kind::kReset:
          ++step_;
          done_ = true;
          callbacks_->OnUpstreamClosed(s.kind == ScriptedAttempt::Step::Kind::kReset);
          return;
      }
    }
  }

  ScriptedPool& pool_;
  Dispatcher& dispatcher_;
  HostPtr host_;
  const ScriptedAttempt& attempt_;
  size_t index_;
  std::shared_ptr<ScriptedUpstream> upstream_;
  UpstreamConnectionCallbacks* callbacks_ = nullptr;
  bool started_;
  bool read_enabled_ = true;
  bool waited_ = false;
  bool done_ = false;
  bool returned_ = false;
  size_t step_ = 0;
  std::unique_ptr<Timer> timer_;
};

class ScriptedPool final : public UpstreamPool, public PoolLease::Owner {
 public:
  ScriptedPool(Dispatcher& dispatcher, std::shared_ptr<ScriptedUpstream> upstream)
      : dispatcher_(dispatcher), upstream_(std::move(upstream)), alive_(std::make_shared<bool>()) {}

  CancelHandle Acquire(HostPtr host, absl::AnyInvocable<void(PoolResult)> on_ready) override {
    size_t index = 0;
    const ScriptedAttempt* attempt = upstream_->Next(*host, &index);
    uint64_t id = next_id_++;
    Pending& p = pending_[id];
    p.host = std::move(host);
    p.attempt = attempt;
    p.index = index;
    p.on_ready = std::move(on_ready);
    p.timer = dispatcher_.CreateTimer([this, id] { Ready(id); });
    p.timer->Enable(attempt != nullptr ? attempt->connect_delay() : absl::ZeroDuration());
    std::weak_ptr<bool> alive = alive_;
    return CancelHandle([this, alive, id] {
      if (alive.expired()) return;
      auto it = pending_.find(id);
      if (it == pending_.end()) return;
      it->second.timer->Disable();
      retired_timers_.push_back(std::move(it->second.timer));
      pending_.erase(it);
    });
  }
  void CloseIdle() override {}
  PoolStats stats() const override { return stats_; }

  void ReturnConnection(UpstreamConnection* connection, bool reusable) override {
    static_cast<ScriptedConnection*>(connection)->Returned(reusable);
    --stats_.active;
  }

  const std::weak_ptr<bool> alive() const { return alive_; }

 private:
  struct Pending {
    HostPtr host;
    const ScriptedAttempt* attempt = nullptr;
    size_t index = 0;
    absl::AnyInvocable<void(PoolResult)> on_ready;
    std::unique_ptr<Timer> timer;
  };

  void Ready(uint64_t id) {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending p = std::move(it->second);
    pending_.erase(it);
    // The timer is running this call: it is destroyed with the pool, not here.
    retired_timers_.push_back(std::move(p.timer));
    PoolResult result;
    if (p.attempt == nullptr) {
      ++stats_.connect_failures;
      result.failure = PoolFailure::kConnectFailed;
      result.error = "connection refused (the upstream's script is exhausted)";
    } else if (p.attempt->connect() == ScriptedAttempt::Connect::kFail) {
      ++stats_.connect_failures;
      result.failure = PoolFailure::kConnectFailed;
      result.error = "connection refused (scripted)";
    } else if (p.attempt->connect() == ScriptedAttempt::Connect::kTimeout) {
      ++stats_.connect_failures;
      result.failure = PoolFailure::kConnectTimeout;
      result.error = "connect timeout (scripted)";
    } else {
      ++stats_.connections_opened;
      ++stats_.active;
      upstream_->record(p.index).connected = true;
      connections_.push_back(std::make_unique<ScriptedConnection>(*this, dispatcher_, p.host,
                                                                  *p.attempt, p.index, upstream_));
      result.lease = PoolLease(this, connections_.back().get(), false);
    }
    p.on_ready(std::move(result));
  }

  Dispatcher& dispatcher_;
  std::shared_ptr<ScriptedUpstream> upstream_;
  std::shared_ptr<bool> alive_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Pending> pending_;
  std::vector<std::unique_ptr<Timer>> retired_timers_;
  // Kept until the pool goes: posted steps may still name a returned one.
  std::vector<std::unique_ptr<ScriptedConnection>> connections_;
  PoolStats stats_;
};

void ScriptedConnection::Schedule() {
  std::weak_ptr<bool> alive = pool_.alive();
  dispatcher_.Post([this, alive] {
    if (!alive.expired()) Run();
  });
}

class ScriptedFactory final : public UpstreamPoolFactory {
 public:
  explicit ScriptedFactory(std::shared_ptr<ScriptedUpstream> upstream)
      : upstream_(std::move(upstream)) {}
  std::unique_ptr<UpstreamPool> Create(const UpstreamPoolContext& context) const override {
    return std::make_unique<ScriptedPool>(context.dispatcher, upstream_);
  }

 private:
  std::shared_ptr<ScriptedUpstream> upstream_;
};

}  // namespace

ScriptedAttempt ScriptedAttempt::ConnectFailure(absl::Duration after) {
  ScriptedAttempt a;
  a.connect_ = Connect::kFail;
  a.connect_delay_ = after;
  return a;
}

ScriptedAttempt ScriptedAttempt::ConnectTimeout(absl::Duration after) {
  ScriptedAttempt a;
  a.connect_ = Connect::kTimeout;
  a.connect_delay_ = after;
  return a;
}

ScriptedAttempt& ScriptedAttempt::ConnectAfter(absl::Duration delay) {
  connect_delay_ = delay;
  return *this;
}

ScriptedAttempt& ScriptedAttempt::RespondEarly() {
  respond_early_ = true;
  return *this;
}

ScriptedAttempt& ScriptedAttempt::Wait(absl::Duration delay) {
  steps_.push_back({.kind = Step::Kind::kWait, .delay = delay});
  return *this;
}

ScriptedAttempt& ScriptedAttempt::Send(std::string bytes) {
  steps_.push_back({.kind = Step::Kind::kSend, .bytes = std::move(bytes)});
  return *this;
}

ScriptedAttempt& ScriptedAttempt::Head(
    int status, const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string_view reason = ReasonPhrase(status);
  std::string out = absl::StrCat("HTTP/1.1 ", status, " ",
                                 absl::string_view(reason.data(), reason.size()), "\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  out.append("\r\n");
  return Send(std::move(out));
}

ScriptedAttempt& ScriptedAttempt::Respond(
    int status, std::string body, std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("content-length", std::to_string(body.size()));
  Head(status, headers);
  if (!body.empty()) Send(std::move(body));
  return *this;
}

ScriptedAttempt& ScriptedAttempt::Close() {
  steps_.push_back({.kind = Step::Kind::kClose});
  return *this;
}

ScriptedAttempt& ScriptedAttempt::Reset() {
  steps_.push_back({.kind = Step::Kind::kReset});
  return *this;
}

ScriptedUpstream& ScriptedUpstream::Then(ScriptedAttempt attempt) {
  script_.push_back(std::move(attempt));
  return *this;
}

const ScriptedAttempt* ScriptedUpstream::Next(const Host& host, size_t* index) {
  *index = attempts_.size();
  attempts_.push_back({.host = host.name()});
  if (next_ >= script_.size()) return nullptr;
  return &script_[next_++];
}

std::shared_ptr<const UpstreamPoolFactory> ScriptedUpstream::factory() {
  return std::make_shared<const ScriptedFactory>(shared_from_this());
}

std::unique_ptr<UpstreamPool> ScriptedUpstream::MakePool(Dispatcher& dispatcher) {
  return std::make_unique<ScriptedPool>(dispatcher, shared_from_this());
}

}  // namespace gateway::testing
