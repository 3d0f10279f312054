#!/usr/bin/env bash
# Load benchmark of the management API at scale (results: docs/benchmarks.md,
# "Management API at scale").
#
# Usage: scripts/bench/management.sh [sqlite] [postgres]     (default: both)
#
# Per engine: a fresh database; the server (release build, ENABLE_AUTH=true)
# starts once to migrate and seed, then stops; 100,000 users and 1,000,000
# audit entries are bulk-loaded into the default organization (ids UUIDv7,
# timestamps spread over the past, as the application writes them); the
# server starts again and wrk measures, at BENCH_CONNECTIONS (32):
#   users-first     GET /organizations/me/users?limit=100      (offset page + total)
#   users-deep      the same by keyset, 99,000 users deep       (cursor)
#   audit-first     GET /audit-logs?limit=100
#   audit-deep      the same by keyset, 990,000 entries deep
# then GET /audit-logs/export?format=ndjson streams all 1,000,000 entries
# (rows/s, and the server's peak RSS sampled every 50 ms during the export).
#
# Environment: BENCH_DURATION (10s), BENCH_CONNECTIONS (32), BENCH_PORT (18095),
# BENCH_USERS (100000), BENCH_AUDIT_ROWS (1000000), BENCH_SKIP_BUILD=1,
# BENCH_OUT=DIR (keep outputs), BENCH_PG_URL (postgres://root@127.0.0.1:5432,
# databases are created and dropped there). Needs wrk, curl, python3, psql.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${BENCH_DURATION:-10s}
CONNS=${BENCH_CONNECTIONS:-32}
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

# ENGINE TARGET -> loads the rows; writes cursors to $WORK/cursors.json
seed() {
  python3 - "$1" "$2" "$USERS" "$AUDIT_ROWS" "$WORK" <<'PY'
import csv, io, json, os, random, sqlite3, subprocess, sys, time, uuid
engine, target, n_users, n_audit, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
t0 = time.time()
now_us = int(time.time() * 1_000_000)

def uuid7(ms):
    r = random.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return uuid.UUID(int=v)

def stamp(us):
    # Microseconds never a multiple of 1000, so the text has six digits, as
    # the application's encoder writes such instants.
    if us % 1000 == 0:
        us += 1
    s, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:06d}+00:00", us

def rows(n, step_us):
    # newest first: row i is i steps in the past
    for i in range(n):
        text, us = stamp(now_us - (i + 1) * step_us - random.randrange(1, 999))
        yield i, uuid7(us // 1000), text, us

def cursor(us, uid):
    return us.to_bytes(8, "big", signed=True).hex() + uid.hex

cursors = {}
if engine == "sqlite":
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    org = db.execute("SELECT id FROM organizations").fetchone()[0]
    pw = db.execute("SELECT password_hash FROM users LIMIT 1").fetchone()[0]
    db.execute("BEGIN")
    batch = []
    for i, uid, text, us in rows(n_users, 60_000_000):
        batch.append((uid.bytes, org, f"user{i}@bench.example", f"user{i}", pw, "member", text, text))
        if i == 98_999 % n_users: cursors["users"] = cursor(us, uid)
        if len(batch) == 10000:
            db.executemany("INSERT INTO users (id, organization_id, email, username, password_hash, role, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)", batch); batch = []
    if batch: db.executemany("INSERT INTO users (id, organization_id, email, username, password_hash, role, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)", batch); batch = []
    for i, uid, text, us in rows(n_audit, 5_000_000):
        batch.append((uid.bytes, org, "login", "user", "{}", "127.0.0.1", "success", text))
        if i == 989_999 % n_audit: cursors["audit"] = cursor(us, uid)
        if len(batch) == 50000:
            db.executemany("INSERT INTO audit_logs (id, organization_id, action, entity_type, details, ip_address, status, created_at) VALUES (?,?,?,?,?,?,?,?)", batch); batch = []
    if batch: db.executemany("INSERT INTO audit_logs (id, organization_id, action, entity_type, details, ip_address, status, created_at) VALUES (?,?,?,?,?,?,?,?)", batch)
    db.execute("COMMIT"); db.execute("ANALYZE"); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = [db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "audit_logs")]
