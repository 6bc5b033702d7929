#!/usr/bin/env bash
# Streams 1 GiB through gatewayd in each direction (Content-Length upload,
# chunked upload, download) against a loopback upstream, and prints gatewayd's
# peak RSS before and after. Everything runs on 127.0.0.1 and stops by itself.
#
#   ./scripts/stream-check.sh            (needs a Release build in build/)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

GATEWAYD="$RELEASE_BUILD_DIR/examples/gatewayd"
[[ -x "$GATEWAYD" ]] || die "build gatewayd first (./scripts/test.sh builds it)"
command -v curl >/dev/null || die "curl is required"

work="$(mktemp -d)"
up_pid=""; gw_pid=""
cleanup() {
  [[ -n "$gw_pid" ]] && kill "$gw_pid" 2>/dev/null || true
  [[ -n "$up_pid" ]] && kill "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/stream.yaml" <<YAML
listeners:
  - {address: 127.0.0.1, port: 18090}
workers: 1
server:
  limits: {max_body_bytes: 4294967296}
clusters:
  - name: big
    endpoints:
      - {address: 127.0.0.1, port: 19201}
routes:
  - name: all
    match: {prefix: /}
    cluster: big
    timeout: 600s
    upstream_timeouts: {response_headers: 60s}
YAML
truncate -s 1G "$work/body"

python3 "$REPO_ROOT/scripts/stream_upstream.py" 19201 20 & up_pid=$!
"$GATEWAYD" "$work/stream.yaml" & gw_pid=$!
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/19201) 2>/dev/null && (exec 3<>/dev/tcp/127.0.0.1/18090) 2>/dev/null && break
  sleep 0.1
done

hwm() { awk '/VmHWM/ {print $2 " kB"}' "/proc/$gw_pid/status"; }
log "gatewayd peak RSS before: $(hwm)"
curl -s -X POST -T "$work/body" -H "Expect:" -o /dev/null \
  -w "upload (Content-Length): %{http_code} %{size_upload} bytes in %{time_total}s\n" \
  localhost:18090/upload
curl -s -X POST -T "$work/body" -H "Transfer-Encoding: chunked" -H "Expect:" -o /dev/null \
  -w "upload (chunked): %{http_code} %{size_upload} bytes on the wire in %{time_total}s\n" \
  localhost:18090/upload
curl -s -o /dev/null -w "download: %{http_code} %{size_download} bytes in %{time_total}s\n" \
  "localhost:18090/download?bytes=1073741824"
log "gatewayd peak RSS after:  $(hwm)"
