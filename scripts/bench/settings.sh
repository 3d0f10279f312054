#!/usr/bin/env bash
# Load benchmark of resolved settings (results: docs/benchmarks.md, "Settings").
#
# Usage: scripts/bench/settings.sh        (SQLite, release build, ENABLE_AUTH=true)
#
# Stores a value at every layer (system, organization, user), then measures
# with wrk on the same machine:
#   1. GET /api/v1/settings/effective with a bearer token and with an API key
#      (cached: AUTH_CACHE_SECONDS, default 2 s, bounds how long a change made
#      by another process may go unseen; writes through this one are seen at once);
#   2. GET /api/v1/auth/me and /livez on the same server for reference;
#   3. GET /api/v1/settings/effective while an admin rewrites the organization's
#      settings 10 times a second (every write invalidates the cached resolution).
# Target (issue 10): settings/effective >= 20,000 requests/s, cached.
# Environment: BENCH_DURATION (15s), BENCH_PORT (18091), BENCH_SKIP_BUILD=1,
# BENCH_OUT=DIR (keep outputs). Needs wrk (installed by scripts/bench.sh), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-15s}
PORT=${BENCH_PORT:-18091}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=""
WRITER_PID=""
cleanup() {
  [ -n "$WRITER_PID" ] && kill "$WRITER_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT
log() { printf '[bench-settings] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=$ROOT/target/release/curatore-server

mkdir -p "$WORK/app" "$WORK/cfg"
ADMIN_PASSWORD=bench-admin-password
(cd "$WORK/app" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
  PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=info \
  DATABASE_URL="sqlite://$WORK/app/data/curatore.db" \
  ENABLE_AUTH=true JWT_SECRET_KEY="bench-secret-$(head -c 24 /dev/urandom | base64)" \
  ADMIN_PASSWORD="$ADMIN_PASSWORD" LOGIN_MAX_FAILURES_PER_IP=1000000 \
  "$SERVER" >"$OUT/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 300); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

LOGIN_BODY="{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}"
ACCESS=$(curl -fsS -H 'content-type: application/json' -d "$LOGIN_BODY" "$BASE/api/v1/auth/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
AUTH="authorization: Bearer $ACCESS"
KEY=$(curl -fsS -H 'content-type: application/json' -H "$AUTH" \
  -d '{"name":"bench"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
put() { curl -fsS -o /dev/null -X PUT -H 'content-type: application/json' -H "$AUTH" -d "$2" "$BASE/api/v1/settings/$1"; }
put system '{"settings":{"auto_optimize":true,"quality_thresholds":{"conversion":60}}}'
put organization '{"settings":{"quality_thresholds":{"clarity":8}}}'
put user '{"settings":{"auto_optimize":false}}'
curl -fsS -H "$AUTH" "$BASE/api/v1/settings/effective" >"$OUT/effective.json"
log "effective: $(cat "$OUT/effective.json")"

# NAME FILE -> "name|rps|p50|p99|non2xx|socket errors" from a wrk --latency output
parse() {
  python3 - "$1" "$2" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
t = open(path).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m: return "?"
    v, u = float(m.group(1)), m.group(2)
    return f"{v/1000 if u=='us' else v*1000 if u=='s' else v:.2f} ms"
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
sock = re.search(r"Socket errors: (.*)", t)
print(f"{name}|{float(rps.group(1)) if rps else 0:,.0f}|{pct(50)}|{pct(99)}|{non2xx.group(1) if non2xx else 0}|{sock.group(1) if sock else 'none'}")
PY
}

# NAME CONNECTIONS WRK-ARGS...
measure() {
  local name=$1 conns=$2; shift 2
  wrk -t2 -c"$conns" -d"$DURATION" --latency "$@" >"$OUT/$name.txt" 2>&1 || true
  parse "$name" "$OUT/$name.txt"
}

RESULTS=()
wrk -t2 -c32 -d3s -H "$AUTH" "$BASE/api/v1/settings/effective" >/dev/null
RESULTS+=("$(measure livez 32 "$BASE/livez")")
RESULTS+=("$(measure me-bearer 32 -H "$AUTH" "$BASE/api/v1/auth/me")")
RESULTS+=("$(measure effective-bearer 32 -H "$AUTH" "$BASE/api/v1/settings/effective")")
RESULTS+=("$(measure effective-api-key 32 -H "X-API-Key: $KEY" "$BASE/api/v1/settings/effective")")
# Ten organization writes a second, each forgetting the cached resolution.
(
  i=0
  while true; do
    i=$((i + 1))
    put organization "{\"settings\":{\"quality_thresholds\":{\"relevance\":$((i % 10))}}}" || true
    sleep 0.1
  done
) &
WRITER_PID=$!
RESULTS+=("$(measure effective-during-writes 32 -H "$AUTH" "$BASE/api/v1/settings/effective")")
kill "$WRITER_PID" 2>/dev/null || true
WRITER_PID=""
RSS=$(awk '{printf "%.1f", $1/1024}' < <(ps -o rss= -p "$SERVER_PID"))
WRITES=$(curl -fsS -H "$AUTH" "$BASE/api/v1/audit-logs?action=update_organization_settings&limit=1000" \
  | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')

echo
echo "| case | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---|"
for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "organization settings writes recorded: $WRITES; RSS after the run: $RSS MB; outputs in $OUT"
