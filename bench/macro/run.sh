#!/usr/bin/env bash
# Macro benchmark: gatewayd, nginx and HAProxy as reverse proxies, one worker
# each, in front of the same one-worker nginx origin, all on 127.0.0.1. Prints
# a markdown report; docs/performance.md ("Macro benchmark") explains it.
#
#   bench/macro/run.sh [options]
#
# Options (the variable in brackets sets the same from the environment):
#   --rounds N        interleaved rounds per target and load     [ROUNDS, 3]
#   --duration SEC    length of each measured wrk run            [DURATION, 10]
#   --warmup SEC      unmeasured warm-up per target and load     [WARMUP, 2]
#   --conns "A B"     wrk connection counts                      [CONNS, "50 256"]
#   --idle N          idle keep-alive connections for the memory
#                     test; 0 skips it                           [IDLE_CONNS, 10000]
#   --no-features     skip the feature-cost section              [FEATURES=0]
#   --quick           smoke run: 1 round of 3 s, 1 s warm-up, 1000 idle connections
#   --no-pin          do not pin processes to CPUs               [PIN=0]
#   --no-install      do not apt-get install missing packages
#   --no-build        use the gatewayd already built in build/
#   --out FILE        where to write the report (default: build/macro-bench/<time>.md)
#   --keep            keep the work directory (configs, logs, raw wrk output)
#   --baseline BIN    also measure BIN, a gatewayd built from another commit,
#                     as target "gw-baseline" in the same interleaved rounds:
#                     before/after CPU per request in one run     [BASELINE]
#   -h, --help        this text
#
# Needs nginx, haproxy, wrk, python3 and the build dependencies; installs the
# missing ones with apt (through sudo when not root). Nothing listens beyond
# 127.0.0.1, every server gets its own config and prefix in a temporary
# directory (the system nginx and haproxy services are never used or touched;
# note that installing the packages on a systemd machine enables them), and
# every process this script starts is stopped when it exits, also on Ctrl-C.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"

MACRO_DIR="$REPO_ROOT/bench/macro"

# Built-in gatewayd filters for the feature-cost run, in pipeline order (names
# from FilterRegistry::WithBuiltins(); `gatewayd --check` rejects unknown ones).
# Add each new built-in here as it lands, e.g. rate limiting, metrics and access
# logging; a filter that needs settings also needs them in conf/gatewayd.yaml.
FEATURE_FILTERS=(
  request_id
  # A per-client limit that never refuses under this load: the cost of the
  # key lookup and the decision, and of the RateLimit response headers.
  "{rate_limit: {headers: ietf, rules: [{name: per-client, key: [client_ip], token_bucket: {rate: 100000000, per: 1s, burst: 100000000}}]}}"
)

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONNS="${CONNS:-50 256}"
IDLE_CONNS="${IDLE_CONNS:-10000}"
FEATURES="${FEATURES:-1}"
PIN="${PIN:-1}"
install=1
build=1
keep=0
out=""
BASELINE="${BASELINE:-}"

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift ;;
    --duration) DURATION="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --conns) CONNS="$2"; shift ;;
    --idle) IDLE_CONNS="$2"; shift ;;
    --no-features) FEATURES=0 ;;
    --quick) ROUNDS=1; DURATION=3; WARMUP=1; IDLE_CONNS=1000 ;;
    --no-pin) PIN=0 ;;
    --no-install) install=0 ;;
    --no-build) build=0 ;;
    --out) out="$2"; shift ;;
    --keep) keep=1 ;;
    --baseline) BASELINE="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done

