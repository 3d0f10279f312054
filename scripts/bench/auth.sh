#!/usr/bin/env bash
# Load benchmark of authentication (results: docs/benchmarks.md, "Authentication").
#
# Usage: scripts/bench/auth.sh            (SQLite, release build, ENABLE_AUTH=true)
#
# Measures, with wrk on the same machine:
#   1. GET /api/v1/auth/me with a bearer token, and with an API key (X-API-Key);
#   2. the same server's GET /api/v1/system/health/backend (no query) and
#      /api/v1/system/health/database (one query) for reference;
#   3. POST /api/v1/auth/login flat out at 32 and at 128 connections (errors
#      must be zero), while a second wrk measures p99 of health/backend.
# Environment: BENCH_DURATION (15s), BENCH_PORT (18090), BENCH_SKIP_BUILD=1,
# BENCH_OUT=DIR (keep outputs). Needs wrk (installed by scripts/bench.sh), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-15s}
PORT=${BENCH_PORT:-18090}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT
log() { printf '[bench-auth] %s\n' "$*" >&2; }

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
KEY=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $ACCESS" \
  -d '{"name":"bench"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

cat >"$WORK/login.lua" <<LUA
wrk.method = "POST"
wrk.body   = '$LOGIN_BODY'
wrk.headers["Content-Type"] = "application/json"
LUA

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
wrk -t2 -c32 -d3s "$BASE/api/v1/system/health/backend" >/dev/null
RESULTS+=("$(measure backend 32 "$BASE/api/v1/system/health/backend")")
RESULTS+=("$(measure database 32 "$BASE/api/v1/system/health/database")")
RESULTS+=("$(measure me-bearer 32 -H "Authorization: Bearer $ACCESS" "$BASE/api/v1/auth/me")")
RESULTS+=("$(measure me-api-key 32 -H "X-API-Key: $KEY" "$BASE/api/v1/auth/me")")
for conns in 32 128; do
  # A login costs ~25 ms of one core by design: at 128 connections the queue
  # is ~1.7 s long, so wrk's default 2 s timeout would count queued logins as errors.
  wrk -t1 -c"$conns" -d"$DURATION" --timeout 10s --latency -s "$WORK/login.lua" "$BASE/api/v1/auth/login" >"$OUT/login-$conns.txt" 2>&1 &
  LOGIN_WRK=$!
  sleep 1
  RESULTS+=("$(measure "backend-during-logins-$conns" 4 "$BASE/api/v1/system/health/backend")")
  wait "$LOGIN_WRK" || true
  RESULTS+=("$(parse "login-$conns" "$OUT/login-$conns.txt")")
done
RSS=$(awk '{printf "%.1f", $1/1024}' < <(ps -o rss= -p "$SERVER_PID"))

echo
echo "| case | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---|"
for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "RSS after the run: $RSS MB; outputs in $OUT"
