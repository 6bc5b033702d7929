#include "gateway/http.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/field_syntax.h"
#include "common/header_map_access.h"
#include "common/spare_cache.h"

namespace gateway {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Header names are compared for every field of every message: equal bytes
  // cost one comparison; unequal ones match only as the two cases of a letter.
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    unsigned char lower = x | 0x20;
    if (lower != (y | 0x20) || lower < 'a' || lower > 'z') return false;
  }
  return true;
}

namespace {
// Lookups test every field: the inline length test leaves the out-of-line
// comparison to the names that can match.
inline bool SameName(std::string_view a, std::string_view b) {
  return a.size() == b.size() && EqualsIgnoreCase(a, b);
}
}  // namespace

bool IsValidHeaderName(std::string_view name) { return internal::IsFieldName(name); }

bool IsValidHeaderValue(std::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  if (!value.empty() && (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' ||
                         value.back() == '\t')) {
    return false;
  }
  return true;
}

namespace {
// Every request and response head needs field storage of about this size;
// the storage of finished heads is reused (see SpareCache) within these
// bounds, together with the strings' own buffers up to kSpareStringMax bytes.
constexpr size_t kSpareFieldsMin = 8;
constexpr size_t kSpareFieldsMax = 32;
constexpr size_t kSpareStringMax = 64;
using SpareFields = internal::SpareCache<std::vector<HeaderMap::Field>, 1024>;
}  // namespace

HeaderMap::HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  Reserve(fields.size());
  for (const auto& [name, value] : fields) Add(name, value);
}

HeaderMap::HeaderMap(const HeaderMap& other) : clean_(other.clean_) {
  Reserve(other.size_);
  for (const Field& f : other) Append(f.name, f.value);
}

HeaderMap& HeaderMap::operator=(const HeaderMap& other) {
  if (this == &other) return *this;
  size_ = 0;
  Reserve(other.size_);
  for (const Field& f : other) Append(f.name, f.value);
  clean_ = other.clean_;
  return *this;
}

HeaderMap& HeaderMap::operator=(HeaderMap&& other) noexcept {
  if (this == &other) return *this;
  fields_ = std::move(other.fields_);
  size_ = std::exchange(other.size_, 0);
  clean_ = std::exchange(other.clean_, true);
  long_strings_ = std::exchange(other.long_strings_, false);
  return *this;
}

void HeaderMap::Recycle() {
  if (long_strings_) {
    // Kept strings are bounded: long ones (cookies, tokens) are freed now.
    for (Field& f : fields_) {
      if (f.name.capacity() > kSpareStringMax) std::string().swap(f.name);
      if (f.value.capacity() > kSpareStringMax) std::string().swap(f.value);
    }
  }
  SpareFields::Give(fields_, kSpareFieldsMin, kSpareFieldsMax);
}

void HeaderMap::Reserve(size_t n) {
  if (fields_.capacity() >= n) return;
  if (fields_.empty() && n <= kSpareFieldsMin && SpareFields::Take(fields_, n)) return;
  fields_.reserve(n);
}

std::optional<std::string_view> HeaderMap::Get(std::string_view name) const {
  for (const Field& f : *this) {
    if (SameName(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

std::vector<std::string_view> HeaderMap::GetAll(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const Field& f : *this) {
    if (SameName(f.name, name)) out.emplace_back(f.value);
  }
  return out;
}

size_t HeaderMap::Count(std::string_view name) const {
  return std::count_if(begin(), end(), [&](const Field& f) { return SameName(f.name, name); });
}

void HeaderMap::Add(std::string_view name, std::string_view value) {
  if (clean_ && !internal::IsCleanField(name, value)) clean_ = false;
  Append(name, value);
}

void HeaderMap::Append(std::string_view name, std::string_view value) {
  if (size_ == fields_.size()) {
    // Filters and the proxy add a few fields to a parsed head sized for what
    // arrived: grow by more than one step so that they cost one reallocation.
    if (size_ == fields_.capacity()) Reserve(std::max<size_t>(kSpareFieldsMin, size_ * 2));
    // Reserve may have brought spare entries from an earlier head.
    if (size_ == fields_.size()) fields_.emplace_back();
  }
  // Assigned in place: a spare entry's strings keep their buffers.
  if (name.size() > kSpareStringMax || value.size() > kSpareStringMax) long_strings_ = true;
  Field& f = fields_[size_++];
  f.name.assign(name);
  f.value.assign(value);
}

void HeaderMap::Set(std::string_view name, std::string_view value) {
  size_t i = 0;
  while (i < size_ && !SameName(fields_[i].name, name)) ++i;
  if (i == size_) {
    Add(name, value);
    return;
  }
  if (clean_ && !internal::IsCleanField(name, value)) clean_ = false;
  if (value.size() > kSpareStringMax) long_strings_ = true;
  fields_[i].value.assign(value);
  // Drop later duplicates so exactly one field remains.
  Compact(i + 1, [&](const Field& f) { return SameName(f.name, name); });
}

size_t HeaderMap::Remove(std::string_view name) {
  return Compact(0, [&](const Field& f) { return SameName(f.name, name); });
}

bool HeaderMap::HasToken(std::string_view name, std::string_view token) const {
  for (const Field& f : *this) {
    if (!SameName(f.name, name)) continue;
    for (absl::string_view part : absl::StrSplit(f.value, ',')) {
      part = absl::StripAsciiWhitespace(part);
      if (EqualsIgnoreCase(std::string_view(part.data(), part.size()), token)) return true;
    }
  }
  return false;
}

size_t HeaderMap::ByteSize() const {
  size_t n = 0;
  for (const Field& f : *this) n += f.name.size() + f.value.size() + 4;  // ": " + CRLF
  return n;
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool IsIdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

std::string JsonEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

LocalReply LocalReply::Json(int status, std::string_view code, std::string_view message) {
  LocalReply r;
  r.status = status;
  r.flag = std::string(code);
  r.headers.Add("content-type", "application/json");
  r.body = absl::StrCat("{\"error\":\"", JsonEscape(code), "\",\"message\":\"", JsonEscape(message),
                        "\",\"status\":", status, "}\n");
  return r;
}

LocalReply LocalReply::Text(int status, std::string_view body) {
  LocalReply r;
  r.status = status;
  r.headers.Add("content-type", "text/plain");
  r.body = std::string(body);
  return r;
}

}  // namespace gateway
