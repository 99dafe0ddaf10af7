#!/usr/bin/env bash
# Autobahn|Testsuite server cases (via PyPI `kosoku`) against `examples/echo` (release build): all
# 517 cases, the permessage-deflate groups 12.* and 13.* included. Exits non-zero if any case fails,
# if the server does not start, or if it does not stop cleanly on SIGTERM. Reports: target/autobahn-reports/index.html (+ index.json).
# Env: PORT (default: a free port), AUTOBAHN_TIMEOUT (seconds, default 1200), AUTOBAHN_CASES
# (optional kosoku -i glob, e.g. '1.*' for a quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v kosoku >/dev/null || { echo "autobahn: kosoku missing: pip install kosoku (or: cargo xtask setup)" >&2; exit 1; }

PORT="${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
TIMEOUT="${AUTOBAHN_TIMEOUT:-1200}"
target_dir="${CARGO_TARGET_DIR:-target}"
report_dir="target/autobahn-reports"
log="$(mktemp -t plezi-autobahn-server.XXXXXX)"

echo "autobahn: building examples/echo (release)"
cargo build --release --example echo --quiet
bin="$target_dir/release/examples/echo"
[ -x "$bin" ] || { echo "autobahn: $bin not found after the build" >&2; exit 1; }

HOST=127.0.0.1 PORT="$PORT" "$bin" >"$log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then kill -TERM "$server_pid" 2>/dev/null || true; fi
}
trap stop_server EXIT

# Ready when it has printed its line and the port accepts connections.
ready=0
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "autobahn: the echo server exited during start-up:" >&2; cat "$log" >&2; exit 1
  fi
  if [ -s "$log" ] && (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then ready=1; break; fi
  sleep 0.1
done
[ "$ready" = 1 ] || { echo "autobahn: the echo server did not become ready on port $PORT:" >&2; cat "$log" >&2; exit 1; }
echo "autobahn: server ready: $(head -n 1 "$log")"

rm -rf "$report_dir"
include=()
[ -n "${AUTOBAHN_CASES:-}" ] && include=(-i "$AUTOBAHN_CASES")
set +e
timeout "$TIMEOUT" kosoku -p 2 -o "$report_dir" ${include[@]+"${include[@]}"} "127.0.0.1:$PORT"
kosoku_rc=$?
set -e

# Stop the server with SIGTERM and require a clean exit.
kill -TERM "$server_pid"
server_rc=0
for _ in $(seq 1 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
  echo "autobahn: the echo server did not exit within 20 s of SIGTERM" >&2
  kill -KILL "$server_pid" 2>/dev/null || true
  server_rc=124
else
  wait "$server_pid" || server_rc=$?
fi
trap - EXIT

summary="$(python3 - "$report_dir/index.json" <<'PY' 2>/dev/null || echo "no report written"
import collections, json, sys
cases = {cid: c for agent in json.load(open(sys.argv[1])).values() for cid, c in agent.items()}
counts = collections.Counter(c["behavior"] for c in cases.values())
bad = ("FAILED", "WRONG CODE", "UNCLEAN")
failed = sorted(cid for cid, c in cases.items() if c["behavior"] in bad or c["behaviorClose"] in bad)
line = f"{len(cases)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
print(line + (f"; failed: {' '.join(failed[:30])}" if failed else ""))
PY
)"

status=ok
[ "$kosoku_rc" = 0 ] || status="FAILED (kosoku exit $kosoku_rc$([ "$kosoku_rc" = 124 ] && echo ', timed out'))"
[ "$server_rc" = 0 ] || status="$status; server exit $server_rc after SIGTERM"
echo "autobahn: $status: $summary; reports in $report_dir/index.html"
rm -f "$log"
[ "$kosoku_rc" = 0 ] && [ "$server_rc" = 0 ]
