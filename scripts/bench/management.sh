#!/usr/bin/env bash
# Load benchmark of the management API at scale (results: docs/benchmarks.md,
# "Management API at scale" and "Lists at scale").
#
# Usage: scripts/bench/management.sh [sqlite] [postgres]     (default: both)
#
# Per engine: a fresh database; the server (release build, ENABLE_AUTH=true)
# starts once to migrate and seed, and BENCH_CONNECTION_ROWS (1,000) `llm`
# connections are created through the API (secrets sealed); the server stops;
# 100,000 users, 1,000,000 audit entries, 1,000 API keys of the admin and
# 1,000 more organizations are bulk-loaded (scripts/bench/seed_scale.py:
# UUIDv7 ids, timestamps spread over the past, as the application writes
# them); the server starts again and wrk measures each page at every count
# of BENCH_CONCURRENCY (8 and 32 connections):
#   users-first     GET /organizations/me/users?limit=100      (offset page + total)
#   users-deep      the same by keyset, 99,000 users deep       (cursor)
#   keys            GET /api-keys?all=true&limit=100
#   connections     GET /connections?limit=100                  (of 1,000)
#   organizations   GET /organizations?limit=100                (of 1,001)
#   audit-first     GET /audit-logs?limit=100
#   audit-deep      the same by keyset, 990,000 entries deep
# then GET /audit-logs/export?format=ndjson streams all 1,000,000 entries
# (rows/s, and the server's peak RSS sampled every 50 ms during it).
#
# Environment: BENCH_DURATION (10s), BENCH_CONCURRENCY ("8 32"), BENCH_PORT
# (18095), BENCH_USERS (100000), BENCH_AUDIT_ROWS (1000000), BENCH_KEYS (1000),
# BENCH_ORGANIZATIONS (1000), BENCH_CONNECTION_ROWS (1000), BENCH_CASES (all
# of the above), BENCH_SKIP_BUILD=1, BENCH_SERVER (binary), BENCH_OUT=DIR
# (keep outputs), BENCH_PG_URL (postgres://root@127.0.0.1:5432, databases
# are created and dropped there). Needs wrk, curl, python3, psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
read -r -a CONCURRENCY <<<"${BENCH_CONCURRENCY:-8 32}"
KEYS=${BENCH_KEYS:-1000}
ORGANIZATIONS=${BENCH_ORGANIZATIONS:-1000}
CONNECTION_ROWS=${BENCH_CONNECTION_ROWS:-1000}
read -r -a CASES <<<"${BENCH_CASES:-users-first users-deep keys connections organizations audit-first audit-deep}"
PORT=${BENCH_PORT:-18095}
USERS=${BENCH_USERS:-100000}
AUDIT_ROWS=${BENCH_AUDIT_ROWS:-1000000}
PG_URL=${BENCH_PG_URL:-postgres://root@127.0.0.1:5432}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
ENGINES=("$@")
[ ${#ENGINES[@]} -gt 0 ] || ENGINES=(sqlite postgres)
ADMIN_PASSWORD=bench-admin-password
SERVER_PID=""
PG_DB=""
log() { printf '[bench-management] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$PG_DB" ] && psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null 2>&1 || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "installing wrk"; if [ "$(id -u)" = 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=${BENCH_SERVER:-$ROOT/target/release/curatore-server}
SECRET="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
SECRETS_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')

start_server() { # URL LOGFILE
  mkdir -p "$WORK/app" "$WORK/cfg"
  (cd "$WORK/app" && exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
    PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn DATABASE_URL="$1" \
    ENABLE_AUTH=true JWT_SECRET_KEY="$SECRET" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    SECRETS_ENCRYPTION_KEY="$SECRETS_KEY" RATE_LIMIT_ENABLED=false \
    LOGIN_MAX_FAILURES_PER_IP=1000000 "$SERVER" >"$2" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 600); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "server did not become ready; see $2"; exit 1
}
stop_server() { kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
token() {
  curl -fsS -H 'content-type: application/json' \
    -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

# ENGINE TARGET -> loads the rows; writes cursors to $WORK/cursors.json
seed() {
  local flag=--postgres
  [ "$1" = sqlite ] && flag=--sqlite
  python3 "$ROOT/scripts/bench/seed_scale.py" "$flag" "$2" --users "$USERS" --audit-rows "$AUDIT_ROWS" \
    --keys "$KEYS" --organizations "$ORGANIZATIONS" --cursors "$WORK/cursors.json"
}

parse() { # NAME CONNECTIONS FILE -> "| name | connections | req/s | p50 | p99 | non-2xx |"
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
name, conns, t = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m: return "?"
    v, u = float(m.group(1)), m.group(2)
    return f"{v/1000 if u=='us' else v*1000 if u=='s' else v:.2f} ms"
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"| {name} | {conns} | {float(rps.group(1)) if rps else 0:,.0f} | {pct(50)} | {pct(99)} | {non2xx.group(1) if non2xx else 0} |")
PY
}

SUMMARY=()
for engine in "${ENGINES[@]}"; do
  log "=== $engine"
  rm -rf "$WORK/app"
  if [ "$engine" = sqlite ]; then
    mkdir -p "$WORK/app/data"
    URL="sqlite://$WORK/app/data/curatore.db"
    TARGET="$WORK/app/data/curatore.db"
  else
    PG_DB="curatore_bench_mgmt_$$"
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    URL="$PG_URL/$PG_DB"
    TARGET=$URL
  fi
  start_server "$URL" "$OUT/$engine-migrate.log"
  python3 "$ROOT/scripts/bench/seed_scale.py" --base "$BASE" --token "$(token)" --connections "$CONNECTION_ROWS"
  stop_server
  seed "$engine" "$TARGET"
  start_server "$URL" "$OUT/$engine-server.log"
  ACCESS=$(token)
  UC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['users'])")
  AC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['audit'])")
  for name in "${CASES[@]}"; do
    case $name in
      users-first) path="/api/v1/organizations/me/users?limit=100" ;;
      users-deep) path="/api/v1/organizations/me/users?limit=100&cursor=$UC" ;;
      keys) path="/api/v1/api-keys?all=true&limit=100" ;;
      connections) path="/api/v1/connections?limit=100" ;;
      organizations) path="/api/v1/organizations?limit=100" ;;
      audit-first) path="/api/v1/audit-logs?limit=100" ;;
      audit-deep) path="/api/v1/audit-logs?limit=100&cursor=$AC" ;;
      *) log "unknown case $name"; exit 2 ;;
    esac
    count=$(curl -fsS -H "authorization: Bearer $ACCESS" "$BASE$path" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(len(next(v for k, v in b.items() if k in ("users", "items", "keys", "connections", "organizations"))))')
    [ "$count" = 100 ] || { log "$name answered $count rows, not 100"; exit 1; }
    for conns in "${CONCURRENCY[@]}"; do
      wrk -t2 -c"$conns" -d3s -H "authorization: Bearer $ACCESS" "$BASE$path" >/dev/null 2>&1 || true
      wrk -t2 -c"$conns" -d"$DURATION" --latency -H "authorization: Bearer $ACCESS" "$BASE$path" >"$OUT/$engine-$name-$conns.txt" 2>&1 || true
      SUMMARY+=("$(parse "$engine $name" "$conns" "$OUT/$engine-$name-$conns.txt")")
    done
  done
  # Export: every entry, streamed; peak RSS sampled meanwhile.
  rm -f "$WORK/export.done"
  ( peak=0; while kill -0 "$SERVER_PID" 2>/dev/null && [ ! -e "$WORK/export.done" ]; do
      r=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$peak" ] && peak=$r; sleep 0.05; done; echo "$peak" >"$WORK/peak" ) &
  SAMPLER=$!
  start_ns=$(date +%s%N)
  lines=$(curl -fsS -H "authorization: Bearer $ACCESS" "$BASE/api/v1/audit-logs/export?format=ndjson" | wc -l)
  end_ns=$(date +%s%N)
  touch "$WORK/export.done"; wait "$SAMPLER"
  secs=$(python3 -c "print(($end_ns - $start_ns) / 1e9)")
  peak_mb=$(python3 -c "print(round($(cat "$WORK/peak") / 1024, 1))")
  rate=$(python3 -c "print(f'{$lines / $secs:,.0f}')")
  SUMMARY+=("| $engine export ndjson | 1 | $lines rows in ${secs%.*}.$(cut -d. -f2 <<<"$secs" | cut -c1-2) s = $rate rows/s | peak RSS $peak_mb MB | | |")
  stop_server
  if [ "$engine" = postgres ]; then psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null; PG_DB=""; fi
done

echo
echo "wrk -t2 -c{${CONCURRENCY[*]}} -d$DURATION --latency (after a 3 s warm-up), same machine; $USERS users, $AUDIT_ROWS audit entries,"
echo "$KEYS API keys, $CONNECTION_ROWS connections, $((ORGANIZATIONS + 1)) organizations; load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| case | connections | requests/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${SUMMARY[@]}"
