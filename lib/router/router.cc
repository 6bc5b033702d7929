// Router: compiled routes plus an index that narrows each request down to the
// few routes that can possibly match it.
//
// Routes are numbered by rank, their position in (priority desc, definition
// order). The index maps a request to a handful of rank lists, each sorted:
//   - exact paths: a hash map from the whole path;
//   - prefix and template routes: a trie over literal path segments; a route
//     hangs on the node of its leading literal segments (prefix matching is
//     segment-aligned, so "/api/users" can only match paths whose first two
//     segments are "api" and "users");
//   - everything else (any path, regex, templates starting with a variable):
//     the trie's root, which every request visits.
// Merging those lists by rank visits candidates in exactly the order a linear
// scan would, so the first full match is the same route a scan would pick.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "router/compiled_route.h"
#include "router/router_internal.h"

namespace gateway {
namespace {

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The scheme of an absolute-form request target, "http" otherwise.
std::string RequestScheme(const RequestHead& head) {
  const size_t colon = head.target.find("://");
  if (colon != std::string::npos && colon > 0 && head.target[0] != '/') {
    return absl::AsciiStrToLower(AV(std::string_view(head.target).substr(0, colon)));
  }
  return "http";
}

// The authority without its ":port" (IPv6 brackets kept).
std::string_view StripPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

}  // namespace

struct Router::Compiled {
  struct Node {
    absl::flat_hash_map<std::string, std::unique_ptr<Node>> children;
    std::vector<uint32_t> ranks;  // ascending
  };

  std::vector<internal::CompiledRoute> by_rank;
  absl::flat_hash_map<std::string, std::vector<uint32_t>> exact;
  Node root;
  bool indexed = true;

  static absl::StatusOr<std::shared_ptr<const Router>> Build(std::vector<RouteSpec> specs,
                                                             bool indexed);
  void Index(uint32_t rank);

  // Calls `visit(route)` for every candidate in rank order until it returns true.
  template <typename Visit>
  void ForEachCandidate(std::string_view path, Visit&& visit) const;
};

absl::StatusOr<std::shared_ptr<const Router>> Router::Compiled::Build(std::vector<RouteSpec> specs,
                                                                      bool indexed) {
  absl::flat_hash_map<std::string, size_t> names;
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].name.empty()) specs[i].name = absl::StrCat("route-", i);
    auto [it, inserted] = names.emplace(specs[i].name, i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("route '", specs[i].name,
                                                     "': name: already used by route #", it->second,
                                                     " (route #", i, " repeats it)"));
    }
  }
  std::vector<internal::CompiledRoute> compiled;
  compiled.reserve(specs.size());
  for (const RouteSpec& spec : specs) {
    auto c = internal::CompileRoute(spec);
    if (!c.ok()) return c.status();
    compiled.push_back(*std::move(c));
  }

  auto router = std::shared_ptr<Router>(new Router());
  router->compiled_ = std::make_unique<Compiled>();
  Compiled& self = *router->compiled_;
  self.indexed = indexed;

  std::vector<size_t> order(specs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return specs[a].priority > specs[b].priority; });

  router->routes_.reserve(specs.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    router->routes_.push_back(std::make_unique<Route>(std::move(specs[i]), i));
  }
  self.by_rank.reserve(order.size());
  for (size_t rank = 0; rank < order.size(); ++rank) {
    internal::CompiledRoute& c = compiled[order[rank]];
    c.route = router->routes_[order[rank]].get();
    c.rank = static_cast<uint32_t>(rank);
    self.by_rank.push_back(std::move(c));
    self.Index(static_cast<uint32_t>(rank));
  }
  return std::shared_ptr<const Router>(std::move(router));
}

void Router::Compiled::Index(uint32_t rank) {
  const internal::PathCondition& path = by_rank[rank].path;
  if (path.kind() == PathMatch::Kind::kExact) {
    exact[path.value()].push_back(rank);
    return;
  }
  Node* node = &root;
  for (std::string& seg : path.IndexSegments()) {
    std::unique_ptr<Node>& child = node->children[seg];
    if (child == nullptr) child = std::make_unique<Node>();
    node = child.get();
  }
  node->ranks.push_back(rank);
}

