// The Redis-backed AsyncRateLimiter: one hiredis connection per loop, driven
// by libuv through hiredis' adapter (see docs/rate-limiting.md#redis). The
// adapter owns its uv_poll_t and closes it from hiredis' cleanup hook, which
// every redisAsyncFree (ours or hiredis' own after a disconnect) runs.
//
// Hiredis resolves the address it is given with a blocking getaddrinfo, so it
// only ever gets address literals: a host name is looked up first by the
// configured Resolver on libuv's thread pool.
#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/ip_literal.h"
#include "gateway/redis_rate_limiter.h"
#include "ratelimit/redis_reply.h"

namespace gateway {
namespace internal {

absl::StatusOr<RedisScriptReply> ParseRedisScriptReply(const redisReply* reply) {
  if (reply == nullptr) return absl::UnavailableError("redis: connection lost");
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("redis: ", absl::string_view(reply->str, reply->len)));
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) {
    return absl::DataLossError("redis: expected an array of 4 integers");
  }
  for (size_t i = 0; i < 4; ++i) {
    if (reply->element[i] == nullptr || reply->element[i]->type != REDIS_REPLY_INTEGER) {
      return absl::DataLossError("redis: expected an array of 4 integers");
    }
  }
  long long allowed = reply->element[0]->integer;
  if (allowed != 0 && allowed != 1) return absl::DataLossError("redis: allowed is not 0 or 1");
  return RedisScriptReply{.allowed = allowed == 1,
                          .remaining = reply->element[1]->integer,
                          .reset_ms = reply->element[2]->integer,
                          .retry_after_ms = reply->element[3]->integer};
}

}  // namespace internal

namespace {

// privdata of commands that are not calls.
constexpr uint64_t kControlId = 0;
constexpr uint64_t kScriptLoadId = 1;
constexpr uint64_t kFirstCallId = 2;

bool IsSha1Hex(const redisReply* r) {
  if (r == nullptr || r->type != REDIS_REPLY_STRING || r->len != 40) return false;
  for (size_t i = 0; i < 40; ++i) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(r->str[i]))) return false;
  }
  return true;
}

class RedisRateLimiter final : public AsyncRateLimiter {
 public:
  RedisRateLimiter(std::shared_ptr<const RedisRateLimitConfig> config, Dispatcher& dispatcher)
      : config_(std::move(config)),
        dispatcher_(dispatcher),
        script_(RedisRateLimitScript(config_->algorithm)),
        backoff_(config_->reconnect_backoff_min) {
    literal_ = internal::IsIpLiteral(config_->address);
    if (!literal_) {
      resolver_ = config_->resolver != nullptr ? config_->resolver : MakeSystemResolver();
    }
    const bool v6 = config_->address.find(':') != std::string::npos;
    where_ = absl::StrCat("redis ", v6 ? "[" : "", config_->address, v6 ? "]" : "", ":",
                          config_->port, " (key prefix \"", config_->key_prefix, "\")");
    deadline_timer_ = dispatcher_.CreateTimer([this] { OnDeadlineTimer(); });
    reconnect_timer_ = dispatcher_.CreateTimer([this] { Connect(); });
    args_ = std::visit(
        [](const auto& c) -> std::vector<std::string> {
          using T = std::decay_t<decltype(c)>;
          if constexpr (std::is_same_v<T, TokenBucketConfig>) {
            return {absl::StrCat(c.rate), absl::StrCat(absl::ToInt64Milliseconds(c.per)),
                    absl::StrCat(c.burst == 0 ? c.rate : c.burst)};
          } else {
            return {absl::StrCat(c.limit), absl::StrCat(absl::ToInt64Milliseconds(c.window))};
          }
        },
        config_->algorithm);
    Connect();
  }

  ~RedisRateLimiter() override {
    // Pending calls are dropped without calling back: their handles are the
    // callers', and the limiter's loop is going away.
    calls_.clear();
    // A lookup cannot be stopped once a pool thread runs it: it then finishes
    // on its own and its callback, seeing no owner, only frees it.
    if (lookup_ != nullptr) {
      lookup_->owner = nullptr;
      uv_cancel(reinterpret_cast<uv_req_t*>(&lookup_->req));
    }
    if (ac_ != nullptr) {
      ac_->data = nullptr;
      if (ac_->c.reader != nullptr) ac_->c.reader->privdata = nullptr;
      redisAsyncFree(ac_);
    }
  }

