#include "gateway/testing/harness.h"

#include <deque>
#include <map>
#include <mutex>

#include "absl/strings/numbers.h"
#include "core/stream.h"
#include "proxy/proxy_worker.h"

namespace gateway::testing {

struct ManualClock::State {
  mutable std::mutex mu;
  absl::Time now;
  absl::Duration mono = absl::Seconds(1000);
};

ManualClock::ManualClock(absl::Time start) : state_(std::make_unique<State>()) {
  state_->now = start;
}
ManualClock::~ManualClock() = default;
absl::Time ManualClock::Now() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->now;
}
absl::Duration ManualClock::Monotonic() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->mono;
}
void ManualClock::Advance(absl::Duration d) {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->now += d;
  state_->mono += d;
}

struct SimulatedDispatcher::Impl {
  struct Armed {
    absl::Duration deadline;
    uint64_t seq;
  };
  std::deque<absl::AnyInvocable<void()>> posted;
  std::mutex cross_mu;
  std::vector<absl::AnyInvocable<void()>> cross;
  // Armed timers by (deadline, arming order) -> timer id.
  std::map<std::pair<absl::Duration, uint64_t>, uint64_t> armed;
  std::map<uint64_t, absl::AnyInvocable<void()>*> callbacks;
  uint64_t next_seq = 1;
};

namespace {

class SimTimer final : public Timer {
 public:
  SimTimer(std::weak_ptr<SimulatedDispatcher::Impl> impl, const Clock& clock,
           absl::AnyInvocable<void()> cb)
      : impl_(std::move(impl)), clock_(clock), cb_(std::move(cb)) {
    if (auto i = impl_.lock()) {
      id_ = i->next_seq++;
      i->callbacks[id_] = &cb_;
    }
  }
  ~SimTimer() override {
    Disable();
    if (auto i = impl_.lock()) i->callbacks.erase(id_);
  }
  void Enable(absl::Duration delay) override {
    Disable();
    auto i = impl_.lock();
    if (!i) return;
    if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
    key_ = {clock_.Monotonic() + delay, i->next_seq++};
    i->armed[*key_] = id_;
  }
  void Disable() override {
    if (!key_) return;
    if (auto i = impl_.lock()) i->armed.erase(*key_);
    key_.reset();
  }
  bool enabled() const override {
    auto i = impl_.lock();
    return key_.has_value() && i && i->armed.count(*key_) != 0;
  }
  void Fired() { key_.reset(); }

 private:
  std::weak_ptr<SimulatedDispatcher::Impl> impl_;
  const Clock& clock_;
  absl::AnyInvocable<void()> cb_;
  uint64_t id_ = 0;
  std::optional<std::pair<absl::Duration, uint64_t>> key_;
};

}  // namespace

SimulatedDispatcher::SimulatedDispatcher(ManualClock& clock)
    : clock_(clock), impl_(std::make_shared<Impl>()) {}
SimulatedDispatcher::~SimulatedDispatcher() {
  // Loop-local objects may still use this dispatcher while they go.
  DestroyLoopLocals();
}

void SimulatedDispatcher::Post(absl::AnyInvocable<void()> callback) {
  impl_->posted.push_back(std::move(callback));
}

void SimulatedDispatcher::PostFromAnyThread(absl::AnyInvocable<void()> callback) {
  std::lock_guard<std::mutex> lock(impl_->cross_mu);
  impl_->cross.push_back(std::move(callback));
}

std::unique_ptr<Timer> SimulatedDispatcher::CreateTimer(absl::AnyInvocable<void()> callback) {
  return std::make_unique<SimTimer>(impl_, clock_, std::move(callback));
}

size_t SimulatedDispatcher::armed_timers() const { return impl_->armed.size(); }

void SimulatedDispatcher::RunUntilIdle() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(impl_->cross_mu);
      for (auto& cb : impl_->cross) impl_->posted.push_back(std::move(cb));
      impl_->cross.clear();
    }
    if (!impl_->posted.empty()) {
      auto cb = std::move(impl_->posted.front());
      impl_->posted.pop_front();
      cb();
      continue;
    }
    auto it = impl_->armed.begin();
    if (it != impl_->armed.end() && it->first.first <= clock_.Monotonic()) {
      uint64_t id = it->second;
      impl_->armed.erase(it);
      auto cb = impl_->callbacks.find(id);
      if (cb != impl_->callbacks.end()) (*cb->second)();
      continue;
    }
    return;
  }
}

void SimulatedDispatcher::Advance(absl::Duration d) {
  absl::Duration target = clock_.Monotonic() + d;
  RunUntilIdle();
  for (;;) {
    auto it = impl_->armed.begin();
    if (it == impl_->armed.end() || it->first.first > target) break;
    absl::Duration step = it->first.first - clock_.Monotonic();
    if (step > absl::ZeroDuration()) clock_.Advance(step);
    RunUntilIdle();
  }
  absl::Duration rest = target - clock_.Monotonic();
  if (rest > absl::ZeroDuration()) clock_.Advance(rest);
  RunUntilIdle();
}

RequestHead Request(std::string_view method, std::string_view target,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
  RequestHead head;
  head.method = std::string(method);
  head.target = std::string(target);
  size_t q = target.find('?');
  head.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) head.query = std::string(target.substr(q + 1));
  for (const auto& [name, value] : headers) head.headers.Add(name, value);
  head.authority = std::string(head.headers.Get("host").value_or("localhost"));
  if (!head.headers.Has("host")) head.headers.Add("host", head.authority);
  if (auto cl = head.headers.Get("content-length")) {
    // A malformed value is left unset (no body) rather than throwing.
    uint64_t length = 0;
    if (absl::SimpleAtoi(absl::string_view(cl->data(), cl->size()), &length)) {
      head.content_length = length;
    }
  }
  head.chunked = head.headers.HasToken("transfer-encoding", "chunked");
  head.expect_continue = head.headers.HasToken("expect", "100-continue");
  return head;
}

