#!/usr/bin/env bash
# Across processes: one chat room split over two server processes that share it through one Redis.
# plezi's examples/chat.rs (PL_REDIS_URL: the Redis bus) against, in the same run, Socket.IO 4 with
# @socket.io/redis-adapter, classic (PUBLISH/PSUBSCRIBE) and sharded (createShardedAdapter:
# SPUBLISH/SSUBSCRIBE, Redis 7 sharded pub/sub); benches/peers/socketio/server.js. The clients are split
# evenly over the two servers (client i on server i mod 2), so every chat message is delivered by both: to
# the sender's own server's clients directly, to the other server's through Redis. Prints deliveries per
# CPU-second (both servers AND Redis: /proc/PID/stat utime+stime of each, read at the start and end of
# the window), p50/p99 latency, and the ratios plezi / Socket.IO. Benchmarks only; never in CI.
#
#   benches/run-crossnode.sh [SERVER...]   default servers: plezi sio-redis sio-sharded
#
# Environment (defaults in brackets):
#   CLIENTS    [1000]  connected clients, half on each server (each message reaches CLIENTS - 1 of them)
#   SENDERS    [2]     clients that send (client 0 on the first server, client 1 on the second)
#   IN_FLIGHT  [1]     messages each sender keeps in flight (the next leaves when the server says the
#                      last was broadcast, as in run-dispatch.sh)
#   DURATION   [10]    measurement window per run, seconds (plus 2 s warm-up)
#   ROUNDS     [3]     rounds; each runs every server once; odd rounds in the order given, even rounds
#                      reversed, so ratios come from neighbours and no server always goes first
#   RT         [1]     SCHED_FIFO for the load tool, RT throttling lifted (see lib.sh)
#   OUT        [$TARGET/bench-results/crossnode-DATE.jsonl]  JSON lines of every run
#   CARGO_TARGET_DIR [target/bench]; LOAD, CHAT: other builds of plezi-load and examples/chat
#
# Both servers and Redis run pinned to core 0 at nice -10 (plezi: one event loop each), plezi-load on
# core 1: the deliveries per CPU-second count every process that did the work.
# Every run starts a fresh redis-server (no persistence) and fresh servers, and stops them with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
clients="${CLIENTS:-1000}"
senders="${SENDERS:-2}"
in_flight="${IN_FLIGHT:-1}"
duration="${DURATION:-10}"
rounds="${ROUNDS:-3}"
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(plezi sio-redis sio-sharded)
mkdir -p "$target/bench-results"
out="${OUT:-$target/bench-results/crossnode-$(date +%Y%m%d-%H%M%S).jsonl}"
load="${LOAD:-$target/release/plezi-load}"
chat="${CHAT:-$target/release/examples/chat}"
source benches/lib.sh
use_rt run-crossnode
# The servers and Redis share core 0 at nice -10 (ahead of other jobs, time-sliced among themselves):
# SCHED_FIFO there would let a saturated server keep the other server and Redis off the core until it
# blocks, which hides their work from the window and turns the run into one server's.
share=(nice -n -10)
ulimit -n "$(ulimit -Hn)"
log() { echo "run-crossnode: $*" >&2; }
command -v redis-server > /dev/null || { log "redis-server is not installed"; exit 2; }

# --- build what is missing ---------------------------------------------------------------------------
[ -n "${LOAD:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-load
for s in "${servers[@]}"; do
  case "$s" in
    plezi) [ -n "${CHAT:-}" ] || cargo build --release --quiet -p plezi --example chat ;;
    sio-redis | sio-sharded)
      [ -d benches/peers/socketio/node_modules/@socket.io/redis-adapter ] \
        || (cd benches/peers/socketio && npm install --no-audit --no-fund --silent) ;;
    *) log "unknown server $s (plezi, sio-redis, sio-sharded)"; exit 2 ;;
  esac
done

# --- the processes of one run ------------------------------------------------------------------------
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    server_pid="$p"
    stop_server
  done
  pids=()
}
trap 'cleanup; if [ -n "${rt_saved:-}" ]; then echo "$rt_saved" > "$rt_knob"; fi' EXIT

# start_redis PORT: a fresh redis-server pinned to core 0, no persistence; sets $redis_pid.
start_redis() {
  local p="$1"
  taskset -c 0 "${share[@]}" redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile '' > "$target/bench-results/crossnode-redis.log" 2>&1 &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 1 100); do
    if redis-cli -p "$p" ping 2> /dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  log "redis-server did not answer on port $p"; return 1
}

