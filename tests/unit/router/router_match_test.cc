// Router::Match on each dimension, ordering, 404/405, captures and rewrites.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "gateway/router.h"
#include "unit/router/router_test_util.h"

namespace gateway::test {
namespace {

RouteSpec Named(std::string name, RouteBuilder b) {
  RouteSpec s = std::move(b).Build();
  s.name = std::move(name);
  if (s.cluster.empty() && !s.direct_response && !s.redirect) s.cluster = "c";
  return s;
}

// ---------------------------------------------------------------------------
// Paths

TEST_CASE("an exact path matches only that path, trailing slash included") {
  auto r = MustBuild({Named("health", RouteBuilder().Exact("/healthz"))});
  REQUIRE(Outcome(*r, Req("GET", "/healthz")) == "health");
  REQUIRE(Outcome(*r, Req("GET", "/healthz/")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/healthz/x")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/Healthz")) == "404");  // paths are case-sensitive
}

TEST_CASE("a prefix without a trailing slash matches on a segment boundary") {
  auto r = MustBuild({Named("api", RouteBuilder().Prefix("/api"))});
  REQUIRE(Outcome(*r, Req("GET", "/api")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/api/")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/api/x/y")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/apix")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/ap")) == "404");
}

TEST_CASE("a prefix with a trailing slash needs that slash") {
  auto r = MustBuild({Named("api", RouteBuilder().Prefix("/api/"))});
  REQUIRE(Outcome(*r, Req("GET", "/api/")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/api/x")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/api")) == "404");
}

TEST_CASE("a deep prefix matches only below its own segments") {
  auto r = MustBuild({Named("users", RouteBuilder().Prefix("/api/v1/users"))});
  REQUIRE(Outcome(*r, Req("GET", "/api/v1/users")) == "users");
  REQUIRE(Outcome(*r, Req("GET", "/api/v1/users/7/posts")) == "users");
  REQUIRE(Outcome(*r, Req("GET", "/api/v1/usersx")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/api/v1")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/api/v2/users")) == "404");
}

TEST_CASE("the root prefix and an empty path condition match every path") {
  auto root = MustBuild({Named("root", RouteBuilder().Prefix("/"))});
  auto any = MustBuild({Named("any", RouteBuilder())});
  for (std::string p : {"/", "/a", "/a/b/c/", "//x"}) {
    CAPTURE(p);
    REQUIRE(Outcome(*root, Req("GET", p)) == "root");
    REQUIRE(Outcome(*any, Req("GET", p)) == "any");
  }
}

