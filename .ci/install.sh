#!/usr/bin/env bash
# Installs every tool the test suite needs on a fresh Debian machine. Idempotent: skips what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v redis-server >/dev/null || need_apt+=(redis-server redis-tools)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v haproxy >/dev/null || need_apt+=(haproxy)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing with apt-get: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

python3 -c 'import websockets' 2>/dev/null || pip install -q websockets
command -v kosoku >/dev/null || pip install -q kosoku

# Node packages used by tests (Node `ws` client, playwright-core for headless Chromium).
for dir in $(find crates -name package.json -not -path '*/node_modules/*' -exec dirname {} \;); do
  # `npm ci` installs exactly the committed lock file (and refreshes a stale node_modules).
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    echo "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --silent && touch node_modules)
  fi
done
