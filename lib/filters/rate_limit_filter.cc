// The rate-limit filter. Written against the public headers only.
#include "gateway/rate_limit_filter.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/client_address.h"
#include "gateway/dispatcher.h"

namespace gateway {
namespace {

bool ValidPolicyName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// The most one request may spend under `algorithm`.
uint64_t Capacity(const RateLimitAlgorithm& algorithm) {
  return std::visit(
      [](const auto& c) -> uint64_t {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, TokenBucketConfig>) {
          return c.burst ? c.burst : c.rate;
        } else if constexpr (std::is_same_v<T, GcraConfig>) {
          return c.burst;
        } else if constexpr (std::is_same_v<T, ConcurrencyConfig>) {
          return c.max_in_flight;
        } else {
          return c.limit;
        }
      },
      algorithm);
}

// Whole seconds for headers, rounded up so a client that waits that long is
// never early.
int64_t CeilSeconds(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  constexpr int64_t kDay = 86400;
  if (d >= absl::Seconds(kDay)) return kDay;
  // Under a day: whole nanoseconds fit, and integer division is cheaper than
  // absl::Ceil on every response.
  constexpr int64_t kSecond = 1'000'000'000;
  return (absl::ToInt64Nanoseconds(d) + kSecond - 1) / kSecond;
}

bool Contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

struct CompiledRule {
  RateLimitRule spec;
  std::shared_ptr<RateLimiter> limiter;  // local rules
  // Remote rules: the per-loop limiters. Owned here so that they go when the
  // filter factory goes (after a reload), on each loop's own thread.
  std::unique_ptr<LoopLocalSlot> slot;

  // Route-level pre-check (see RateLimitFactory::Create).
  bool MayApply(const Route& route) const {
    if (!spec.routes.empty() && !Contains(spec.routes, route.name())) return false;
    if (!spec.clusters.empty()) {
      if (route.action() != Route::Action::kCluster) return false;
      // A cluster chosen from a capture is only known per request.
      if (!route.cluster().empty() && !Contains(spec.clusters, route.cluster())) return false;
    }
    return true;
  }
};

struct Shared {
  std::vector<CompiledRule> rules;
  RateLimitHeaders headers = RateLimitHeaders::kIetf;
  bool dry_run = false;
  int status = 429;
  AddressRanges trusted;
};

class RateLimitFilter final : public Filter {
 public:
  explicit RateLimitFilter(const Shared& shared) : shared_(shared) {}
  ~RateLimitFilter() override {
    // Late callbacks from a limiter that ignores cancellation find nothing.
    alive_.reset();
  }

  FilterStatus OnRequestHeaders(FilterContext& ctx) override;
  FilterStatus OnResponseHeaders(FilterContext& ctx) override;
  void OnDone(const RequestInfo& info) override;

 private:
  struct Result {
    const CompiledRule* rule = nullptr;
    std::string key;
    std::optional<RateDecision> decision;  // unset: pending or failed
    bool failed = false;
    bool held = false;                   // in-flight units to give back
    AsyncRateLimiter* remote = nullptr;  // this loop's instance, remote rules
    CancelHandle pending;
    std::unique_ptr<Timer> timer;
  };

  bool Matches(const CompiledRule& rule, FilterContext& ctx) const;
  std::optional<std::string> Key(const CompiledRule& rule, FilterContext& ctx);
  void StartRemote(size_t i, FilterContext& ctx);
  void OnRemoteAnswer(size_t i, absl::StatusOr<RateDecision> answer);
  void OnRemoteTimeout(size_t i);
  void RemoteDone();
  // The reply once every answer is in, or nullopt to let the request through.
  std::optional<LocalReply> Verdict();
  LocalReply Refusal(const std::vector<std::string>& names) const;
  void ReleaseHeld();
  std::vector<std::string> DeniedNames() const;