  CancelHandle Acquire(std::string_view key, uint64_t cost, Callback done) override {
    const uint64_t id = next_id_++;
    calls_.emplace(id, Call{.done = std::move(done), .key = std::string(key), .cost = cost});
    std::weak_ptr<int> alive = alive_;
    CancelHandle handle([this, alive, id] {
      if (!alive.expired()) calls_.erase(id);
    });
    absl::Status refused;
    if (ac_ == nullptr) {
      refused = absl::UnavailableError("redis: not connected");
    } else if (in_flight_ >= config_->max_pending) {
      refused = absl::ResourceExhaustedError("redis: too many pending calls");
    }
    if (!refused.ok()) {
      // Callbacks never run inside Acquire.
      dispatcher_.Post([this, alive, id, refused] {
        if (!alive.expired()) Complete(id, refused);
      });
      return handle;
    }
    deadlines_.push_back({dispatcher_.clock().Monotonic() + config_->call_timeout, id});
    SendCall(id, /*by_sha=*/!sha_.empty());
    ArmDeadlineTimer();
    return handle;
  }

 private:
  struct Call {
    Callback done;
    std::string key;
    uint64_t cost = 0;
  };

  // What the log last said about this loop's connection.
  enum class Health { kStarting, kUp, kDown };

  // A host-name lookup running on libuv's thread pool. Owned by its
  // completion callback, which libuv always runs on the loop (with
  // UV_ECANCELED when cancelled before a pool thread took it).
  struct Lookup {
    uv_work_t req;
    RedisRateLimiter* owner = nullptr;  // null once the limiter is gone
    std::shared_ptr<Resolver> resolver;
    std::string name;
    absl::StatusOr<std::vector<std::string>> addresses;  // written on the pool thread
  };

  // Hiredis calls back through C function pointers; the limiter is found
  // through the context's `data`, which is null once the limiter let go of
  // that context (its late callbacks are then ignored).
  static RedisRateLimiter* Of(const redisAsyncContext* ac) {
    return ac == nullptr ? nullptr : static_cast<RedisRateLimiter*>(ac->data);
  }
  static void OnReplyThunk(redisAsyncContext* ac, void* reply, void* privdata) {
    if (RedisRateLimiter* self = Of(ac)) {
      self->OnReply(static_cast<redisReply*>(reply), reinterpret_cast<uintptr_t>(privdata));
    }
  }
  static void OnConnectThunk(const redisAsyncContext* ac, int status) {
    if (RedisRateLimiter* self = Of(ac)) self->OnConnect(status, ac->errstr);
  }
  static void OnDisconnectThunk(const redisAsyncContext* ac, int status) {
    if (RedisRateLimiter* self = Of(ac)) {
      self->OnDisconnect(status == REDIS_OK ? "connection closed" : ac->errstr);
    }
  }
  static void ResolveOnPool(uv_work_t* req) {
    auto* lookup = static_cast<Lookup*>(req->data);
    lookup->addresses = lookup->resolver->Resolve(lookup->name);
  }
  static void OnResolvedThunk(uv_work_t* req, int status) {
    std::unique_ptr<Lookup> lookup(static_cast<Lookup*>(req->data));
    if (lookup->owner == nullptr || status == UV_ECANCELED) return;
    lookup->owner->lookup_ = nullptr;
    lookup->owner->OnResolved(lookup->addresses);
  }

  // Hiredis 0.14 aborts the process (an assert) on a reply that no command
  // asked for. The reader's object constructors are wrapped so that such a
  // reply fails to parse instead: hiredis then reports a read error and drops
  // the connection, which the limiter reopens.
  static const redisReplyObjectFunctions kGuardedFunctions;
  // Hiredis' default constructors, read once from a throwaway reader.
  static const redisReplyObjectFunctions* BaseFunctions() {
    static const redisReplyObjectFunctions* const base = [] {
      redisReader* r = redisReaderCreate();
      const redisReplyObjectFunctions* fn = r != nullptr ? r->fn : nullptr;
      if (r != nullptr) redisReaderFree(r);
      return fn;
    }();
    return base;
  }
  static bool Unsolicited(const redisReadTask* task) {
    if (task->parent != nullptr) return false;
    auto* self = static_cast<RedisRateLimiter*>(task->privdata);
    if (self == nullptr || self->in_flight_ != 0) return false;
    // Hiredis reports a refused reply as "Out of memory": the log says why.
    self->unsolicited_ = true;
    return true;
  }
  static void* GuardedString(const redisReadTask* task, char* s, size_t len) {
    return Unsolicited(task) ? nullptr : BaseFunctions()->createString(task, s, len);
  }
  static void* GuardedArray(const redisReadTask* task, int n) {
    // Refused before hiredis allocates what the header claims (redis_reply.h).
    if (n > internal::kMaxRedisReplyElements) return nullptr;
    return Unsolicited(task) ? nullptr : BaseFunctions()->createArray(task, n);
  }
  static void* GuardedInteger(const redisReadTask* task, long long v) {
    return Unsolicited(task) ? nullptr : BaseFunctions()->createInteger(task, v);
  }
  static void* GuardedNil(const redisReadTask* task) {
    return Unsolicited(task) ? nullptr : BaseFunctions()->createNil(task);
  }
  static void GuardedFree(void* reply) { BaseFunctions()->freeObject(reply); }
  void GuardReader(redisAsyncContext* ac) {
    redisReader* reader = ac->c.reader;
    if (reader == nullptr || reader->fn == nullptr || reader->fn != BaseFunctions()) return;
    reader->fn = const_cast<redisReplyObjectFunctions*>(&kGuardedFunctions);
    reader->privdata = this;
  }

