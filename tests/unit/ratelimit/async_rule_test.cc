// Remote rules: the filter pauses on an AsyncRateLimiter, resumes on its
// answer, and fails open or closed on errors and timeouts. A scripted fake
// store stands in for Redis.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/filter.h"
#include "gateway/pipeline.h"
#include "gateway/rate_limit_filter.h"
#include "gateway/rate_limiter.h"
#include "gateway/router.h"
#include "gateway/testing/harness.h"

namespace gateway {
namespace {

using testing::PipelineHarness;
using testing::Request;

// The test's view of every call the fake limiters received.
struct FakeStore {
  struct Call {
    std::string key;
    uint64_t cost = 0;
    AsyncRateLimiter::Callback done;
    bool cancelled = false;
    Dispatcher* dispatcher = nullptr;
  };
  std::vector<std::shared_ptr<Call>> calls;
  std::vector<std::string> released;
  int created = 0;
  int destroyed = 0;
  bool counts_in_flight = false;

  // Answers call `i` on a later loop turn, as a real store would.
  void Answer(size_t i, absl::StatusOr<RateDecision> answer) {
    REQUIRE(i < calls.size());
    std::shared_ptr<Call> call = calls[i];
    call->dispatcher->Post([call, answer = std::move(answer)]() mutable {
      if (call->cancelled || !call->done) return;
      auto done = std::move(call->done);
      done(std::move(answer));
    });
  }
};

class FakeLimiter final : public AsyncRateLimiter {
 public:
  FakeLimiter(FakeStore* store, Dispatcher& dispatcher) : store_(store), dispatcher_(dispatcher) {}
  ~FakeLimiter() override { ++store_->destroyed; }

  CancelHandle Acquire(std::string_view key, uint64_t cost, Callback done) override {
    auto call = std::make_shared<FakeStore::Call>();
    call->key = std::string(key);
    call->cost = cost;
    call->done = std::move(done);
    call->dispatcher = &dispatcher_;
    store_->calls.push_back(call);
    return CancelHandle([call] {
      call->cancelled = true;
      call->done = nullptr;
    });
  }
  void Release(std::string_view key, uint64_t) override { store_->released.emplace_back(key); }
  bool counts_in_flight() const override { return store_->counts_in_flight; }

 private:
  FakeStore* store_;
  Dispatcher& dispatcher_;
};

class FakeFactory final : public AsyncRateLimiterFactory {
 public:
  explicit FakeFactory(FakeStore* store) : store_(store) {}
  std::unique_ptr<AsyncRateLimiter> Create(Dispatcher& dispatcher) const override {
    ++store_->created;
    return std::make_unique<FakeLimiter>(store_, dispatcher);
  }

