// BodyBuffer: one piece of a request or response body as a body phase sees it
// (`Filter::OnRequestBody`, `Filter::OnResponseBody`), readable and writable.
//
// A buffer starts as a view of bytes it does not own (the connection's read
// buffer, the upstream's): reading it, or passing it on unchanged, copies
// nothing. The first write copies the bytes into a storage string the owner
// of the buffer supplied, and later writes edit that string; dropping bytes
// (`Clear`, `Drain`) never copies. Writes that change nothing (appending "")
// do not count as changes.
//
// A filter may write only to a body it declared it will change, in the
// headers phase of that direction (see `FilterContext::WillModifyRequestBody`
// and `WillModifyResponseBody` in gateway/filter.h): the proxy must know
// before it sends a head whether the body's length can still be trusted.
//
// Not thread-safe; a buffer handed to a phase is valid only during that call,
// and views from `view()` only until the next write or the end of the call.
#ifndef GATEWAY_BODY_BUFFER_H_
#define GATEWAY_BODY_BUFFER_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace gateway {

class BodyBuffer {
 public:
  // Views `data`; the first write copies it into `storage`, whose previous
  // contents are discarded (its capacity is reused). Both must outlive the
  // buffer.
  BodyBuffer(std::string_view data, std::string& storage)
      : view_(data), storage_(&storage), in_storage_(false) {}
  // Edits `contents` in place.
  explicit BodyBuffer(std::string& contents) : view_(), storage_(&contents), in_storage_(true) {}

  BodyBuffer(const BodyBuffer&) = delete;
  BodyBuffer& operator=(const BodyBuffer&) = delete;

  // The bytes as they are now.
  std::string_view view() const { return in_storage_ ? std::string_view(*storage_) : view_; }
  size_t size() const { return view().size(); }
  bool empty() const { return size() == 0; }
  // True once a write changed the buffer.
  bool modified() const { return modified_; }

  // Replaces every byte with `data` (which may view this buffer).
  void Replace(std::string_view data);
  void Append(std::string_view data);
  void Prepend(std::string_view data);
  // Drops every byte: nothing of this piece is passed on.
  void Clear();
  // Drops the first `n` bytes (all of them if there are fewer).
  void Drain(size_t n);
  // The bytes as a string to edit freely (in place, e.g. to change case).
  // Counts as a change. Valid until the next write or the end of the call.
  std::string& Mutable();

 private:
  // Moves the viewed bytes into storage before an edit that needs them there.
  void Own();

  std::string_view view_;  // the bytes while !in_storage_
  std::string* storage_;
  bool in_storage_;
  bool modified_ = false;
};

}  // namespace gateway

#endif  // GATEWAY_BODY_BUFFER_H_