else:
    def psql(*args, stdin=None):
        return subprocess.run(["psql", target, "-qAtX", "-v", "ON_ERROR_STOP=1", *args], input=stdin, check=True, capture_output=True, text=True).stdout.strip()
    org = psql("-c", "SELECT id FROM organizations LIMIT 1")
    pw = psql("-c", "SELECT password_hash FROM users LIMIT 1")
    buf = io.StringIO(); w = csv.writer(buf)
    for i, uid, text, us in rows(n_users, 60_000_000):
        w.writerow([uid, org, f"user{i}@bench.example", f"user{i}", pw, "member", text, text])
        if i == 98_999 % n_users: cursors["users"] = cursor(us, uid)
    psql("-c", "\\copy users (id, organization_id, email, username, password_hash, role, created_at, updated_at) FROM STDIN WITH (FORMAT csv)", stdin=buf.getvalue())
    buf = io.StringIO(); w = csv.writer(buf)
    for i, uid, text, us in rows(n_audit, 5_000_000):
        w.writerow([uid, org, "login", "user", "{}", "127.0.0.1", "success", text])
        if i == 989_999 % n_audit: cursors["audit"] = cursor(us, uid)
    psql("-c", "\\copy audit_logs (id, organization_id, action, entity_type, details, ip_address, status, created_at) FROM STDIN WITH (FORMAT csv)", stdin=buf.getvalue())
    psql("-c", "VACUUM ANALYZE")
    counts = [int(psql("-c", f"SELECT count(*) FROM {t}")) for t in ("users", "audit_logs")]
json.dump(cursors, open(os.path.join(work, "cursors.json"), "w"))
print(f"loaded users={counts[0]} audit_logs={counts[1]} in {time.time() - t0:.0f}s", file=sys.stderr)
PY
}

parse() { # NAME FILE -> "| name | req/s | p50 | p99 | non-2xx |"
  python3 - "$1" "$2" <<'PY'
import re, sys
name, t = sys.argv[1], open(sys.argv[2]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
def pct(p):
    m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m: return "?"
    v, u = float(m.group(1)), m.group(2)
    return f"{v/1000 if u=='us' else v*1000 if u=='s' else v:.2f} ms"
non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
print(f"| {name} | {float(rps.group(1)) if rps else 0:,.0f} | {pct(50)} | {pct(99)} | {non2xx.group(1) if non2xx else 0} |")
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
  stop_server
  seed "$engine" "$TARGET"
  start_server "$URL" "$OUT/$engine-server.log"
  ACCESS=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" "$BASE/api/v1/auth/login" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  UC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['users'])")
  AC=$(python3 -c "import json; print(json.load(open('$WORK/cursors.json'))['audit'])")
  for spec in \
    "users-first|/api/v1/organizations/me/users?limit=100" \
    "users-deep|/api/v1/organizations/me/users?limit=100&cursor=$UC" \
    "audit-first|/api/v1/audit-logs?limit=100" \
    "audit-deep|/api/v1/audit-logs?limit=100&cursor=$AC"; do
    name=${spec%%|*}; path=${spec#*|}
    count=$(curl -fsS -H "authorization: Bearer $ACCESS" "$BASE$path" | python3 -c 'import json,sys; b=json.load(sys.stdin); print(len(b.get("users", b.get("items", []))))')
    [ "$count" = 100 ] || { log "$name answered $count rows, not 100"; exit 1; }
    wrk -t2 -c"$CONNS" -d3s -H "authorization: Bearer $ACCESS" "$BASE$path" >/dev/null 2>&1 || true
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "authorization: Bearer $ACCESS" "$BASE$path" >"$OUT/$engine-$name.txt" 2>&1 || true
    SUMMARY+=("$(parse "$engine $name" "$OUT/$engine-$name.txt")")
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
  SUMMARY+=("| $engine export ndjson | $lines rows in ${secs%.*}.$(cut -d. -f2 <<<"$secs" | cut -c1-2) s = $rate rows/s | peak RSS $peak_mb MB | | |")
  stop_server
  if [ "$engine" = postgres ]; then psql "$PG_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null; PG_DB=""; fi
done

echo
echo "wrk -t2 -c$CONNS -d$DURATION --latency (after a 3 s warm-up), same machine; $USERS users, $AUDIT_ROWS audit entries"
echo
echo "| case | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|"
printf '%s\n' "${SUMMARY[@]}"
