#!/usr/bin/env bash
# Dispatch: chat fan-out through plezi's auto-dispatch (examples/chat: the `chat` event runs the
# handler of every other connection, which writes its JSON answer) against, in the same run, the raw
# shootout fast path (examples/shootout: one pre-encoded frame for everyone) and Socket.IO 4
# (benches/peers/socketio: `socket.broadcast.emit`). Prints deliveries/s and two ratios:
# chat / shootout (target >= 0.60) and chat / Socket.IO (target >= 5). Benchmarks only; never in CI.
#
#   benches/run-dispatch.sh [SERVER...]     default servers: shootout chat socketio
#
# Environment (defaults in brackets):
#   CLIENTS    [1000]  connected clients (chat and Socket.IO: each message reaches CLIENTS - 1 of them)
#   SENDERS    [1]     clients that send; IN_FLIGHT [1] messages each keeps in flight
#   DURATION   [10]    measurement window per run, seconds (plus 2 s warm-up)
#   ROUNDS     [3]     rounds; each round runs every server once, in turn, so ratios come from neighbours
#   RT         [1]     SCHED_FIFO for server and tool, RT throttling lifted for the run (see run-peers.sh)
#   OUT        [$TARGET/bench-results/dispatch-DATE.jsonl]  JSON lines of every run
#   CARGO_TARGET_DIR [target/bench]; LOAD, CHAT, SHOOTOUT: other builds of plezi-load and the examples
#
# The server runs pinned to core 0 (one event loop: available_parallelism is 1 there), plezi-load to core 1.
# Every run starts its server fresh and stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
clients="${CLIENTS:-1000}"
senders="${SENDERS:-1}"
in_flight="${IN_FLIGHT:-1}"
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(shootout chat socketio)
mkdir -p "$target/bench-results"
out="${OUT:-$target/bench-results/dispatch-$(date +%Y%m%d-%H%M%S).jsonl}"
load="${LOAD:-$target/release/plezi-load}"
chat="${CHAT:-$target/release/examples/chat}"
shootout="${SHOOTOUT:-$target/release/examples/shootout}"
source benches/lib.sh
use_rt run-dispatch
ulimit -n "$(ulimit -Hn)"
log() { echo "run-dispatch: $*" >&2; }

# --- build what is missing ---------------------------------------------------------------------------
[ -n "${LOAD:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-load
for s in "${servers[@]}"; do
  case "$s" in
    shootout) [ -n "${SHOOTOUT:-}" ] || cargo build --release --quiet -p plezi --example shootout ;;
    chat) [ -n "${CHAT:-}" ] || cargo build --release --quiet -p plezi --example chat ;;
    socketio)
      [ -d benches/peers/socketio/node_modules/socket.io ] \
        || (cd benches/peers/socketio && npm install --no-audit --no-fund --silent) ;;
    *) log "unknown server $s (shootout, chat, socketio)"; exit 2 ;;
  esac
done

# --- one server process ------------------------------------------------------------------------------
port=3800
# start_server NAME PORT: starts it pinned to core 0, sets $server_pid, waits until it accepts.
start_server() {
  local name="$1" p="$2" cmd
  case "$name" in
    shootout) cmd=("$shootout") ;;
    chat) cmd=("$chat") ;;
    socketio) cmd=(node "$repo/benches/peers/socketio/server.js") ;;
  esac
  # No Redis: the chat is one process.
  launch_server "$name" "$p" env -u PL_REDIS_URL -u REDIS_URL "${cmd[@]}"
}

# --- the runs ---------------------------------------------------------------------------------------
log "results: $out (load average $(cut -d' ' -f1-3 /proc/loadavg))"
common=(--clients "$clients" --senders "$senders" --in-flight "$in_flight" --duration "$duration")
for round in $(seq 1 "$rounds"); do
  for s in "${servers[@]}"; do
    port=$((port + 1))
    case "$s" in
      shootout) args=(broadcast --url "ws://127.0.0.1:$port/ws") ;;
      chat) args=(chat --url "ws://127.0.0.1:$port/chat") ;;
      socketio) args=(socketio --url "ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket") ;;
    esac
    start_server "$s" "$port" || continue
    log "round $round: $s (pid $server_pid)"
    if ! timeout $((duration + 120)) taskset -c 1 "${rt[@]}" "$load" "${args[@]}" "${common[@]}" \
      --server-pid "$server_pid" --label "$s" > "$target/bench-results/last.txt"; then
      log "round $round: $s failed"
    fi
    cat "$target/bench-results/last.txt" >&2
    keep_rows "$round"
    stop_server
  done
done

# --- the table --------------------------------------------------------------------------------------
PYTHONPATH="$repo/benches" python3 - "$out" << 'EOF'
import statistics, sys
from median_table import key, labels_of, load, print_medians
rows = load(sys.argv[1])
labels = labels_of(rows)
metrics = [("deliveries/s", "deliveries_per_s", "{:,.0f}"),
           ("server CPU µs/delivery", "server_cpu_us_per_delivery", "{:.2f}"),
           ("latency p50 ms", "latency_p50_ms", "{:.1f}"),
           ("latency p99 ms", "latency_p99_ms", "{:.1f}"),
           ("client CPU %", "client_cpu_pct", "{:.0f}"),
           ("server core others %", "server_core_other_pct", "{:.0f}")]
print_medians(rows, labels, [(name, key(k), fmt) for name, k, fmt in metrics])
# Ratios of deliveries/s within each round (servers measured back to back), then their median.
def ratios(a, b):
    out = []
    for rnd in sorted({r["round"] for r in rows}):
        x = [r["deliveries_per_s"] for r in rows if r["round"] == rnd and r["label"] == a]
        y = [r["deliveries_per_s"] for r in rows if r["round"] == rnd and r["label"] == b]
        if x and y and y[0]:
            out.append(x[0] / y[0])
    return out
for a, b, target in [("chat", "shootout", 0.60), ("chat", "socketio", 5.0)]:
    rs = ratios(a, b)
    if rs:
        med = statistics.median(rs)
        verdict = "met" if med >= target else "missed"
        print(f"{a} / {b} deliveries/s: median {med:.2f}× (rounds: {', '.join(f'{x:.2f}' for x in rs)}); "
              f"target >= {target}×: {verdict}")
for r in rows:
    for w in r.get("warnings", []):
        print(f"warning: round {r['round']} {r['label']}: {w}")
EOF
