#!/usr/bin/env bash
# Load benchmark through 1, 2 and 3 server instances on ONE PostgreSQL
# database at once (results: docs/benchmarks.md, "Several instances").
#
# Usage: scripts/bench/instances.sh        (release build, ENABLE_AUTH=true)
#
# For each instance count N it starts N servers on ports BENCH_PORT..+N-1 (the
# first migrates and seeds; pools left at their defaults), then wrk with 6
# threads whose connections are spread over the N ports (a Lua setup() gives
# thread i the address of instance i mod N) measures:
#   1. GET /api/v1/auth/me with an API key (cached: HTTP and auth only);
#   2. GET /api/v1/organizations/me/users?limit=20 with the key (queries PostgreSQL);
#   3. POST /api/v1/auth/login with the right password (argon2, plus the shared
#      limiter's reserve/settle statements in PostgreSQL; the limits are raised
#      so that one account from one address is not held to 5 logins in flight).
# Environment: BENCH_DURATION (10s), BENCH_PORT (18200), BENCH_CONNECTIONS (48),
# BENCH_PG (postgres://root@127.0.0.1:5432), BENCH_SKIP_BUILD=1, BENCH_OUT=DIR.
# Needs wrk, curl, psql, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
PORT=${BENCH_PORT:-18200}
CONNS=${BENCH_CONNECTIONS:-48}
PG=${BENCH_PG:-postgres://root@127.0.0.1:5432}
DBNAME=curatore_bench_instances_$$
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
PIDS=()
stop_servers() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_servers
  psql "$PG/postgres" -qAtc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
log() { printf '[bench-instances] %s\n' "$*" >&2; }

[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=$ROOT/target/release/curatore-server
psql "$PG/postgres" -qAtc "CREATE DATABASE $DBNAME" >/dev/null
ADMIN_PASSWORD=bench-admin-password
SECRET="bench-secret-$(head -c 24 /dev/urandom | base64)"

start() { # INDEX
  local port=$((PORT + $1))
  mkdir -p "$WORK/cfg"
  (cd "$WORK" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
    PORT="$port" HOST=127.0.0.1 LOG_LEVEL=warn DATABASE_URL="$PG/$DBNAME" \
    ENABLE_AUTH=true JWT_SECRET_KEY="$SECRET" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    LOGIN_MAX_FAILURES_PER_IP=1000000 LOGIN_MAX_FAILURES_PER_ACCOUNT=1000000 "$SERVER" >"$OUT/server-$1.log" 2>&1) &
  PIDS+=($!)
  for _ in $(seq 1 300); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return; sleep 0.1; done
  log "instance $1 did not start"; exit 1
}

BASE=http://127.0.0.1:$PORT
start 0
LOGIN_BODY="{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}"
ACCESS=$(curl -fsS -H 'content-type: application/json' -d "$LOGIN_BODY" "$BASE/api/v1/auth/login" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
KEY=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $ACCESS" \
  -d '{"name":"bench"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
stop_servers

spread() { # N [login] -> a wrk script spreading threads over N ports
  local n=$1 login=${2:-}
  {
    echo "local n, base = $n, $PORT"
    echo 'local k = 0'
    echo 'function setup(thread)'
    echo '  local addr = wrk.lookup("127.0.0.1", tostring(base + (k % n)))[1]'
    echo '  thread.addr = addr'
    echo '  k = k + 1'
    echo 'end'
    if [ -n "$login" ]; then
      echo 'wrk.method = "POST"'
      echo "wrk.body = '$LOGIN_BODY'"
      echo 'wrk.headers["Content-Type"] = "application/json"'
    fi
  } >"$WORK/spread-$n$login.lua"
  echo "$WORK/spread-$n$login.lua"
}

parse() { # NAME FILE
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

RESULTS=()
for n in 1 2 3; do
  for i in $(seq 0 $((n - 1))); do start "$i"; done
  log "$n instance(s) up"
  wrk -t6 -c"$CONNS" -d2s -s "$(spread "$n")" -H "X-API-Key: $KEY" "$BASE/api/v1/auth/me" >/dev/null
  wrk -t6 -c"$CONNS" -d"$DURATION" --latency -s "$(spread "$n")" -H "X-API-Key: $KEY" \
    "$BASE/api/v1/auth/me" >"$OUT/me-$n.txt" 2>&1 || true
  RESULTS+=("$(parse "me (API key), $n instance(s)" "$OUT/me-$n.txt")")
  wrk -t6 -c"$CONNS" -d"$DURATION" --latency -s "$(spread "$n")" -H "X-API-Key: $KEY" \
    "$BASE/api/v1/organizations/me/users?limit=20" >"$OUT/users-$n.txt" 2>&1 || true
  RESULTS+=("$(parse "users page (PostgreSQL), $n instance(s)" "$OUT/users-$n.txt")")
  wrk -t6 -c"$CONNS" -d"$DURATION" --timeout 10s --latency -s "$(spread "$n" login)" \
    "$BASE/api/v1/auth/login" >"$OUT/login-$n.txt" 2>&1 || true
  RESULTS+=("$(parse "login (argon2 + shared limiter), $n instance(s)" "$OUT/login-$n.txt")")
  PEAK=$(psql "$PG/postgres" -qAtc "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DBNAME'")
  RESULTS+=("connections to PostgreSQL after the run, $n instance(s)|$PEAK||||")
  stop_servers
done

echo
echo "| case | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---|"
for r in "${RESULTS[@]}"; do echo "| ${r//|/ | } |"; done
echo
echo "cores: $(nproc); outputs in $OUT"