template <typename Visit>
void Router::Compiled::ForEachCandidate(std::string_view path, Visit&& visit) const {
  if (!indexed) {
    for (const internal::CompiledRoute& r : by_rank) {
      if (visit(r)) return;
    }
    return;
  }
  absl::InlinedVector<absl::Span<const uint32_t>, 16> lists;
  if (auto it = exact.find(AV(path)); it != exact.end()) lists.push_back(it->second);
  const Node* node = &root;
  if (!node->ranks.empty()) lists.push_back(node->ranks);
  if (!path.empty() && path[0] == '/') {
    size_t pos = 1;
    while (true) {
      const size_t end = path.find('/', pos);
      const std::string_view seg =
          path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
      auto it = node->children.find(AV(seg));
      if (it == node->children.end()) break;
      node = it->second.get();
      if (!node->ranks.empty()) lists.push_back(node->ranks);
      if (end == std::string_view::npos) break;
      pos = end + 1;
    }
  }
  // k-way merge; k is the path depth plus two at most, so a linear pick is fine.
  absl::InlinedVector<size_t, 16> next(lists.size(), 0);
  while (true) {
    size_t best_list = lists.size();
    uint32_t best = UINT32_MAX;
    for (size_t i = 0; i < lists.size(); ++i) {
      if (next[i] < lists[i].size() && lists[i][next[i]] < best) {
        best = lists[i][next[i]];
        best_list = i;
      }
    }
    if (best_list == lists.size()) return;
    ++next[best_list];
    if (visit(by_rank[best])) return;
  }
}

Router::Router() = default;
Router::~Router() = default;

absl::StatusOr<std::shared_ptr<const Router>> Router::Build(std::vector<RouteSpec> routes) {
  return Compiled::Build(std::move(routes), /*indexed=*/true);
}

RouteMatch Router::Match(const RequestHead& head) const {
  RouteMatch result;
  const internal::RequestFacts req = internal::MakeRequestFacts(head);
  internal::CaptureViews captures;
  std::string scratch;

  // Method first: it is the cheapest check and settles most misses. Routes
  // that fail only on the method are revisited below if nothing matches.
  bool method_miss = false;
  const internal::CompiledRoute* winner = nullptr;
  compiled_->ForEachCandidate(req.path, [&](const internal::CompiledRoute& r) {
    if (!r.methods.Match(req)) {
      method_miss = true;
      return false;
    }
    if (!r.MatchIgnoringMethod(req, &captures, &scratch)) return false;
    winner = &r;
    return true;
  });

  if (winner != nullptr) {
    result.result = RouteMatch::Result::kMatched;
    result.route = winner->route;
    const auto& names = winner->path.capture_names();
    result.captures.reserve(names.size());
    for (size_t i = 0; i < names.size(); ++i) {
      result.captures.emplace_back(names[i], std::string(captures[i]));
    }
    result.rewritten_path = winner->rewrite.Apply(req.path, winner->path, captures);
    return result;
  }
  if (!method_miss) return result;

  std::vector<std::string_view> allowed;
  compiled_->ForEachCandidate(req.path, [&](const internal::CompiledRoute& r) {
    if (!r.methods.Match(req) && r.MatchIgnoringMethod(req, &captures, &scratch)) {
      for (const std::string& m : r.methods.methods()) allowed.push_back(m);
    }
    return false;
  });
  if (allowed.empty()) return result;
  std::sort(allowed.begin(), allowed.end());
  allowed.erase(std::unique(allowed.begin(), allowed.end()), allowed.end());
  result.result = RouteMatch::Result::kMethodNotAllowed;
  result.allow = absl::StrJoin(
      allowed, ", ", [](std::string* out, std::string_view m) { out->append(m.data(), m.size()); });
  return result;
}

std::string Router::RedirectLocation(const Route& route, const RequestHead& head,
                                     const RouteMatch& match) const {
  const std::optional<Redirect>& redirect = route.spec().redirect;
  if (!redirect) return std::string();
  const Redirect& r = *redirect;

  const std::string request_scheme = RequestScheme(head);
  const std::string scheme =
      r.scheme.empty() ? request_scheme : absl::AsciiStrToLower(AV(r.scheme));
  std::string_view host = r.host;
  if (host.empty()) {
    host = head.authority;
    if (const size_t at = host.rfind('@'); at != std::string_view::npos) host.remove_prefix(at + 1);
    // The request's port belongs to the request's scheme.
    if (scheme != request_scheme) host = StripPort(host);
  }
  std::string_view path = r.path;
  if (path.empty()) path = match.rewritten_path.empty() ? head.path : match.rewritten_path;

  std::string out;
  if (!host.empty()) absl::StrAppend(&out, scheme, "://", AV(host));
  absl::StrAppend(&out, AV(path));
  if (!r.strip_query && !head.query.empty()) {
    absl::StrAppend(&out, path.find('?') == std::string_view::npos ? "?" : "&", head.query);
  }
  return out;
}

namespace internal {

absl::StatusOr<std::shared_ptr<const Router>> BuildUnindexedRouterForTesting(
    std::vector<RouteSpec> routes) {
  return Router::Compiled::Build(std::move(routes), /*indexed=*/false);
}

}  // namespace internal
}  // namespace gateway
