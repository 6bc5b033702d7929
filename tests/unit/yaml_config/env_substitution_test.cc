#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/yaml_config.h"

namespace gateway {
namespace {

template <typename T>
std::string Message(const absl::StatusOr<T>& s) {
  return s.ok() ? "OK" : std::string(s.status().message());
}

// Sets a variable for one test and removes it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { setenv(name, value, 1); }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

constexpr char kCluster[] =
    "clusters:\n"
    "  - name: c\n"
    "    endpoints:\n"
    "      - address: ${GW_TEST_HOST:-127.0.0.1}\n"
    "        port: ${GW_TEST_PORT}\n";

TEST_CASE("${VAR} in a scalar value is replaced from the environment") {
  ScopedEnv port("GW_TEST_PORT", "8123");
  auto c = LoadConfigString(kCluster, "e.yaml");
  REQUIRE(c.ok());
  CHECK(c->clusters[0].endpoints[0].port == 8123);
  CHECK(c->clusters[0].endpoints[0].address == "127.0.0.1");  // the default
}

TEST_CASE("${VAR:-default} takes the variable when set and the default when unset or empty") {
  ScopedEnv port("GW_TEST_PORT", "1");
  {
    ScopedEnv host("GW_TEST_HOST", "10.0.0.7");
    auto c = LoadConfigString(kCluster, "e.yaml");
    REQUIRE(c.ok());
    CHECK(c->clusters[0].endpoints[0].address == "10.0.0.7");
  }
  ScopedEnv empty("GW_TEST_HOST", "");
  auto c = LoadConfigString(kCluster, "e.yaml");
  REQUIRE(c.ok());
  CHECK(c->clusters[0].endpoints[0].address == "127.0.0.1");
}

TEST_CASE("an unset variable without default names file, line, key and variable") {
  unsetenv("GW_TEST_PORT");
  CHECK(Message(LoadConfigString(kCluster, "e.yaml")) ==
        "e.yaml:5: clusters[0].endpoints[0].port: environment variable GW_TEST_PORT is not set "
        "(use ${GW_TEST_PORT:-<default>} to give a default)");
}

TEST_CASE("a substituted value is checked like a written one") {
  ScopedEnv port("GW_TEST_PORT", "99999");
  CHECK(Message(LoadConfigString(kCluster, "e.yaml")) ==
        "e.yaml:5: clusters[0].endpoints[0].port: out of range [1, 65535]");
}

TEST_CASE("$${ is a literal ${ and a lone $ stays as written") {
  auto c = LoadConfigString(
      "routes:\n  - direct_response: {body: \"cost: $5 ${GW_TEST_NONE:-x}$${HOME}$$\"}\n",
      "e.yaml");
  REQUIRE(c.ok());
  CHECK(c->routes[0].direct_response->body == "cost: $5 x${HOME}$$");
}

TEST_CASE("malformed variable references are errors at their key") {
  CHECK(Message(LoadConfigString("workers: ${GW_TEST_PORT\n", "e.yaml")) ==
        "e.yaml:1: workers: unterminated \"${\" (write \"$${\" for a literal \"${\")");
  CHECK(Message(LoadConfigString("workers: \"${1X}\"\n", "e.yaml")) ==
        "e.yaml:1: workers: invalid variable reference \"${1X}\" (expected ${NAME} or "
        "${NAME:-default})");
  CHECK(Message(LoadConfigString("workers: \"${}\"\n", "e.yaml")) ==
        "e.yaml:1: workers: invalid variable reference \"${}\" (expected ${NAME} or "
        "${NAME:-default})");
}

TEST_CASE("keys are never substituted") {
  ScopedEnv name("GW_TEST_KEY", "workers");
  CHECK_THAT(Message(LoadConfigString("${GW_TEST_KEY}: 2\n", "e.yaml")),
             Catch::StartsWith("e.yaml:1: ${GW_TEST_KEY}: unknown key"));
}

TEST_CASE("filter configs see substituted values too") {
  ScopedEnv v("GW_TEST_RATE", "7");
  auto node = ParseConfigNode("rate: ${GW_TEST_RATE}\n", "f.yaml", "root");
  REQUIRE(node.ok());
  CHECK(node->Find("rate")->AsInt().value() == 7);
}

TEST_CASE("a key given twice in one mapping is an error") {
  CHECK(Message(LoadConfigString("workers: 1\nworkers: 2\n", "e.yaml")) ==
        "e.yaml:2: workers: duplicate key");
}

TEST_CASE("aliases that expand without bound are refused") {
  // Each level names the one above nine times: 9^9 values once expanded.
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = absl::StrCat("*a", i - 1);
    text += absl::StrCat("a", i, ": &a", i, " [", prev, ", ", prev, ", ", prev, ", ", prev, ", ",
                         prev, ", ", prev, ", ", prev, ", ", prev, ", ", prev, "]\n");
  }
  CHECK_THAT(Message(LoadConfigString(text, "e.yaml")),
             Catch::Contains("more than 250000 values in one file"));
}

TEST_CASE("aliases of long keys cannot make the key paths grow without bound") {
  // Few values, but every one's path repeats the 4 KiB keys of its ancestors
  // (explicit "? key" syntax: implicit keys are limited to 1024 characters).
  const std::string key(4096, 'k');
  std::string text = absl::StrCat("a0: &a0\n  ? ", key, "0\n  : [x, x, x, x, x, x, x, x]\n");
  for (int i = 1; i <= 6; ++i) {
    std::string prev = absl::StrCat("*a", i - 1);
    text += absl::StrCat("a", i, ": &a", i, "\n  ? ", key, i, "\n  : [", prev, ", ", prev, ", ",
                         prev, ", ", prev, ", ", prev, ", ", prev, ", ", prev, ", ", prev, "]\n");
  }
  CHECK_THAT(Message(LoadConfigString(text, "e.yaml")),
             Catch::Contains("more than 64 MiB of text in one file"));
}

TEST_CASE("nesting deeper than the limit is refused") {
  std::string text = "workers: " + std::string(100, '[') + std::string(100, ']') + "\n";
  CHECK_THAT(Message(LoadConfigString(text, "e.yaml")), Catch::Contains("nested too deeply"));
}

}  // namespace
}  // namespace gateway
