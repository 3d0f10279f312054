#!/usr/bin/env bash
# The disk-full probe of issue 7: SQLite on an 8 MB tmpfs, two writer loops
# creating API keys, the disk filled for 10 s and then freed. Prints the
# answers, then the number of keys kept after a restart, which must equal the
# number of 201s. Needs root (for the mount). Usage:
#   scripts/probe/disk-full.sh [path/to/curatore-server]   (default: target/release)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${1:-target/release/curatore-server}"
port="${PORT:-18008}"
work="$(mktemp -d)"
mnt="$work/mnt"
mkdir -p "$mnt"
mount -t tmpfs -o size=8m tmpfs "$mnt"
cleanup() { kill "${srv:-0}" 2>/dev/null || true; sleep 1; umount "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

start() {
  DATABASE_URL="sqlite://$mnt/cur.db" ENABLE_AUTH=false PORT="$port" "$bin" >>"$work/server.log" 2>&1 &
  srv=$!
  for _ in $(seq 100); do curl -sf "localhost:$port/livez" >/dev/null && return; sleep 0.1; done
  echo "server did not start"; cat "$work/server.log"; exit 1
}

start
for w in 1 2; do
  (for i in $(seq 300); do
     curl -s -o /dev/null -w '%{http_code}\n' -H 'content-type: application/json' \
       -d "{\"name\":\"k$w-$i\"}" "localhost:$port/api/v1/api-keys"
     sleep 0.05
   done >"$work/w$w.log") &
done
sleep 2
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true
sleep 10
rm -f "$mnt/filler"
wait $(jobs -p | grep -v "^$srv$") 2>/dev/null || true
echo "answers:"; cat "$work/w1.log" "$work/w2.log" | sort | uniq -c
created=$(cat "$work/w1.log" "$work/w2.log" | grep -c '^201$' || true)
kill "$srv"; wait "$srv" 2>/dev/null || true
start
kept=$(curl -s "localhost:$port/api/v1/api-keys?all=true" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')
echo "201 answers: $created; keys kept after restart: $kept"
if [ "$created" != "$kept" ]; then echo "FAIL: acknowledged writes were lost"; exit 1; fi
echo "OK"
