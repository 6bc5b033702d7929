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
  REQUIRE(r.body == "{\"error\":\"no_route\",\"message\":\"no \\\"route\\\"\\n\",\"status\":404}\n");
}

TEST_CASE("reason phrases cover gateway statuses") {
  REQUIRE(ReasonPhrase(431) == "Request Header Fields Too Large");
  REQUIRE(ReasonPhrase(599) == "Unknown");
}

}  // namespace
}  // namespace gateway
