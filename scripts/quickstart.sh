#!/usr/bin/env bash
# Quick start: install what Aether needs, build it, and mount a new session from the embedded
# local gateway at ./workspace (or the directory given as $1). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${1:-./workspace}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
for p in libfuse2 fuse3 libfuse3-dev pkg-config build-essential git python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build --silent
if npm run | grep -q "build:native"; then
  npm run build:native --silent >/dev/null 2>&1 || echo "note: the libfuse3 binding did not build; using fuse-native"
fi

AETHER="node $(pwd)/bin/aether.js"
SESSION=$($AETHER session create --tag origin=quickstart --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).id))')
$AETHER mount "$SESSION" "$DIR"
cat <<MSG

Session $SESSION is mounted at $DIR (served by the embedded gateway).
Try:
  echo hello > $DIR/hello.txt
  node bin/aether.js status $DIR
  node bin/aether.js unmount $DIR
MSG