  // One connection attempt: every address of the server in turn, then the
  // backoff. A name is looked up afresh each time, so a server that moved
  // (a rescheduled container) is found on the next attempt.
  void Connect() {
    if (literal_) {
      addresses_.assign(1, config_->address);
      next_address_ = 0;
      ConnectNext();
      return;
    }
    if (lookup_ != nullptr) return;
    auto lookup = std::make_unique<Lookup>();
    lookup->owner = this;
    lookup->req.data = lookup.get();
    lookup->resolver = resolver_;
    lookup->name = config_->address;
    if (int rc = uv_queue_work(dispatcher_.loop(), &lookup->req, &ResolveOnPool, &OnResolvedThunk);
        rc != 0) {
      MarkDown(absl::StrCat("cannot start resolving: ", uv_strerror(rc)));
      ScheduleReconnect();
      return;
    }
    lookup_ = lookup.release();
  }

  void OnResolved(const absl::StatusOr<std::vector<std::string>>& addresses) {
    addresses_.clear();
    next_address_ = 0;
    if (addresses.ok()) {
      // Only literals reach hiredis, whatever a user's resolver returns.
      for (const std::string& a : *addresses) {
        if (internal::IsIpLiteral(a)) addresses_.push_back(a);
      }
    }
    if (addresses_.empty()) {
      MarkDown(addresses.ok() ? absl::string_view("the name has no address")
                              : addresses.status().message());
      ScheduleReconnect();
      return;
    }
    ConnectNext();
  }

  // Tries the addresses left; when none connects, the server is down.
  void ConnectNext() {
    while (next_address_ < addresses_.size()) {
      if (ConnectTo(addresses_[next_address_++])) return;
    }
    MarkDown(last_error_);
    ScheduleReconnect();
  }

