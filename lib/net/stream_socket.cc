#include "net/stream_socket.h"

#include <uv.h>

#include <utility>

namespace gateway::internal {

StreamSocket::StreamSocket(Dispatcher& dispatcher, std::unique_ptr<Transport> transport,
                           StreamSocketCallbacks& callbacks, const Options& options)
    : dispatcher_(dispatcher),
      transport_(std::move(transport)),
      callbacks_(callbacks),
      options_(options) {
  transport_->SetCallbacks(this);
}

StreamSocket::~StreamSocket() { Close(); }

int StreamSocket::Connect(const sockaddr* address) {
  if (life_ != Life::kOpen) return UV_EBADF;
  return transport_->Connect(address);
}

void StreamSocket::OnTransportConnected(int status) { callbacks_.OnSocketConnected(status); }

bool StreamSocket::ChangeReading(bool enabled) {
  if (life_ != Life::kOpen || read_ == ReadSide::kEnded) return false;
  if (!enabled) {
    if (read_ == ReadSide::kReading) {
      transport_->StopReading();
      read_ = ReadSide::kStopped;
    }
    return false;
  }
  if (transport_->StartReading() != 0) {
    CloseWithReport(SocketCloseReason::kReadFailed, /*in_call=*/true);
    return false;
  }
  read_ = ReadSide::kReading;
  return true;
}

void StreamSocket::OnTransportData(std::string_view data) { callbacks_.OnSocketData(data); }

void StreamSocket::OnTransportReadEnd(int status) {
  read_ = ReadSide::kEnded;
  if (write_ == WriteSide::kFailed) {
    // The input after a failed write is drained (kDrainInput): only now is
    // the failure reported, and as one, even if the read ended cleanly (the
    // write took the reset).
    CloseWithReport(SocketCloseReason::kWriteFailed, /*in_call=*/false);
    return;
  }
  if (status == UV_EOF) {
    callbacks_.OnSocketEof();
    return;
  }
  CloseWithReport(SocketCloseReason::kReadFailed, /*in_call=*/false);
}

bool StreamSocket::Write(std::string_view data) {
  if (write_ != WriteSide::kOpen || life_ == Life::kClosed) return false;
  if (data.empty()) return true;
  if (in_flight_.empty()) {
    // Usually the kernel takes everything at once and nothing is copied.
    int n = transport_->TryWrite(data);
    if (n >= 0 && static_cast<size_t>(n) == data.size()) return true;
    if (n < 0) {
      WriteFailed(/*in_call=*/true);
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return Enqueue(data);
}

bool StreamSocket::Enqueue(std::string_view data) {
  if (!in_flight_.empty()) {
    queued_.append(data);
  } else {
    in_flight_.assign(data);
    if (transport_->StartWrite(in_flight_) != 0) {
      WriteFailed(/*in_call=*/true);
      return false;
    }
  }
  if (write_queue_bytes() > options_.high_watermark) above_high_ = true;
  return true;
}

void StreamSocket::OnTransportWriteDone(int status) {
  if (status < 0) {
    WriteFailed(/*in_call=*/false);
    return;
  }
  in_flight_.clear();
  if (!queued_.empty()) {
    // The buffer just written collects the next batch: no allocation.
    in_flight_.swap(queued_);
    if (transport_->StartWrite(in_flight_) != 0) {
      WriteFailed(/*in_call=*/false);
      return;
    }
  } else if (!Drained()) {
    return;
  }
  if (above_high_ && (write_queue_bytes() < options_.low_watermark || write_queue_bytes() == 0)) {
    above_high_ = false;
    callbacks_.OnSocketBelowLowWatermark();
    if (life_ == Life::kClosed) return;
  }
  callbacks_.OnSocketSent();
}

bool StreamSocket::Drained() {
  // An idle socket holds no buffer; the next queue makes one again.
  DropQueue();
  if (life_ == Life::kClosingAfterDrain) {
    CloseWithReport(SocketCloseReason::kDrained, /*in_call=*/false);
    return false;
  }
  if (write_ == WriteSide::kShutdownPending) {
    write_ = WriteSide::kShutDown;
    // A failure means the peer is gone, which reading will find out.
    (void)transport_->Shutdown();
  }
  return true;
}

void StreamSocket::WriteFailed(bool in_call) {
  // Nothing is in flight here: the write that failed was the only one.
  write_ = WriteSide::kFailed;
  above_high_ = false;
  DropQueue();
  // Draining needs a read side that will see the input's end.
  if (options_.on_write_error == WriteErrorMode::kClose || read_ == ReadSide::kEnded ||
      life_ == Life::kClosingAfterDrain) {
    CloseWithReport(SocketCloseReason::kWriteFailed, in_call);
  }
  // Otherwise reading (now, or once the owner resumes it) reaches the end,
  // which reports (OnTransportReadEnd).
}

void StreamSocket::Shutdown() {
  if (life_ == Life::kClosed || write_ != WriteSide::kOpen) return;
  if (!in_flight_.empty()) {
    write_ = WriteSide::kShutdownPending;
    return;
  }
  write_ = WriteSide::kShutDown;
  (void)transport_->Shutdown();
}

bool StreamSocket::CloseAfterDrain() {
  if (life_ == Life::kClosed) return true;
  if (life_ == Life::kClosingAfterDrain) return false;
  if (in_flight_.empty()) {
    Close();
    return true;
  }
  life_ = Life::kClosingAfterDrain;
  // Nothing read from here on would be used.
  if (read_ == ReadSide::kReading) {
    transport_->StopReading();
    read_ = ReadSide::kStopped;
  }
  return false;
}

void StreamSocket::Close() {
  if (report_timer_ != nullptr) report_timer_->Disable();
  if (life_ == Life::kClosed) return;
  life_ = Life::kClosed;
  transport_->Close();
  DropQueue();
  above_high_ = false;
}

void StreamSocket::CloseWithReport(SocketCloseReason reason, bool in_call) {
  Close();
  if (!in_call) {
    callbacks_.OnSocketClosed(reason);
    return;
  }
  pending_report_ = reason;
  if (report_timer_ == nullptr) {
    report_timer_ = dispatcher_.CreateTimer([this] { callbacks_.OnSocketClosed(pending_report_); });
  }
  report_timer_->Enable(absl::ZeroDuration());
}

void StreamSocket::DropQueue() {
  std::string().swap(in_flight_);
  std::string().swap(queued_);
}

size_t StreamSocket::UnsentBytes() const {
  if (life_ == Life::kClosed) return 0;
  return queued_.size() + transport_->UnsentBytes();
}

}  // namespace gateway::internal
