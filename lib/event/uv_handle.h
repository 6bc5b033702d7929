// RAII ownership of libuv handles.
//
// libuv frees nothing itself and a handle's memory must stay valid until its
// close callback has run, which is always on a later loop iteration. UvHandle
// owns a heap-allocated handle; its destructor calls uv_close and the close
// callback frees the memory, so owners can be destroyed at any time on the
// loop thread without waiting for the loop.
#ifndef GATEWAY_LIB_EVENT_UV_HANDLE_H_
#define GATEWAY_LIB_EVENT_UV_HANDLE_H_

#include <uv.h>

#include <utility>

namespace gateway::internal {

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  ~UvHandle() { Close(); }
  UvHandle(UvHandle&& other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  UvHandle& operator=(UvHandle&& other) noexcept {
    if (this != &other) {
      Close();
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  // Allocates and initialises the handle with `init(loop, handle, args...)`.
  // Returns the libuv error code; on failure the owner stays empty.
  template <typename InitFn, typename... Args>
  int Init(uv_loop_t* loop, InitFn init, Args&&... args) {
    Close();
    T* h = new T;
    int rc = init(loop, h, std::forward<Args>(args)...);
    if (rc != 0) {
      delete h;
      return rc;
    }
    handle_ = h;
    return 0;
  }

  // Closes the handle now (callbacks stop); memory is freed by the close callback.
  void Close() {
    if (handle_ == nullptr) return;
    auto* h = reinterpret_cast<uv_handle_t*>(std::exchange(handle_, nullptr));
    h->data = nullptr;
    if (!uv_is_closing(h)) {
      uv_close(h, [](uv_handle_t* closed) { delete reinterpret_cast<T*>(closed); });
    }
  }

  T* get() const { return handle_; }
  T* operator->() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(handle_); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_); }

 private:
  T* handle_ = nullptr;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_EVENT_UV_HANDLE_H_
