// HTTP message vocabulary shared by every component: header maps, request and
// response heads, and local replies.
//
// These are plain value types. They carry no thread affinity; a head belongs to
// the stream that parsed it and is valid for as long as that stream lives.
#ifndef GATEWAY_HTTP_H_
#define GATEWAY_HTTP_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/response_flag.h"

namespace gateway {
namespace internal {
struct HeaderMapAccess;
}  // namespace internal

// An ordered multimap of header fields. Names compare case-insensitively and
// keep the spelling they arrived with; the order of fields is preserved.
//
// Values are stored as received (without surrounding whitespace). The map
// accepts any bytes: the codec rejects invalid ones on input, and on output
// drops a field whose name is not a token or whose value holds CR, LF, NUL or
// another control character (surrounding whitespace is trimmed). The map notes
// whether every field it was given is clean, so that heads nobody added a bad
// field to are written without checking each field again.
// `IsValidHeaderName`/`IsValidHeaderValue` are available for filters that build
// headers from untrusted data.
class HeaderMap {
 public:
  struct Field {
    std::string name;
    std::string value;
    friend bool operator==(const Field&, const Field&) = default;
  };

  HeaderMap() = default;
  HeaderMap(const HeaderMap& other);
  HeaderMap(HeaderMap&& other) noexcept
      : fields_(std::move(other.fields_)),
        size_(std::exchange(other.size_, 0)),
        clean_(std::exchange(other.clean_, true)),
        long_strings_(std::exchange(other.long_strings_, false)) {}
  HeaderMap& operator=(const HeaderMap& other);
  HeaderMap& operator=(HeaderMap&& other) noexcept;
  // Hands the field storage of a typical head to the next map of this thread.
  ~HeaderMap() {
    if (fields_.capacity() != 0) Recycle();
  }
  HeaderMap(std::initializer_list<std::pair<std::string_view, std::string_view>> fields);

  // The first value of `name`, or nullopt. The view is valid until the map is
  // next modified.
  std::optional<std::string_view> Get(std::string_view name) const;
  // All values of `name` in order.
  std::vector<std::string_view> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const { return Get(name).has_value(); }
  // Number of fields named `name`.
  size_t Count(std::string_view name) const;

  // Appends a field, keeping existing ones with the same name.
  void Add(std::string_view name, std::string_view value);
  // Replaces every field named `name` with a single one (appended if absent).
  void Set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t Remove(std::string_view name);
  // Removes every field for whose name `pred(std::string_view)` is true, in
  // one pass, keeping the order of the others; returns how many were removed.
  template <typename Pred>
  size_t RemoveIf(Pred pred) {
    return Compact(0, [&](const Field& f) { return pred(std::string_view(f.name)); });
  }
  void Clear() {
    size_ = 0;
    clean_ = true;
  }
  void Reserve(size_t n);

  // True if any comma-separated element of any `name` field equals `token`
  // (case-insensitive), e.g. HasToken("connection", "close").
  bool HasToken(std::string_view name, std::string_view token) const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Bytes of names and values, as counted against header-size limits.
  size_t ByteSize() const;

  const Field* begin() const { return fields_.data(); }
  const Field* end() const { return fields_.data() + size_; }
  // The fields in order. Valid until the map is next modified.
  std::span<const Field> fields() const { return {fields_.data(), size_}; }

  friend bool operator==(const HeaderMap& a, const HeaderMap& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  friend struct internal::HeaderMapAccess;

  // Appends without looking at the bytes.
  void Append(std::string_view name, std::string_view value);
  void Recycle();

  // Removes the fields from `from` on for which `drop(field)` is true. The
  // removed ones move behind the live ones, where their strings keep their
  // capacity for later Adds.
  template <typename Drop>
  size_t Compact(size_t from, Drop drop) {
    size_t out = from;
    for (size_t i = from; i < size_; ++i) {
      if (drop(fields_[i])) continue;
      if (out != i) std::swap(fields_[out], fields_[i]);
      ++out;
    }
    size_t removed = size_ - out;
    size_ = out;
    return removed;
  }

  // fields_[0, size_) are the fields; the rest are spare entries left by
  // removals and by earlier heads (see Reserve), reused by Add so that a value
  // longer than the inline string buffer rarely costs an allocation.
  std::vector<Field> fields_;
  size_t size_ = 0;
  // Every field was checked valid when it was added, so the encoder can copy
  // them without looking (removals keep it; an invalid Add clears it).
  bool clean_ = true;
  // A name or value longer than what spare entries keep was stored.
  bool long_strings_ = false;
};

// Case-insensitive ASCII comparison, as HTTP field names need.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
// RFC 9110 token characters only, non-empty.
bool IsValidHeaderName(std::string_view name);
// No CR, LF or NUL; no leading or trailing whitespace.
bool IsValidHeaderValue(std::string_view value);

// The parsed head of a request.
struct RequestHead {
  std::string method;     // as received, e.g. "GET"
  std::string target;     // request-target as received, e.g. "/a/../b?x=1"
  std::string path;       // normalised path used for routing (see router.h), no query
  std::string query;      // raw query without '?', empty if none
  std::string authority;  // Host header value (or absolute-form authority)
  int version_minor = 1;  // HTTP/1.<version_minor>
  HeaderMap headers;
  bool keep_alive = true;  // what the client asked for
  bool expect_continue = false;
  bool upgrade = false;  // the request asks for a protocol upgrade
  // Body framing as the codec saw it. nullopt content_length with chunked=false
  // means no body.
  std::optional<uint64_t> content_length;
  bool chunked = false;

  bool HasBody() const { return chunked || content_length.value_or(0) > 0; }
};

// The head of a response.
struct ResponseHead {
  int status = 200;
  std::string reason;  // empty: the standard reason phrase for `status`
  int version_minor = 1;
  HeaderMap headers;
  // Set by client-side codecs on parse; ignored when encoding (the encoder
  // chooses framing from the body it is given).
  std::optional<uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;
};

// The standard reason phrase for a status code, "Unknown" if none.
std::string_view ReasonPhrase(int status);

// True for methods RFC 9110 defines as idempotent.
bool IsIdempotentMethod(std::string_view method);

// A complete response produced by the gateway itself: errors, direct responses,
// redirects and filter replies. `flag` is a short machine-readable reason for
// logs and metrics (for example "no_route", "rate_limited"); it is not sent.
struct LocalReply {
  int status = 200;
  HeaderMap headers;
  std::string body;
  std::string flag;

  // {"error":"<code>","message":"<message>","status":<status>} with
  // Content-Type application/json; `code` doubles as the response flag.
  static LocalReply Json(int status, std::string_view code, std::string_view message);
  // The same with a built-in flag: its name is the code.
  static LocalReply Json(int status, ResponseFlag flag, std::string_view message) {
    return Json(status, ResponseFlagName(flag), message);
  }
  static LocalReply Text(int status, std::string_view body);
};

// Escapes `s` for inclusion inside a JSON string literal.
std::string JsonEscape(std::string_view s);

}  // namespace gateway

#endif  // GATEWAY_HTTP_H_