  const Shared& shared_;
  // Inline room for the usual one or two rules: no allocation per request.
  absl::InlinedVector<Result, 2> results_;
  std::optional<std::string> client_ip_;
  size_t outstanding_ = 0;
  bool denied_ = false;  // a rule refused (dry run included)
  Resumer resumer_;
  // Made only for remote calls: local-only requests allocate nothing for it.
  std::shared_ptr<int> alive_;
};

bool RateLimitFilter::Matches(const CompiledRule& rule, FilterContext& ctx) const {
  const RateLimitRule& s = rule.spec;
  if (!s.routes.empty() && !Contains(s.routes, ctx.route().name())) return false;
  if (!s.clusters.empty() && !Contains(s.clusters, ctx.route_match().cluster())) return false;
  if (!s.methods.empty() && !Contains(s.methods, ctx.request().method)) return false;
  return true;
}

std::optional<std::string> RateLimitFilter::Key(const CompiledRule& rule, FilterContext& ctx) {
  std::string key;
  for (const RateLimitKeyPart& part : rule.spec.key) {
    std::optional<std::string_view> value;
    switch (part.source) {
      case RateLimitKeyPart::Source::kClientIp:
        if (!client_ip_) {
          client_ip_ = ClientAddress(ctx.connection(), ctx.request().headers, shared_.trusted);
        }
        value = *client_ip_;
        break;
      case RateLimitKeyPart::Source::kHeader:
        value = ctx.request().headers.Get(part.name);
        break;
      case RateLimitKeyPart::Source::kAttribute:
        value = ctx.GetAttribute(part.name);
        break;
      case RateLimitKeyPart::Source::kRoute:
        value = ctx.route().name();
        break;
      case RateLimitKeyPart::Source::kCluster:
        value = ctx.route_match().cluster();
        if (value->empty()) value.reset();
        break;
      case RateLimitKeyPart::Source::kPath:
        value = ctx.request().path;
        break;
      case RateLimitKeyPart::Source::kMethod:
        value = ctx.request().method;
        break;
    }
    if (!value && rule.spec.skip_if_key_missing) return std::nullopt;
    std::string_view v = value.value_or("");
    // Length-prefixed, so parts can never run into each other.
    absl::StrAppend(&key, v.size(), ":", absl::string_view(v.data(), v.size()), ";");
  }
  return key;
}

FilterStatus RateLimitFilter::OnRequestHeaders(FilterContext& ctx) {
  results_.reserve(shared_.rules.size());
  // Once a rule has refused a request that will really be refused, later rules
  // are only asked what they would decide (Check), so the rejected request
  // does not use up their quota but the reply still carries the longest wait.
  bool rejecting = false;
  for (const CompiledRule& rule : shared_.rules) {
    if (!Matches(rule, ctx)) continue;
    std::optional<std::string> key = Key(rule, ctx);
    if (!key) continue;
    if (rule.limiter == nullptr && rejecting) continue;  // no remote call for a lost cause
    Result& r = results_.emplace_back();
    r.rule = &rule;
    r.key = *std::move(key);
    if (rule.limiter == nullptr) continue;  // remote: started below
    RateDecision d = rejecting ? rule.limiter->Check(r.key, rule.spec.cost)
                               : rule.limiter->Acquire(r.key, rule.spec.cost);
    r.held = d.allowed && !rejecting && rule.limiter->counts_in_flight();
    if (!d.allowed) {
      denied_ = true;
      rejecting = !shared_.dry_run;
    }
    r.decision = d;
  }
  if (rejecting) {
    // Remote rules queued before the refusal are not asked either.
    results_.erase(std::remove_if(results_.begin(), results_.end(),
                                  [](const Result& r) { return r.rule->limiter == nullptr; }),
                   results_.end());
  }
  if (denied_ && shared_.dry_run) {
    ctx.SetAttribute(kRateLimitDryRunDeniedAttribute, absl::StrJoin(DeniedNames(), ","));
  }
  for (size_t i = 0; i < results_.size(); ++i) {
    if (results_[i].rule->limiter == nullptr) ++outstanding_;
  }
  if (outstanding_ == 0) {
    if (std::optional<LocalReply> reply = Verdict()) {
      ctx.SendLocalReply(*std::move(reply));
      return FilterStatus::kStop;
    }
    return FilterStatus::kContinue;
  }
  resumer_ = ctx.Pause();
  // Answers never arrive inside Acquire, but a limiter that fails to start
  // (no instance) completes at once; the Resumer still acts on a later turn.
  for (size_t i = 0; i < results_.size(); ++i) {
    if (results_[i].rule->limiter == nullptr) StartRemote(i, ctx);
  }
  return FilterStatus::kPause;
}

void RateLimitFilter::StartRemote(size_t i, FilterContext& ctx) {
  Result& r = results_[i];
  const CompiledRule& rule = *r.rule;
  Dispatcher& dispatcher = ctx.dispatcher();
  r.remote = rule.slot->Get<AsyncRateLimiter>(
      dispatcher, [&]() { return rule.spec.remote->Create(dispatcher); });
  if (r.remote == nullptr) {
    OnRemoteAnswer(i, absl::UnavailableError("no limiter instance"));
    return;
  }
  if (alive_ == nullptr) alive_ = std::make_shared<int>(0);
  std::weak_ptr<int> alive = alive_;
  r.timer = dispatcher.CreateTimer([this, alive, i] {
    if (!alive.expired()) OnRemoteTimeout(i);
  });
  r.timer->Enable(rule.spec.timeout);
  r.pending = r.remote->Acquire(r.key, rule.spec.cost,
                                [this, alive, i](absl::StatusOr<RateDecision> answer) {
                                  if (!alive.expired()) OnRemoteAnswer(i, std::move(answer));
                                });
}

void RateLimitFilter::OnRemoteAnswer(size_t i, absl::StatusOr<RateDecision> answer) {
  Result& r = results_[i];
  if (r.decision || r.failed) return;  // already timed out
  r.pending.Detach();
  if (r.timer) r.timer->Disable();
  if (answer.ok()) {
    r.decision = *answer;
    r.held = answer->allowed && r.remote->counts_in_flight();
    if (!answer->allowed) denied_ = true;
  } else {
    r.failed = true;
  }
  RemoteDone();
}

void RateLimitFilter::OnRemoteTimeout(size_t i) {
  Result& r = results_[i];
  if (r.decision || r.failed) return;
  // Cancelled, so the answer can no longer arrive; the timer is not destroyed
  // here because this runs inside its callback.
  r.pending.Cancel();
  r.failed = true;
  RemoteDone();
}

void RateLimitFilter::RemoteDone() {
  if (--outstanding_ > 0) return;
  if (std::optional<LocalReply> reply = Verdict()) {
    resumer_.Reply(*std::move(reply));
  } else {
    resumer_.Resume();
  }
}

std::optional<LocalReply> RateLimitFilter::Verdict() {
  if (shared_.dry_run) return std::nullopt;
  bool fail_closed = false;
  absl::Duration retry = absl::ZeroDuration();
  std::vector<std::string> names;
  for (const Result& r : results_) {
    if (r.failed && r.rule->spec.failure_mode == RateLimitFailureMode::kDeny) fail_closed = true;
    if (r.decision && !r.decision->allowed) {
      retry = std::max(retry, r.decision->retry_after);
      names.push_back(r.rule->spec.name);
    }
  }
  if (!names.empty()) {
    ReleaseHeld();
    LocalReply reply = Refusal(names);
    reply.headers.Set("retry-after", absl::StrCat(std::max<int64_t>(1, CeilSeconds(retry))));
    return reply;
  }
  if (fail_closed) {
    ReleaseHeld();
    LocalReply reply = LocalReply::Json(503, ResponseFlag::kRateLimitUnavailable,
                                        "the rate limit store did not answer");
    reply.headers.Set("retry-after", "1");
    return reply;
  }
  return std::nullopt;
}

LocalReply RateLimitFilter::Refusal(const std::vector<std::string>& names) const {
  // The first refusing rule in config order speaks for all of them (`names`
  // is not empty, so there is one).
  const RateLimitResponse* custom = nullptr;
  for (const Result& r : results_) {
    if (r.decision && !r.decision->allowed) {
      custom = &r.rule->spec.on_limit;
      break;
    }
  }
  const int status = custom->status != 0 ? custom->status : shared_.status;
  LocalReply reply;
  if (custom->body.has_value()) {
    reply.status = status;
    reply.flag = ResponseFlagName(ResponseFlag::kRateLimited);
    reply.body = *custom->body;
    reply.headers.Add("content-type", custom->content_type.empty() ? "text/plain; charset=utf-8"
                                                                   : custom->content_type);
  } else {
    reply =
        LocalReply::Json(status, ResponseFlag::kRateLimited,
                         absl::StrCat("rate limit exceeded (", absl::StrJoin(names, ", "), ")"));
    if (!custom->content_type.empty()) reply.headers.Set("content-type", custom->content_type);
  }
  for (const auto& [name, value] : custom->headers) reply.headers.Add(name, value);
  return reply;
}

std::vector<std::string> RateLimitFilter::DeniedNames() const {
  std::vector<std::string> names;
  for (const Result& r : results_) {
    if (r.decision && !r.decision->allowed) names.push_back(r.rule->spec.name);
  }
  return names;
}

FilterStatus RateLimitFilter::OnResponseHeaders(FilterContext& ctx) {
  ResponseHead* response = ctx.response();
  if (response == nullptr) return FilterStatus::kContinue;
  // Again here: remote rules answer after the request phase that set it.
  if (denied_ && shared_.dry_run) {
    ctx.SetAttribute(kRateLimitDryRunDeniedAttribute, absl::StrJoin(DeniedNames(), ","));
  }
  if (shared_.headers == RateLimitHeaders::kNone) return FilterStatus::kContinue;
  // Concurrency limits (no window) are not quotas over time: no headers.
  absl::InlinedVector<const Result*, 4> shown;
  for (const Result& r : results_) {
    if (r.decision && r.decision->window > absl::ZeroDuration()) shown.push_back(&r);
  }
  if (shown.empty()) return FilterStatus::kContinue;
  HeaderMap& h = response->headers;
  if (shared_.headers == RateLimitHeaders::kIetf || shared_.headers == RateLimitHeaders::kBoth) {
    // Built in per-thread buffers: the map copies the values anyway.
    thread_local std::string policy, state;
    policy.clear();
    state.clear();
    for (const Result* r : shown) {
      const RateDecision& d = *r->decision;
      absl::StrAppend(&policy, policy.empty() ? "" : ", ", "\"", r->rule->spec.name,
                      "\";q=", d.limit, ";w=", std::max<int64_t>(1, CeilSeconds(d.window)));
      absl::StrAppend(&state, state.empty() ? "" : ", ", "\"", r->rule->spec.name,
                      "\";r=", d.remaining, ";t=", CeilSeconds(d.reset));
    }
    // One pass drops what the upstream sent under these names.
    h.RemoveIf([](std::string_view n) {
      return (n.size() == 9 && EqualsIgnoreCase(n, "ratelimit")) ||
             (n.size() == 16 && EqualsIgnoreCase(n, "ratelimit-policy"));
    });
    h.Add("ratelimit-policy", policy);
    h.Add("ratelimit", state);
  }
  if (shared_.headers == RateLimitHeaders::kLegacy || shared_.headers == RateLimitHeaders::kBoth) {
    // The most restrictive rule: a refusing one with the longest wait, else
    // the one with the fewest units left (latest reset among equals).
    auto more_restrictive = [](const RateDecision& a, const RateDecision& b) {
      if (a.allowed != b.allowed) return !a.allowed;
      if (!a.allowed) return a.retry_after > b.retry_after;
      return a.remaining < b.remaining || (a.remaining == b.remaining && a.reset > b.reset);
    };
    const RateDecision* pick = nullptr;
    for (const Result* r : shown) {
      const RateDecision& d = *r->decision;
      if (pick == nullptr || more_restrictive(d, *pick)) pick = &d;
    }
    h.Set("x-ratelimit-limit", absl::StrCat(pick->limit));
    h.Set("x-ratelimit-remaining", absl::StrCat(pick->remaining));
    h.Set("x-ratelimit-reset", absl::StrCat(CeilSeconds(pick->reset)));
  }
  return FilterStatus::kContinue;
}

void RateLimitFilter::ReleaseHeld() {
  for (Result& r : results_) {
    if (!r.held) continue;
    r.held = false;
    if (r.rule->limiter != nullptr) {
      r.rule->limiter->Release(r.key, r.rule->spec.cost);
    } else if (r.remote != nullptr) {
      r.remote->Release(r.key, r.rule->spec.cost);
    }
  }
}

void RateLimitFilter::OnDone(const RequestInfo&) {
  // A request that ended while waiting (client gone, deadline) stops waiting.
  for (Result& r : results_) {
    r.pending.Cancel();
    r.timer.reset();
  }
  ReleaseHeld();
}

class RateLimitFactory final : public FilterFactory {
 public:
  explicit RateLimitFactory(std::unique_ptr<Shared> shared) : shared_(std::move(shared)) {}

