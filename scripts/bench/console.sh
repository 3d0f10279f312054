#!/usr/bin/env bash
# Render times of the administration console's pages at scale (results:
# docs/benchmarks.md, "Console pages at scale"). The issue's bar: every page
# under 50 ms at the 99th percentile with 100,000 users and 1,000,000 audit
# entries (keyset everywhere, no full count on the hot path).
#
# Usage: scripts/bench/console.sh [sqlite] [postgres]     (default: both)
#
# Per engine: a fresh database; the server (release build, ENABLE_AUTH=true)
# starts once to migrate and seed, BENCH_CONNECTION_ROWS `llm` connections are
# created through the API; the server stops; 100,000 users, 1,000,000 audit
# entries, 1,000 API keys and 1,000 organizations are bulk-loaded
# (scripts/bench/seed_scale.py, as scripts/bench/management.sh does); the
# server starts again, the admin signs in through the console's own form
# (its session cookie, as a browser holds it), and wrk measures each page:
#   overview        /console                       (health, counts, defaults, latest audit)
#   users-first     /console/users                 (first page and its total)
#   users-deep      /console/users?cursor=…        (keyset, 99,000 users deep)
#   users-search    /console/users?q=user9999      (prefix search, keyset)
#   users-filter    /console/users?role=viewer&active=true
#   keys            /console/api-keys?all=true
#   connections     /console/connections
#   settings        /console/settings
#   audit-first     /console/audit
#   audit-deep      /console/audit?cursor=…        (keyset, 990,000 entries deep)
#   audit-filter    /console/audit?action=login    (every entry matches)
#   audit-none      /console/audit?action=login&status=failure (none does: the worst case)
#   organizations   /console/organizations
#   asset           the stylesheet (content-hashed, immutable)
# Each page is checked for 200 and its heading before it is measured.
#
# Environment: BENCH_DURATION (10s), BENCH_CONCURRENCY ("1 8"), BENCH_PORT
# (18096), BENCH_USERS (100000), BENCH_AUDIT_ROWS (1000000), BENCH_KEYS
# (1000), BENCH_ORGANIZATIONS (1000), BENCH_CONNECTION_ROWS (100),
# BENCH_CASES (all of the above), BENCH_SKIP_BUILD=1, BENCH_SERVER (binary),
# BENCH_OUT=DIR (keep outputs), BENCH_PG_URL (postgres://root@127.0.0.1:5432;
# databases are created and dropped there). Needs wrk, curl, python3, psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
read -r -a CONCURRENCY <<<"${BENCH_CONCURRENCY:-1 8}"
KEYS=${BENCH_KEYS:-1000}
ORGANIZATIONS=${BENCH_ORGANIZATIONS:-1000}
CONNECTION_ROWS=${BENCH_CONNECTION_ROWS:-100}
read -r -a CASES <<<"${BENCH_CASES:-overview users-first users-deep users-search users-filter keys connections settings audit-first audit-deep audit-filter audit-none organizations asset}"
PORT=${BENCH_PORT:-18096}
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
log() { printf '[bench-console] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "$PG_DB" ] && psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null 2>&1 || true
  [ -n "${BENCH_OUT:-}" ] || rm -rf "$WORK"
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

# Signs in through the console's form; prints the session cookie ("name=value").
console_cookie() {
  local jar="$WORK/jar" page csrf
  rm -f "$jar"
  page=$(curl -fsS -c "$jar" "$BASE/console/login")
  csrf=$(python3 -c 'import re,sys; print(re.search(r"name=\"csrf\" value=\"([^\"]+)\"", sys.stdin.read()).group(1))' <<<"$page")
  curl -fsS -o /dev/null -b "$jar" -c "$jar" -H "origin: $BASE" \
    --data-urlencode "csrf=$csrf" --data-urlencode "login=admin" --data-urlencode "password=$ADMIN_PASSWORD" \
    "$BASE/console/login"
  awk '$6 == "curatore_console" {print $6 "=" $7}' "$jar"
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
    flag=--sqlite
  else
    PG_DB="curatore_bench_console_$$"
    psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    URL="$PG_URL/$PG_DB"
    TARGET=$URL
    flag=--postgres
  fi
  start_server "$URL" "$OUT/$engine-migrate.log"
  python3 "$ROOT/scripts/bench/seed_scale.py" --base "$BASE" --token "$(token)" --connections "$CONNECTION_ROWS"
  stop_server
  python3 "$ROOT/scripts/bench/seed_scale.py" "$flag" "$TARGET" --users "$USERS" --audit-rows "$AUDIT_ROWS" \
    --keys "$KEYS" --organizations "$ORGANIZATIONS" --cursors "$WORK/cursors.json"
  start_server "$URL" "$OUT/$engine-server.log"
  COOKIE=$(console_cookie)
  [ -n "$COOKIE" ] || { log "the console sign-in set no session cookie"; exit 1; }
  UC=$(python3 -c "import json,urllib.parse; print(urllib.parse.quote(json.load(open('$WORK/cursors.json'))['users'], safe=''))")
  AC=$(python3 -c "import json,urllib.parse; print(urllib.parse.quote(json.load(open('$WORK/cursors.json'))['audit'], safe=''))")
  STYLE=$(curl -fsS -H "cookie: $COOKIE" "$BASE/console" | python3 -c 'import re,sys; print(re.search(r"href=\"(/console/static/console\.[0-9a-f]+\.css)\"", sys.stdin.read()).group(1))')
  for name in "${CASES[@]}"; do
    case $name in
      overview) path="/console"; expect="<h1>Overview</h1>" ;;
      users-first) path="/console/users"; expect="<h1>Users</h1>" ;;
      users-deep) path="/console/users?cursor=$UC"; expect="<h1>Users</h1>" ;;
      users-search) path="/console/users?q=user9999"; expect="<h1>Users</h1>" ;;
      users-filter) path="/console/users?role=viewer&active=true"; expect="<h1>Users</h1>" ;;
      keys) path="/console/api-keys?all=true"; expect="<h1>API keys</h1>" ;;
      connections) path="/console/connections"; expect="<h1>Connections</h1>" ;;
      settings) path="/console/settings"; expect="<h1>Settings</h1>" ;;
      audit-first) path="/console/audit"; expect="<h1>Audit log</h1>" ;;
      audit-deep) path="/console/audit?cursor=$AC"; expect="<h1>Audit log</h1>" ;;
      audit-filter) path="/console/audit?action=login"; expect="<h1>Audit log</h1>" ;;
      audit-none) path="/console/audit?action=login&status=failure"; expect="<h1>Audit log</h1>" ;;
      organizations) path="/console/organizations"; expect="<h1>Organizations</h1>" ;;
      asset) path="$STYLE"; expect="prefers-color-scheme" ;;
      *) log "unknown case $name"; exit 2 ;;
    esac
    status=$(curl -sS -o "$WORK/page.html" -w '%{http_code}' -H "cookie: $COOKIE" "$BASE$path")
    { [ "$status" = 200 ] && grep -qF "$expect" "$WORK/page.html"; } \
      || { log "$name ($path) answered $status without $expect"; exit 1; }
    for conns in "${CONCURRENCY[@]}"; do
      wrk -t1 -c"$conns" -d3s -H "cookie: $COOKIE" "$BASE$path" >/dev/null 2>&1 || true
      wrk -t1 -c"$conns" -d"$DURATION" --latency -H "cookie: $COOKIE" "$BASE$path" >"$OUT/$engine-$name-$conns.txt" 2>&1 || true
      SUMMARY+=("$(parse "$engine $name" "$conns" "$OUT/$engine-$name-$conns.txt")")
    done
  done
  stop_server
  if [ "$engine" = postgres ]; then psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null; PG_DB=""; fi
done

echo
echo "wrk -t1 -c{${CONCURRENCY[*]}} -d$DURATION --latency (after a 3 s warm-up), same machine; $USERS users,"
echo "$AUDIT_ROWS audit entries, $KEYS API keys, $CONNECTION_ROWS connections, $((ORGANIZATIONS + 1)) organizations;"
echo "load $(cut -d' ' -f1-3 /proc/loadavg) at the end. The bar: p99 under 50 ms for every page."
echo
echo "| case | connections | requests/s | p50 | p99 | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${SUMMARY[@]}"
