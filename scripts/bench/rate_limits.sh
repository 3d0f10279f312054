#!/usr/bin/env bash
# What the request rate limiter costs, and that it holds under load
# (results: docs/benchmarks.md, "Rate limits").
#
# Usage: scripts/bench/rate_limits.sh      (SQLite, release build, ENABLE_AUTH=true)
#
#   1. GET /api/v1/auth/me with a bearer token, rate limits off
#      (RATE_LIMIT_ENABLED=false) and on with budgets too large to be reached
#      (every request is counted, per address and per user, none refused):
#      off, on, off, on, each on a freshly started server, so a shared
#      machine's drift shows as the spread between the two runs of one kind.
#   2. Limits that hold: RATE_LIMIT_USER_READS=1000 per hour, auth/me flat out
#      for the same duration; exactly 1,000 requests may be answered 2xx, the
#      rest 429.
# Environment: BENCH_DURATION (10s), BENCH_PORT (18095), BENCH_SKIP_BUILD=1,
# BENCH_CONNECTIONS (32), BENCH_ROUNDS (2). Needs wrk (installed by scripts/bench.sh), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18095}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
SERVER_PID=""
stop() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT
log() { printf '[bench-rate-limits] %s\n' "$*" >&2; }

command -v wrk >/dev/null || { log "installing wrk"; apt-get install -y -qq wrk >/dev/null; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=$ROOT/target/release/curatore-server
ADMIN_PASSWORD=bench-admin-password
LOGIN_BODY="{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}"

# start NAME VAR=VALUE...: a fresh server on a fresh database; sets ACCESS.
start() {
  local name=$1
  shift
  rm -rf "$WORK/app" && mkdir -p "$WORK/app" "$WORK/cfg"
  (cd "$WORK/app" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
    PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn \
    DATABASE_URL="sqlite://$WORK/app/curatore.db" \
    ENABLE_AUTH=true JWT_SECRET_KEY="bench-secret-$(head -c 24 /dev/urandom | base64)" \
    ADMIN_PASSWORD="$ADMIN_PASSWORD" "$@" \
    "$SERVER" >"$WORK/server-$name.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 300); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  ACCESS=$(curl -fsS -H 'content-type: application/json' -d "$LOGIN_BODY" "$BASE/api/v1/auth/login" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
}

# NAME FILE -> "name|rps|p50|p99|2xx|non-2xx"
parse() {
  python3 - "$1" "$2" <<'PY'
import re, sys
name, path = sys.argv[1], sys.argv[2]
t = open(path).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
total = int(re.search(r"(\d+) requests in", t).group(1))
non2xx = int((re.search(r"Non-2xx or 3xx responses: (\d+)", t) or [0, 0])[1])
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    v, u = float(m.group(1)), m.group(2)
    return f"{v/1000 if u=='us' else v*1000 if u=='s' else v:.2f} ms"
print(f"{name}|{rps:,.0f}|{pct(50)}|{pct(99)}|{total - non2xx:,}|{non2xx:,}")
PY
}

# The server's CPU time so far, in clock ticks (user + system).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

# NAME: auth/me flat out against the running server; also the server's CPU
# time per request (µs), which other load on the machine disturbs less than
# the rate does.
measure() {
  local name=$1 before after total
  wrk -t2 -c"$CONNECTIONS" -d3s -H "Authorization: Bearer $ACCESS" "$BASE/api/v1/auth/me" >/dev/null
  before=$(cpu_ticks)
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $ACCESS" \
    "$BASE/api/v1/auth/me" >"$WORK/$name.txt" 2>&1
  after=$(cpu_ticks)
  total=$(grep -oE '^ *[0-9]+ requests in' "$WORK/$name.txt" | grep -oE '[0-9]+')
  echo "$(parse "$name" "$WORK/$name.txt")|$(awk -v t=$((after - before)) -v n="$total" -v hz="$(getconf CLK_TCK)" \
    'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
}

HUGE=1000000000
ON=(RATE_LIMIT_ENABLED=true RATE_LIMIT_WINDOW_SECONDS=3600
  RATE_LIMIT_IP_READS=$HUGE RATE_LIMIT_USER_READS=$HUGE)
RESULTS=()
for round in $(seq 1 "${BENCH_ROUNDS:-2}"); do
  start off RATE_LIMIT_ENABLED=false
  RESULTS+=("$(measure "limits off, run $round")")
  stop
  start on "${ON[@]}"
  RESULTS+=("$(measure "limits on (counted, never reached), run $round")")
  stop
done

# Holding: 1,000 reads per hour for the user; the address's budget is larger.
start hold RATE_LIMIT_WINDOW_SECONDS=3600 RATE_LIMIT_USER_READS=1000 RATE_LIMIT_IP_READS=$HUGE
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $ACCESS" \
  "$BASE/api/v1/auth/me" >"$WORK/hold.txt" 2>&1
HOLD="$(parse "limit 1,000/h per user, flat out" "$WORK/hold.txt")|"
stop
RESULTS+=("$HOLD")
answered=$(echo "$HOLD" | cut -d'|' -f5 | tr -d ,)

echo
echo "| case | requests/s | p50 | p99 | 2xx | non-2xx | server CPU µs/request |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
echo
if [ "$answered" != 1000 ]; then
  echo "the limit did not hold: $answered requests answered 2xx, expected exactly 1000" >&2
  exit 1
fi
echo "the limit held: exactly 1,000 requests answered 2xx, every other one 429"