TEST_CASE("a template variable matches exactly one non-empty segment and is captured") {
  auto r = MustBuild({Named("user", RouteBuilder().Template("/users/{id}"))});
  auto m = r->Match(Req("GET", "/users/42"));
  REQUIRE(Outcome(m) == "user");
  REQUIRE(m.Capture("id") == "42");
  REQUIRE(m.captures == std::vector<std::pair<std::string, std::string>>{{"id", "42"}});
  REQUIRE(Outcome(*r, Req("GET", "/users/")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/users")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/users/42/posts")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/users/42/")) == "404");
}

TEST_CASE("captures come in pattern order and an unnamed star is not captured") {
  auto r = MustBuild({Named("t", RouteBuilder().Template("/orgs/{org}/*/repos/{repo}/{path=**}"))});
  auto m = r->Match(Req("GET", "/orgs/acme/x/repos/gw/src/main.cc"));
  REQUIRE(Outcome(m) == "t");
  REQUIRE(m.captures == std::vector<std::pair<std::string, std::string>>{
                            {"org", "acme"}, {"repo", "gw"}, {"path", "src/main.cc"}});
  REQUIRE_FALSE(m.Capture("*").has_value());
  REQUIRE_FALSE(m.Capture("missing").has_value());
}

TEST_CASE("a tail wildcard matches zero or more remaining segments") {
  auto r = MustBuild({Named("svc", RouteBuilder().Template("/api/{service}/**"))});
  auto deep = r->Match(Req("GET", "/api/users/1/2"));
  REQUIRE(Outcome(deep) == "svc");
  REQUIRE(deep.Capture("service") == "users");
  REQUIRE(deep.Capture("**") == "1/2");
  auto none = r->Match(Req("GET", "/api/users"));
  REQUIRE(Outcome(none) == "svc");
  REQUIRE(none.Capture("**") == "");
  REQUIRE(r->Match(Req("GET", "/api/users/")).Capture("**") == "");
  REQUIRE(Outcome(*r, Req("GET", "/api")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/apix/users")) == "404");
}

TEST_CASE("a template that starts with a variable matches any first segment") {
  auto r = MustBuild({Named("t", RouteBuilder().Template("/{tenant}/status"))});
  REQUIRE(r->Match(Req("GET", "/acme/status")).Capture("tenant") == "acme");
  REQUIRE(Outcome(*r, Req("GET", "/acme/other")) == "404");
}

TEST_CASE("a regex path must match the whole path and named groups are captures") {
  auto r = MustBuild(
      {Named("re", RouteBuilder().Regex("/v(?P<version>[0-9]+)/(items|things)/(?P<id>[a-z]+)"))});
  auto m = r->Match(Req("GET", "/v2/items/abc"));
  REQUIRE(Outcome(m) == "re");
  REQUIRE(m.captures ==
          std::vector<std::pair<std::string, std::string>>{{"version", "2"}, {"id", "abc"}});
  REQUIRE(Outcome(*r, Req("GET", "/v2/items/abc/x")) == "404");  // full match only
  REQUIRE(Outcome(*r, Req("GET", "/x/v2/items/abc")) == "404");
}

TEST_CASE("a regex path without named groups has no captures") {
  auto r = MustBuild({Named("re", RouteBuilder().Regex("/static/.*\\.css"))});
  auto m = r->Match(Req("GET", "/static/a/b.css"));
  REQUIRE(Outcome(m) == "re");
  REQUIRE(m.captures.empty());
}

// ---------------------------------------------------------------------------
// Methods, headers, query

TEST_CASE("methods match exactly and case-sensitively") {
  auto r = MustBuild({Named("m", RouteBuilder().Prefix("/").Methods({"GET", "PURGE"}))});
  REQUIRE(Outcome(*r, Req("GET", "/")) == "m");
  REQUIRE(Outcome(*r, Req("PURGE", "/")) == "m");  // extension methods work too
  REQUIRE(Outcome(*r, Req("get", "/")) == "405 GET, PURGE");
  REQUIRE(Outcome(*r, Req("HEAD", "/")) == "405 GET, PURGE");  // GET does not imply HEAD
}

TEST_CASE("header matchers compare names case-insensitively and values exactly") {
  using K = HeaderMatcher::Kind;
  auto r = MustBuild({
      Named("exact", RouteBuilder().Prefix("/e").Header({.name = "X-Env", .value = "canary"})),
      Named("prefix", RouteBuilder().Prefix("/p").Header(
                          {.name = "x-env", .kind = K::kPrefix, .value = "can"})),
      Named("regex", RouteBuilder().Prefix("/r").Header(
                         {.name = "x-env", .kind = K::kRegex, .value = "ca[n]+ary|beta"})),
      Named("present", RouteBuilder().Prefix("/h").Header({.name = "x-env", .kind = K::kPresent})),
      Named("absent", RouteBuilder().Prefix("/a").Header({.name = "x-env", .kind = K::kAbsent})),
  });
  HeaderMap canary{{"X-ENV", "canary"}};
  HeaderMap other{{"x-env", "Canary"}};
  HeaderMap none{{"x-other", "canary"}};
  REQUIRE(Outcome(*r, Req("GET", "/e", "h", "", canary)) == "exact");
  REQUIRE(Outcome(*r, Req("GET", "/e", "h", "", other)) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/p", "h", "", canary)) == "prefix");
  REQUIRE(Outcome(*r, Req("GET", "/p", "h", "", other)) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/r", "h", "", canary)) == "regex");
  REQUIRE(Outcome(*r, Req("GET", "/r", "h", "", HeaderMap{{"x-env", "xbeta"}})) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/h", "h", "", other)) == "present");
  REQUIRE(Outcome(*r, Req("GET", "/h", "h", "", none)) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/a", "h", "", none)) == "absent");
  REQUIRE(Outcome(*r, Req("GET", "/a", "h", "", canary)) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/a", "h", "", HeaderMap{{"x-env", ""}})) == "404");
}

TEST_CASE("a repeated header is matched as its comma-joined value") {
  auto r = MustBuild({Named("v", RouteBuilder().Header({.name = "x-v", .value = "1,2"}))});
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "", HeaderMap{{"x-v", "1"}, {"X-V", "2"}})) == "v");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "", HeaderMap{{"x-v", "1"}})) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "", HeaderMap{{"x-v", "2"}, {"x-v", "1"}})) == "404");
}

