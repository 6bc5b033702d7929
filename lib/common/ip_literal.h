// Whether an address string is an IPv4 or IPv6 literal, as opposed to a DNS
// name: cluster endpoints and the Redis store both resolve only names.
#ifndef GATEWAY_LIB_COMMON_IP_LITERAL_H_
#define GATEWAY_LIB_COMMON_IP_LITERAL_H_

#include <arpa/inet.h>

#include <string>

namespace gateway::internal {

inline bool IsIpLiteral(const std::string& address) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, address.c_str(), buf) == 1 ||
         inet_pton(AF_INET6, address.c_str(), buf) == 1;
}

}  // namespace gateway::internal

#endif  // GATEWAY_LIB_COMMON_IP_LITERAL_H_
