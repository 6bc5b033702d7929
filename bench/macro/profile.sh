#!/usr/bin/env bash
# Deterministic per-request costs of gatewayd, for optimisation work where
# bench/macro/run.sh's CPU ratios are too noisy to see a few percent.
#
#   bench/macro/profile.sh callgrind [CONNS]   instructions per proxied request
#   bench/macro/profile.sh strace [CONNS]      syscalls per proxied request, by name
#   bench/macro/profile.sh idle [N]            KiB of RSS per idle keep-alive connection
#   bench/macro/profile.sh cpu [CONNS]         user and system CPU per request under wrk
#
# Uses the same origin (nginx, ~100-byte body) and gatewayd config as run.sh,
# with the gatewayd already built in build/ (GATEWAY_BUILD_DIR). The load is
# bench/macro/fixed_load.py: a fixed number of keep-alive GETs over CONNS
# connections (default 50). callgrind and strace run the load twice, with 2 000
# and 6 000 requests, and divide the difference by 4 000, so start-up and
# connection set-up cancel out (strace attaches to a warmed-up gatewayd). KEEP=1 keeps the work directory (callgrind
# output for callgrind_annotate). FILTERS, FORWARDED and VIA fill the same
# slots of conf/gatewayd.yaml as run.sh does, e.g. the feature chain:
#   FORWARDED=true VIA=gateway FILTERS='request_id, {rate_limit: {...}}' bench/macro/profile.sh callgrind
# CALLGRIND_OPTS adds valgrind options, e.g. --cache-sim=yes (then simulated
# cache misses per request are printed too). PROXY=nginx or PROXY=haproxy
# measures that proxy instead, with run.sh's configs (nginx without its master
# process), as a yardstick for the same load.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

MACRO_DIR="$REPO_ROOT/bench/macro"
mode="${1:-callgrind}"
arg="${2:-}"
GATEWAYD="$RELEASE_BUILD_DIR/examples/gatewayd"
[[ -x "$GATEWAYD" ]] || die "$GATEWAYD not built"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
BODY="gateway macro benchmark: a small response body of about one hundred bytes, served by nginx."

work="$(mktemp -d)"
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ "${KEEP:-0}" == 1 ]]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

read -r up_port st_port gw_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')

render() {  # TEMPLATE OUT KEY=VALUE...
  local template="$1" dest="$2" kv script=()
  shift 2
  for kv in "$@"; do script+=(-e "s|@${kv%%=*}@|${kv#*=}|g"); done
  sed "${script[@]}" "$template" >"$dest"
}

wait_port() {
  local i
  for ((i = 0; i < 300; ++i)); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "nothing listens on $1"
}

user_line=""
if (($(id -u) == 0)); then user_line="user $(id -un) $(id -gn);"; fi
mkdir -p "$work/upstream"
render "$MACRO_DIR/conf/upstream-nginx.conf" "$work/upstream/nginx.conf" DIR="$work/upstream" \
  USER_LINE="$user_line" PORT="$up_port" STATUS_PORT="$st_port" BODY="$BODY"
"$NGINX" -p "$work/upstream" -e "$work/upstream/error.log" -c "$work/upstream/nginx.conf" \
  >/dev/null 2>&1 &
pids+=($!)
wait_port "$up_port"

render "$MACRO_DIR/conf/gatewayd.yaml" "$work/gatewayd.yaml" PORT="$gw_port" \
  UPSTREAM_PORT="$up_port" WORKERS=1 FORWARDED="${FORWARDED:-false}" VIA="${VIA:-}" \
  FILTERS="${FILTERS:-}" MAXCONN=20000 IDLE=10000

proxy="${PROXY:-gatewayd}"
case "$proxy" in
  gatewayd) proxy_cmd=("$GATEWAYD" "$work/gatewayd.yaml") ;;
  nginx)
    mkdir -p "$work/proxy"
    render "$MACRO_DIR/conf/proxy-nginx.conf" "$work/proxy/nginx.conf" DIR="$work/proxy" \
      USER_LINE="$user_line" PORT="$gw_port" UPSTREAM_PORT="$up_port" MAXCONN=2000 \
      NOFILE=4096
    proxy_cmd=("$NGINX" -p "$work/proxy" -e "$work/proxy/error.log" -c "$work/proxy/nginx.conf"
      -g "master_process off;")
    ;;
  haproxy)
    HAPROXY="$(command -v haproxy || echo /usr/sbin/haproxy)"
    render "$MACRO_DIR/conf/haproxy.cfg" "$work/haproxy.cfg" PORT="$gw_port" \
      UPSTREAM_PORT="$up_port" MAXCONN=2000 NOFILE=4096
    proxy_cmd=("$HAPROXY" -db -f "$work/haproxy.cfg")
    ;;
  *) die "PROXY must be gatewayd, nginx or haproxy, not $proxy" ;;
esac

# run_gatewayd PREFIX... : starts the proxy under PREFIX, waits until it listens.
run_gatewayd() {
  "$@" "${proxy_cmd[@]}" >"$work/gatewayd.log" 2>&1 &
  gw_pid=$!
  wait_port "$gw_port"
}
stop_gatewayd() {
  # HAProxy under valgrind ignores SIGINT; SIGTERM is its immediate stop too.
  if [[ "$proxy" == haproxy ]]; then kill -TERM "$gw_pid"; else kill -INT "$gw_pid"; fi
  wait "$gw_pid" 2>/dev/null || true
}
load() { python3 "$MACRO_DIR/fixed_load.py" 127.0.0.1 "$gw_port" "$1" "$2" >/dev/null; }

