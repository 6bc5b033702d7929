// FieldError and friends (gateway/config_node.h) live in the core library:
// the structs' Validate() functions use them, and only the loader, which
// links the core, reads them back.
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gateway/config_node.h"

namespace gateway {
namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// The payload: 'p' + field (the message starts with "<field>: "), or 'm' +
// fields separated by '\n' (the message mentions them). A payload rather than
// words of the message, so that rewording a message never moves an error.
constexpr absl::string_view kFieldPayload = "gateway.config/field";

absl::Status WithFields(absl::Status status, char style, const std::string& fields) {
  status.SetPayload(kFieldPayload, absl::Cord(absl::StrCat(std::string(1, style), fields)));
  return status;
}

}  // namespace

absl::Status FieldError(std::string_view field, std::string_view what) {
  return WithFields(absl::InvalidArgumentError(absl::StrCat(AbslView(field), ": ", AbslView(what))),
                    'p', std::string(field));
}

absl::Status FieldsError(std::initializer_list<std::string_view> fields, std::string_view message) {
  std::vector<absl::string_view> names;
  for (std::string_view f : fields) names.push_back(AbslView(f));
  return WithFields(absl::InvalidArgumentError(AbslView(message)), 'm', absl::StrJoin(names, "\n"));
}

std::vector<std::string> ErrorFields(const absl::Status& status, bool* prefixed) {
  auto payload = status.GetPayload(kFieldPayload);
  if (!payload.has_value() || payload->empty()) return {};
  std::string value(*payload);
  if (prefixed != nullptr) *prefixed = value[0] == 'p';
  return absl::StrSplit(absl::string_view(value).substr(1), '\n', absl::SkipEmpty());
}

absl::Status NestFieldError(const absl::Status& status, std::string_view field_prefix,
                            std::string_view message_prefix) {
  absl::Status out(status.code(), absl::StrCat(AbslView(message_prefix), status.message()));
  bool prefixed = false;
  std::vector<std::string> fields = ErrorFields(status, &prefixed);
  if (fields.empty()) return out;
  if (!field_prefix.empty()) {
    for (std::string& f : fields) {
      f = absl::StrCat(AbslView(field_prefix), f[0] == '[' ? "" : ".", f);
    }
  }
  return WithFields(std::move(out), prefixed ? 'p' : 'm', absl::StrJoin(fields, "\n"));
}

}  // namespace gateway
