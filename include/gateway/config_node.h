// A configuration value tree that remembers where every value came from, so
// that whoever reads it can report errors naming the file, the line and the
// key path:
//
//   gateway.yaml:14: filters[1].rate_limit.rules[0].limit: expected an integer
//
// The YAML loader (gateway/yaml_config.h) hands each configurable filter its
// `config` as a ConfigNode; a filter's maker reads it with the typed accessors
// below and returns their errors unchanged. The tree is plain data (no YAML
// library types), immutable once built, and cheap enough to copy.
//
//   absl::Status ParseQuota(const ConfigNode& node, QuotaConfig* out) {
//     if (auto s = node.ExpectMap({"per_minute", "header"}); !s.ok()) return s;
//     if (auto s = node.ReadInt("per_minute", &out->per_minute, 1, 1000000); !s.ok()) return s;
//     return node.Read("header", &out->header);
//   }
//
// The As*/Read* accessors are the one set of scalar rules for every config
// value, built-in or user's (docs/config.md, "Scalar values"). Declarative
// field tables over them are in gateway/config_fields.h.
#ifndef GATEWAY_CONFIG_NODE_H_
#define GATEWAY_CONFIG_NODE_H_

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gateway {

class ConfigNode {
 public:
  enum class Kind { kNull, kScalar, kSequence, kMap };

  // Where a node is: file name, 1-based line (0 if unknown) and key path.
  struct Location {
    std::string file;
    int line = 0;
    std::string path;  // e.g. "filters[1].rate_limit.rules[0]"
  };

  ConfigNode() = default;  // null, nowhere
  ConfigNode(Kind kind, std::string scalar, Location where)
      : kind_(kind), scalar_(std::move(scalar)), where_(std::move(where)) {}

  Kind kind() const { return kind_; }
  bool IsNull() const { return kind_ == Kind::kNull; }
  bool IsScalar() const { return kind_ == Kind::kScalar; }
  bool IsSequence() const { return kind_ == Kind::kSequence; }
  bool IsMap() const { return kind_ == Kind::kMap; }

  const Location& where() const { return where_; }
  const std::string& path() const { return where_.path; }
  int line() const { return where_.line; }

  // The text of a scalar ("" otherwise).
  const std::string& scalar() const { return scalar_; }
  // Sequence elements, or mapping values in document order.
  const std::vector<ConfigNode>& children() const { return children_; }
  size_t size() const { return children_.size(); }
  // For a mapping value: its key.
  const std::string& key() const { return key_; }
  // The value of `key` in a mapping; nullptr if absent or not a mapping.
  const ConfigNode* Find(std::string_view key) const;

  // InvalidArgument "<file>:<line>: <path>: <what>".
  absl::Status Error(std::string_view what) const;
  // The same at this node's line for its member `key`, which may be absent:
  // "<file>:<line>: <path>.<key>: <what>" (e.g. "missing").
  absl::Status ErrorAt(std::string_view key, std::string_view what) const;
  // OK if this is a mapping whose keys are all in `allowed`; otherwise an
  // error at the first unknown key listing the allowed ones.
  absl::Status ExpectMap(std::initializer_list<std::string_view> allowed) const;
  absl::Status ExpectMap(std::span<const std::string_view> allowed) const;

  // The node at `relative` below this one ("retry.on_statuses[1]"), or
  // nullptr if the file does not set it.
  const ConfigNode* Resolve(std::string_view relative) const;
  // A `Validate()` failure of the struct read from this node: reported at
  // the field the status names (see FieldError) when the file sets it, else
  // here. OK stays OK.
  absl::Status Invalid(const absl::Status& status) const;

  // This node as a typed value, or an error naming it.
  absl::StatusOr<std::string> AsString() const;
  absl::StatusOr<bool> AsBool() const;  // true/false, yes/no, on/off
  absl::StatusOr<int64_t> AsInt(int64_t min = std::numeric_limits<int64_t>::min(),
                                int64_t max = std::numeric_limits<int64_t>::max()) const;
  absl::StatusOr<uint64_t> AsUint(uint64_t min = 0,
                                  uint64_t max = std::numeric_limits<uint64_t>::max()) const;
  absl::StatusOr<double> AsDouble() const;
  // "250ms", "5s", "1m30s"; "0" is zero. Negative or infinite is an error.
  absl::StatusOr<absl::Duration> AsDuration() const;
  absl::StatusOr<std::vector<std::string>> AsStringList() const;

  // Optional mapping members: `*out` is left unchanged when `key` is absent.
  absl::Status Read(std::string_view key, std::string* out) const;
  absl::Status Read(std::string_view key, bool* out) const;
  absl::Status Read(std::string_view key, double* out) const;
  absl::Status Read(std::string_view key, absl::Duration* out) const;
  absl::Status Read(std::string_view key, std::vector<std::string>* out) const;
  template <typename Int>
  absl::Status ReadInt(std::string_view key, Int* out, Int min = std::numeric_limits<Int>::min(),
                       Int max = std::numeric_limits<Int>::max()) const {
    static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
    const ConfigNode* n = Find(key);
    if (n == nullptr) return absl::OkStatus();
    if constexpr (std::is_signed_v<Int>) {
      auto v = n->AsInt(min, max);
      if (!v.ok()) return v.status();
      *out = static_cast<Int>(*v);
    } else {
      auto v = n->AsUint(min, max);
      if (!v.ok()) return v.status();
      *out = static_cast<Int>(*v);
    }
    return absl::OkStatus();
  }

  // Building, for loaders and tests: appends a sequence element (`key` empty)
  // or a mapping member; `key_line` is where the key is written (0: the
  // value's line), which is where an unknown key is reported.
  void AddChild(std::string key, ConfigNode child, int key_line = 0) {
    child.key_ = std::move(key);
    child.key_line_ = key_line > 0 ? key_line : child.where_.line;
    children_.push_back(std::move(child));
  }

 private:
  Kind kind_ = Kind::kNull;
  std::string scalar_;
  std::string key_;
  int key_line_ = 0;
  Location where_;
  std::vector<ConfigNode> children_;
};

// Errors of `Validate()` functions that say which field they are about, so
// that a loader can point at the line that set it. `field` is a path relative
// to the validated struct ("window_size", "hash_policy[2].route_capture").
//
// "<field>: <what>", reported by ConfigNode::Invalid as "<path>.<field>: <what>".
absl::Status FieldError(std::string_view field, std::string_view what);
// `message` unchanged, reported at the first of `fields` the file sets (a
// message about two fields, "minimum_calls must not exceed window_size",
// points at whichever of them the operator wrote).
absl::Status FieldsError(std::initializer_list<std::string_view> fields, std::string_view message);
// `status` (a FieldError or FieldsError of a member struct) with
// `message_prefix` before its message and its fields moved under `field_prefix`
// ("hash_policy[2]"); any other status gets the message prefix only.
absl::Status NestFieldError(const absl::Status& status, std::string_view field_prefix,
                            std::string_view message_prefix);
// The fields `status` names, in order (empty if it is neither of the above);
// `*prefixed` (may be null) tells whether it was a FieldError.
std::vector<std::string> ErrorFields(const absl::Status& status, bool* prefixed);

// Parses YAML text into a ConfigNode tree (paths start at `path`), for tests
// of configurable filters. Part of gateway::yaml_config. `${VAR}` in scalar
// values is replaced as LoadConfigString does (docs/config.md).
absl::StatusOr<ConfigNode> ParseConfigNode(const std::string& yaml, const std::string& filename,
                                           const std::string& path = "");

}  // namespace gateway

#endif  // GATEWAY_CONFIG_NODE_H_
