#!/usr/bin/env bash
# Idempotent set-up of the uWebSockets.js peer (benchmarks only, never CI's test path).
#
# The @btc-vision/uwebsockets.js binaries need glibc >= 2.38; Debian 12 has 2.36. We fetch Debian 13's libc6
# .deb with `apt-get download` through a private trixie source list, unpack it into a private folder outside
# the repo (PEER_LIBS, default $HOME/.cache/plezi-peer-libs/glibc-trixie), and start the same `node` through that folder's
# dynamic loader. `run.sh` in this folder does the starting.
#
# Prints the loader command prefix on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
libs="${PEER_LIBS:-$HOME/.cache/plezi-peer-libs/glibc-trixie}"
apt_dir="$libs/apt"
root="$libs/root"

if [ ! -d "$here/node_modules/@btc-vision/uwebsockets.js" ]; then
  (cd "$here" && npm install --no-audit --no-fund)
fi

if [ ! -x "$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] && [ ! -e "$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ]; then
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc" "$root"
  # The machine's own Debian mirror (first URI of its apt sources), with the suite switched to trixie.
  mirror="$(grep -hoE '^URIs: *[^ ]+/debian$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | sed 's/^URIs: *//')"
  [ -n "$mirror" ] || mirror="$(grep -hoE '^deb +[^ ]+/debian ' /etc/apt/sources.list 2>/dev/null | head -1 | awk '{print $2}')"
  [ -n "$mirror" ] || { echo "setup.sh: no Debian mirror found in /etc/apt sources" >&2; exit 1; }
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$apt_dir/etc/sources.list"
  touch "$apt_dir/status"
  apt_opts=(
    -o "Dir::Etc::SourceList=$apt_dir/etc/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::State::Status=$apt_dir/status"
    -o "Dir::Cache=$apt_dir/cache"
    -o "APT::Architecture=amd64"
    -o "Debug::NoLocking=1"
  )
  mkdir -p "$apt_dir/cache/archives/partial"
  apt-get "${apt_opts[@]}" update
  (cd "$apt_dir/archives" && apt-get "${apt_opts[@]}" download libc6 libgcc-s1 libstdc++6)
  for deb in "$apt_dir"/archives/*.deb; do
    dpkg-deb -x "$deb" "$root"
  done
fi

ld="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$ld" ] || ld="$root/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
libpath="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu"
"$ld" --library-path "$libpath" "$(command -v node)" -e "require('$here/node_modules/@btc-vision/uwebsockets.js'); console.log('uWebSockets.js loads')" >&2
echo "$ld --library-path $libpath $(command -v node)"
