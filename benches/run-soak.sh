#!/usr/bin/env bash
# Soak: the release chat example (examples/chat.rs) for a long time under churn, chat, logged-in users
# receiving notifications online and offline, and abusive clients at once (cross-origin upgrades, 48 MiB
# JSON bodies, trickled bodies, notification floods to made-up identities, connection floods), driven by
# `plezi-load soak`. Prints RSS after warm-up vs the end, notifications accepted / delivered / duplicated
# / lost, GET / latency (p50 / p99 / max, worst minute), and every abusive request's answers. A documented
# run, not CI (see docs/benchmarks.md#soak).
#
#   benches/run-soak.sh [--minutes 30] [any other plezi-load soak option]
#
# Environment (defaults in brackets):
#   PORT       [3900]  the chat example's port (loopback only)
#   THREADS    [2]     the chat example's event loops (PL_THREADS)
#   OUT        [$TARGET/bench-results/soak-DATE.txt]  the report
#   CARGO_TARGET_DIR [target/bench]; LOAD, CHAT: other builds of plezi-load and the chat example
#
#   RT         [1]     run the server at SCHED_FIFO 10 (chrt; the kernel's RT throttling stays on), as the
#                      other runs do: the tool's thousands of client threads run in SCHED_IDLE and its
#                      probe at SCHED_FIFO, so GET / latency measures the server rather than the shared cores
#
# The server and the tool share the machine (no pinning: the tool runs thousands of mostly idle threads).
# Both raise their open-files limit to the hard limit; 5,000 connections plus floods need about 8,000
# descriptors on each side, and the tool spreads its clients over 127.0.0.2-9 so churn does not run out
# of ephemeral ports.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target/bench}"
export CARGO_TARGET_DIR="$target"
port="${PORT:-3900}"
threads="${THREADS:-2}"
mkdir -p "$target/bench-results"
out="${OUT:-$target/bench-results/soak-$(date +%Y%m%d-%H%M%S).txt}"
load="${LOAD:-$target/release/plezi-load}"
chat="${CHAT:-$target/release/examples/chat}"
log() { echo "run-soak: $*" >&2; }

[ -n "${LOAD:-}" ] || cargo build --release --quiet -p plezi-benches --bin plezi-load
[ -n "${CHAT:-}" ] || cargo build --release --quiet -p plezi --example chat
ulimit -n "$(ulimit -Hn)"
rt=()
if [ "${RT:-1}" = 1 ]; then rt=(chrt -f 10); fi

# A session key of 32+ bytes, so the run does not depend on a generated one.
key="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
env -u PL_REDIS_URL -u REDIS_URL PORT="$port" HOST=127.0.0.1 PL_THREADS="$threads" PL_SESSION_KEY="$key" \
  "${rt[@]}" "$chat" > "$target/bench-results/soak-server.log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$server_pid" 2>/dev/null || { log "the chat example exited; see $target/bench-results/soak-server.log"; exit 1; }
  sleep 0.1
done
log "chat example pid $server_pid on port $port; report: $out (load average $(cut -d' ' -f1-3 /proc/loadavg))"
# The kernel's listen-queue counters (all listeners on this machine): SYNs dropped because an accept
# queue was full show up as GET / probes of 1 s, 3 s or 7 s (SYN retransmissions).
listen_drops() { awk '/^TcpExt:/ { if (!h) { split($0, k); h = 1 } else { for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows" || k[i] == "ListenDrops") printf "%s=%s ", k[i], $i } }' /proc/net/netstat; }
drops_before="$(listen_drops)"
status=0
"$load" soak --url "http://127.0.0.1:$port" --server-pid "$server_pid" "$@" | tee "$out" || status=$?
echo "run-soak: kernel listen queues: before: $drops_before; after: $(listen_drops)" | tee -a "$out" >&2
kill -0 "$server_pid" 2>/dev/null || { log "the server died during the run"; status=1; }
exit "$status"
