#ifndef GATEWAY_LIB_CORE_GATEWAY_IMPL_H_
#define GATEWAY_LIB_CORE_GATEWAY_IMPL_H_

#include <uv.h>

#include <memory>
#include <unordered_map>
#include <vector>

#include "common/http_date.h"
#include "core/connection.h"
#include "event/uv_dispatcher.h"
#include "event/uv_handle.h"
#include "gateway/server.h"
#include "proxy/proxy_worker.h"

namespace gateway::internal {

class GatewayImpl final : public Gateway {
 public:
  GatewayImpl(uv_loop_t* loop, ServerOptions options, std::shared_ptr<const Pipeline> pipeline);
  ~GatewayImpl() override;

  absl::Status Listen();

  // Gateway.
  void SetPipeline(std::shared_ptr<const Pipeline> pipeline) override;
  void Drain(absl::Duration deadline, absl::AnyInvocable<void()> done) override;
  std::vector<uint16_t> ports() const override { return ports_; }
  GatewayStats stats() const override;
  Dispatcher& dispatcher() override { return dispatcher_; }

  // For connections.
  UvDispatcher& uv_dispatcher() { return dispatcher_; }
  const ServerOptions& options() const { return options_; }
  const std::shared_ptr<const Pipeline>& pipeline() const { return pipeline_; }
  bool draining() const { return draining_; }
  // One read buffer per loop: reads are processed synchronously and leftovers
  // copied out, so connections never hold a receive buffer while idle.
  char* read_buffer() { return read_buffer_.get(); }
  static constexpr size_t kReadBufferSize = 64 * 1024;
  std::string& scratch() { return scratch_; }
  void OnConnectionClosed(Connection* connection);
  // The per-loop proxy for `pipeline`'s cluster manager (created on first use),
  // or nullptr if the pipeline has no clusters.
  ProxyWorker* ProxyFor(const Pipeline& pipeline);
  void CountRequest() { ++stats_.requests; }
  void CountUnderscoreHeaderDropped() { ++stats_.underscore_headers_dropped; }
  void CountUnderscoreRequestRejected() { ++stats_.underscore_requests_rejected; }
  // The Date field value for responses written now (IMF-fixdate of the
  // loop's clock), formatted at most once a second. Valid until the next call.
  std::string_view Date() { return date_.Get(dispatcher_.clock().Now()); }
  void StreamStarted() { ++stats_.active_requests; }
  void StreamFinished() { --stats_.active_requests; }

 private:
  static void OnConnection(uv_stream_t* server, int status);
  void Accept(uv_stream_t* server);
  void MaybeFinishDrain();

  UvDispatcher dispatcher_;  // first: destroyed last
  uv_loop_t* loop_;
  ServerOptions options_;
  std::shared_ptr<const Pipeline> pipeline_;
  std::vector<UvHandle<uv_tcp_t>> listeners_;
  std::vector<uint16_t> ports_;
  // Declared before connections_: upstream requests inside streams use them.
  std::unordered_map<const ClusterManager*, std::unique_ptr<ProxyWorker>> proxies_;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
  std::unique_ptr<char[]> read_buffer_;
  std::string scratch_;
  HttpDateCache date_;
  GatewayStats stats_;
  uint64_t next_connection_id_ = 1;
  bool draining_ = false;
  absl::AnyInvocable<void()> drain_done_;
  std::unique_ptr<Timer> drain_timer_;
};

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_CORE_GATEWAY_IMPL_H_
