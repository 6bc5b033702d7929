#include <catch2/catch.hpp>

#include "gateway/http.h"

namespace gateway {
namespace {

TEST_CASE("header lookup is case-insensitive and keeps the original spelling") {
  HeaderMap h{{"Content-Type", "text/plain"}, {"X-A", "1"}};
  REQUIRE(h.Get("content-type") == "text/plain");
  REQUIRE(h.begin()->name == "Content-Type");
  REQUIRE_FALSE(h.Get("missing").has_value());
}

TEST_CASE("EqualsIgnoreCase folds only ASCII letters") {
  CHECK(EqualsIgnoreCase("Content-Length", "content-LENGTH"));
  CHECK(EqualsIgnoreCase("", ""));
  CHECK_FALSE(EqualsIgnoreCase("te", "tee"));
  // Bytes one case bit apart that are not letters differ: '@' and '`',
  // '[' and '{', '-' and '\r', and bytes above ASCII.
  CHECK_FALSE(EqualsIgnoreCase("@", "`"));
  CHECK_FALSE(EqualsIgnoreCase("[", "{"));
  CHECK_FALSE(EqualsIgnoreCase("x-a", "x\ra"));
  CHECK_FALSE(EqualsIgnoreCase("\xc1", "\xe1"));
  CHECK(EqualsIgnoreCase("\xc1", "\xc1"));
}

TEST_CASE("RemoveIf removes every matching field in one pass and keeps the order") {
  HeaderMap h{{"A", "1"}, {"b", "2"}, {"C", "3"}, {"a", "4"}, {"D", "5"}};
  size_t removed = h.RemoveIf([](std::string_view name) {
    return EqualsIgnoreCase(name, "a") || EqualsIgnoreCase(name, "c");
  });
  CHECK(removed == 3);
  CHECK(h == HeaderMap{{"b", "2"}, {"D", "5"}});
}

TEST_CASE("header Set replaces every duplicate with one field") {
  HeaderMap h{{"a", "1"}, {"b", "2"}, {"A", "3"}};
  h.Set("a", "9");
  REQUIRE(h.Count("a") == 1);
  REQUIRE(h.Get("A") == "9");
  REQUIRE(h.size() == 2);
}

TEST_CASE("header Remove drops all fields of a name and reports how many") {
  HeaderMap h{{"a", "1"}, {"b", "2"}, {"A", "3"}};
  REQUIRE(h.Remove("a") == 2);
  REQUIRE(h.size() == 1);
}

TEST_CASE("HasToken finds comma-separated tokens across fields") {
  HeaderMap h{{"Connection", "keep-alive, Upgrade"}, {"connection", "x-foo"}};
  REQUIRE(h.HasToken("connection", "upgrade"));
  REQUIRE(h.HasToken("connection", "X-Foo"));
  REQUIRE_FALSE(h.HasToken("connection", "close"));
}

TEST_CASE("header name and value validation rejects control bytes and separators") {
  REQUIRE(IsValidHeaderName("x-request-id"));
  REQUIRE_FALSE(IsValidHeaderName(""));
  REQUIRE_FALSE(IsValidHeaderName("bad name"));
  REQUIRE_FALSE(IsValidHeaderName("a:b"));
  REQUIRE(IsValidHeaderValue("v 1"));
  REQUIRE_FALSE(IsValidHeaderValue("a\r\nb"));
  REQUIRE_FALSE(IsValidHeaderValue(std::string_view("a\0b", 3)));
  REQUIRE_FALSE(IsValidHeaderValue(" lead"));
}

TEST_CASE("JSON local replies escape their message and carry the flag") {
  LocalReply r = LocalReply::Json(404, "no_route", "no \"route\"\n");
  REQUIRE(r.status == 404);
  REQUIRE(r.flag == "no_route");
  REQUIRE(r.headers.Get("content-type") == "application/json");
  REQUIRE(r.body ==
          "{\"error\":\"no_route\",\"message\":\"no \\\"route\\\"\\n\",\"status\":404}\n");
}

TEST_CASE("reason phrases cover gateway statuses") {
  REQUIRE(ReasonPhrase(431) == "Request Header Fields Too Large");
  REQUIRE(ReasonPhrase(599) == "Unknown");
}

}  // namespace
}  // namespace gateway
