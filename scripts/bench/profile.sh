#!/usr/bin/env bash
# Cost per request in CPU instructions, under callgrind (results:
# docs/benchmarks.md, "Cost per request"). Instruction counts do not depend
# on what else the machine runs, so before/after comparisons made on a busy
# machine still hold; they are not time (cache misses and waits are not in them).
#
# Usage: scripts/bench/profile.sh [CASE...]
#   CASEs: livez me-bearer me-key users keys connections organizations audit
#   (default: livez me-bearer me-key)
#
# The release server runs under `valgrind --tool=callgrind --instr-atstart=no`
# on a fresh SQLite file, ENABLE_AUTH=true, default settings (request limits
# on, with budgets raised so that none is reached: the counting is measured,
# not the 429s). For each case a keep-alive client sends BENCH_WARMUP requests,
# then callgrind counts BENCH_REQUESTS more; the case's instructions per
# request and its top functions (exclusive cost) are printed. The list cases
# need data: BENCH_USERS users, 1,000 API keys of the admin, 1,000 organizations,
# BENCH_CONNECTIONS connections (created through the API, secrets sealed)
# and BENCH_AUDIT_ROWS audit entries are loaded first (scripts/bench/seed_scale.py).
#
# Environment: BENCH_REQUESTS (2000), BENCH_WARMUP (200), BENCH_TOP (15),
# BENCH_USERS (100000), BENCH_CONNECTIONS (1000), BENCH_AUDIT_ROWS (1000000),
# BENCH_PORT (18099), BENCH_SKIP_BUILD=1, BENCH_SERVER, BENCH_OUT=DIR (keep the
# callgrind files: open them with callgrind_annotate or kcachegrind),
# BENCH_ENV="NAME=VALUE ..." (extra server settings). Needs valgrind, curl, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REQUESTS=${BENCH_REQUESTS:-2000}
WARMUP=${BENCH_WARMUP:-200}
TOP=${BENCH_TOP:-15}
PORT=${BENCH_PORT:-18099}
USERS=${BENCH_USERS:-100000}
CONNECTIONS=${BENCH_CONNECTIONS:-1000}
AUDIT_ROWS=${BENCH_AUDIT_ROWS:-1000000}
BASE=http://127.0.0.1:$PORT
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(livez me-bearer me-key)
SERVER_PID=""
log() { printf '[bench-profile] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK/app"
}
trap cleanup EXIT

command -v valgrind >/dev/null || { log "installing valgrind"; if [ "$(id -u)" = 0 ]; then apt-get install -y -qq valgrind >/dev/null; else sudo apt-get install -y -qq valgrind >/dev/null; fi; }
[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=${BENCH_SERVER:-$ROOT/target/release/curatore-server}
ADMIN_PASSWORD=bench-admin-password
SECRET="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
SECRETS_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
read -r -a EXTRA <<<"${BENCH_ENV:-}"
HUGE=4000000000
mkdir -p "$WORK/app/data" "$WORK/cfg"
DB=$WORK/app/data/curatore.db
SERVER_ENV=(PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" PORT="$PORT" HOST=127.0.0.1
  LOG_LEVEL=info DATABASE_URL="sqlite://$DB" ENABLE_AUTH=true JWT_SECRET_KEY="$SECRET"
  ADMIN_PASSWORD="$ADMIN_PASSWORD" SECRETS_ENCRYPTION_KEY="$SECRETS_KEY"
  LOGIN_MAX_FAILURES_PER_IP=1000000
  RATE_LIMIT_IP_READS=$HUGE RATE_LIMIT_IP_WRITES=$HUGE RATE_LIMIT_IP_AUTH=$HUGE
  RATE_LIMIT_USER_READS=$HUGE RATE_LIMIT_USER_WRITES=$HUGE
  RATE_LIMIT_API_KEY_READS=$HUGE RATE_LIMIT_API_KEY_WRITES=$HUGE "${EXTRA[@]}")

wait_ready() {
  for _ in $(seq 1 1200); do curl -fsS "$BASE/readyz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  log "server did not become ready; see $1"; exit 1
}
# First start without valgrind: migrate and seed, then load the data the lists need.
(cd "$WORK/app" && exec env -i "${SERVER_ENV[@]}" "$SERVER" >"$OUT/first-start.log" 2>&1) &
SERVER_PID=$!
wait_ready "$OUT/first-start.log"
token() {
  curl -fsS -H 'content-type: application/json' \
    -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
needs_data=0
for c in "${CASES[@]}"; do case $c in livez | me-*) ;; *) needs_data=1 ;; esac; done
if [ "$needs_data" = 1 ]; then
  python3 "$ROOT/scripts/bench/seed_scale.py" --base "$BASE" --token "$(token)" \
    --connections "$CONNECTIONS" >&2
