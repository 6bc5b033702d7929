#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "gateway/config_fields.h"
#include "gateway/config_node.h"

namespace gateway {
namespace {

namespace cfg = gateway::config;

enum class Mode { kFast, kSafe };

struct Inner {
  int64_t depth = 1;
};

struct Options {
  std::string name;
  int64_t count = 3;
  uint64_t bytes = 0;
  absl::Duration wait = absl::Seconds(1);
  bool on = false;
  Mode mode = Mode::kSafe;
  std::vector<int> statuses;
  std::optional<Inner> inner;
  int64_t low = 0;
  int64_t high = 10;

  absl::Status Validate() const {
    if (low > high) return FieldsError({"low", "high"}, "low must not exceed high");
    if (name == "bad") return FieldError("name", "must not be \"bad\"");
    if (inner.has_value() && inner->depth > 5) return FieldError("inner.depth", "too deep");
    return absl::OkStatus();
  }
};

constexpr std::pair<std::string_view, Mode> kModes[] = {{"fast", Mode::kFast},
                                                        {"safe", Mode::kSafe}};

const cfg::FieldTable<Inner> kInner{cfg::Field("depth", &Inner::depth, cfg::Int{.min = 1})};

const cfg::FieldTable<Options> kOptions{
    cfg::Field("name", &Options::name, cfg::String{}).Required(),
    cfg::Field("count", &Options::count, cfg::Int{.min = 1, .max = 100}),
    cfg::Field("bytes", &Options::bytes, cfg::Uint{.positive = true}),
    cfg::Field("wait", &Options::wait, cfg::Duration{.max = absl::Minutes(1)}),
    cfg::Field("on", &Options::on, cfg::Bool{}),
    cfg::Field("mode", &Options::mode, cfg::Enum<Mode>{kModes}),
    cfg::Field("statuses", &Options::statuses,
               cfg::List{cfg::Int{.min = 100, .max = 599}, "expected a list of statuses"}),
    cfg::Field("inner", &Options::inner, cfg::Emplace{kInner.reader()}),
    cfg::Field("low", &Options::low, cfg::Int{}),
    cfg::Field("high", &Options::high, cfg::Int{}),
};

absl::Status Read(const std::string& yaml, Options* out) {
  auto node = ParseConfigNode(yaml, "t.yaml", "opts");
  if (!node.ok()) return node.status();
  return kOptions.ReadValid(*node, out);
}

std::string Error(const std::string& yaml) {
  Options o;
  absl::Status s = Read(yaml, &o);
  return s.ok() ? "OK" : std::string(s.message());
}

TEST_CASE("a field table reads each key into its member and leaves absent ones alone") {
  Options o;
  REQUIRE(Read("name: a\ncount: 7\nwait: 250ms\non: yes\nmode: fast\nstatuses: [200, 404]\n"
               "inner: {depth: 2}\n",
               &o)
              .ok());
  CHECK(o.name == "a");
  CHECK(o.count == 7);
  CHECK(o.bytes == 0);
  CHECK(o.wait == absl::Milliseconds(250));
  CHECK(o.on);
  CHECK(o.mode == Mode::kFast);
  CHECK(o.statuses == std::vector<int>{200, 404});
  REQUIRE(o.inner.has_value());
  CHECK(o.inner->depth == 2);
  CHECK(o.high == 10);
}

TEST_CASE("field table errors name file, line and key path") {
  CHECK(Error("count: 2\n") == "t.yaml:1: opts.name: missing");
  CHECK(Error("name: a\ncuont: 2\n") ==
        "t.yaml:2: opts.cuont: unknown key (expected one of: name, count, bytes, wait, on, mode, "
        "statuses, inner, low, high)");
  CHECK(Error("name: a\ncount: 0\n") == "t.yaml:2: opts.count: out of range [1, 100]");
  CHECK(Error("name: a\nbytes: 0\n") == "t.yaml:2: opts.bytes: must be > 0");
  CHECK(Error("name: a\nbytes: -1\n") == "t.yaml:2: opts.bytes: expected a non-negative integer");
  CHECK(Error("name: a\nwait: 2m\n") == "t.yaml:2: opts.wait: must be at most 1m");
  CHECK(Error("name: a\non: maybe\n") == "t.yaml:2: opts.on: expected true or false");
  CHECK(Error("name: a\nmode: slow\n") ==
        "t.yaml:2: opts.mode: expected fast or safe, not \"slow\"");
  CHECK(Error("name: a\nstatuses: 200\n") ==
        "t.yaml:2: opts.statuses: expected a list of statuses");
  CHECK(Error("name: a\nstatuses: [200, 700]\n") ==
        "t.yaml:2: opts.statuses[1]: out of range [100, 599]");
  CHECK(Error("name: a\ninner:\n  depht: 1\n") ==
        "t.yaml:3: opts.inner.depht: unknown key (expected one of: depth)");
  CHECK(Error("- a\n") == "t.yaml:1: opts: expected a mapping");
}

TEST_CASE("an unknown key is reported at the key's line, not its value's") {
  CHECK(Error("name: a\nextra:\n  - 1\n") ==
        "t.yaml:2: opts.extra: unknown key (expected one of: name, count, bytes, wait, on, mode, "
        "statuses, inner, low, high)");
}

TEST_CASE("Validate errors are reported at the field they name") {
  // FieldError: the path replaces the field named at the start of the message.
  CHECK(Error("name: bad\n") == "t.yaml:1: opts.name: must not be \"bad\"");
  CHECK(Error("name: a\ninner:\n  depth: 9\n") == "t.yaml:3: opts.inner.depth: too deep");
  // FieldsError: the whole message, at the first of its fields the file sets.
  CHECK(Error("name: a\nlow: 20\n") == "t.yaml:2: opts.low: low must not exceed high");
  CHECK(Error("name: a\nhigh: -1\n") == "t.yaml:2: opts.high: low must not exceed high");
  CHECK(Error("name: a\nlow: 20\nhigh: 5\n") == "t.yaml:2: opts.low: low must not exceed high");
}

TEST_CASE("a Validate error whose fields the file does not set is reported at the section") {
  auto node = ParseConfigNode("name: a\n", "t.yaml", "opts");
  REQUIRE(node.ok());
  CHECK(std::string(node->Invalid(FieldError("nowhere", "x")).message()) ==
        "t.yaml:1: opts: nowhere: x");
  CHECK(std::string(node->Invalid(absl::InvalidArgumentError("plain")).message()) ==
        "t.yaml:1: opts: plain");
  CHECK(node->Invalid(absl::OkStatus()).ok());
}

TEST_CASE("NestFieldError moves the fields under a prefix and keeps the message readable") {
  absl::Status inner = FieldError("ttl", "must be whole seconds");
  absl::Status nested = NestFieldError(inner, "hash_policy[2]", "hash_policy[2].");
  CHECK(std::string(nested.message()) == "hash_policy[2].ttl: must be whole seconds");
  bool prefixed = false;
  CHECK(ErrorFields(nested, &prefixed) == std::vector<std::string>{"hash_policy[2].ttl"});
  CHECK(prefixed);
  absl::Status outer = NestFieldError(nested, "", "route 'r': ");
  CHECK(std::string(outer.message()) == "route 'r': hash_policy[2].ttl: must be whole seconds");
  CHECK(ErrorFields(outer, nullptr) == std::vector<std::string>{"hash_policy[2].ttl"});
  auto node = ParseConfigNode("hash_policy:\n  - a: 1\n  - b: 2\n  - cookie: s\n    ttl: 1.5s\n",
                              "t.yaml", "routes[0]");
  REQUIRE(node.ok());
  CHECK(std::string(node->Invalid(outer).message()) ==
        "t.yaml:5: routes[0].hash_policy[2].ttl: must be whole seconds");
}

TEST_CASE("Without drops a key from a table") {
  auto table = kInner.Without("depth");
  auto node = ParseConfigNode("depth: 1\n", "t.yaml", "x");
  REQUIRE(node.ok());
  Inner in;
  CHECK_THAT(std::string(table.Read(*node, &in).message()),
             Catch::StartsWith("t.yaml:1: x.depth: unknown key"));
}

}  // namespace
}  // namespace gateway
