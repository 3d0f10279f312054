#!/usr/bin/env bash
# The disk-full probe of issue 7: SQLite on an 8 MB tmpfs, two writer loops
# creating API keys, the disk filled for 10 s and then freed. Prints the
# answers, then, after a restart, reads back every key (all pages, not only
# the first) and compares names: FAIL only when a key that was answered 201 is
# missing (an acknowledged write lost). A key kept without a 201 (its answer
# was lost, or came back as an error after the commit) is reported, not a
# failure. Needs root (for the mount). Usage:
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
     code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
       -d "{\"name\":\"k$w-$i\"}" "localhost:$port/api/v1/api-keys")
     echo "$code k$w-$i"
     sleep 0.05
   done >"$work/w$w.log") &
done
sleep 2
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true
sleep 10
rm -f "$mnt/filler"
wait $(jobs -p | grep -v "^$srv$") 2>/dev/null || true
echo "answers:"; cut -d' ' -f1 "$work/w1.log" "$work/w2.log" | sort | uniq -c
awk '$1 == "201" {print $2}' "$work/w1.log" "$work/w2.log" | sort >"$work/acknowledged"
kill "$srv"; wait "$srv" 2>/dev/null || true
start
# Every key, page by page (the list answers at most 1,000 at a time).
python3 - "$port" >"$work/kept" <<'PY'
import json, sys, urllib.request
port, skip, names = sys.argv[1], 0, []
while True:
    url = f"http://localhost:{port}/api/v1/api-keys?all=true&limit=1000&skip={skip}"
    page = json.load(urllib.request.urlopen(url))["items"]
    names += [k["name"] for k in page]
    if len(page) < 1000:
        break
    skip += len(page)
print("\n".join(sorted(names)))
PY
sort -o "$work/kept" "$work/kept"
acknowledged=$(grep -c . "$work/acknowledged" || true)
kept=$(grep -c '^k[12]-' "$work/kept" || true)
lost=$(comm -23 "$work/acknowledged" "$work/kept")
unacknowledged=$(comm -13 "$work/acknowledged" "$work/kept" | grep '^k[12]-' || true)
echo "201 answers: $acknowledged; keys kept after restart: $kept"
if [ -n "$unacknowledged" ]; then
  echo "kept without a 201 (answer lost or an error after the commit; not a loss): $(echo "$unacknowledged" | wc -l)"
fi
if [ -n "$lost" ]; then
  echo "FAIL: acknowledged writes were lost: $(echo "$lost" | wc -l)"
  echo "$lost" | head -20
  exit 1
fi
echo "OK: every acknowledged write is there"
