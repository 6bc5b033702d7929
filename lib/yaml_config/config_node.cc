#include "gateway/config_node.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace gateway {
namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

const ConfigNode* ConfigNode::Find(std::string_view key) const {
  if (!IsMap()) return nullptr;
  for (const ConfigNode& child : children_) {
    if (child.key_ == key) return &child;
  }
  return nullptr;
}

absl::Status ConfigNode::Error(std::string_view what) const {
  std::string where = where_.line > 0 ? absl::StrCat(where_.file, ":", where_.line) : where_.file;
  if (where_.path.empty())
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", AbslView(what)));
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", where_.path, ": ", AbslView(what)));
}

absl::Status ConfigNode::ExpectMap(std::initializer_list<std::string_view> allowed) const {
  if (!IsMap()) return Error("expected a mapping");
  for (const ConfigNode& child : children_) {
    bool known = false;
    for (std::string_view a : allowed) known |= child.key_ == a;
    if (!known) {
      std::vector<absl::string_view> names;
      for (std::string_view a : allowed) names.push_back(AbslView(a));
      return child.Error(
          absl::StrCat("unknown key (expected one of: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConfigNode::AsString() const {
  if (!IsScalar()) return Error("expected a string");
  return scalar_;
}

absl::StatusOr<bool> ConfigNode::AsBool() const {
  if (IsScalar()) {
    if (scalar_ == "true" || scalar_ == "yes" || scalar_ == "on") return true;
    if (scalar_ == "false" || scalar_ == "no" || scalar_ == "off") return false;
  }
  return Error("expected true or false");
}

absl::StatusOr<int64_t> ConfigNode::AsInt(int64_t min, int64_t max) const {
  int64_t v = 0;
  if (!IsScalar() || !absl::SimpleAtoi(scalar_, &v)) return Error("expected an integer");
  if (v < min || v > max) return Error(absl::StrCat("out of range [", min, ", ", max, "]"));
  return v;
}

absl::StatusOr<uint64_t> ConfigNode::AsUint(uint64_t min, uint64_t max) const {
  uint64_t v = 0;
  if (!IsScalar() || scalar_.empty() || scalar_[0] == '-' || !absl::SimpleAtoi(scalar_, &v)) {
    return Error("expected a non-negative integer");
  }
  if (v < min || v > max) return Error(absl::StrCat("out of range [", min, ", ", max, "]"));
  return v;
}

absl::StatusOr<double> ConfigNode::AsDouble() const {
  double v = 0;
  if (!IsScalar() || !absl::SimpleAtod(scalar_, &v)) return Error("expected a number");
  return v;
}

absl::StatusOr<absl::Duration> ConfigNode::AsDuration() const {
  if (!IsScalar()) return Error("expected a duration such as \"250ms\"");
  if (scalar_ == "0") return absl::ZeroDuration();
  absl::Duration d;
  if (!absl::ParseDuration(scalar_, &d) || d < absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return Error(absl::StrCat("invalid duration \"", scalar_, "\" (expected e.g. 250ms, 5s, 1m)"));
  }
  return d;
}

absl::StatusOr<std::vector<std::string>> ConfigNode::AsStringList() const {
  if (!IsSequence()) return Error("expected a list of strings");
  std::vector<std::string> out;
  for (const ConfigNode& child : children_) {
    auto s = child.AsString();
    if (!s.ok()) return s.status();
    out.push_back(*std::move(s));
  }
  return out;
}

namespace {

template <typename T, typename Get>
absl::Status ReadMember(const ConfigNode& node, std::string_view key, T* out, Get get) {
  const ConfigNode* n = node.Find(key);
  if (n == nullptr) return absl::OkStatus();
  auto v = get(*n);
  if (!v.ok()) return v.status();
  *out = *std::move(v);
  return absl::OkStatus();
}

}  // namespace

absl::Status ConfigNode::Read(std::string_view key, std::string* out) const {
  return ReadMember(*this, key, out, [](const ConfigNode& n) { return n.AsString(); });
}
absl::Status ConfigNode::Read(std::string_view key, bool* out) const {
  return ReadMember(*this, key, out, [](const ConfigNode& n) { return n.AsBool(); });
}
absl::Status ConfigNode::Read(std::string_view key, double* out) const {
  return ReadMember(*this, key, out, [](const ConfigNode& n) { return n.AsDouble(); });
}
absl::Status ConfigNode::Read(std::string_view key, absl::Duration* out) const {
  return ReadMember(*this, key, out, [](const ConfigNode& n) { return n.AsDuration(); });
}
absl::Status ConfigNode::Read(std::string_view key, std::vector<std::string>* out) const {
  return ReadMember(*this, key, out, [](const ConfigNode& n) { return n.AsStringList(); });
}

}  // namespace gateway
