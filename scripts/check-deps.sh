#!/usr/bin/env bash
# Fails when a lib/ component includes the header of a component that lib/DEPS
# does not allow it to, or when a directory under lib/ is missing from
# lib/DEPS. Only quoted includes of the form "component/header.h" count;
# public "gateway/..." headers are open to every component.
#
#   ./scripts/check-deps.sh          # prints every violation, exit 1 if any
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
set -euo pipefail

deps_file="$REPO_ROOT/lib/DEPS"
declare -A allowed=()
while IFS= read -r line; do
  line="${line%%#*}"
  [[ "$line" =~ ^[[:space:]]*$ ]] && continue
  [[ "$line" =~ ^([a-z_0-9]+):(.*)$ ]] || die "lib/DEPS: cannot read line: $line"
  allowed["${BASH_REMATCH[1]}"]=" $(echo ${BASH_REMATCH[2]}) "
done <"$deps_file"

components=()
for dir in "$REPO_ROOT"/lib/*/; do components+=("$(basename "$dir")"); done
is_component() {
  local c
  for c in "${components[@]}"; do [[ "$c" == "$1" ]] && return 0; done
  return 1
}

violations=0
for c in "${components[@]}"; do
  if [[ -z "${allowed[$c]+set}" ]]; then
    echo "lib/$c: not in lib/DEPS (add a line \"$c: <components it may include>\")"
    violations=$((violations + 1))
    continue
  fi
  while IFS= read -r hit; do
    [[ -z "$hit" ]] && continue
    file="${hit%%:*}"
    rest="${hit#*:}"
    lineno="${rest%%:*}"
    target="$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]+"([a-z_0-9]+)\/.*/\1/' <<<"${rest#*:}")"
    [[ "$target" == "$c" || "$target" == "gateway" ]] && continue
    is_component "$target" || continue
    if [[ "${allowed[$c]}" != *" $target "* ]]; then
      echo "${file#"$REPO_ROOT"/}:$lineno: $c may not include $target/ (lib/DEPS: $c:${allowed[$c]% })"
      violations=$((violations + 1))
    fi
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[a-z_0-9]+/' "$REPO_ROOT/lib/$c" || true)
done

if [[ $violations -gt 0 ]]; then
  die "$violations include(s) outside the graph in lib/DEPS"
fi
log "check-deps: ${#components[@]} components include only what lib/DEPS allows"
