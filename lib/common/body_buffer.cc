#include "gateway/body_buffer.h"

#include <algorithm>

namespace gateway {

void BodyBuffer::Own() {
  if (in_storage_) return;
  // `view_` never points into `storage_` (the owner gave them apart), so this
  // assignment does not read what it overwrites.
  storage_->assign(view_.data(), view_.size());
  in_storage_ = true;
}

void BodyBuffer::Replace(std::string_view data) {
  // std::string::assign copes with `data` viewing the string itself.
  storage_->assign(data.data(), data.size());
  in_storage_ = true;
  modified_ = true;
}

void BodyBuffer::Append(std::string_view data) {
  if (data.empty()) return;
  Own();
  storage_->append(data.data(), data.size());
  modified_ = true;
}

void BodyBuffer::Prepend(std::string_view data) {
  if (data.empty()) return;
  Own();
  storage_->insert(0, data.data(), data.size());
  modified_ = true;
}

void BodyBuffer::Clear() {
  if (empty()) return;
  if (in_storage_) {
    storage_->clear();
  } else {
    view_ = {};
  }
  modified_ = true;
}

void BodyBuffer::Drain(size_t n) {
  n = std::min(n, size());
  if (n == 0) return;
  if (in_storage_) {
    storage_->erase(0, n);
  } else {
    view_.remove_prefix(n);
  }
  modified_ = true;
}

std::string& BodyBuffer::Mutable() {
  Own();
  modified_ = true;
  return *storage_;
}

}  // namespace gateway
