#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "gateway/upstream.h"

#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

std::string FormatName(const std::string& address, uint16_t port) {
  // IPv6 literals need brackets so the port separator stays unambiguous; an
  // address that already carries them is accepted as is rather than doubled.
  const bool needs_brackets =
      address.find(':') != std::string::npos && (address.empty() || address.front() != '[');
  if (needs_brackets) return absl::StrCat("[", address, "]:", port);
  return absl::StrCat(address, ":", port);
}

}  // namespace

Host::Host(std::string address, uint16_t port, uint32_t weight, std::string hostname)
    : address_(std::move(address)),
      port_(port),
      weight_(weight),
      hostname_(std::move(hostname)),
      name_(FormatName(address_, port_)) {}

HostSet::HostSet(std::vector<HostPtr> hosts, std::vector<bool> healthy, uint64_t version)
    : version_(version) {
  // A snapshot may come from discovery code we do not control: null entries
  // are dropped (with their flag) and a short health vector counts the missing
  // entries as healthy, so IsHealthy(i) is defined for every i < hosts().size().
  hosts_.reserve(hosts.size());
  healthy_.reserve(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i] == nullptr) continue;
    hosts_.push_back(std::move(hosts[i]));
    healthy_.push_back(i < healthy.size() ? static_cast<bool>(healthy[i]) : true);
  }
  for (size_t i = 0; i < hosts_.size(); ++i) {
    if (healthy_[i]) healthy_hosts_.push_back(hosts_[i]);
  }
}

HostSet::HostSet(std::vector<HostPtr> hosts, uint64_t version)
    : HostSet(std::move(hosts), std::vector<bool>(), version) {}

}  // namespace gateway