# start_pair NAME PORT1 PORT2 REDIS_PORT: the two servers of NAME sharing Redis; sets $pair_pids.
start_pair() {
  local name="$1" p1="$2" p2="$3" rp="$4" cmd p
  case "$name" in
    plezi)
      cmd=(env -u REDIS_URL PL_REDIS_URL="redis://127.0.0.1:$rp" PL_APP_NAME=crossnode PL_THREADS=1 "$chat") ;;
    sio-redis)
      cmd=(env SIO_ADAPTER=redis REDIS_URL="redis://127.0.0.1:$rp" node "$repo/benches/peers/socketio/server.js") ;;
    sio-sharded)
      cmd=(env SIO_ADAPTER=sharded REDIS_URL="redis://127.0.0.1:$rp" node "$repo/benches/peers/socketio/server.js") ;;
  esac
  pair_pids=()
  local rt=("${share[@]}")
  for p in "$p1" "$p2"; do
    launch_server "$name-$p" "$p" "${cmd[@]}" || return 1
    pids+=("$server_pid")
    pair_pids+=("$server_pid")
  done
}

# --- the runs ---------------------------------------------------------------------------------------
log "results: $out (load average $(cut -d' ' -f1-3 /proc/loadavg))"
common=(--clients "$clients" --senders "$senders" --in-flight "$in_flight" --duration "$duration")
port=3900
for round in $(seq 1 "$rounds"); do
  order=("${servers[@]}")
  if [ $((round % 2)) -eq 0 ]; then
    order=()
    for ((k = ${#servers[@]} - 1; k >= 0; k--)); do order+=("${servers[k]}"); done
  fi
  for s in "${order[@]}"; do
    rp=$((port + 1)) p1=$((port + 2)) p2=$((port + 3))
    port=$((port + 3))
    case "$s" in
      plezi) scenario=chat path=/chat ;;
      *) scenario=socketio path='/socket.io/?EIO=4&transport=websocket' ;;
    esac
    if ! start_redis "$rp" || ! start_pair "$s" "$p1" "$p2" "$rp"; then
      log "round $round: $s did not start"; cleanup; continue
    fi
    log "round $round: $s (servers ${pair_pids[*]}, redis $redis_pid)"
    if ! timeout $((duration + 120)) taskset -c 1 "${rt[@]}" "$load" "$scenario" \
      --url "ws://127.0.0.1:$p1$path" --url "ws://127.0.0.1:$p2$path" \
      --server-pid "${pair_pids[0]}" --server-pid "${pair_pids[1]}" --server-pid "$redis_pid" \
      "${common[@]}" --label "$s" > "$target/bench-results/last.txt"; then
      log "round $round: $s failed"
    fi
    cat "$target/bench-results/last.txt" >&2
    keep_rows "$round"
    cleanup
  done
done

# --- the table --------------------------------------------------------------------------------------
PYTHONPATH="$repo/benches" python3 - "$out" << 'EOF'
import statistics, sys
from median_table import key, labels_of, load, print_medians
rows = load(sys.argv[1])
for r in rows:
    us = r.get("server_cpu_us_per_delivery")
    r["per_cpu_s"] = 1e6 / us if isinstance(us, (int, float)) and us > 0 else None
    each = [float(x) if x != "-" else None for x in str(r.get("server_cpu_each_pct", "")).split(",") if x]
    if len(each) == 3 and None not in each:
        r["servers_pct"], r["redis_pct"] = each[0] + each[1], each[2]
labels = labels_of(rows)
metrics = [("deliveries per CPU-second (servers + Redis)", "per_cpu_s", "{:,.0f}"),
           ("deliveries/s", "deliveries_per_s", "{:,.0f}"),
           ("latency p50 ms", "latency_p50_ms", "{:.1f}"),
           ("latency p99 ms", "latency_p99_ms", "{:.1f}"),
           ("both servers, % of a core", "servers_pct", "{:.0f}"),
           ("Redis, % of a core", "redis_pct", "{:.1f}"),
           ("client CPU %", "client_cpu_pct", "{:.0f}"),
           ("lost", "lost", "{:.0f}")]
print_medians(rows, labels, [(name, key(k), fmt) for name, k, fmt in metrics])
# Ratios inside each round (servers measured back to back), then their median and spread.
def ratios(a, b, key):
    out = []
    for rnd in sorted({r["round"] for r in rows}):
        x = [r[key] for r in rows if r["round"] == rnd and r["label"] == a and r.get(key)]
        y = [r[key] for r in rows if r["round"] == rnd and r["label"] == b and r.get(key)]
        if x and y:
            out.append(x[0] / y[0])
    return out
for peer in [l for l in labels if l != "plezi"]:
    rs = ratios("plezi", peer, "per_cpu_s")
    if rs:
        med = statistics.median(rs)
        print(f"plezi / {peer} deliveries per CPU-second: median {med:.2f}× "
              f"(rounds: {', '.join(f'{x:.2f}' for x in rs)}); target >= 5×: {'met' if med >= 5 else 'missed'}")
    ps = ratios("plezi", peer, "latency_p99_ms")
    if ps:
        med = statistics.median(ps)
        print(f"plezi / {peer} p99 latency: median {med:.2f}× (rounds: {', '.join(f'{x:.2f}' for x in ps)}); "
              f"lower p99: {'met' if med < 1 else 'missed'}")
for r in rows:
    for w in r.get("warnings", []):
        print(f"warning: round {r['round']} {r['label']}: {w}")
EOF
