#!/usr/bin/env bash
# The authenticated path against the HTTP stack's ceiling (results:
# docs/benchmarks.md, "Cost per request").
#
# Usage: scripts/bench/auth_me.sh
#
# One release server on a fresh SQLite file with default settings and
# ENABLE_AUTH=true: request limits on, every request counted against its
# address and its user or key, with budgets raised (RATE_LIMIT_*=4e9) so that
# none is reached and the endpoint is measured, not 429s; LOG_LEVEL=info, so
# every request writes its access-log line. wrk (-t2 -c32) measures in turn,
# BENCH_ROUNDS times: GET /livez, GET /api/v1/auth/me with a bearer token,
# and with an API key. Besides requests/s and latency it reports the
# server's own CPU time per request (user + system, from /proc), which moves
# far less than throughput when other programs share the machine.
#
# Environment: BENCH_DURATION (10s), BENCH_ROUNDS (2), BENCH_PORT (18098),
# BENCH_SKIP_BUILD=1, BENCH_SERVER (binary), BENCH_OUT=DIR (keep outputs),
# BENCH_ENV="NAME=VALUE ..." (extra server settings). Needs wrk, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
ROUNDS=${BENCH_ROUNDS:-2}
PORT=${BENCH_PORT:-18098}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=""
log() { printf '[bench-auth-me] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "installing wrk"; if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=${BENCH_SERVER:-$ROOT/target/release/curatore-server}
ADMIN_PASSWORD=bench-admin-password
HUGE=4000000000
read -r -a EXTRA <<<"${BENCH_ENV:-}"
mkdir -p "$WORK/app" "$WORK/cfg"
(cd "$WORK/app" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
  PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=info DATABASE_URL="sqlite://$WORK/app/data/curatore.db" \
  ENABLE_AUTH=true JWT_SECRET_KEY="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')" \
  ADMIN_PASSWORD="$ADMIN_PASSWORD" \
  RATE_LIMIT_IP_READS=$HUGE RATE_LIMIT_USER_READS=$HUGE RATE_LIMIT_API_KEY_READS=$HUGE \
  RATE_LIMIT_IP_AUTH=$HUGE RATE_LIMIT_IP_WRITES=$HUGE "${EXTRA[@]}" \
  "$SERVER" >"$OUT/server.log" 2>&1) &
SERVER_PID=$!
for _ in $(seq 1 300); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
ACCESS=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $ACCESS" \
  -d '{"name":"bench"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
curl -fsS -D "$OUT/me-headers.txt" -o /dev/null -H "authorization: Bearer $ACCESS" "$BASE/api/v1/auth/me"
grep -qi '^x-ratelimit-limit' "$OUT/me-headers.txt" || { log "request limits are not on"; exit 1; }

cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICK=$(getconf CLK_TCK)
ROWS=()
# NAME ROUND WRK-ARGS...
measure() {
  local name=$1 round=$2; shift 2
  local file="$OUT/$name-$round.txt" before after
  wrk -t2 -c32 -d2s "$@" >/dev/null 2>&1 || true
  before=$(cpu_ticks)
  wrk -t2 -c32 -d"$DURATION" --latency "$@" >"$file" 2>&1 || true
  after=$(cpu_ticks)
  ROWS+=("$(python3 - "$name" "$round" "$file" "$((after - before))" "$TICK" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import re, sys
name, rnd, path, ticks, hz, load = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
t = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1))
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return f"{v/1000 if u=='us' else v*1000 if u=='s' else v:.2f} ms"
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
cpu_us = ticks / hz * 1e6 / max(total, 1)
print(f"| {name} | {rnd} | {rps:,.0f} | {pct(50)} | {pct(99)} | {non2xx.group(1) if non2xx else 0} | {cpu_us:.1f} | {load} |")
PY
)")
}
for round in $(seq 1 "$ROUNDS"); do
  measure livez "$round" "$BASE/livez"
  measure me-bearer "$round" -H "authorization: Bearer $ACCESS" "$BASE/api/v1/auth/me"
  measure me-api-key "$round" -H "X-API-Key: $KEY" "$BASE/api/v1/auth/me"
done

echo
echo "Server: $SERVER${BENCH_ENV:+ with $BENCH_ENV}; wrk -t2 -c32 -d$DURATION --latency on the same machine"
echo
echo "| case | round | requests/s | p50 | p99 | non-2xx | server CPU µs/request | load (1 min) at the end |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
