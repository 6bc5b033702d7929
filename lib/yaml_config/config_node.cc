#include "gateway/config_node.h"

#include "gateway/config_fields.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gateway {
namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status ErrorAtLine(const std::string& file, int line, std::string_view path,
                         std::string_view what) {
  std::string where = line > 0 ? absl::StrCat(file, ":", line) : file;
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", AbslView(what)));
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", AbslView(path), ": ", AbslView(what)));
}

}  // namespace

const ConfigNode* ConfigNode::Find(std::string_view key) const {
  if (!IsMap()) return nullptr;
  for (const ConfigNode& child : children_) {
    if (child.key_ == key) return &child;
  }
  return nullptr;
}

absl::Status ConfigNode::Error(std::string_view what) const {
  return ErrorAtLine(where_.file, where_.line, where_.path, what);
}

absl::Status ConfigNode::ErrorAt(std::string_view key, std::string_view what) const {
  std::string path =
      where_.path.empty() ? std::string(key) : absl::StrCat(where_.path, ".", AbslView(key));
  return ErrorAtLine(where_.file, where_.line, path, what);
}

absl::Status ConfigNode::ExpectMap(std::initializer_list<std::string_view> allowed) const {
  return ExpectMap(std::span<const std::string_view>(allowed.begin(), allowed.size()));
}

absl::Status ConfigNode::ExpectMap(std::span<const std::string_view> allowed) const {
  if (!IsMap()) return Error("expected a mapping");
  for (const ConfigNode& child : children_) {
    bool known = false;
    for (std::string_view a : allowed) known |= child.key_ == a;
    if (!known) {
      std::vector<absl::string_view> names;
      for (std::string_view a : allowed) names.push_back(AbslView(a));
      return ErrorAtLine(
          child.where_.file, child.key_line_, child.where_.path,
          absl::StrCat("unknown key (expected one of: ", absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

const ConfigNode* ConfigNode::Resolve(std::string_view relative) const {
  const ConfigNode* at = this;
  size_t i = 0;
  while (at != nullptr && i < relative.size()) {
    if (relative[i] == '.') {
      ++i;
    } else if (relative[i] == '[') {
      size_t close = relative.find(']', i);
      size_t index = 0;
      if (close == std::string_view::npos ||
          !absl::SimpleAtoi(AbslView(relative.substr(i + 1, close - i - 1)), &index) ||
          !at->IsSequence() || index >= at->children_.size()) {
        return nullptr;
      }
      at = &at->children_[index];
      i = close + 1;
    } else {
      size_t end = relative.find_first_of(".[", i);
      if (end == std::string_view::npos) end = relative.size();
      at = at->Find(relative.substr(i, end - i));
      i = end;
    }
  }
  return at;
}

absl::Status ConfigNode::Invalid(const absl::Status& status) const {
  if (status.ok()) return status;
  std::string message(status.message());
  bool prefixed = false;
  for (const std::string& field : ErrorFields(status, &prefixed)) {
    const ConfigNode* at = Resolve(field);
    if (at == nullptr) continue;
    if (prefixed) {
      // The path replaces the "<field>: " that the message starts with
      // (after whatever context a caller put in front of it).
      const std::string named = absl::StrCat(field, ": ");
      const size_t pos = message.find(named);
      if (pos != std::string::npos) return at->Error(message.substr(pos + named.size()));
    }
    return at->Error(message);
  }
  return Error(message);
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

namespace config {
namespace {

template <typename T, typename Get>
absl::Status Assign(T* out, Get&& get) {
  auto v = get();
  if (!v.ok()) return v.status();
  *out = *std::move(v);
  return absl::OkStatus();
}

}  // namespace

absl::Status String::operator()(const ConfigNode& n, std::string* out) const {
  return Assign(out, [&] { return n.AsString(); });
}
absl::Status Bool::operator()(const ConfigNode& n, bool* out) const {
  return Assign(out, [&] { return n.AsBool(); });
}
absl::Status Number::operator()(const ConfigNode& n, double* out) const {
  return Assign(out, [&] { return n.AsDouble(); });
}
absl::Status StringList::operator()(const ConfigNode& n, std::vector<std::string>* out) const {
  return Assign(out, [&] { return n.AsStringList(); });
}
absl::Status Duration::operator()(const ConfigNode& n, absl::Duration* out) const {
  auto d = n.AsDuration();
  if (!d.ok()) return d.status();
  if (*d > max) return n.Error(absl::StrCat("must be at most ", absl::FormatDuration(max)));
  *out = *d;
  return absl::OkStatus();
}

}  // namespace config
}  // namespace gateway
