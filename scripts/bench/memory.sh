#!/usr/bin/env bash
# Memory of curatore-server through the side-by-side run (results:
# docs/benchmarks.md, "Memory").
#
# Usage: scripts/bench/memory.sh
#
# The sequence the side-by-side comparison with the Python original ran, on
# our side only (the original's source is not part of this repository):
#   1. first start on a fresh SQLite file (migrates, seeds, hashes the admin
#      password): idle RSS 2 s after ready;
#   2. GET /api/v1/system/health/database, GET /api/v1/auth/me with a bearer
#      token and with an API key (wrk, request limits off as in that run);
#   3. POST /api/v1/auth/login flat out at 32 connections while a second wrk
#      measures GET /api/v1/system/health/backend;
#   4. RSS right after the run and 2 s later (VmRSS; VmHWM = the peak);
#   5. stop, start again on the same database: idle RSS after a restart.
# RSS is read from /proc/<pid>/status, so it does not depend on the machine's
# load; the request rates printed beside it do (see docs/benchmarks.md).
#
# Environment: BENCH_DURATION (10s), BENCH_PORT (18097), BENCH_SKIP_BUILD=1,
# BENCH_SERVER (binary; default target/release/curatore-server),
# BENCH_OUT=DIR (keep outputs), BENCH_ENV="NAME=VALUE ..." (extra server
# settings, e.g. to compare allocator settings). Needs wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18097}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=""
log() { printf '[bench-memory] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "installing wrk"; if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=${BENCH_SERVER:-$ROOT/target/release/curatore-server}
ADMIN_PASSWORD=bench-admin-password
SECRET="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
read -r -a EXTRA <<<"${BENCH_ENV:-}"

start_server() { # LOGFILE
  mkdir -p "$WORK/app" "$WORK/cfg"
  (cd "$WORK/app" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
    PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=info \
    DATABASE_URL="sqlite://$WORK/app/data/curatore.db" \
    ENABLE_AUTH=true JWT_SECRET_KEY="$SECRET" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    RATE_LIMIT_ENABLED=false LOGIN_MAX_FAILURES_PER_IP=1000000 "${EXTRA[@]}" \
    "$SERVER" >"$1" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 600); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.05; done
  log "server did not become ready; see $1"; exit 1
}
stop_server() { kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
# FIELD -> MiB from /proc/<pid>/status (VmRSS, VmHWM)
mib() { awk -v f="$1:" '$1 == f {printf "%.1f", $2 / 1024}' "/proc/$SERVER_PID/status"; }
rate() { awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1"; }

ROWS=()
start_server "$OUT/first-start.log"
sleep 2
ROWS+=("| idle, first start (migrated, seeded) | $(mib VmRSS) | $(mib VmHWM) | |")

ACCESS=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $ACCESS" \
  -d '{"name":"bench"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.body   = '{"email_or_username":"admin","password":"$ADMIN_PASSWORD"}'
wrk.headers["Content-Type"] = "application/json"
LUA

wrk -t2 -c32 -d"$DURATION" "$BASE/api/v1/system/health/database" >"$OUT/database.txt"
ROWS+=("| after health/database | $(mib VmRSS) | $(mib VmHWM) | $(rate "$OUT/database.txt")/s |")
wrk -t2 -c32 -d"$DURATION" -H "authorization: Bearer $ACCESS" "$BASE/api/v1/auth/me" >"$OUT/me-bearer.txt"
ROWS+=("| after auth/me, bearer | $(mib VmRSS) | $(mib VmHWM) | $(rate "$OUT/me-bearer.txt")/s |")
wrk -t2 -c32 -d"$DURATION" -H "X-API-Key: $KEY" "$BASE/api/v1/auth/me" >"$OUT/me-key.txt"
ROWS+=("| after auth/me, API key | $(mib VmRSS) | $(mib VmHWM) | $(rate "$OUT/me-key.txt")/s |")
wrk -t1 -c32 -d"$DURATION" --timeout 10s -s "$WORK/login.lua" "$BASE/api/v1/auth/login" >"$OUT/login.txt" 2>&1 &
LOGIN_WRK=$!
sleep 1
wrk -t1 -c4 -d"$DURATION" --latency "$BASE/api/v1/system/health/backend" >"$OUT/backend-during-logins.txt" 2>&1 || true
wait "$LOGIN_WRK" || true
ROWS+=("| right after the login flood (32 connections) | $(mib VmRSS) | $(mib VmHWM) | $(rate "$OUT/login.txt") logins/s |")
sleep 2
ROWS+=("| **after the run**, 2 s later | $(mib VmRSS) | $(mib VmHWM) | |")
stop_server

start_server "$OUT/restart.log"
sleep 2
ROWS+=("| idle, after a restart | $(mib VmRSS) | $(mib VmHWM) | |")
stop_server

echo
echo "Server: $SERVER${BENCH_ENV:+ with $BENCH_ENV}; wrk -t2 -c32 -d$DURATION; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| moment | RSS (MiB) | peak RSS so far, VmHWM (MiB) | rate of the step (load-dependent) |"
echo "|---|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