  std::string_view name() const override { return "rate_limit"; }

  std::unique_ptr<Filter> Create(const Route& route) const override {
    // Routes no rule can apply to get no filter at all.
    for (const CompiledRule& rule : shared_->rules) {
      if (rule.MayApply(route)) return std::make_unique<RateLimitFilter>(*shared_);
    }
    return nullptr;
  }

 private:
  std::unique_ptr<Shared> shared_;
};

}  // namespace

absl::Status RateLimitResponse::Validate() const {
  if (status != 0 && (status < 400 || status > 599)) {
    return absl::InvalidArgumentError("status must be a 4xx or 5xx code");
  }
  if (!content_type.empty() && !IsValidHeaderValue(content_type)) {
    return absl::InvalidArgumentError("content_type is not a valid header value");
  }
  for (const auto& [name, value] : headers) {
    if (!IsValidHeaderName(name)) {
      return absl::InvalidArgumentError(absl::StrCat("'", name, "' is not a valid header name"));
    }
    // Framing and hop-by-hop fields belong to the connection, not the reply.
    for (std::string_view own :
         {"content-type", "content-length", "transfer-encoding", "connection", "keep-alive",
          "upgrade", "trailer", "te", "retry-after"}) {
      if (EqualsIgnoreCase(name, own)) {
        return absl::InvalidArgumentError(
            absl::StrCat("header '", name, "' is set by the gateway",
                         EqualsIgnoreCase(name, "content-type") ? " (use content_type)" : ""));
      }
    }
    if (!IsValidHeaderValue(value)) {
      return absl::InvalidArgumentError(absl::StrCat("header '", name, "' has an invalid value"));
    }
  }
  return absl::OkStatus();
}

