#!/usr/bin/env bash
# Installs the dependencies, builds the Release tree and starts the demo gateway
# in the foreground on http://localhost:8080/ (Ctrl-C stops it).
# Arguments are passed to the demo binary instead of the default config
# (examples/gatewayd/quickstart.yaml).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The demo binary, relative to the Release build directory, and its CMake target.
DEMO_BIN="${DEMO_BIN:-examples/gatewayd}"
DEMO_TARGET="${DEMO_TARGET:-$(basename "$DEMO_BIN")}"
DEMO_PORT=8080  # where the demo binary listens (informational)

"$REPO_ROOT/scripts/install-deps.sh"

# Configure the whole tree, but build only what the demo needs.
gateway_build_release --target "$DEMO_TARGET" \
  || die "could not build the demo target '$DEMO_TARGET' (does examples/ define it yet?)"

bin="$RELEASE_BUILD_DIR/$DEMO_BIN"
[[ -x "$bin" ]] || die "demo binary not found after the build: $bin"

log "starting $DEMO_BIN on http://localhost:$DEMO_PORT/ (Ctrl-C to stop)"
if [[ $# -eq 0 && "$DEMO_TARGET" == gatewayd ]]; then
  set -- "$REPO_ROOT/examples/gatewayd/quickstart.yaml"
  log "try: curl localhost:$DEMO_PORT/api/users/1 (alternates users-1/users-2), /api/orders/7, /api/nope/1"
fi
exec "$bin" "$@"
