// Time sources. Everything in the library that reasons about time (timeouts,
// breakers, limiters, retries, health checks) reads it through a `Clock`, so
// tests drive time by hand with `testing::ManualClock` instead of sleeping.
//
// Implementations must be safe to call from any thread.
#ifndef GATEWAY_CLOCK_H_
#define GATEWAY_CLOCK_H_

#include "absl/time/time.h"

namespace gateway {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time: for log timestamps, Date headers and token expiry. May jump.
  virtual absl::Time Now() const = 0;

  // Monotonic time since an arbitrary origin: for durations, deadlines and
  // windows. Never decreases.
  virtual absl::Duration Monotonic() const = 0;
};

// The process clock: absl::Now() and CLOCK_MONOTONIC. Thread-safe, stateless.
const Clock& SystemClock();

}  // namespace gateway

#endif  // GATEWAY_CLOCK_H_
