#!/usr/bin/env bash
# Measures plezi's examples/shootout and the peer servers in one run, with plezi-load, and prints a table
# with ratios against plezi. Benchmarks only; never part of CI's test path.
#
#   benches/run-peers.sh [SERVER...]        default servers: plezi node-ws uws tokio-tungstenite
#                                           also: plezi-before (the build named by SHOOTOUT_BEFORE),
#                                           plezi-deflate and uws-shared: the same servers with clients
#                                           that offer permessage-deflate (`plezi-load --deflate on`),
#                                           uWS with its shared compressor (COMPRESSION=shared)
#
# Environment (defaults in brackets):
#   SCENARIOS  [broadcast-1k broadcast-5k echo-500 idle-10k]  also: idle-N, broadcast-N, echo-N
#   DURATION   [10]   measurement window per run, seconds (plus 2 s warm-up)
#   PAYLOAD    [64]   payload characters per broadcast/echo message (words, see benches/src/shootout.rs)
#   RT         [1]    run server and tool under SCHED_FIFO (chrt -f 10) so other processes on this shared
#                     2-core machine cannot take their cores mid-run (without it a busy machine leaves the
#                     server 20-30% of its core and throughput/latency mean nothing); RT=0: normal priority.
#                     With RT=1 the kernel's RT throttling (sched_rt_runtime_us, 950 ms per second) is lifted
#                     for the duration of the run and restored on exit: otherwise a saturated server is
#                     stopped for 50 ms every second, which shows up as a 50-70 ms latency tail.
#   OUT        [$TARGET/bench-results/peers-DATE.jsonl]  JSON lines of every run
#   CARGO_TARGET_DIR [target/bench]
#   LOAD       [$TARGET/release/plezi-load, built from this tree]  another build of the load tool
#   SHOOTOUT   [$TARGET/release/examples/shootout, built from this tree]  another build of plezi's example
#   SHOOTOUT_BEFORE []  another build of the example, run as server "plezi-before": a before/after
#                       comparison of two builds in one run, e.g. `SHOOTOUT_BEFORE=... run-peers.sh plezi-before plezi`
#
# The server runs pinned to core 0 and plezi-load to core 1. Every server is started fresh for each
# scenario (so idle memory starts from a clean process) and stopped with SIGTERM afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
duration="${DURATION:-10}"
scenarios="${SCENARIOS:-broadcast-1k broadcast-5k echo-500 idle-10k}"
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(plezi node-ws uws tokio-tungstenite)
mkdir -p "$target/bench-results"
out="${OUT:-$target/bench-results/peers-$(date +%Y%m%d-%H%M%S).jsonl}"
source benches/lib.sh
use_rt run-peers
port=3700
load="${LOAD:-$target/release/plezi-load}"
ulimit -n "$(ulimit -Hn)"

log() { echo "run-peers: $*" >&2; }

# --- build what is missing ---------------------------------------------------------------------------
[ -n "${LOAD:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-load
for s in "${servers[@]}"; do
  case "$s" in
    plezi) [ -n "${SHOOTOUT:-}" ] || cargo build --release --quiet --example shootout ;;
    plezi-before) [ -x "${SHOOTOUT_BEFORE:-}" ] || { log "plezi-before needs SHOOTOUT_BEFORE, a built shootout example"; exit 2; } ;;
    node-ws) [ -d benches/peers/node-ws/node_modules/ws ] || (cd benches/peers/node-ws && npm install --no-audit --no-fund --silent) ;;
    uws | uws-shared) benches/peers/uws/setup.sh > /dev/null ;;
    plezi-deflate) [ -n "${SHOOTOUT:-}" ] || cargo build --release --quiet --example shootout ;;
    tokio-tungstenite)
      CARGO_TARGET_DIR="$target/peers" cargo build --release --quiet \
        --manifest-path benches/peers/tokio-tungstenite/Cargo.toml ;;
    *) log "unknown server $s (plezi, plezi-before, plezi-deflate, node-ws, uws, uws-shared, tokio-tungstenite)"; exit 2 ;;
  esac
done