absl::Status RateLimitRule::Validate() const {
  std::string who = absl::StrCat("rule \"", name, "\"");
  if (!ValidPolicyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": name must be 1-64 letters, digits or -_.:"));
  }
  int kinds = (local ? 1 : 0) + (limiter ? 1 : 0) + (remote ? 1 : 0);
  if (kinds != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, ": exactly one of local, limiter and remote must be set"));
  }
  if (cost == 0) return absl::InvalidArgumentError(absl::StrCat(who, ": cost must be > 0"));
  if (auto s = on_limit.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": on_limit: ", s.message()));
  }
  if (local) {
    if (auto s = ValidateRateLimitAlgorithm(*local); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(who, ": ", s.message()));
    }
    if (cost > Capacity(*local)) {
      return absl::InvalidArgumentError(absl::StrCat(
          who, ": cost ", cost, " is more than the limit allows at once (", Capacity(*local), ")"));
    }
  }
  if (remote && timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(who, ": timeout must be > 0"));
  }
  for (const RateLimitKeyPart& part : key) {
    bool named = part.source == RateLimitKeyPart::Source::kHeader ||
                 part.source == RateLimitKeyPart::Source::kAttribute;
    if (named && part.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": header and attribute key parts need a name"));
    }
    if (part.source == RateLimitKeyPart::Source::kHeader && !IsValidHeaderName(part.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, ": '", part.name, "' is not a valid header name"));
    }
  }
  return absl::OkStatus();
}

