// yaml-cpp throws; every call into it stays inside the try block of
// ParseYamlTree and errors become absl::Status. The rest of the loader reads
// the ConfigNode tree only.
#include "yaml_tree.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gateway::internal {
namespace {

// Bounds on what one document may expand to: YAML aliases let a few lines
// name the same subtree again and again ("billion laughs"), and deep nesting
// would exhaust the stack.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 250'000;
// Text held by the tree: values, keys and the key paths every node keeps
// (deep aliases of long keys multiply those).
constexpr size_t kMaxTreeBytes = size_t{64} << 20;

bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

class TreeBuilder {
 public:
  TreeBuilder(const std::string& filename, const EnvLookup& env) : filename_(filename), env_(env) {}

  absl::Status Error(const YAML::Node& node, const std::string& path, std::string_view what) {
    return ConfigNode(ConfigNode::Kind::kNull, "", {filename_, Line(node), path}).Error(what);
  }

  absl::Status Convert(const YAML::Node& node, const std::string& path, int depth,
                       ConfigNode* out) {
    ConfigNode::Location where{filename_, Line(node), path};
    bytes_ += path.size();  // the key is its tail
    if (++nodes_ > kMaxNodes) {
      return Error(node, path, absl::StrCat("more than ", kMaxNodes, " values in one file"));
    }
    if (bytes_ > kMaxTreeBytes) return Error(node, "", "more than 64 MiB of text in one file");
    if (depth > kMaxDepth) return Error(node, path, "nested too deeply");
    if (!node.IsDefined() || node.IsNull()) {
      *out = ConfigNode(ConfigNode::Kind::kNull, "", std::move(where));
    } else if (node.IsScalar()) {
      auto value = SubstituteVariables(node.Scalar(), env_);
      if (!value.ok()) return Error(node, path, std::string(value.status().message()));
      bytes_ += value->size();
      if (bytes_ > kMaxTreeBytes) return Error(node, "", "more than 64 MiB of text in one file");
      *out = ConfigNode(ConfigNode::Kind::kScalar, *std::move(value), std::move(where));
    } else if (node.IsSequence()) {
      *out = ConfigNode(ConfigNode::Kind::kSequence, "", std::move(where));
      for (size_t i = 0; i < node.size(); ++i) {
        ConfigNode child;
        if (auto s = Convert(node[i], absl::StrCat(path, "[", i, "]"), depth + 1, &child); !s.ok())
          return s;
        out->AddChild("", std::move(child));
      }
    } else if (node.IsMap()) {
      *out = ConfigNode(ConfigNode::Kind::kMap, "", std::move(where));
      std::set<std::string> seen;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) return Error(kv.first, path, "expected a string key");
        std::string key = kv.first.Scalar();
        std::string child_path = path.empty() ? key : absl::StrCat(path, ".", key);
        if (!seen.insert(key).second) return Error(kv.first, child_path, "duplicate key");
        ConfigNode child;
        if (auto s = Convert(kv.second, child_path, depth + 1, &child); !s.ok()) return s;
        out->AddChild(std::move(key), std::move(child), Line(kv.first));
      }
    } else {
      return Error(node, path, "unsupported YAML node");
    }
    return absl::OkStatus();
  }

 private:
  static int Line(const YAML::Node& node) {
    return node.IsDefined() && !node.Mark().is_null() ? node.Mark().line + 1 : 0;
  }

  const std::string& filename_;
  const EnvLookup& env_;
  size_t nodes_ = 0;
  size_t bytes_ = 0;
};

}  // namespace

absl::StatusOr<std::string> SubstituteVariables(std::string_view text, const EnvLookup& env) {
  if (text.find('$') == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      return absl::InvalidArgumentError("unterminated \"${\" (write \"$${\" for a literal \"${\")");
    }
    std::string_view ref = text.substr(i + 2, close - i - 2);
    std::string_view name = ref;
    std::optional<std::string_view> fallback;
    if (size_t sep = ref.find(":-"); sep != std::string_view::npos) {
      name = ref.substr(0, sep);
      fallback = ref.substr(sep + 2);
    }
    bool valid = !name.empty() && IsNameStart(name[0]);
    for (char c : name) valid &= IsNameChar(c);
    if (!valid) {
      return absl::InvalidArgumentError(absl::StrCat("invalid variable reference \"${",
                                                     std::string(ref),
                                                     "}\" (expected ${NAME} or ${NAME:-default})"));
    }
    std::optional<std::string> value = env(name);
    if (fallback.has_value() && (!value.has_value() || value->empty())) value = *fallback;
    if (!value.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", std::string(name),
                                                     " is not set (use ${", std::string(name),
                                                     ":-<default>} to give a default)"));
    }
    out += *value;
    i = close + 1;
  }
  return out;
}

absl::StatusOr<ConfigNode> ParseYamlTree(const std::string& text, const std::string& filename,
                                         const std::string& path, const EnvLookup& env) {
  TreeBuilder builder(filename, env);
  ConfigNode out;
  auto error = [&](int line, std::string_view what) {
    return ConfigNode(ConfigNode::Kind::kNull, "", {filename, line, ""}).Error(what);
  };
  try {
    YAML::Node root = YAML::Load(text);
    if (auto s = builder.Convert(root, path, 0, &out); !s.ok()) return s;
  } catch (const YAML::Exception& e) {
    return error(e.mark.is_null() ? 0 : e.mark.line + 1, e.msg);
  } catch (const std::exception& e) {
    return error(0, e.what());
  }
  return out;
}

std::optional<std::string> ProcessEnv(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

}  // namespace gateway::internal
