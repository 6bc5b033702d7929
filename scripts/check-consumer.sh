#!/usr/bin/env bash
# Checks the installed CMake package: installs the Release build into a
# temporary prefix, builds tests/consumer against it with find_package(gateway)
# and runs it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$REPO_ROOT/scripts/install-deps.sh"

# Up to date after ./scripts/test.sh; builds the Release tree otherwise.
gateway_build_release

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gateway-consumer.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

log "install into $prefix"
cmake --install "$RELEASE_BUILD_DIR" --prefix "$prefix"

# The package must carry only the public API.
[[ -f "$prefix/include/gateway/gateway.h" ]] || die "public headers were not installed"
if find "$prefix/include" -name '*.h' -path '*/lib/*' | grep -q .; then
  die "private lib/ headers were installed"
fi

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
log "configure tests/consumer against $prefix"
cmake -S "$REPO_ROOT/tests/consumer" -B "$tmp/consumer" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DGATEWAY_WERROR="$GATEWAY_WERROR"
log "build tests/consumer"
cmake --build "$tmp/consumer" -j "$JOBS"
log "run consumer"
"$tmp/consumer/consumer"
log "consumer OK"