 private:
  FakeStore* store_;
};

RateDecision Allowed(uint64_t remaining) {
  return {.allowed = true,
          .limit = 100,
          .remaining = remaining,
          .reset = absl::Seconds(30),
          .window = absl::Minutes(1)};
}

RateDecision Refused(absl::Duration retry_after) {
  return {.allowed = false,
          .limit = 100,
          .remaining = 0,
          .reset = absl::Seconds(30),
          .retry_after = retry_after,
          .window = absl::Minutes(1)};
}

std::shared_ptr<const Pipeline> Pipe(RateLimitFilterConfig config) {
  auto router = Router::Build({RouteBuilder("any").Prefix("/").Respond(200, "ok").Build()});
  REQUIRE(router.ok());
  auto filter = MakeRateLimitFilter(std::move(config));
  REQUIRE(filter.ok());
  auto p = PipelineBuilder{}.Routes(*router).Add(*filter).Build();
  REQUIRE(p.ok());
  return *p;
}

RateLimitRule Remote(FakeStore& store, RateLimitFailureMode mode = RateLimitFailureMode::kAllow) {
  return {.name = "shared",
          .remote = std::make_shared<FakeFactory>(&store),
          .key = {RateLimitKeyPart::Header("x-tenant")},
          .timeout = absl::Milliseconds(50),
          .failure_mode = mode};
}

std::string Header(testing::Exchange& ex, std::string_view name) {
  return std::string(ex.headers().Get(name).value_or("<none>"));
}

TEST_CASE("a remote rule pauses the request until the store answers") {
  FakeStore store;
  PipelineHarness h(Pipe({.rules = {Remote(store)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  h.RunUntilIdle();
  REQUIRE_FALSE(ex.responded());
  REQUIRE(store.calls.size() == 1);
  CHECK(store.calls[0]->key == "4:acme;");
  CHECK(store.calls[0]->cost == 1);
  store.Answer(0, Allowed(41));
  h.RunUntilIdle();
  CHECK(ex.status() == 200);
  CHECK(Header(ex, "ratelimit-policy") == "\"shared\";q=100;w=60");
  CHECK(Header(ex, "ratelimit") == "\"shared\";r=41;t=30");
}

TEST_CASE("a remote refusal answers 429 with the store's Retry-After") {
  FakeStore store;
  PipelineHarness h(Pipe({.rules = {Remote(store)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  store.Answer(0, Refused(absl::Seconds(12)));
  h.RunUntilIdle();
  CHECK(ex.status() == 429);
  CHECK(ex.info().flag == "rate_limited");
  CHECK(Header(ex, "retry-after") == "12");
  CHECK(Header(ex, "ratelimit") == "\"shared\";r=0;t=30");
}

TEST_CASE("a store that does not answer in time fails open by default") {
  FakeStore store;
  PipelineHarness h(Pipe({.rules = {Remote(store)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  h.Advance(absl::Milliseconds(49));
  CHECK_FALSE(ex.responded());
  h.Advance(absl::Milliseconds(1));
  CHECK(ex.status() == 200);
  CHECK(Header(ex, "ratelimit") == "<none>");  // nothing known about the rule
  CHECK(store.calls[0]->cancelled);
  // A late answer changes nothing.
  store.Answer(0, Refused(absl::Seconds(1)));
  h.RunUntilIdle();
  CHECK(ex.status() == 200);
}

TEST_CASE("a store that does not answer in time fails closed with 503 when configured") {
  FakeStore store;
  PipelineHarness h(Pipe({.rules = {Remote(store, RateLimitFailureMode::kDeny)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  h.Advance(absl::Milliseconds(50));
  CHECK(ex.status() == 503);
  CHECK(ex.info().flag == "rate_limit_unavailable");
  CHECK(Header(ex, "retry-after") == "1");
  CHECK(store.calls[0]->cancelled);
}

TEST_CASE("a store error follows the failure mode") {
  FakeStore open_store;
  PipelineHarness open(Pipe({.rules = {Remote(open_store)}}));
  auto& a = open.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  open_store.Answer(0, absl::UnavailableError("connection refused"));
  open.RunUntilIdle();
  CHECK(a.status() == 200);

  FakeStore closed_store;
  PipelineHarness closed(Pipe({.rules = {Remote(closed_store, RateLimitFailureMode::kDeny)}}));
  auto& b = closed.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  closed_store.Answer(0, absl::UnavailableError("connection refused"));
  closed.RunUntilIdle();
  CHECK(b.status() == 503);
}

TEST_CASE("dry run waits for the store but neither rejects nor fails closed") {
  FakeStore store;
  PipelineHarness h(Pipe({.rules = {Remote(store, RateLimitFailureMode::kDeny)}, .dry_run = true}));
  auto& refused = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  store.Answer(0, Refused(absl::Seconds(5)));
  h.RunUntilIdle();
  CHECK(refused.status() == 200);
  CHECK(Header(refused, "ratelimit") == "\"shared\";r=0;t=30");
  auto& timed_out = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  h.Advance(absl::Milliseconds(50));
  CHECK(timed_out.status() == 200);
}

TEST_CASE("a client that leaves while the store is asked cancels the call") {
  FakeStore store;
  store.counts_in_flight = true;
  PipelineHarness h(Pipe({.rules = {Remote(store)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}), "", /*end_request=*/true);
  ex.Disconnect();
  h.RunUntilIdle();
  CHECK(ex.done());
  CHECK(ex.info().outcome == RequestOutcome::kClientGone);
  CHECK(store.calls[0]->cancelled);
  CHECK(store.released.empty());  // nothing was taken
  CHECK(h.dispatcher().armed_timers() == 0);
}

TEST_CASE("units a store holds in flight are given back when the request ends") {
  FakeStore store;
  store.counts_in_flight = true;
  PipelineHarness h(Pipe({.rules = {Remote(store)}}));
  auto& ex = h.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
  store.Answer(0, Allowed(1));
  h.RunUntilIdle();
  REQUIRE(ex.status() == 200);
  CHECK(store.released == std::vector<std::string>{"4:acme;"});
}

TEST_CASE("one limiter per loop, made on first use and destroyed with the loop") {
  FakeStore store;
  auto pipeline = Pipe({.rules = {Remote(store)}});
  {
    PipelineHarness a(pipeline);
    PipelineHarness b(pipeline);
    for (int i = 0; i < 3; ++i) {
      a.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
      b.Send(Request("GET", "/x", {{"x-tenant", "acme"}}));
    }
    CHECK(store.created == 2);
    CHECK(store.calls.size() == 6);
    CHECK(store.calls[0]->dispatcher == &a.dispatcher());
    CHECK(store.calls[1]->dispatcher == &b.dispatcher());
    CHECK(store.destroyed == 0);
  }
  CHECK(store.destroyed == 2);
}

TEST_CASE("a local refusal skips the remote call, and a remote refusal gives local units back") {
  FakeStore store;
  testing::ManualClock clock;
  RateLimitFilterConfig config{
      .rules = {{.name = "local",
                 .local = FixedWindowConfig{.limit = 1, .window = absl::Minutes(1)},
                 .key = {RateLimitKeyPart::Header("x-tenant")}},
                {.name = "slots", .local = ConcurrencyConfig{.max_in_flight = 1}},
                Remote(store)},
      .clock = &clock};
  PipelineHarness h(Pipe(config));
  auto& first = h.Send(Request("GET", "/x", {{"x-tenant", "a"}}));
  REQUIRE(store.calls.size() == 1);
  store.Answer(0, Refused(absl::Seconds(3)));
  h.RunUntilIdle();
  CHECK(first.status() == 429);
  CHECK(Header(first, "retry-after") == "3");
  // "slots" was given back when the store refused: tenant b gets in.
  auto& second = h.Send(Request("GET", "/x", {{"x-tenant", "b"}}));
  REQUIRE(store.calls.size() == 2);
  store.Answer(1, Allowed(5));
  h.RunUntilIdle();
  CHECK(second.status() == 200);
  // Tenant a is over its local limit: refused without asking the store.
  auto& third = h.Send(Request("GET", "/x", {{"x-tenant", "a"}}));
  h.RunUntilIdle();
  CHECK(third.status() == 429);
  CHECK(store.calls.size() == 2);
}

TEST_CASE("remote rules need a positive timeout") {
  FakeStore store;
  RateLimitRule rule = Remote(store);
  rule.timeout = absl::ZeroDuration();
  CHECK_FALSE(MakeRateLimitFilter({.rules = {rule}}).ok());
}

}  // namespace
}  // namespace gateway