conns="${arg:-50}"
case "$mode" in
  callgrind)
    declare -A ir
    for n in 2000 6000; do
      # shellcheck disable=SC2086  # CALLGRIND_OPTS is a list of options
      run_gatewayd valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.$n" -q \
        ${CALLGRIND_OPTS:-}
      load "$conns" "$n"
      stop_gatewayd
      ir[$n]="$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$work/callgrind.$n")"
    done
    echo "instructions per request ($conns connections): $(((${ir[6000]} - ${ir[2000]}) / 4000))"
    if [[ "${CALLGRIND_OPTS:-}" == *cache-sim=yes* ]]; then
      # The summary line holds every event: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
      read -r -a s2 < <(sed -n 's/^summary: //p' "$work/callgrind.2000")
      read -r -a s6 < <(sed -n 's/^summary: //p' "$work/callgrind.6000")
      names=(Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw)
      for i in "${!names[@]}"; do
        printf '%s %s per request\n' "${names[$i]}" "$(((${s6[$i]} - ${s2[$i]}) / 4000))"
      done
    fi
    callgrind_annotate --inclusive=no "$work/callgrind.6000" 2>/dev/null | sed -n '1,60p' \
      | grep -v '^$' | tail -n +12 | head -n 40
    ;;
  strace)
    run_gatewayd
    load "$conns" 100
    for n in 2000 6000; do
      # Attached to the running process: the counts cover the load only.
      strace -f -c -o "$work/strace.$n" -p "$gw_pid" 2>/dev/null &
      strace_pid=$!
      sleep 1
      load "$conns" "$n"
      kill -INT "$strace_pid"
      wait "$strace_pid" || true
    done
    stop_gatewayd
    python3 - "$work/strace.2000" "$work/strace.6000" <<'EOF'
import re, sys
def calls(path):
    out = {}
    for line in open(path):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            n = int(f[3])
            errors = int(f[4]) if len(f) == 6 else 0
            out[f[-1]] = (n, errors)
    return out
a, b = calls(sys.argv[1]), calls(sys.argv[2])
total = 0.0
for name in sorted(b, key=lambda k: -b[k][0]):
    n = (b[name][0] - a.get(name, (0, 0))[0]) / 4000
    e = (b[name][1] - a.get(name, (0, 0))[1]) / 4000
    if n >= 0.01:
        total += n
        print(f"{name:16} {n:6.2f}  (errors {e:.2f})")
print(f"{'total':16} {total:6.2f} syscalls per request")
EOF
    ;;
  idle)
    n="${arg:-2000}"
    ulimit -n $((n + 1024)) 2>/dev/null || true
    run_gatewayd
    load 1 10
    rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$gw_pid/status"; }
    before="$(rss)"
    python3 "$MACRO_DIR/idle_conns.py" 127.0.0.1 "$gw_port" "$n" "$work/idle.status" --hold 30 &
    idle_pid=$!
    for ((i = 0; i < 300; ++i)); do
      [[ -s "$work/idle.status" ]] && break
      sleep 0.1
    done
    sleep 2  # as run.sh: connections free their codec after a second idle
    after="$(rss)"
    kill -USR1 "$idle_pid" 2>/dev/null || true
    wait "$idle_pid" 2>/dev/null || true
    echo "$(cat "$work/idle.status" | head -n 1); RSS $before -> $after KiB:" \
      "$(python3 -c "print(f'{($after - $before) / $n:.2f}')") KiB per idle connection"
    stop_gatewayd
    ;;
  cpu)
    # User and system CPU per request under wrk (closed loop, 8 s after a 2 s
    # warm-up), the proxy on CPU 0 and wrk on CPU 1 when there are two.
    command -v wrk >/dev/null || die "wrk not found"
    pin_proxy=() pin_load=()
    if (($(nproc) >= 2)); then pin_proxy=(taskset -c 0) pin_load=(taskset -c 1); fi
    run_gatewayd "${pin_proxy[@]}"
    ticks() { local s f; s="$(cat "/proc/$gw_pid/stat")"; read -r -a f <<<"${s##*) }"; echo "${f[11]} ${f[12]}"; }
    "${pin_load[@]}" wrk -t1 -c"$conns" -d2s "http://127.0.0.1:$gw_port/" >/dev/null
    read -r u0 s0 < <(ticks)
    requests="$("${pin_load[@]}" wrk -t1 -c"$conns" -d8s "http://127.0.0.1:$gw_port/" |
      awk '/requests in/ { print $1 }')"
    read -r u1 s1 < <(ticks)
    stop_gatewayd
    python3 -c "
n, hz = $requests, $(getconf CLK_TCK)
user, system = ($u1 - $u0) / hz / n * 1e6, ($s1 - $s0) / hz / n * 1e6
print(f'$proxy, $conns connections, {n} requests: user {user:.2f} + system {system:.2f}'
      f' = {user + system:.2f} us of CPU per request ({system / (user + system):.0%} system)')"
    ;;
  *) die "unknown mode '$mode' (callgrind, strace, idle or cpu)" ;;
esac
