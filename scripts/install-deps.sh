#!/usr/bin/env bash
# Installs the build, test and demo dependencies from Debian 12 apt.
# Idempotent: does nothing (not even `apt-get update`) when everything is present.
#
#   ./scripts/install-deps.sh [EXTRA_PACKAGE...]
#
# Extra packages (bench/macro/run.sh passes nginx and haproxy) are installed in
# the same apt run, so apt-get update runs at most once.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libuv1-dev node-llhttp libabsl-dev libssl-dev libfmt-dev catch2 libre2-dev
  libyaml-cpp-dev libhiredis-dev libbenchmark-dev redis-server
  curl wrk
  clang-14 libclang-rt-14-dev clang-tidy-14 clang-format-14
  "$@"
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

if [[ "$(id -u)" -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: not running as root and sudo is not available; install them as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
