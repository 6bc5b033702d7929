#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/*_fuzz.cc) with clang-14, ASan and
# UBSan into build-fuzz/, then runs each for FUZZ_SECONDS (default 60) and
# fails on the first crash, leak, timeout or out-of-memory input.
#
#   ./scripts/fuzz.sh                 # every target, 60 s each (what CI runs)
#   FUZZ_SECONDS=10 ./scripts/fuzz.sh redis_reply_fuzz
#
# Each target keeps the inputs it found in build-fuzz/corpus/<target> (reused
# by the next run on the same machine) and also reads tests/fuzz/corpus/<target>
# as seeds, and tests/fuzz/<target>.dict as a dictionary, when they exist. A
# crashing input is written to build-fuzz/artifacts/ and its path printed;
# reproduce with
#   build-fuzz/tests/fuzz/<target> <input>
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set -euo pipefail

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
BUILD_DIR="$REPO_ROOT/build-fuzz"

"$REPO_ROOT/scripts/install-deps.sh"
command -v clang++-14 >/dev/null || die "clang++-14 not found (scripts/install-deps.sh installs it)"

targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  for source in "$REPO_ROOT"/tests/fuzz/*_fuzz.cc; do
    targets+=("$(basename "$source" .cc)")
  done
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets in tests/fuzz"

CC=clang-14 CXX=clang++-14 gateway_configure "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGATEWAY_BUILD_FUZZ=ON -DGATEWAY_BUILD_TESTS=OFF -DGATEWAY_BUILD_EXAMPLES=OFF \
  -DGATEWAY_BUILD_BENCH=OFF -DGATEWAY_SANITIZE=OFF -DGATEWAY_TSAN=OFF
build_args=()
for t in "${targets[@]}"; do build_args+=(--target "$t"); done
gateway_build "$BUILD_DIR" "${build_args[@]}"

mkdir -p "$BUILD_DIR/artifacts"
failed=()
for t in "${targets[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  mkdir -p "$corpus"
  dirs=("$corpus")
  [[ -d "$REPO_ROOT/tests/fuzz/corpus/$t" ]] && dirs+=("$REPO_ROOT/tests/fuzz/corpus/$t")
  # The example configs are the config loader's seeds.
  [[ "$t" == config_fuzz ]] && dirs+=("$REPO_ROOT/examples/gatewayd")
  dict=()
  [[ -f "$REPO_ROOT/tests/fuzz/$t.dict" ]] && dict=(-dict="$REPO_ROOT/tests/fuzz/$t.dict")
  log "fuzz $t for ${FUZZ_SECONDS}s"
  if ! "$BUILD_DIR/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$t-" \
      "${dict[@]}" "${dirs[@]}" >"$BUILD_DIR/$t.log" 2>&1; then
    tail -n 60 "$BUILD_DIR/$t.log" >&2
    failed+=("$t")
    continue
  fi
  grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$BUILD_DIR/$t.log" || true
done

if [[ ${#failed[@]} -gt 0 ]]; then
  die "fuzz targets failed: ${failed[*]} (inputs in $BUILD_DIR/artifacts/)"
fi
log "fuzz: ${#targets[@]} targets ran ${FUZZ_SECONDS}s each without a finding"