fi
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
if [ "$needs_data" = 1 ]; then
  python3 "$ROOT/scripts/bench/seed_scale.py" --sqlite "$DB" --users "$USERS" \
    --audit-rows "$AUDIT_ROWS" --keys 1000 --organizations 1000 --cursors "$WORK/cursors.json" >&2
fi

log "starting the server under callgrind"
(cd "$WORK/app" && exec env -i "${SERVER_ENV[@]}" valgrind --tool=callgrind --instr-atstart=no \
  --callgrind-out-file="$OUT/callgrind.out.%p" "$SERVER" >"$OUT/server.log" 2>"$OUT/valgrind.log") &
SERVER_PID=$!
wait_ready "$OUT/valgrind.log"
ACCESS=$(token)
KEY=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $ACCESS" \
  -d '{"name":"profile"}' "$BASE/api/v1/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')

# NAME PATH HEADER
# (callgrind_control finds the server's valgrind by a pipe named after $HOST,
# which for the server is its listen address: hence HOST=127.0.0.1 below.)
measure() {
  local name=$1 path=$2 header=$3
  python3 - "$PORT" "$path" "$header" "$WARMUP" >/dev/null <<'PY'
import http.client, sys
port, path, header, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
h = dict([header.split(": ", 1)]) if header else {}
for _ in range(n):
    c.request("GET", path, headers=h); r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, path)
PY
  HOST=127.0.0.1 callgrind_control --zero "$SERVER_PID" >/dev/null
  HOST=127.0.0.1 callgrind_control --instr=on "$SERVER_PID" >/dev/null
  python3 - "$PORT" "$path" "$header" "$REQUESTS" <<'PY'
import http.client, sys
port, path, header, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
h = dict([header.split(": ", 1)]) if header else {}
for _ in range(n):
    c.request("GET", path, headers=h); r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, path)
PY
  HOST=127.0.0.1 callgrind_control --instr=off "$SERVER_PID" >/dev/null
  HOST=127.0.0.1 callgrind_control --dump="$name" "$SERVER_PID" >/dev/null
  sleep 1
  local file
  file=$(grep -l "^desc: Trigger: .*dump $name\$" "$OUT"/callgrind.out.* | head -n1)
  mv "$file" "$OUT/callgrind.$name"
  local total
  total=$(awk '/^totals:/ {print $2}' "$OUT/callgrind.$name")
  echo
  echo "### $name: GET $path"
  echo
  echo "$REQUESTS requests: $total instructions, $((total / REQUESTS)) per request"
  echo
  echo '```'
  # Exclusive cost, then inclusive cost, of the top functions.
  { callgrind_annotate --threshold=100 "$OUT/callgrind.$name" 2>/dev/null |
    awk '/^-+$/ {d++} d >= 3 && NF' | grep -v '^-' | head -n "$TOP" |
    sed -E 's/ \[[^]]*\]$//' | cut -c1-160; } || true
  echo '```'
  echo
  echo "Inclusive, ours and the logging and metrics libraries:"
  echo
  echo '```'
  { callgrind_annotate --inclusive=yes --threshold=100 "$OUT/callgrind.$name" 2>/dev/null |
    grep -E 'curatore|tracing_core::dispatcher::get_default|format_event|on_new_span|record_request|register_(counter|histogram)|match_pattern|uuid|jsonwebtoken|serde_json::ser' |
    head -n "$TOP" | sed -E 's/ \[[^]]*\]$//' | cut -c1-160; } || true
  echo '```'
}

UC=""; AC=""
[ -f "$WORK/cursors.json" ] && UC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['users'])") \
  && AC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['audit'])")
BEARER="authorization: Bearer $ACCESS"
echo "# Instructions per request (callgrind), $(date -u '+%Y-%m-%d %H:%M UTC'), $SERVER${BENCH_ENV:+ with $BENCH_ENV}"
for c in "${CASES[@]}"; do
  case $c in
    livez) measure livez /livez "" ;;
    me-bearer) measure me-bearer /api/v1/auth/me "$BEARER" ;;
    me-key) measure me-key /api/v1/auth/me "X-API-Key: $KEY" ;;
    users) measure users "/api/v1/organizations/me/users?limit=100" "$BEARER" ;;
    users-deep) measure users-deep "/api/v1/organizations/me/users?limit=100&cursor=$UC" "$BEARER" ;;
    keys) measure keys "/api/v1/api-keys?all=true&limit=100" "$BEARER" ;;
    connections) measure connections "/api/v1/connections?limit=100" "$BEARER" ;;
    connections-1000) measure connections-1000 "/api/v1/connections?limit=1000" "$BEARER" ;;
    organizations) measure organizations "/api/v1/organizations?limit=100" "$BEARER" ;;
    audit) measure audit "/api/v1/audit-logs?limit=100" "$BEARER" ;;
    audit-deep) measure audit-deep "/api/v1/audit-logs?limit=100&cursor=$AC" "$BEARER" ;;
    *) log "unknown case $c"; exit 2 ;;
  esac
done
