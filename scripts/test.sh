#!/usr/bin/env bash
# Installs the dependencies, builds the whole tree and runs the test suite.
#
#   ./scripts/test.sh              Release build in build/
#   ./scripts/test.sh --sanitize   ASan + UBSan build in build-asan/
#   ./scripts/test.sh --tsan       ThreadSanitizer build in build-tsan/
#
#   --target T                     build only target T (repeatable; default: all)
# Extra arguments after `--` go to ctest (e.g. `-- -R router`).
# Environment: JOBS (build parallelism, default: cores), CTEST_JOBS (default 2).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

mode=release
ctest_args=()
build_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --sanitize) mode=asan ;;
    --tsan) mode=tsan ;;
    --target) shift; build_args+=(--target "$1") ;;
    --) shift; ctest_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

"$REPO_ROOT/scripts/install-deps.sh"

case "$mode" in
  release)
    dir="$RELEASE_BUILD_DIR"
    gateway_build_release "${build_args[@]}"
    ;;
  asan)
    dir="$REPO_ROOT/build-asan"
    # Debug keeps assertions on; -O1 keeps sanitized tests fast.
    gateway_configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
      -DGATEWAY_BUILD_TESTS=ON -DGATEWAY_BUILD_EXAMPLES=ON -DGATEWAY_BUILD_BENCH=OFF \
      -DGATEWAY_SANITIZE=ON -DGATEWAY_TSAN=OFF
    gateway_build "$dir" "${build_args[@]}"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    ;;
  tsan)
    dir="$REPO_ROOT/build-tsan"
    gateway_configure "$dir" -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
      -DGATEWAY_BUILD_TESTS=ON -DGATEWAY_BUILD_EXAMPLES=ON -DGATEWAY_BUILD_BENCH=OFF \
      -DGATEWAY_SANITIZE=OFF -DGATEWAY_TSAN=ON
    gateway_build "$dir" "${build_args[@]}"
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
    ;;
esac

log "ctest ($mode) in $dir"
ctest --test-dir "$dir" --output-on-failure -j "${CTEST_JOBS:-2}" "${ctest_args[@]}"
log "all tests passed ($mode)"
