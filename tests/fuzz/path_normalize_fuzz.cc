// NormalizePath on arbitrary input: it must either fail or return a path that
// starts with '/', has no dot segments, and normalises to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  for (int policy = 0; policy < 3; ++policy) {
    gateway::PathPolicy p;
    p.encoded_slash = static_cast<gateway::PathPolicy::EncodedSlash>(policy);
    auto once = gateway::NormalizePath(input, p);
    if (!once.ok()) continue;
    if (once->empty() || (*once)[0] != '/') std::abort();
    if (once->find("/../") != std::string::npos || once->find("/./") != std::string::npos) {
      std::abort();
    }
    auto twice = gateway::NormalizePath(*once, p);
    // Idempotence, except that kDecode legitimately decodes "%252F" only once.
    if (p.encoded_slash != gateway::PathPolicy::EncodedSlash::kDecode &&
        (!twice.ok() || *twice != *once)) {
      std::abort();
    }
  }
  return 0;
}
