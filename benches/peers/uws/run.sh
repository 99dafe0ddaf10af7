#!/usr/bin/env bash
# Start the uWebSockets.js peer through the private glibc that setup.sh fetched. `exec`s, so the PID you
# started is the server's PID (for /proc CPU and RSS readings). PORT/HOST from the environment.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prefix="$("$here/setup.sh" 2>/dev/null | tail -1)"
# shellcheck disable=SC2086
exec $prefix "$here/server.js"