absl::Status RateLimitFilterConfig::Validate() const {
  if (rules.empty()) return absl::InvalidArgumentError("rate_limit: no rules");
  std::set<std::string> names;
  for (const RateLimitRule& rule : rules) {
    if (auto s = rule.Validate(); !s.ok()) return s;
    if (!names.insert(rule.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate rule name \"", rule.name, "\""));
    }
  }
  if (status < 400 || status > 599) {
    return absl::InvalidArgumentError("rate_limit: status must be a 4xx or 5xx code");
  }
  if (auto s = AddressRanges::Parse(trusted_proxies); !s.ok()) return s.status();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const FilterFactory>> MakeRateLimitFilter(
    RateLimitFilterConfig config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  const Clock& clock = config.clock != nullptr ? *config.clock : SystemClock();
  auto shared = std::make_unique<Shared>();
  shared->headers = config.headers;
  shared->dry_run = config.dry_run;
  shared->status = config.status;
  shared->trusted = *AddressRanges::Parse(config.trusted_proxies);
  shared->rules.reserve(config.rules.size());
  for (RateLimitRule& spec : config.rules) {
    CompiledRule rule;
    if (spec.local) {
      auto limiter = MakeRateLimiter(*spec.local, clock);
      if (!limiter.ok()) return limiter.status();
      rule.limiter = std::shared_ptr<RateLimiter>(*std::move(limiter));
    } else if (spec.limiter) {
      rule.limiter = spec.limiter;
    } else {
      rule.slot = std::make_unique<LoopLocalSlot>();
    }
    rule.spec = std::move(spec);
    shared->rules.push_back(std::move(rule));
  }
  return std::make_shared<RateLimitFactory>(std::move(shared));
}

}  // namespace gateway
