#!/usr/bin/env bash
# HTTP keep-alive GETs with wrk, in one run:
#   plezi-hello    `GET /`: a small text from memory (benches/src/bin/plezi-hello.rs)
#   hyper          the same from the minimal hyper server (benches/peers/hyper-hello)
#   plezi-static   `GET /index.html`: examples/public/echo/index.html (421 B) as a static file
#                  (plezi-hello with PUBLIC=examples/public/echo)
#   plezi-memory   `GET /from-memory`: the same bytes from memory, same server, no public folder
#                  (plezi-hello with MEMORY_FILE=examples/public/echo/index.html)
#   plezi-echo-static  examples/echo's `GET /`: the same file through the full example app
#   before-hello, before-echo-static: `GET /` of other builds of plezi-hello / examples/echo
#                  (BEFORE_HELLO, BEFORE_ECHO), for a before/after in the same run
# Benchmarks only; never part of CI's test path.
#
#   benches/run-http.sh [SERVER...]     (default: plezi-hello hyper plezi-static plezi-memory
#                                        plezi-echo-static, plus before-* when their build is set)
#
# Environment (defaults in brackets):
#   DURATION [10]  seconds per run      CONNECTIONS [64]  wrk connections (one wrk thread)
#   RT       [1]   SCHED_FIFO for server and wrk (see run-peers.sh)
#   HELLO    [$TARGET/release/plezi-hello, built from this tree]    another build of plezi-hello
#   ECHO     [$TARGET/release/examples/echo, built from this tree]  another build of plezi's example
#   BEFORE_HELLO, BEFORE_ECHO [unset]  builds to measure as before-hello / before-echo-static
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
servers=("$@")
if [ ${#servers[@]} -eq 0 ]; then
  servers=(plezi-hello hyper plezi-static plezi-memory plezi-echo-static)
  [ -z "${BEFORE_HELLO:-}" ] || servers+=(before-hello)
  [ -z "${BEFORE_ECHO:-}" ] || servers+=(before-echo-static)
fi
hello="${HELLO:-$target/release/plezi-hello}"
file=examples/public/echo/index.html
for name in "${servers[@]}"; do
  port=$((port + 1))
  url_path=/
  case "$name" in
    plezi-hello) cmd=("$hello") ;;
    plezi-static) cmd=(env PUBLIC="$(dirname "$file")" "$hello"); url_path=/index.html ;;
    plezi-memory) cmd=(env MEMORY_FILE="$file" "$hello"); url_path=/from-memory ;;
    plezi-echo-static) cmd=("${ECHO:-$target/release/examples/echo}") ;;
    before-hello) cmd=("$BEFORE_HELLO") ;;
    before-echo-static) cmd=("$BEFORE_ECHO") ;;
    hyper) cmd=("$target/peers/release/peer-hyper-hello") ;;
    *) log "unknown server $name"; exit 2 ;;
  esac
  launch_server "http-$name" "$port" "${cmd[@]}"
  # Warm-up, then the measured run.
  timeout 30 taskset -c 1 wrk -t1 -c"$connections" -d2s "http://127.0.0.1:$port$url_path" > /dev/null
  before="$(cpu_ticks "$server_pid")"
  out="$(timeout $((duration + 30)) taskset -c 1 "${rt[@]}" wrk -t1 -c"$connections" -d"${duration}s" --latency "http://127.0.0.1:$port$url_path")"
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
