// Declarative binding of ConfigNode mappings to C++ structs: one table line
// per key (key, member, reader with its range), in the spirit of h2o's
// configurator tables. The gateway's own YAML loader is written with these,
// and a user's configurable filter can use them the same way:
//
//   struct QuotaConfig { int64_t per_minute = 60; absl::Duration window; bool strict = false; };
//
//   absl::Status ParseQuota(const ConfigNode& node, QuotaConfig* out) {
//     static const config::FieldTable<QuotaConfig> kTable{
//         config::Field("per_minute", &QuotaConfig::per_minute, config::Int{.min = 1}).Required(),
//         config::Field("window", &QuotaConfig::window, config::Duration{}),
//         config::Field("strict", &QuotaConfig::strict, config::Bool{}),
//     };
//     return kTable.Read(node, out);
//   }
//
// Errors name file, line and key path (ConfigNode::Error); an unknown key is
// an error listing the table's keys. Every reader applies ConfigNode's
// scalar rules (As*), so a duration or a boolean means the same in every key.
// Tables are immutable after construction and may be shared between threads.
#ifndef GATEWAY_CONFIG_FIELDS_H_
#define GATEWAY_CONFIG_FIELDS_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gateway/config_node.h"

namespace gateway::config {

// ---- Readers: callables `absl::Status(const ConfigNode&, V*)`. ----

struct String {
  absl::Status operator()(const ConfigNode& n, std::string* out) const;
};

struct Bool {
  absl::Status operator()(const ConfigNode& n, bool* out) const;
};

// A whole number in [min, max] ("expected an integer", "out of range [..]").
struct Int {
  int64_t min = std::numeric_limits<int64_t>::min();
  int64_t max = std::numeric_limits<int64_t>::max();
  template <typename I>
  absl::Status operator()(const ConfigNode& n, I* out) const {
    auto v = n.AsInt(min, max);
    if (!v.ok()) return v.status();
    *out = static_cast<I>(*v);
    return absl::OkStatus();
  }
};

// A count or size ("expected a non-negative integer"); `positive` rejects 0
// with "must be > 0".
struct Uint {
  uint64_t min = 0;
  uint64_t max = std::numeric_limits<uint64_t>::max();
  bool positive = false;
  template <typename I>
  absl::Status operator()(const ConfigNode& n, I* out) const {
    auto v = n.AsUint(min, max);
    if (!v.ok()) return v.status();
    if (positive && *v == 0) return n.Error("must be > 0");
    *out = static_cast<I>(*v);
    return absl::OkStatus();
  }
};

struct Number {
  absl::Status operator()(const ConfigNode& n, double* out) const;
};

// "250ms", "5s", "1m30s" or "0", at most `max` ("must be at most 1h").
struct Duration {
  absl::Duration max = absl::InfiniteDuration();
  absl::Status operator()(const ConfigNode& n, absl::Duration* out) const;
};

struct StringList {
  absl::Status operator()(const ConfigNode& n, std::vector<std::string>* out) const;
};

// A name out of `names`. The error for an unknown name is
// `expected a, b or c, not "x"` unless `message(got, "a, b or c")` says otherwise.
template <typename E>
struct Enum {
  std::span<const std::pair<std::string_view, E>> names;
  std::string (*message)(std::string_view got, std::string_view expected) = nullptr;

  absl::Status operator()(const ConfigNode& n, E* out) const {
    auto s = n.AsString();
    if (!s.ok()) return s.status();
    for (const auto& [name, value] : names) {
      if (*s == name) {
        *out = value;
        return absl::OkStatus();
      }
    }
    std::string expected;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) expected += i + 1 == names.size() ? " or " : ", ";
      expected += names[i].first;
    }
    if (message != nullptr) return n.Error(message(*s, expected));
    return n.Error("expected " + expected + ", not \"" + *s + "\"");
  }
};

// A sequence, each element read with `element` into a fresh V; replaces *out.
template <typename R>
struct List {
  R element;
  std::string_view what = "expected a list";
  template <typename V>
  absl::Status operator()(const ConfigNode& n, std::vector<V>* out) const {
    if (!n.IsSequence()) return n.Error(what);
    out->clear();
    for (const ConfigNode& child : n.children()) {
      V v{};
      if (auto s = element(child, &v); !s.ok()) return s;
      out->push_back(std::move(v));
    }
    return absl::OkStatus();
  }
};