TEST_CASE("all header and query conditions of a route must hold") {
  auto r = MustBuild({Named("both", RouteBuilder()
                                        .Header({.name = "a", .value = "1"})
                                        .Header({.name = "b", .value = "2"})
                                        .Query({.name = "q", .value = "3"}))});
  HeaderMap ab{{"a", "1"}, {"b", "2"}};
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "q=3", ab)) == "both");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "q=4", ab)) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "q=3", HeaderMap{{"a", "1"}})) == "404");
}

TEST_CASE("query matchers compare percent-decoded names and values") {
  using K = QueryMatcher::Kind;
  auto r = MustBuild({
      Named("exact", RouteBuilder().Prefix("/e").Query({.name = "user name", .value = "a&b c"})),
      Named("prefix",
            RouteBuilder().Prefix("/p").Query({.name = "v", .kind = K::kPrefix, .value = "2."})),
      Named("regex", RouteBuilder().Prefix("/r").Query(
                         {.name = "id", .kind = K::kRegex, .value = "[0-9]+"})),
      Named("present", RouteBuilder().Prefix("/h").Query({.name = "debug", .kind = K::kPresent})),
      Named("absent", RouteBuilder().Prefix("/a").Query({.name = "debug", .kind = K::kAbsent})),
  });
  REQUIRE(Outcome(*r, Req("GET", "/e", "h", "user%20name=a%26b+c")) == "exact");
  REQUIRE(Outcome(*r, Req("GET", "/e", "h", "user+name=a%26b%20c&x=1")) == "exact");
  REQUIRE(Outcome(*r, Req("GET", "/e", "h", "user name=a&b c")) == "404");  // '&' splits
  REQUIRE(Outcome(*r, Req("GET", "/p", "h", "v=2.1")) == "prefix");
  REQUIRE(Outcome(*r, Req("GET", "/p", "h", "v=3.2")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/r", "h", "id=123")) == "regex");
  REQUIRE(Outcome(*r, Req("GET", "/r", "h", "id=12a")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/h", "h", "debug")) == "present");  // no '=' still present
  REQUIRE(Outcome(*r, Req("GET", "/h", "h", "a=1&&debug=")) == "present");
  REQUIRE(Outcome(*r, Req("GET", "/h", "h", "debugger=1")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/a", "h", "")) == "absent");
  REQUIRE(Outcome(*r, Req("GET", "/a", "h", "debug=0")) == "404");
}

TEST_CASE("the first occurrence of a repeated query parameter is the one matched") {
  auto r = MustBuild({Named("q", RouteBuilder().Query({.name = "v", .value = "1"}))});
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "v=1&v=2")) == "q");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "v=2&v=1")) == "404");
}

TEST_CASE("malformed escapes in the query are compared literally") {
  auto r = MustBuild({Named("q", RouteBuilder().Query({.name = "p", .value = "100%"}))});
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "p=100%")) == "q");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "p=100%25")) == "q");
  REQUIRE(Outcome(*r, Req("GET", "/", "h", "p=100%2")) == "404");
}

// ---------------------------------------------------------------------------
// Hosts

