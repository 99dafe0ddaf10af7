#!/usr/bin/env bash
# Forced disconnects: `plezi-load forced` against plezi (`plezi-load forced-server`: a room with a
# history, in-process bus, one process) and, in the same run, Socket.IO 4 with connection-state
# recovery (benches/peers/socketio with SIO_RECOVERY=1). Clients are cut with TCP resets while
# broadcasts and identity notifications flow; reports delivery ratios (target 100%, exactly once),
# duplicates, reordering and the reconnect-to-recovered latency p50/p99. Benchmarks only; never in CI.
#
#   benches/run-forced.sh [SERVER...]     default servers: plezi socketio
#
# Environment (defaults in brackets):
#   CLIENTS      [200]  clients in the room
#   RATE         [50]   broadcasts per second;  NOTIFY_RATE [50] notifications per second (round robin)
#   DURATION     [30]   seconds of traffic and cuts per run
#   CUT_EVERY    [3]    seconds between cuts;   CUT_FRACTION [0.1] of the connected clients per cut
#   BACKOFF_MS   [100]  first reconnect delay (doubles per failed attempt, jitter ×[0.5,1.5))
#   ROUNDS       [3]    rounds; each round runs every server once, in turn
#   RT           [1]    SCHED_FIFO for server and tool (see run-peers.sh)
#   OUT          [$TARGET/bench-results/forced-DATE.jsonl]  JSON lines of every run
#   CARGO_TARGET_DIR [target/bench]; LOAD: another build of plezi-load
#
# The server runs pinned to core 0, plezi-load (one thread per client) to core 1. Every run starts its
# server fresh and stops it with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
rounds="${ROUNDS:-3}"
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(plezi socketio)
mkdir -p "$target/bench-results"
out="${OUT:-$target/bench-results/forced-$(date +%Y%m%d-%H%M%S).jsonl}"
load="${LOAD:-$target/release/plezi-load}"
source benches/lib.sh
use_rt run-forced
ulimit -n "$(ulimit -Hn)"
log() { echo "run-forced: $*" >&2; }

[ -n "${LOAD:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-load
for s in "${servers[@]}"; do
  case "$s" in
    plezi) ;;
    socketio)
      [ -d benches/peers/socketio/node_modules/socket.io ] \
        || (cd benches/peers/socketio && npm install --no-audit --no-fund --silent) ;;
    *) log "unknown server $s (plezi, socketio)"; exit 2 ;;
  esac
done

common=(--clients "${CLIENTS:-200}" --rate "${RATE:-50}" --notify-rate "${NOTIFY_RATE:-50}"
  --duration "${DURATION:-30}" --cut-every "${CUT_EVERY:-3}" --cut-fraction "${CUT_FRACTION:-0.1}"
  --backoff-ms "${BACKOFF_MS:-100}")
port=3900
log "results: $out (load average $(cut -d' ' -f1-3 /proc/loadavg))"
for round in $(seq 1 "$rounds"); do
  for s in "${servers[@]}"; do
    port=$((port + 1))
    case "$s" in
      plezi)
        launch_server "$s" "$port" "$load" forced-server --bind "127.0.0.1:$port" || continue
        args=(--proto plezi --url "ws://127.0.0.1:$port/room") ;;
      socketio)
        launch_server "$s" "$port" env SIO_RECOVERY=1 node "$repo/benches/peers/socketio/server.js" \
          || continue
        args=(--proto socketio --url "ws://127.0.0.1:$port/socket.io/?EIO=4&transport=websocket") ;;
    esac
    log "round $round: $s (pid $server_pid)"
    # Exit status 1 means something was lost, duplicated or reordered: reported, not fatal.
    timeout $((${DURATION:-30} + 180)) taskset -c 1 "${rt[@]}" "$load" forced "${args[@]}" \
      "${common[@]}" --label "$s" > "$target/bench-results/last.txt" || true
    grep -v '^{' "$target/bench-results/last.txt" >&2 || true
    keep_rows "$round"
    stop_server
  done
done

# --- the table --------------------------------------------------------------------------------------
PYTHONPATH="$repo/benches" python3 - "$out" << 'PY'
import sys
from median_table import labels_of, load, print_medians
rows = load(sys.argv[1])
labels = labels_of(rows)
def total(label, kind, key):
    return sum(r[kind][key] for r in rows if r["label"] == label)
metrics = [
    ("broadcasts delivered %", lambda r: 100 * r["broadcasts"]["ratio"], "{:.3f}"),
    ("notifications delivered %", lambda r: 100 * r["notifications"]["ratio"], "{:.3f}"),
    ("cuts per run", lambda r: r["cuts"], "{:.0f}"),
    ("recovered per run", lambda r: r["recovered"], "{:.0f}"),
    ("recovery failed per run", lambda r: r["recovery_failed"], "{:.0f}"),
    ("reconnect→recovered p50 ms", lambda r: r["recovery_p50_ms"], "{:.1f}"),
    ("reconnect→recovered p99 ms", lambda r: r["recovery_p99_ms"], "{:.1f}"),
]
print_medians(rows, labels, metrics)
for kind in ("broadcasts", "notifications"):
    for key in ("lost", "duplicates", "reordered"):
        print(f"| {kind} {key} (all rounds) | "
              + " | ".join(str(total(l, kind, key)) for l in labels) + " |")
for r in rows:
    for e in r.get("examples", []):
        print(f"round {r['round']} {r['label']}: {e}")
    for w in r.get("warnings", []):
        print(f"warning: round {r['round']} {r['label']}: {w}")
PY