# check_range WHAT VALUE MIN MAX: dies unless VALUE is an integer in [MIN, MAX].
check_range() {
  if [[ ! "$2" =~ ^[0-9]+$ ]] || (($2 < $3 || $2 > $4)); then
    die "$1: expected an integer from $3 to $4, got '$2'"
  fi
}
check_range --rounds "$ROUNDS" 1 100
check_range --duration "$DURATION" 1 3600
check_range --warmup "$WARMUP" 0 600
check_range --idle "$IDLE_CONNS" 0 100000
read -r -a conns_levels <<<"$CONNS"
((${#conns_levels[@]} > 0)) || die "--conns is empty"
for c in "${conns_levels[@]}"; do check_range --conns "$c" 1 10000; done

# ---------------------------------------------------------------- dependencies

if ((install)); then
  extra=(nginx haproxy)
  command -v python3 >/dev/null || extra+=(python3)
  command -v ps >/dev/null || extra+=(procps)
  # One apt run (and at most one apt-get update) for the build deps and these.
  "$REPO_ROOT/scripts/install-deps.sh" "${extra[@]}"
fi

# Debian puts nginx and haproxy in /usr/sbin, which a user's PATH may lack.
find_tool() { command -v "$1" 2>/dev/null || { [[ -x "/usr/sbin/$1" ]] && echo "/usr/sbin/$1"; }; }
NGINX="$(find_tool nginx)" || die "nginx not found (run without --no-install)"
HAPROXY="$(find_tool haproxy)" || die "haproxy not found (run without --no-install)"
WRK="$(find_tool wrk)" || die "wrk not found (run without --no-install)"
for tool in python3 curl ps taskset timeout; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

GATEWAYD="$RELEASE_BUILD_DIR/examples/gatewayd"
if ((build)); then
  # Only gatewayd: the tests and examples are not needed here.
  gateway_build_release --target gatewayd
fi
[[ -x "$GATEWAYD" ]] || die "$GATEWAYD not built (run without --no-build)"
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$RELEASE_BUILD_DIR/CMakeCache.txt")"
[[ "$build_type" == Release ]] || die "$RELEASE_BUILD_DIR is a '$build_type' build, not Release"

# ---------------------------------------------------------------- limits, CPUs

# The idle-connection test needs IDLE_CONNS descriptors in the client and as
# many in each proxy, plus a few hundred for the load and the upstream side.
# HAProxy would like two per connection (client and server side). Children
# inherit this limit; the proxies' configs get the same numbers.
need_fds=$((IDLE_CONNS + 2048))
want_fds=$((2 * IDLE_CONNS + 8192))
if (($(ulimit -Hn) < want_fds)); then
  ulimit -Hn "$want_fds" 2>/dev/null || true  # only root may raise the hard limit
fi
hard_fds="$(ulimit -Hn)"
if ((hard_fds < need_fds)); then
  IDLE_CONNS=$((hard_fds > 2048 ? hard_fds - 2048 : 0))
  log "hard limit on open files is $hard_fds: idle-connection test lowered to $IDLE_CONNS"
fi
ulimit -n "$((hard_fds < want_fds ? hard_fds : want_fds))"
nofile="$(ulimit -n)"
# Client connections each proxy accepts: room for the idle test plus the load.
max_conns=$((IDLE_CONNS + 4096))

# Pinning keeps the proxy from sharing a core with wrk: wrk needs about as much
# CPU as the proxy, and without pinning the scheduler moves them around, which
# makes latency and req/s noisier. CPU time per request does not depend on it.
ncpu="$(nproc)"
cpu_proxy="" cpu_proxy2="" cpu_upstream="" cpu_wrk="" cpu_wrk_direct="" layout="not pinned"
if ((PIN)) && ((ncpu >= 2)); then
  if ((ncpu >= 3)); then
    cpu_proxy=0 cpu_upstream=1 cpu_wrk=2 cpu_wrk_direct=2
    if ((ncpu >= 4)); then cpu_proxy2=0,3; else cpu_proxy2=0-2; fi
  else
    # Two cores: the proxy gets one, the origin and wrk share the other (each
    # needs about half of what the proxy does). The direct run gives wrk the
    # proxy's core instead.
    cpu_proxy=0 cpu_upstream=1 cpu_wrk=1 cpu_wrk_direct=0 cpu_proxy2=0-1
  fi
  layout="proxy on CPU $cpu_proxy"
  if ((FEATURES)); then layout+=" (2-worker gatewayd on $cpu_proxy2)"; fi
  layout+=", origin on CPU $cpu_upstream, wrk on CPU $cpu_wrk (direct run: CPU $cpu_wrk_direct)"
fi

# Runs "$@" in place of the calling (background) subshell, on CPUs $1 if set,
# so $! is the server's own PID.
exec_on() {
  local cpus="$1"; shift
  if [[ -n "$cpus" ]]; then exec taskset -c "$cpus" "$@"; else exec "$@"; fi
}

# ---------------------------------------------------------------- processes

work="$(mktemp -d "${TMPDIR:-/tmp}/gateway-macro.XXXXXX")"
started=()   # "pid:name" of every process started here, name from /proc/PID/comm
children=()  # nginx workers, "pid:name", stopped by their master but checked too
idle_pid=""

# True if PID still runs the program we started (PIDs can be reused).
alive() { [[ "$(cat "/proc/$1/comm" 2>/dev/null)" == "$2" ]]; }

cleanup() {
  local rc=$? entry pid name i
  trap - EXIT INT TERM
  if [[ -n "$idle_pid" ]]; then kill -KILL "$idle_pid" 2>/dev/null || true; fi
  for entry in "${started[@]}"; do
    pid="${entry%%:*}" name="${entry#*:}"
    if alive "$pid" "$name"; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for ((i = 0; i < 50; ++i)); do
    local left=0
    for entry in "${started[@]}" "${children[@]}"; do
      alive "${entry%%:*}" "${entry#*:}" && left=1
    done
    ((left)) || break
    sleep 0.1
  done
  for entry in "${started[@]}" "${children[@]}"; do
    pid="${entry%%:*}" name="${entry#*:}"
    if alive "$pid" "$name"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait 2>/dev/null || true
  if ((keep)) || ((rc != 0)); then
    printf 'work directory kept: %s\n' "$work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# render TEMPLATE OUT KEY=VALUE...: replaces each @KEY@ in TEMPLATE.
render() {
  local template="$1" dest="$2" kv script=()
  shift 2
  for kv in "$@"; do
    script+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${script[@]}" "$template" >"$dest"
  if grep -q '@[A-Z_]*@' "$dest"; then die "unfilled placeholder in $dest"; fi
}

# wait_ready NAME PID PORT: until PORT accepts and answers 200 with the body.
wait_ready() {
  local name="$1" pid="$2" port="$3" i
  for ((i = 0; i < 100; ++i)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$work/$name"/*.log >&2 2>/dev/null || true
      die "$name exited during start-up"
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      local got
      got="$(curl -fsS --max-time 5 "http://127.0.0.1:$port/" 2>&1)" \
        || die "$name: GET / failed: $got"
      [[ "$got" == "$BODY" ]] || die "$name: GET / returned an unexpected body: $got"
      return 0
    fi
    sleep 0.1
  done
  die "$name did not start listening on port $port within 10 s"
}

# workers_of PID: the child processes of PID (nginx workers).
workers_of() { ps -o pid= --ppid "$1" | tr -d ' ' | tr '\n' ' '; }

USER_LINE=""
# A root master would run its workers as "nobody"; keep them as this user.
if (($(id -u) == 0)); then USER_LINE="user $(id -un) $(id -gn);"; fi

# The origin's ~100-byte body.
BODY="gateway macro benchmark: a small response body of about one hundred bytes, served by nginx."

declare -A PORT PIDS WRK_CPU
upstream_worker=""

start_nginx() {  # NAME CPUS TEMPLATE KEY=VALUE...
  local name="$1" cpus="$2" template="$3"
  shift 3
  mkdir -p "$work/$name"
  render "$template" "$work/$name/nginx.conf" DIR="$work/$name" USER_LINE="$USER_LINE" \
    PORT="${PORT[$name]}" "$@"
  "$NGINX" -t -q -p "$work/$name" -e "$work/$name/error.log" -c "$work/$name/nginx.conf" \
    || die "$name: nginx rejected its config"
  exec_on "$cpus" "$NGINX" -p "$work/$name" -e "$work/$name/error.log" \
    -c "$work/$name/nginx.conf" >"$work/$name/stdout.log" 2>&1 &
  local pid=$!
  started+=("$pid:nginx")
  wait_ready "$name" "$pid" "${PORT[$name]}"
  local w workers
  workers="$(workers_of "$pid")"
  for w in $workers; do children+=("$w:nginx"); done
  PIDS[$name]="$pid $workers"
}

start_gatewayd() {  # NAME CPUS WORKERS FORWARDED VIA FILTERS [BINARY]
  local name="$1" cpus="$2" bin="${7:-$GATEWAYD}"
  mkdir -p "$work/$name"
  render "$MACRO_DIR/conf/gatewayd.yaml" "$work/$name/gatewayd.yaml" PORT="${PORT[$name]}" \
    UPSTREAM_PORT="${PORT[upstream]}" WORKERS="$3" FORWARDED="$4" VIA="$5" FILTERS="$6" \
    MAXCONN="$max_conns" IDLE="$IDLE_CONNS"
  "$bin" --check "$work/$name/gatewayd.yaml" >/dev/null || die "$name: config rejected"
  exec_on "$cpus" "$bin" "$work/$name/gatewayd.yaml" >"$work/$name/gatewayd.log" 2>&1 &
  local pid=$!
  started+=("$pid:gatewayd")
  wait_ready "$name" "$pid" "${PORT[$name]}"
  PIDS[$name]="$pid"
}

start_haproxy() {  # NAME CPUS
  local name="$1" cpus="$2"
  mkdir -p "$work/$name"
  render "$MACRO_DIR/conf/haproxy.cfg" "$work/$name/haproxy.cfg" PORT="${PORT[$name]}" \
    UPSTREAM_PORT="${PORT[upstream]}" MAXCONN="$max_conns" NOFILE="$nofile"
  "$HAPROXY" -c -q -f "$work/$name/haproxy.cfg" || die "$name: haproxy rejected its config"
  # -db: foreground, one process (no master), so $! is the process that works.
  exec_on "$cpus" "$HAPROXY" -db -f "$work/$name/haproxy.cfg" >"$work/$name/haproxy.log" 2>&1 &
  local pid=$!
  started+=("$pid:haproxy")
  wait_ready "$name" "$pid" "${PORT[$name]}"
  PIDS[$name]="$pid"
}

targets=(direct gatewayd nginx haproxy)
if [[ -n "$BASELINE" ]]; then
  [[ -x "$BASELINE" ]] || die "--baseline: $BASELINE is not an executable"
  targets+=(gw-baseline)
fi
feature_targets=()
if ((FEATURES)); then feature_targets=(gatewayd gw-chain gw-2w); fi

read -r -a ports <<<"$(free_ports 8)"
PORT[upstream]=${ports[0]} PORT[gatewayd]=${ports[1]} PORT[nginx]=${ports[2]}
PORT[haproxy]=${ports[3]} PORT[gw-chain]=${ports[4]} PORT[gw-2w]=${ports[5]}
status_port=${ports[6]} PORT[gw-baseline]=${ports[7]}

log "starting the origin and the proxies (work directory $work)"
mkdir -p "$work/upstream"
start_nginx upstream "$cpu_upstream" "$MACRO_DIR/conf/upstream-nginx.conf" BODY="$BODY" \
  STATUS_PORT="$status_port"
read -r -a up_workers <<<"$(workers_of "${PIDS[upstream]%% *}")"
((${#up_workers[@]} == 1)) || die "the origin should have one worker, has ${#up_workers[@]}"
upstream_worker="${up_workers[0]}"
PORT[direct]=${PORT[upstream]}
PIDS[direct]=""

start_gatewayd gatewayd "$cpu_proxy" 1 false "" ""
if [[ -n "$BASELINE" ]]; then
  start_gatewayd gw-baseline "$cpu_proxy" 1 false "" "" "$BASELINE"
fi
start_nginx nginx "$cpu_proxy" "$MACRO_DIR/conf/proxy-nginx.conf" \
  UPSTREAM_PORT="${PORT[upstream]}" MAXCONN="$((max_conns + 1024))" NOFILE="$nofile" \
  IDLE="$IDLE_CONNS"
start_haproxy haproxy "$cpu_proxy"
if ((FEATURES)); then
  filters="$(IFS=,; echo "${FEATURE_FILTERS[*]}")"
  start_gatewayd gw-chain "$cpu_proxy" 1 true gateway "${filters//,/, }"
  start_gatewayd gw-2w "$cpu_proxy2" 2 false "" ""
fi
for t in "${targets[@]}" "${feature_targets[@]}"; do WRK_CPU[$t]="$cpu_wrk"; done
WRK_CPU[direct]="$cpu_wrk_direct"

# ---------------------------------------------------------------- measuring

CLK_TCK="$(getconf CLK_TCK)"

# cpu_seconds PID...: user+system CPU time of the processes (all their threads).
cpu_seconds() {
  local pid total=0 stat fields
  for pid in "$@"; do
    stat="$(cat "/proc/$pid/stat")" || die "process $pid is gone"
    # Fields after the ")" that ends the command name: utime and stime are the
    # 12th and 13th (fields 14 and 15 of proc(5)).
    read -r -a fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12]))
  done
  awk -v t="$total" -v hz="$CLK_TCK" 'BEGIN { printf "%.3f", t / hz }'
}

# wait_seconds PID...: time the processes' threads spent runnable but waiting
# for a CPU (proc(5) schedstat), or "-" where the kernel does not report it. On
# a busy machine this, not the proxy, is what limits req/s.
wait_seconds() {
  local pid total=0 task stat
  for pid in "$@"; do
    for task in /proc/"$pid"/task/*; do
      stat="$(cat "$task/schedstat" 2>/dev/null)" || { echo -; return; }
      read -r -a stat <<<"$stat"
      total=$((total + stat[1]))
    done
  done
  awk -v t="$total" 'BEGIN { printf "%.3f", t / 1e9 }'
}

# delta A B: B - A, or "-" if either is unknown.
delta() {
  if [[ "$1" == - || "$2" == - ]]; then
    echo -
  else
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
  fi
}

# rss_kb PID...: summed resident set size.
rss_kb() {
  local pid total=0 kb
  for pid in "$@"; do
    kb="$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")" || die "process $pid is gone"
    total=$((total + kb))
  done
  echo "$total"
}

# upstream_accepts: connections the origin has accepted so far (this query's own
# included).
upstream_accepts() {
  curl -fsS --max-time 5 "http://127.0.0.1:$status_port/status" | awk 'NR == 3 { print $1 }'
}

wrk_run() {  # TARGET CONNS SECONDS OUTFILE
  local target="$1" conns="$2" seconds="$3" outfile="$4" cmd=()
  [[ -n "${WRK_CPU[$target]}" ]] && cmd=(taskset -c "${WRK_CPU[$target]}")
  # timeout bounds a wrk that hangs on a stuck server; --foreground keeps wrk in
  # our process group so Ctrl-C reaches it.
  timeout --foreground --kill-after=5 "$((seconds + 30))" \
    "${cmd[@]}" "$WRK" -t1 -c"$conns" -d"${seconds}s" --latency \
    "http://127.0.0.1:${PORT[$target]}/" >"$outfile" 2>&1 \
    || die "wrk against $target failed: $(cat "$outfile")"
}

# measure SECTION TARGET CONNS ROUND: one measured run, appended to runs.tsv.
measure() {
  local section="$1" target="$2" conns="$3" round="$4"
  local file="wrk-$section-$target-$conns-$round.txt"
  local -a pids
  read -r -a pids <<<"${PIDS[$target]}"
  local p0="-" p1="-" w0="-" w1="-" rss="-" u0 u1 a0 a1 t0 t1
  a0="$(upstream_accepts)"
  u0="$(cpu_seconds "$upstream_worker")"
  if ((${#pids[@]})); then
    p0="$(cpu_seconds "${pids[@]}")"
    w0="$(wait_seconds "${pids[@]}")"
  fi
  t0="$(date +%s.%N)"
  wrk_run "$target" "$conns" "$DURATION" "$work/$file"
  t1="$(date +%s.%N)"
  u1="$(cpu_seconds "$upstream_worker")"
  a1="$(upstream_accepts)"
  if ((${#pids[@]})); then
    p1="$(cpu_seconds "${pids[@]}")"
    w1="$(wait_seconds "${pids[@]}")"
    rss="$(rss_kb "${pids[@]}")"
  fi
  # Minus one: the first status query's own connection.
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$section" "$target" "$conns" \
    "$round" "$file" "$(delta "$p0" "$p1")" "$(delta "$u0" "$u1")" "$rss" "$((a1 - a0 - 1))" \
    "$(delta "$w0" "$w1")" "$(delta "$t0" "$t1")" >>"$work/runs.tsv"
  printf '    %-9s %4s conns round %s: %s\n' "$target" "$conns" "$round" \
    "$(awk '/Requests\/sec/ { print $2 " req/s" } /Non-2xx|Socket errors/ { printf " [%s]", $0 }' \
      "$work/$file")"
}

# section NAME TARGET...: warm-up, then ROUNDS interleaved rounds per load.
section() {
  local name="$1" conns target round
  shift
  for conns in "${conns_levels[@]}"; do
    log "$name: $conns connections, $ROUNDS rounds of ${DURATION}s over: $*"
    if ((WARMUP > 0)); then
      for target in "$@"; do wrk_run "$target" "$conns" "$WARMUP" "$work/warmup.txt"; done
    fi
    for ((round = 1; round <= ROUNDS; ++round)); do
      for target in "$@"; do measure "$name" "$target" "$conns" "$round"; done
    done
  done
}

# idle_test TARGET: memory per idle keep-alive connection, appended to idle.tsv.
idle_test() {
  local target="$1" status="$work/idle-$1.status" before after i state=""
  local -a pids
  read -r -a pids <<<"${PIDS[$target]}"
  sleep 1  # let connections from the previous test finish closing
  before="$(rss_kb "${pids[@]}")"
  rm -f "$status"
  python3 "$MACRO_DIR/idle_conns.py" 127.0.0.1 "${PORT[$target]}" "$IDLE_CONNS" "$status" \
    --hold 180 --timeout 120 2>"$work/idle-$target.err" &
  idle_pid=$!
  for ((i = 0; i < 1300; ++i)); do  # 130 s: just over the client's own --timeout
    [[ -s "$status" ]] && { state="$(head -n 1 "$status")"; break; }
    kill -0 "$idle_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ "$state" != ok* ]]; then
    kill -KILL "$idle_pid" 2>/dev/null || true
    wait "$idle_pid" 2>/dev/null || true
    idle_pid=""
    printf 'idle test %s\tfailed: %s %s\n' "$target" "${state:-no answer}" \
      "$(tr '\n' ' ' <"$work/idle-$target.err")" >>"$work/meta.txt"
    log "idle test $target failed: ${state:-no answer}"
    return 0
  fi
  sleep 2  # let the proxy finish any work started by the last requests
  after="$(rss_kb "${pids[@]}")"
  kill -USR1 "$idle_pid"
  wait "$idle_pid" || true
  idle_pid=""
  local still_open
  still_open="$(awk '/^open / { print $2 }' "$status")"
  printf '%s\t%s\t%s\t%s\t%s\n' "$target" "$IDLE_CONNS" "$before" "$after" "${still_open:-0}" \
    >>"$work/idle.tsv"
  log "idle test $target: RSS $before kB -> $after kB with $IDLE_CONNS connections" \
    "(${still_open:-0} still open)"
}

cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
{
  printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf 'commit\t%s\n' \
    "$(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
  printf 'machine\t%s CPUs (nproc), %s, Linux %s\n' "$ncpu" "$cpu_model" "$(uname -r)"
  printf 'load average at start\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'versions\t%s; %s; %s\n' "$("$NGINX" -v 2>&1)" \
    "$("$HAPROXY" -v | head -n 1 | cut -d' ' -f1-3)" \
    "$("$WRK" --version 2>&1 | head -n 1 | cut -d' ' -f1-2)"
  printf 'load\twrk -t1 --latency at %s connections, %s interleaved rounds of %s s' \
    "${CONNS// /, }" "$ROUNDS" "$DURATION"
  printf ' (after %s s warm-up per target), medians\n' "$WARMUP"
  printf 'pinning\t%s\n' "$layout"
} >"$work/meta.txt"

section compare "${targets[@]}"
if ((FEATURES)); then section features "${feature_targets[@]}"; fi
if ((IDLE_CONNS > 0)); then
  for t in gatewayd nginx haproxy; do idle_test "$t"; done
fi
printf 'load average at end\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$work/meta.txt"

if [[ -z "$out" ]]; then
  mkdir -p "$RELEASE_BUILD_DIR/macro-bench"
  out="$RELEASE_BUILD_DIR/macro-bench/$(date '+%Y%m%d-%H%M%S').md"
fi
python3 "$MACRO_DIR/report.py" "$work" >"$out"
echo
cat "$out"
echo
log "report written to $out"
