#!/usr/bin/env bash
# Redis's own CPU per PUBLISH as the number of subscribed connections grows: what one bus envelope costs
# a Redis shard when K server processes listen to its channel (the "envelopes per shard" figure of
# docs/scaling.md). For each K: a fresh redis-server on core 0 (no persistence), K `redis-cli subscribe`
# readers and `redis-benchmark -c 1 -P 16` (PUBLISH, 156-byte message: a bus envelope with a 64-byte
# payload) on core 1; Redis's utime+stime (/proc/PID/stat) before and after. Benchmarks only; never in CI.
#
#   benches/run-redis-fanout.sh [K...]      default: 1 4 16 64
#
# Environment: MESSAGES [200000] publishes per K; SIZE [156] message bytes; PORT [3980]; PIPELINE [16]
# (redis-benchmark -P: 1 gives one PUBLISH per round trip, as from a lightly loaded bus publisher);
# PUBLISHERS [1] publishing connections (redis-benchmark -c: many processes publishing at once).
set -euo pipefail
messages="${MESSAGES:-200000}"
size="${SIZE:-156}"
port="${PORT:-3980}"
pipeline="${PIPELINE:-16}"
publishers="${PUBLISHERS:-1}"
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 4 16 64)
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" > /dev/null || { echo "run-redis-fanout: $tool is not installed" >&2; exit 2; }
done
tick="$(getconf CLK_TCK)"
cpu() { awk -v t="$tick" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
message="$(head -c "$size" /dev/zero | tr '\0' x)"
echo "run-redis-fanout: $(redis-server --version | cut -d' ' -f3), -c $publishers -P $pipeline, $size-byte messages; load average $(cut -d' ' -f1-3 /proc/loadavg)"
for k in "${counts[@]}"; do
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no > /dev/null 2>&1 &
  redis_pid=$!
  until redis-cli -p "$port" ping 2> /dev/null | grep -q PONG; do sleep 0.1; done
  readers=()
  for _ in $(seq 1 "$k"); do
    taskset -c 1 redis-cli -p "$port" subscribe bench > /dev/null &
    readers+=($!)
  done
  until [ "$(redis-cli -p "$port" pubsub numsub bench | tail -1)" -ge "$k" ]; do sleep 0.1; done
  c0="$(cpu "$redis_pid")"
  t0="$(date +%s.%N)"
  taskset -c 1 redis-benchmark -p "$port" -c "$publishers" -P "$pipeline" -n "$messages" -q PUBLISH bench "$message" > /dev/null
  c1="$(cpu "$redis_pid")"
  t1="$(date +%s.%N)"
  python3 - "$k" "$messages" "$c0" "$c1" "$t0" "$t1" << 'EOF'
import sys
k, n = int(sys.argv[1]), int(sys.argv[2])
cpu = float(sys.argv[4]) - float(sys.argv[3])
wall = float(sys.argv[6]) - float(sys.argv[5])
print(f"subscribers {k:>3}: Redis CPU {cpu / n * 1e6:6.2f} µs per PUBLISH "
      f"({cpu / n / k * 1e6:.2f} µs per subscriber), {n / wall:>9,.0f} PUBLISH/s, "
      f"{n * k / cpu:>11,.0f} subscriber writes per Redis CPU-second")
EOF
  kill "${readers[@]}" "$redis_pid"
  wait 2> /dev/null || true
done