# --- one server process ------------------------------------------------------------------------------
# start_server NAME PORT: starts it pinned to core 0, sets $server_pid, waits until it accepts.
start_server() {
  local name="$1" p="$2" cmd
  case "$name" in
    plezi | plezi-deflate) cmd=("${SHOOTOUT:-$target/release/examples/shootout}") ;;
    plezi-before) cmd=("$SHOOTOUT_BEFORE") ;;
    node-ws) cmd=(node "$repo/benches/peers/node-ws/server.js") ;;
    uws) cmd=("$repo/benches/peers/uws/run.sh") ;;
    uws-shared) cmd=(env COMPRESSION=shared "$repo/benches/peers/uws/run.sh") ;;
    tokio-tungstenite) cmd=("$target/peers/release/peer-tokio-tungstenite") ;;
  esac
  # run.sh execs the loader, so the PID is still the server's own.
  launch_server "$name" "$p" "${cmd[@]}"
}

# count N: 1k -> 1000
count() { local n="${1%k}"; [ "$n" != "$1" ] && echo $((n * 1000)) || echo "$n"; }

# --- the runs ---------------------------------------------------------------------------------------
log "results: $out (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for sc in $scenarios; do
  kind="${sc%%-*}" n="$(count "${sc#*-}")"
  case "$kind" in
    broadcast) args=(broadcast --clients "$n" --duration "$duration" --payload "${PAYLOAD:-64}") ; limit=$((duration + 120)) ;;
    echo) args=(echo --clients "$n" --duration "$duration" --payload "${PAYLOAD:-64}") ; limit=$((duration + 120)) ;;
    idle) args=(idle --connections "$n") ; limit=180 ;;
    *) log "unknown scenario $sc"; exit 2 ;;
  esac
  for s in "${servers[@]}"; do
    port=$((port + 1))
    start_server "$s" "$port" || continue
    log "$sc on $s (pid $server_pid)"
    deflate=off
    case "$s" in plezi-deflate | uws-shared) deflate=on ;; esac
    if ! timeout "$limit" taskset -c 1 "${rt[@]}" "$load" "${args[@]}" --url "ws://127.0.0.1:$port/ws" --deflate "$deflate" \
      --server-pid "$server_pid" --label "$s" > "$target/bench-results/last.txt"; then
      log "$sc on $s failed"
    fi
    cat "$target/bench-results/last.txt" >&2
    grep '^{' "$target/bench-results/last.txt" >> "$out" || true
    stop_server
  done
done

# --- the table --------------------------------------------------------------------------------------
python3 - "$out" << 'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
metrics = {
    "broadcast": [("deliveries/s", "deliveries_per_s", "{:,.0f}", +1),
                  ("server CPU µs/delivery", "server_cpu_us_per_delivery", "{:.2f}", -1),
                  ("bytes on the wire per delivery", "wire_bytes_per_delivery", "{:.1f}", -1),
                  ("latency p50 ms", "latency_p50_ms", "{:.1f}", -1),
                  ("latency p99 ms", "latency_p99_ms", "{:.1f}", -1),
                  ("client CPU %", "client_cpu_pct", "{:.0f}", 0)],
    "echo": [("round trips/s", "round_trips_per_s", "{:,.0f}", +1),
             ("server CPU µs/round trip", "server_cpu_us_per_round_trip", "{:.2f}", -1),
             ("latency p50 ms", "latency_p50_ms", "{:.2f}", -1),
             ("latency p99 ms", "latency_p99_ms", "{:.2f}", -1),
             ("client CPU %", "client_cpu_pct", "{:.0f}", 0)],
    "idle": [("RSS per connection KiB", "rss_per_conn_kib", "{:.2f}", -1)],
}
groups = {}
for r in rows:
    size = r.get("clients", r.get("connections"))
    groups.setdefault((r["scenario"], size), {})[r["label"]] = r
labels = []
for r in rows:
    if r["label"] not in labels:
        labels.append(r["label"])
base = "plezi" if "plezi" in labels else labels[0]
print(f"\n| scenario | figure | " + " | ".join(labels) + " | " + " | ".join(f"{l}/{base}" for l in labels if l != base) + " |")
print("|---" * (2 + len(labels) + len(labels) - 1) + "|")
for (scenario, size), by in groups.items():
    for name, key, fmt, _ in metrics[scenario]:
        vals = [by.get(l, {}).get(key) for l in labels]
        cells = [fmt.format(v) if isinstance(v, (int, float)) else "–" for v in vals]
        b = by.get(base, {}).get(key)
        ratios = []
        for l, v in zip(labels, vals):
            if l == base:
                continue
            ratios.append(f"{v / b:.2f}×" if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b else "–")
        print(f"| {scenario} {size} | {name} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
warned = [(r["label"], r["scenario"], w) for r in rows for w in r.get("warnings", [])]
for label, scenario, w in warned:
    print(f"warning: {label} {scenario}: {w}")
EOF