TEST_CASE("an exact host matches case-insensitively and ignores the port") {
  auto r = MustBuild({Named("api", RouteBuilder().Host("API.example.com"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "api.example.com")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/", "Api.Example.COM:8443")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/", "api.example.com.")) == "api");  // FQDN form
  REQUIRE(Outcome(*r, Req("GET", "/", "api.example.org")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/", "")) == "404");
}

TEST_CASE("an IPv6 literal host matches with or without a port") {
  auto r = MustBuild({Named("v6", RouteBuilder().Host("[::1]"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "[::1]")) == "v6");
  REQUIRE(Outcome(*r, Req("GET", "/", "[::1]:8080")) == "v6");
  REQUIRE(Outcome(*r, Req("GET", "/", "[::2]:8080")) == "404");
}

TEST_CASE("a leading wildcard host matches any subdomain but not the apex") {
  auto r = MustBuild({Named("sub", RouteBuilder().Host("*.example.com"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "a.example.com")) == "sub");
  REQUIRE(Outcome(*r, Req("GET", "/", "a.b.EXAMPLE.com:80")) == "sub");
  REQUIRE(Outcome(*r, Req("GET", "/", "example.com")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/", "badexample.com")) == "404");
}

TEST_CASE("a trailing wildcard host matches any suffix after the label") {
  auto r = MustBuild({Named("api", RouteBuilder().Host("api.*"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "api.example.com")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/", "API.internal:9000")) == "api");
  REQUIRE(Outcome(*r, Req("GET", "/", "api")) == "404");
  REQUIRE(Outcome(*r, Req("GET", "/", "apix.example.com")) == "404");
}

TEST_CASE("a star host or no host list matches every host, even a missing one") {
  auto star = MustBuild({Named("star", RouteBuilder().Host("*"))});
  auto none = MustBuild({Named("none", RouteBuilder())});
  for (std::string host : {"", "x", "a.b:1", "[::1]"}) {
    REQUIRE(Outcome(*star, Req("GET", "/", host)) == "star");
    REQUIRE(Outcome(*none, Req("GET", "/", host)) == "none");
  }
}

TEST_CASE("a route with several hosts matches any of them") {
  auto r = MustBuild({Named("m", RouteBuilder().Host("a.com").Host("*.b.com"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "a.com")) == "m");
  REQUIRE(Outcome(*r, Req("GET", "/", "x.b.com")) == "m");
  REQUIRE(Outcome(*r, Req("GET", "/", "b.com")) == "404");
}

TEST_CASE("userinfo in an absolute-form authority is not part of the host") {
  auto r = MustBuild({Named("h", RouteBuilder().Host("example.com"))});
  REQUIRE(Outcome(*r, Req("GET", "/", "user@example.com:80")) == "h");
  REQUIRE(Outcome(*r, Req("GET", "/", "example.com@evil.com")) == "404");
}

// ---------------------------------------------------------------------------
// Ordering

TEST_CASE("higher priority route wins over an earlier lower one") {
  auto r = MustBuild({
      Named("broad", RouteBuilder().Prefix("/api")),
      Named("narrow", RouteBuilder().Prefix("/api/users").Priority(10)),
  });
  REQUIRE(Outcome(*r, Req("GET", "/api/users/1")) == "narrow");
  REQUIRE(Outcome(*r, Req("GET", "/api/orders")) == "broad");
}

TEST_CASE("among equal priorities the route defined first wins") {
  auto r = MustBuild({
      Named("first", RouteBuilder().Prefix("/api")),
      Named("second", RouteBuilder().Prefix("/api/users")),
      Named("third", RouteBuilder().Exact("/api/users")),
  });
  REQUIRE(Outcome(*r, Req("GET", "/api/users")) == "first");
}

TEST_CASE("priority decides across exact, prefix, template and regex routes") {
  std::vector<RouteSpec> routes = {
      Named("regex", RouteBuilder().Regex("/a/.*").Priority(1)),
      Named("exact", RouteBuilder().Exact("/a/b").Priority(2)),
      Named("template", RouteBuilder().Template("/a/{x}").Priority(3)),
      Named("prefix", RouteBuilder().Prefix("/a/b").Priority(4)),
      Named("any", RouteBuilder().Priority(0)),
  };
  auto r = MustBuild(routes);
  REQUIRE(Outcome(*r, Req("GET", "/a/b")) == "prefix");
  REQUIRE(Outcome(*r, Req("GET", "/a/c")) == "template");
  REQUIRE(Outcome(*r, Req("GET", "/a/c/d")) == "regex");
  REQUIRE(Outcome(*r, Req("GET", "/z")) == "any");
  routes[1].priority = 5;
  REQUIRE(Outcome(*MustBuild(routes), Req("GET", "/a/b")) == "exact");
  routes[0].priority = 6;
  REQUIRE(Outcome(*MustBuild(routes), Req("GET", "/a/b")) == "regex");
}

TEST_CASE("a route that fails any condition falls through to the next one") {
  auto r = MustBuild({
      Named("canary", RouteBuilder().Prefix("/").Header({.name = "x-canary", .value = "1"})),
      Named("admin", RouteBuilder().Prefix("/").Host("admin.example.com")),
      Named("default", RouteBuilder().Prefix("/")),
  });
  REQUIRE(Outcome(*r, Req("GET", "/x", "admin.example.com", "", {{"x-canary", "1"}})) == "canary");
  REQUIRE(Outcome(*r, Req("GET", "/x", "admin.example.com")) == "admin");
  REQUIRE(Outcome(*r, Req("GET", "/x")) == "default");
}

// ---------------------------------------------------------------------------
// 404 and 405

TEST_CASE("no route matching gives not found") {
  auto r = MustBuild({Named("a", RouteBuilder().Prefix("/a").Methods({"GET"}))});
  auto m = r->Match(Req("GET", "/b"));
  REQUIRE(m.result == RouteMatch::Result::kNotFound);
  REQUIRE(m.route == nullptr);
  REQUIRE(m.allow.empty());
  REQUIRE(Outcome(*MustBuild({}), Req("GET", "/")) == "404");
}

TEST_CASE("a path matched only under other methods gives 405 with the sorted union in Allow") {
  auto r = MustBuild({
      Named("read", RouteBuilder().Prefix("/users").Methods({"HEAD", "GET"})),
      Named("write", RouteBuilder().Prefix("/users").Methods({"PUT", "GET", "DELETE"})),
      Named("other-host", RouteBuilder().Prefix("/users").Host("x.com").Methods({"PATCH"})),
      Named("other-path", RouteBuilder().Prefix("/orders").Methods({"POST"})),
  });
  auto m = r->Match(Req("POST", "/users/1"));
  REQUIRE(m.result == RouteMatch::Result::kMethodNotAllowed);
  REQUIRE(m.route == nullptr);
  REQUIRE(m.allow == "DELETE, GET, HEAD, PUT");
  REQUIRE(Outcome(*r, Req("DELETE", "/users/1")) == "write");
}

TEST_CASE("a full match anywhere beats a method-only mismatch of a higher priority route") {
  auto r = MustBuild({
      Named("get-only", RouteBuilder().Prefix("/x").Methods({"GET"}).Priority(5)),
      Named("fallback", RouteBuilder().Prefix("/")),
  });
  REQUIRE(Outcome(*r, Req("POST", "/x")) == "fallback");
}

TEST_CASE("routes failing on something besides the method do not count for 405") {
  auto r = MustBuild({Named(
      "h", RouteBuilder().Prefix("/x").Methods({"GET"}).Header({.name = "a", .value = "1"}))});
  REQUIRE(Outcome(*r, Req("POST", "/x")) == "404");
  REQUIRE(Outcome(*r, Req("POST", "/x", "h", "", {{"a", "1"}})) == "405 GET");
}

// ---------------------------------------------------------------------------
// Rewrites

std::string Rewritten(const RouteSpec& spec, std::string path) {
  auto r = MustBuild({spec});
  auto m = r->Match(Req("GET", std::move(path)));
  REQUIRE(m.result == RouteMatch::Result::kMatched);
  return m.rewritten_path;
}

TEST_CASE("without a rewrite the forwarded path is the normalised path") {
  REQUIRE(Rewritten(Named("a", RouteBuilder().Prefix("/a")), "/a/b%20c") == "/a/b%20c");
}

TEST_CASE("stripping a prefix always leaves a path starting with a slash") {
  auto strip = [](std::string prefix) {
    return Named("s", RouteBuilder().Prefix(std::move(prefix)).StripPrefix());
  };
  REQUIRE(Rewritten(strip("/api/users"), "/api/users/7") == "/7");
  REQUIRE(Rewritten(strip("/api/users"), "/api/users") == "/");
  REQUIRE(Rewritten(strip("/api/users"), "/api/users/") == "/");
  REQUIRE(Rewritten(strip("/api/"), "/api/x/y") == "/x/y");
  REQUIRE(Rewritten(strip("/api/"), "/api/") == "/");
  REQUIRE(Rewritten(strip("/"), "/x") == "/x");
}

TEST_CASE("replacing a prefix joins the new prefix and the rest on a slash") {
  auto replace = [](std::string prefix, std::string value) {
    return Named(
        "p", RouteBuilder()
                 .Prefix(std::move(prefix))
                 .Rewrite({.kind = PathRewrite::Kind::kReplacePrefix, .value = std::move(value)}));
  };
  REQUIRE(Rewritten(replace("/api", "/v2"), "/api/x") == "/v2/x");
  REQUIRE(Rewritten(replace("/api", "/v2"), "/api") == "/v2");
  REQUIRE(Rewritten(replace("/api/", "/v2"), "/api/x") == "/v2/x");
  REQUIRE(Rewritten(replace("/api/", "/v2/"), "/api/x") == "/v2/x");
  REQUIRE(Rewritten(replace("/api", "/v2/"), "/api/") == "/v2/");
  REQUIRE(Rewritten(replace("/", "/backend"), "/a/b") == "/backend/a/b");
}

TEST_CASE("replace-prefix on an exact route replaces the whole path") {
  RouteSpec s = Named("e", RouteBuilder().Exact("/old").Rewrite(
                               {.kind = PathRewrite::Kind::kReplacePrefix, .value = "/new"}));
  REQUIRE(Rewritten(s, "/old") == "/new");
}

TEST_CASE("a template rewrite substitutes named and tail captures") {
  RouteSpec s = Named("t", RouteBuilder()
                               .Template("/users/{id}/files/{rest=**}")
                               .Rewrite({.kind = PathRewrite::Kind::kTemplate,
                                         .value = "/v2/files/{rest}?owner={id}"}));
  REQUIRE(Rewritten(s, "/users/7/files/a/b.txt") == "/v2/files/a/b.txt?owner=7");
  RouteSpec tail =
      Named("t", RouteBuilder()
                     .Template("/api/{svc}/**")
                     .Rewrite({.kind = PathRewrite::Kind::kTemplate, .value = "/{svc}/{**}"}));
  REQUIRE(Rewritten(tail, "/api/users/1/2") == "/users/1/2");
  REQUIRE(Rewritten(tail, "/api/users") == "/users/");
}

TEST_CASE("a regex rewrite replaces every match and may use groups") {
  RouteSpec s = Named(
      "r", RouteBuilder().Prefix("/").Rewrite(
               {.kind = PathRewrite::Kind::kRegex, .value = "/\\1", .pattern = "^/v[0-9]+/(.*)$"}));
  REQUIRE(Rewritten(s, "/v1/users/7") == "/users/7");
  REQUIRE(Rewritten(s, "/nomatch") == "/nomatch");
  RouteSpec global =
      Named("g", RouteBuilder().Prefix("/").Rewrite(
                     {.kind = PathRewrite::Kind::kRegex, .value = "-", .pattern = "_"}));
  REQUIRE(Rewritten(global, "/a_b/c_d") == "/a-b/c-d");
  RouteSpec lead =
      Named("l", RouteBuilder().Prefix("/").Rewrite(
                     {.kind = PathRewrite::Kind::kRegex, .value = "", .pattern = "^/"}));
  REQUIRE(Rewritten(lead, "/a/b") == "/a/b");  // the result still starts with '/'
}

// ---------------------------------------------------------------------------
// Results

TEST_CASE("a match result owns its data and outlives the request head") {
  auto r = MustBuild({Named("t", RouteBuilder().Template("/u/{id}").Rewrite(
                                     {.kind = PathRewrite::Kind::kTemplate, .value = "/x/{id}"}))});
  RouteMatch m;
  {
    RequestHead head = Req("GET", "/u/12345678901234567890123456789");
    m = r->Match(head);
  }
  REQUIRE(m.Capture("id") == "12345678901234567890123456789");
  REQUIRE(m.rewritten_path == "/x/12345678901234567890123456789");
}

TEST_CASE("matched routes are the router's own, in definition order") {
  auto r = MustBuild({Named("a", RouteBuilder().Prefix("/a")),
                      Named("b", RouteBuilder().Prefix("/b").Priority(9))});
  REQUIRE(r->routes().size() == 2);
  REQUIRE(r->routes()[0]->name() == "a");
  REQUIRE(r->Match(Req("GET", "/b")).route == r->routes()[1].get());
}

}  // namespace
}  // namespace gateway::test