  // Opens a connection to one address; false (and `last_error_`) if it
  // failed at once.
  bool ConnectTo(const std::string& ip) {
    redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), config_->port);
    if (ac == nullptr) {
      last_error_ = "out of memory";
      return false;
    }
    if (ac->err != 0 || redisLibuvAttach(ac, dispatcher_.loop()) != REDIS_OK) {
      last_error_ = ac->err != 0 ? ac->errstr : "cannot watch the socket";
      redisAsyncFree(ac);
      return false;
    }
    ac->data = this;
    unsolicited_ = false;
    GuardReader(ac);
    redisAsyncSetConnectCallback(ac, &OnConnectThunk);
    redisAsyncSetDisconnectCallback(ac, &OnDisconnectThunk);
    ac_ = ac;
    connected_ = false;
    // Queued now, written once the socket connects, answered before any call.
    if (!config_->password.empty()) Send({"AUTH", config_->password}, kControlId);
    if (config_->db != 0) Send({"SELECT", absl::StrCat(config_->db)}, kControlId);
    Send({"SCRIPT", "LOAD", std::string(script_)}, kScriptLoadId);
    return true;
  }

  // One line per transition, whatever the number of failed attempts between.
  // The first working connection is not news; a first failing one is.
  void MarkDown(absl::string_view error) {
    if (health_ == Health::kDown) return;
    health_ = Health::kDown;
    Log(absl::StrCat(where_, ": down (", error, ")"));
  }
  void MarkUp() {
    if (health_ == Health::kDown) Log(absl::StrCat(where_, ": up"));
    health_ = Health::kUp;
  }
  void Log(std::string_view line) const {
    if (config_->log) {
      config_->log(line);
    } else {
      std::fprintf(stderr, "gateway: %.*s\n", static_cast<int>(line.size()), line.data());
    }
  }

  void Send(const std::vector<std::string>& args, uint64_t id) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    argv.reserve(args.size());
    lens.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    if (redisAsyncCommandArgv(ac_, &OnReplyThunk, reinterpret_cast<void*>(uintptr_t{id}),
                              static_cast<int>(args.size()), argv.data(),
                              lens.data()) != REDIS_OK) {
      // Only a context that is already closing refuses commands; its
      // disconnect callback follows.
      if (id >= kFirstCallId) {
        dispatcher_.Post([this, alive = std::weak_ptr<int>(alive_), id] {
          if (!alive.expired()) Complete(id, absl::UnavailableError("redis: connection closing"));
        });
      }
      return;
    }
    ++in_flight_;
    sent_.push_back(dispatcher_.clock().Monotonic());
  }

  void SendCall(uint64_t id, bool by_sha) {
    const Call& call = calls_.at(id);
    std::vector<std::string> args;
    args.reserve(8);
    if (by_sha) {
      args.push_back("EVALSHA");
      args.push_back(sha_);
    } else {
      args.push_back("EVAL");
      args.push_back(std::string(script_));
    }
    args.push_back("1");
    args.push_back(absl::StrCat(config_->key_prefix, call.key));
    for (const std::string& a : args_) args.push_back(a);
    args.push_back(absl::StrCat(call.cost));
    Send(args, id);
  }

  void OnConnect(int status, const char* error) {
    if (status == REDIS_OK) {
      connected_ = true;
      backoff_ = config_->reconnect_backoff_min;
      return;
    }
    // Hiredis frees the context after this returns, answering its queued
    // commands with null replies first (handled as lost calls); the next
    // address is tried after that, so those replies are not counted against
    // the new connection's commands.
    ac_ = nullptr;
    last_error_ = error;
    dispatcher_.Post([this, alive = std::weak_ptr<int>(alive_)] {
      if (!alive.expired()) ConnectNext();
    });
  }

  void OnDisconnect(const char* error) {
    ac_ = nullptr;
    connected_ = false;
    MarkDown(unsolicited_ ? "a reply no command asked for" : error);
    unsolicited_ = false;
    ScheduleReconnect();
  }

  void ScheduleReconnect() {
    if (reconnect_timer_->enabled()) return;
    reconnect_timer_->Enable(backoff_);
    backoff_ = std::min(backoff_ * 2, config_->reconnect_backoff_max);
  }

  // Gives up on the current connection: its calls fail now and a new one is
  // opened after the backoff.
  void DropConnection(absl::string_view why) {
    if (ac_ == nullptr) return;
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    connected_ = false;
    ac->data = nullptr;
    if (ac->c.reader != nullptr) ac->c.reader->privdata = nullptr;
    in_flight_ = 0;
    sent_.clear();
    // Deferred by hiredis when this runs inside one of its callbacks.
    redisAsyncFree(ac);
    MarkDown(why);
    FailAll(absl::UnavailableError(absl::StrCat("redis: ", why)));
    ScheduleReconnect();
  }

  void FailAll(const absl::Status& status) {
    std::vector<uint64_t> ids;
    ids.reserve(calls_.size());
    for (const auto& [id, call] : calls_) ids.push_back(id);
    std::sort(ids.begin(), ids.end());
    for (uint64_t id : ids) Complete(id, status);
  }

  void OnReply(redisReply* reply, uint64_t id) {
    // Replies come back in the order commands were sent.
    if (in_flight_ > 0) --in_flight_;
    if (!sent_.empty()) sent_.pop_front();
    if (id == kControlId) {
      if (reply != nullptr && reply->type == REDIS_REPLY_ERROR) {
        DropConnection(absl::StrCat("setup refused: ", absl::string_view(reply->str, reply->len)));
      }
      return;
    }
    if (id == kScriptLoadId) {
      // Without a SHA calls keep sending the whole script (EVAL).
      if (IsSha1Hex(reply)) sha_.assign(reply->str, reply->len);
      // Answered after AUTH and SELECT: the server takes commands again.
      if (reply != nullptr && reply->type != REDIS_REPLY_ERROR) MarkUp();
      return;
    }
    auto it = calls_.find(id);
    if (it == calls_.end()) return;  // timed out or cancelled meanwhile
    if (reply != nullptr && reply->type == REDIS_REPLY_ERROR &&
        std::string_view(reply->str, reply->len).substr(0, 8) == "NOSCRIPT" && ac_ != nullptr) {
      // The server lost its script cache (restart, SCRIPT FLUSH): EVAL also
      // loads it again for the next EVALSHA. The call keeps its deadline.
      SendCall(id, /*by_sha=*/false);
      return;
    }
    absl::StatusOr<RedisScriptReply> parsed = internal::ParseRedisScriptReply(reply);
    if (!parsed.ok()) {
      Complete(id, parsed.status());
      return;
    }
    if (health_ != Health::kUp) MarkUp();
    Complete(id, RedisReplyToDecision(config_->algorithm, *parsed));
  }

  void Complete(uint64_t id, absl::StatusOr<RateDecision> result) {
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    Callback done = std::move(it->second.done);
    calls_.erase(it);
    done(std::move(result));
  }

  void OnDeadlineTimer() {
    const absl::Duration now = dispatcher_.clock().Monotonic();
    if (!sent_.empty() && now - sent_.front() >= config_->stall_timeout) {
      DropConnection("no answer within the stall timeout");
    }
    // Every call has the same timeout, so deadlines are in order.
    while (!deadlines_.empty() && deadlines_.front().first <= now) {
      uint64_t id = deadlines_.front().second;
      deadlines_.pop_front();
      Complete(id, absl::DeadlineExceededError("redis: call timed out"));
    }
    ArmDeadlineTimer();
  }

  void ArmDeadlineTimer() {
    // Deadlines of calls already answered are skipped lazily.
    while (!deadlines_.empty() && !calls_.contains(deadlines_.front().second)) {
      deadlines_.pop_front();
    }
    absl::Duration next = absl::InfiniteDuration();
    if (!deadlines_.empty()) next = deadlines_.front().first;
    if (!sent_.empty()) next = std::min(next, sent_.front() + config_->stall_timeout);
    if (next == absl::InfiniteDuration()) {
      deadline_timer_->Disable();
      return;
    }
    if (deadline_timer_->enabled() && armed_for_ <= next) return;
    armed_for_ = next;
    deadline_timer_->Enable(std::max(next - dispatcher_.clock().Monotonic(), absl::ZeroDuration()));
  }

  std::shared_ptr<const RedisRateLimitConfig> config_;
  Dispatcher& dispatcher_;
  std::string_view script_;
  std::vector<std::string> args_;  // the algorithm's ARGV before the cost
  std::string sha_;                // from SCRIPT LOAD; empty: EVAL

  bool literal_ = false;                // `address` needs no lookup
  std::shared_ptr<Resolver> resolver_;  // for a host name
  std::string where_;                   // "redis <address>:<port> (key prefix ...)", for the log
  Lookup* lookup_ = nullptr;            // a lookup in flight
  std::vector<std::string> addresses_;  // of this attempt, literals
  size_t next_address_ = 0;
  std::string last_error_;  // of the last address tried
  Health health_ = Health::kStarting;

  redisAsyncContext* ac_ = nullptr;
  bool connected_ = false;
  bool unsolicited_ = false;  // the reader refused a reply nobody asked for
  absl::Duration backoff_;
  std::unique_ptr<Timer> reconnect_timer_;

  absl::flat_hash_map<uint64_t, Call> calls_;  // calls not answered yet
  uint64_t next_id_ = kFirstCallId;
  std::deque<std::pair<absl::Duration, uint64_t>> deadlines_;
  size_t in_flight_ = 0;             // commands on the wire, answered or not
  std::deque<absl::Duration> sent_;  // when each of them was sent
  std::unique_ptr<Timer> deadline_timer_;
  absl::Duration armed_for_ = absl::InfiniteDuration();

  // Cancel handles may outlive the limiter (destroyed with its loop).
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

const redisReplyObjectFunctions RedisRateLimiter::kGuardedFunctions = {
    &RedisRateLimiter::GuardedString, &RedisRateLimiter::GuardedArray,
    &RedisRateLimiter::GuardedInteger, &RedisRateLimiter::GuardedNil,
    &RedisRateLimiter::GuardedFree};

class RedisRateLimiterFactory final : public AsyncRateLimiterFactory {
 public:
  explicit RedisRateLimiterFactory(RedisRateLimitConfig config)
      : config_(std::make_shared<const RedisRateLimitConfig>(std::move(config))) {}

  std::unique_ptr<AsyncRateLimiter> Create(Dispatcher& dispatcher) const override {
    if (dispatcher.loop() == nullptr) return nullptr;  // simulated loops have no sockets
    return std::make_unique<RedisRateLimiter>(config_, dispatcher);
  }

 private:
  std::shared_ptr<const RedisRateLimitConfig> config_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<const AsyncRateLimiterFactory>> MakeRedisRateLimiterFactory(
    RedisRateLimitConfig config) {
  if (auto s = config.Validate(); !s.ok()) return s;
  return std::make_shared<const RedisRateLimiterFactory>(std::move(config));
}

}  // namespace gateway