struct PipelineHarness::ExchangeImpl final : public Exchange, public internal::StreamHost {
  ExchangeImpl(PipelineHarness& h) : harness(h) {}

  // Exchange.
  bool responded() const override { return responded_; }
  int status() const override { return head_.status; }
  const HeaderMap& headers() const override { return head_.headers; }
  const std::string& body() const override { return body_; }
  bool done() const override { return done_; }
  const RequestInfo& info() const override { return info_; }
  bool sent_continue() const override { return continue_; }
  bool body_paused() const override { return body_paused_; }
  void SendBody(std::string_view chunk) override {
    if (stream && !done_) {
      // Bytes held during a pause are delivered on a later turn; anything sent
      // before that delivery must queue behind them to keep the body in order.
      if (body_paused_ || !held_body_.empty() || held_end_) {
        held_body_.append(chunk);
      } else {
        stream->OnRequestBody(chunk);
      }
    }
  }
  void EndRequest() override {
    if (!stream || done_) return;
    if (body_paused_ || !held_body_.empty() || held_end_) {
      held_end_ = true;
    } else {
      stream->OnRequestEnd();
    }
  }
  void Disconnect() override {
    if (stream && !done_) stream->Abort(RequestOutcome::kClientGone);
  }

  // StreamHost.
  Dispatcher& dispatcher() override { return harness.dispatcher_; }
  const ConnectionInfo& connection_info() const override { return harness.options_.connection; }
  void WriteResponseHead(ResponseHead& head, std::optional<uint64_t>) override {
    head_ = head;
    responded_ = true;
  }
  void WriteResponseBody(std::string_view data, bool) override { body_.append(data); }
  void SetRequestBodyPaused(bool paused) override {
    body_paused_ = paused;
    if (!paused && (!held_body_.empty() || held_end_)) {
      // Like a connection, deliver what arrived meanwhile on a later turn.
      harness.dispatcher_.Post([this] {
        if (done_ || body_paused_) return;
        std::string held = std::move(held_body_);
        held_body_.clear();
        if (!held.empty()) stream->OnRequestBody(held);
        if (held_end_ && !done_ && !body_paused_) {
          held_end_ = false;
          stream->OnRequestEnd();
        }
      });
    }
  }
  void SendContinue() override { continue_ = true; }
  internal::ProxyWorker* proxy(const Pipeline& pipeline) override {
    if (pipeline.clusters() == nullptr) return nullptr;
    if (harness.proxy_ == nullptr) {
      harness.proxy_ = std::make_unique<internal::ProxyWorker>(
          harness.dispatcher_, pipeline.clusters(), pipeline.proxy_options());
    }
    return harness.proxy_.get();
  }
  void OnStreamDone(internal::Stream& s) override {
    done_ = true;
    info_ = s.info();
    flag_ = std::string(info_.flag);
    route_ = std::string(info_.route_name);
    info_.flag = flag_;
    info_.route_name = route_;
  }

  PipelineHarness& harness;
  std::unique_ptr<internal::Stream> stream;
  ResponseHead head_{.status = 0};
  std::string body_;
  bool responded_ = false;
  bool done_ = false;
  bool continue_ = false;
  bool body_paused_ = false;
  std::string held_body_;
  bool held_end_ = false;
  RequestInfo info_;
  std::string flag_;
  std::string route_;
};

PipelineHarness::PipelineHarness(std::shared_ptr<const Pipeline> pipeline, HarnessOptions options)
    : dispatcher_(clock_), pipeline_(std::move(pipeline)), options_(std::move(options)) {}

PipelineHarness::~PipelineHarness() {
  for (auto& ex : exchanges_) {
    if (ex->stream && !ex->done_) ex->stream->Abort(RequestOutcome::kClientGone);
  }
  exchanges_.clear();
  proxy_.reset();
}

Exchange& PipelineHarness::Send(RequestHead head, std::string_view body, bool end_request) {
  if (!body.empty() && !head.content_length && !head.chunked) {
    head.content_length = body.size();
    head.headers.Set("content-length", std::to_string(body.size()));
  }
  auto ex = std::make_unique<ExchangeImpl>(*this);
  ExchangeImpl& ref = *ex;
  exchanges_.push_back(std::move(ex));
  internal::StreamOptions opts{.request_timeout = options_.request_timeout};
  ref.stream = std::make_unique<internal::Stream>(ref, pipeline_, std::move(head), opts);
  ref.stream->Start();
  if (!body.empty()) ref.SendBody(body);
  if (end_request) ref.EndRequest();
  return ref;
}

namespace {
class NoopFilter final : public Filter {};
}  // namespace

std::shared_ptr<const Pipeline> SingleFilterPipeline(std::shared_ptr<const FilterFactory> filter,
                                                     int status, std::string body) {
  std::vector<RouteSpec> routes;
  routes.push_back(RouteBuilder("all").Respond(status, std::move(body)).Build());
  auto router = Router::Build(std::move(routes));
  if (!router.ok()) return nullptr;
  auto pipeline = PipelineBuilder{}.Routes(*router).Add(std::move(filter)).Build();
  if (!pipeline.ok()) return nullptr;
  return *pipeline;
}

}  // namespace gateway::testing
