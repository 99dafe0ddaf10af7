#!/usr/bin/env bash
# HTTP keep-alive `GET /` with wrk, in one run: plezi-hello (benches/src/bin/plezi-hello.rs: a small text
# from memory) against the minimal hyper server doing the same, plus plezi's examples/echo, whose `GET /`
# is a static file from its public folder (stat, ETag, file body: a different job, shown for reference).
# Benchmarks only; never part of CI's test path.
#
#   benches/run-http.sh
#
# Environment (defaults in brackets):
#   DURATION [10]  seconds per run      CONNECTIONS [64]  wrk connections (one wrk thread)
#   RT       [1]   SCHED_FIFO for server and wrk (see run-peers.sh)
#   HELLO    [$TARGET/release/plezi-hello, built from this tree]    another build of plezi-hello
#   ECHO     [$TARGET/release/examples/echo, built from this tree]  another build of plezi's example
#   CARGO_TARGET_DIR [target/bench]
#
# Each server runs pinned to core 0 and wrk to core 1. Prints requests/s, latency and the server's CPU
# time per request (from /proc/PID/stat utime+stime).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-64}"
log() { echo "run-http: $*" >&2; }
source benches/lib.sh
use_rt run-http
command -v wrk > /dev/null || { echo "run-http: wrk is missing (apt-get install -y wrk)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
mkdir -p "$target/bench-results"

[ -n "${HELLO:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-hello
[ -n "${ECHO:-}" ] || cargo build --release --quiet --example echo
CARGO_TARGET_DIR="$target/peers" cargo build --release --quiet --manifest-path benches/peers/hyper-hello/Cargo.toml

hz="$(getconf CLK_TCK)"
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

port=3600
printf '| server | requests/s | latency avg | latency p99 | server CPU µs/request |\n|---|---|---|---|---|\n' > "$target/bench-results/http-table.md"
for name in plezi-hello hyper plezi-echo-static; do
  port=$((port + 1))
  case "$name" in
    plezi-hello) cmd=("${HELLO:-$target/release/plezi-hello}") ;;
    plezi-echo-static) cmd=("${ECHO:-$target/release/examples/echo}") ;;
    hyper) cmd=("$target/peers/release/peer-hyper-hello") ;;
  esac
  launch_server "http-$name" "$port" "${cmd[@]}"
  # Warm-up, then the measured run.
  timeout 30 taskset -c 1 wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$port/" > /dev/null
  before="$(cpu_ticks "$server_pid")"
  out="$(timeout $((duration + 30)) taskset -c 1 "${rt[@]}" wrk -t1 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port/")"
  after="$(cpu_ticks "$server_pid")"
  stop_server
  echo "== $name" >&2
  echo "$out" >&2
  rps="$(awk '/^Requests\/sec:/ { print $2 }' <<< "$out")"
  avg="$(awk '$1 == "Latency" { print $2; exit }' <<< "$out")"
  p99="$(awk '$1 == "99%" { print $2 }' <<< "$out")"
  total="$(awk '/requests in/ { print $1 }' <<< "$out")"
  per="$(awk -v t="$((after - before))" -v hz="$hz" -v n="$total" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')"
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$rps" "$avg" "$p99" "$per" >> "$target/bench-results/http-table.md"
done
cat "$target/bench-results/http-table.md"
