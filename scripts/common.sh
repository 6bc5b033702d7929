# Shared helpers for the scripts in this directory. Source it; do not run it.
# Sets REPO_ROOT and cd's there, so every script works from any directory.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Parallel build jobs: $JOBS, else the number of cores.
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

# The Release build directory shared by test.sh, demo.sh and check-consumer.sh.
RELEASE_BUILD_DIR="${GATEWAY_BUILD_DIR:-$REPO_ROOT/build}"

# Warnings are errors when GATEWAY_WERROR=ON is in the environment (.ci/run
# sets it); off by default so a newer compiler never breaks a local build.
GATEWAY_WERROR="${GATEWAY_WERROR:-OFF}"

# gateway_configure BUILD_DIR [cmake args...]
# Configures BUILD_DIR (with Ninja when the directory is new and ninja exists).
gateway_configure() {
  local dir="$1"; shift
  local generator=()
  if [[ ! -f "$dir/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  log "configure $dir (GATEWAY_WERROR=$GATEWAY_WERROR)"
  cmake -S "$REPO_ROOT" -B "$dir" "${generator[@]}" -DGATEWAY_WERROR="$GATEWAY_WERROR" "$@"
}

# gateway_build BUILD_DIR [cmake --build args...]
gateway_build() {
  local dir="$1"; shift
  log "build $dir (-j $JOBS)"
  cmake --build "$dir" -j "$JOBS" "$@"
}

# Configures and builds the whole Release tree (library, tests, examples, and
# the benchmarks once bench/ has a CMakeLists.txt).
gateway_build_release() {
  local bench=OFF
  [[ -f "$REPO_ROOT/bench/CMakeLists.txt" ]] && bench=ON
  gateway_configure "$RELEASE_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
    -DGATEWAY_BUILD_TESTS=ON -DGATEWAY_BUILD_EXAMPLES=ON -DGATEWAY_BUILD_BENCH="$bench" \
    -DGATEWAY_SANITIZE=OFF -DGATEWAY_TSAN=OFF -DGATEWAY_INSTALL=ON
  gateway_build "$RELEASE_BUILD_DIR" "$@"
}
