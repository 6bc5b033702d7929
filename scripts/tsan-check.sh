#!/usr/bin/env bash
# ThreadSanitizer run of what worker threads share: the breakers, limits and
# outlier detection (unit tests with four threads) and the multi-worker
# Runtime over real sockets (two-worker hash balancing among them). Builds
# only those test binaries in build-tsan/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec ./scripts/test.sh --tsan --target unit_resilience_tests --target integration_tests \
  -- -R "^resilience:|^integration:.*(breaker shared|runtime|worker|on one instance|tenth of the keys)"
