#!/usr/bin/env bash
# Static checks: clang-format on the files given (or the files changed
# against a base), clang-tidy (.clang-tidy) on lib/.
#
#   ./scripts/lint.sh format FILE...          # clang-format check of FILEs
#   ./scripts/lint.sh format --changed [BASE] # files changed since BASE (main)
#   ./scripts/lint.sh format --all            # every tracked .cc/.h (CI runs this)
#   ./scripts/lint.sh tidy [FILE...]          # clang-tidy on lib/ (or FILEs), using
#                                             # build/compile_commands.json
#   ./scripts/lint.sh                         # format --changed, then tidy
#
# The whole tree is formatted: any check fails when a file would change.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set -euo pipefail

CLANG_FORMAT="${CLANG_FORMAT:-clang-format-14}"
CLANG_TIDY_RUNNER="${CLANG_TIDY_RUNNER:-run-clang-tidy-14}"

source_files() { grep -E '\.(cc|h)$' | while read -r f; do [[ -f "$f" ]] && echo "$f"; done; true; }

format_check() {
  local files=()
  case "${1:-}" in
    --all)
      mapfile -t files < <(git ls-files | source_files)
      ;;
    --changed)
      local base="${2:-main}"
      mapfile -t files < <({ git diff --name-only "$base"...HEAD; git diff --name-only HEAD;
                             git ls-files --others --exclude-standard; } | sort -u | source_files)
      ;;
    *) files=("$@") ;;
  esac
  command -v "$CLANG_FORMAT" >/dev/null || die "$CLANG_FORMAT not found (scripts/install-deps.sh)"
  local bad=()
  for f in "${files[@]}"; do
    "$CLANG_FORMAT" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [[ ${#bad[@]} -gt 0 ]]; then
    for f in "${bad[@]}"; do echo "not formatted: $f (fix: $CLANG_FORMAT -i $f)"; done
    die "format: ${#bad[@]} of ${#files[@]} files"
  fi
  log "format: ${#files[@]} files ok"
}

tidy_check() {
  local db="$RELEASE_BUILD_DIR/compile_commands.json"
  [[ -f "$db" ]] || die "$db missing: configure the Release build first (scripts/test.sh does)"
  command -v "$CLANG_TIDY_RUNNER" >/dev/null || die "$CLANG_TIDY_RUNNER not found (scripts/install-deps.sh)"
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=("$REPO_ROOT/lib/")
  log "clang-tidy on ${targets[*]} (-j $JOBS)"
  # The database holds gcc's flags; clang must not fail on gcc-only warnings.
  "$CLANG_TIDY_RUNNER" -p "$RELEASE_BUILD_DIR" -j "$JOBS" -quiet \
    -extra-arg=-Wno-unknown-warning-option "${targets[@]}"
}

case "${1:-}" in
  format) shift; format_check "$@" ;;
  tidy) shift; tidy_check "$@" ;;
  "") format_check --changed; tidy_check ;;
  *) die "usage: $0 [format FILE...|format --changed [BASE]|format --all|tidy [FILE...]]" ;;
esac