// Spelled out for compilers without aggregate deduction (clang < 17).
template <typename R>
List(R) -> List<R>;
template <typename R>
List(R, std::string_view) -> List<R>;

// An optional member: emplaced fresh, then read with `inner`.
template <typename R>
struct Emplace {
  R inner;
  template <typename V>
  absl::Status operator()(const ConfigNode& n, std::optional<V>* out) const {
    out->emplace();
    return inner(n, &**out);
  }
};

template <typename R>
Emplace(R) -> Emplace<R>;

// ---- Tables ----

// One key of a mapping and how to read it into a T.
template <typename T>
class Field {
 public:
  using Reader = std::function<absl::Status(const ConfigNode&, T*)>;

  // `key` read into the member with `reader`.
  template <typename M, typename R>
  Field(std::string_view key, M T::*member, R reader)
      : key_(key), read_([member, reader](const ConfigNode& n, T* out) {
          return reader(n, &(out->*member));
        }) {}
  // `key` read by `read` into the whole struct (several members, one-of
  // choices, checks across keys). A null `read` accepts the key and leaves
  // it to whoever reads the table (the key belongs to an enclosing struct).
  Field(std::string_view key, Reader read) : key_(key), read_(std::move(read)) {}

  // Absent is an error: "<path>.<key>: <missing>".
  Field Required(std::string_view missing = "missing") const {
    Field f = *this;
    f.missing_ = missing;
    return f;
  }

  std::string_view key() const { return key_; }
  std::string_view missing() const { return missing_; }
  const Reader& read() const { return read_; }

 private:
  std::string_view key_;
  Reader read_;
  std::string_view missing_;  // empty: optional
};

template <typename T, typename M, typename R>
Field(std::string_view, M T::*, R) -> Field<T>;

template <typename T>
class FieldTable {
 public:
  FieldTable(std::initializer_list<Field<T>> fields) : fields_(fields) {
    for (const Field<T>& f : fields_) keys_.push_back(f.key());
  }

  // The same table without `key` (e.g. a struct variant that lacks it).
  FieldTable Without(std::string_view key) const {
    FieldTable t(*this);
    std::erase_if(t.fields_, [key](const Field<T>& f) { return f.key() == key; });
    std::erase(t.keys_, key);
    return t;
  }

  // The same table with `field` added; its key must outlive the table.
  FieldTable With(Field<T> field) const {
    FieldTable t(*this);
    t.keys_.push_back(field.key());
    t.fields_.push_back(std::move(field));
    return t;
  }

  bool Has(std::string_view key) const {
    return std::find(keys_.begin(), keys_.end(), key) != keys_.end();
  }

  // `node` must be a mapping of the table's keys (else an error at the first
  // unknown key listing them). Fields are read in table order; absent ones
  // keep their value in *out.
  absl::Status Read(const ConfigNode& node, T* out) const {
    if (auto s = node.ExpectMap(std::span<const std::string_view>(keys_)); !s.ok()) return s;
    for (const Field<T>& f : fields_) {
      const ConfigNode* n = node.Find(f.key());
      if (n == nullptr) {
        if (!f.missing().empty()) return node.ErrorAt(f.key(), f.missing());
        continue;
      }
      if (!f.read()) continue;
      if (auto s = f.read()(*n, out); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Read, then `out->Validate()`, whose failure is reported at the field it
  // names (ConfigNode::Invalid).
  absl::Status ReadValid(const ConfigNode& node, T* out) const {
    if (auto s = Read(node, out); !s.ok()) return s;
    return node.Invalid(out->Validate());
  }

  // This table as a reader of a nested mapping.
  auto reader() const {
    return [this](const ConfigNode& n, T* out) { return Read(n, out); };
  }
  auto valid_reader() const {
    return [this](const ConfigNode& n, T* out) { return ReadValid(n, out); };
  }

 private:
  std::vector<Field<T>> fields_;
  std::vector<std::string_view> keys_;
};

}  // namespace gateway::config

#endif  // GATEWAY_CONFIG_FIELDS_H_
