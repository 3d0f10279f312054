#!/usr/bin/env bash
# Load benchmark of curatore-server (results: docs/benchmarks.md).
#
# Usage:
#   scripts/bench.sh [CASE...]
#
# CASEs (default: all of them, in this order):
#   sqlite       GET /api/v1/system/health/database on a fresh SQLite file
#   postgres     the same on a freshly created PostgreSQL database
#   sqlite-1m    the same on SQLite with 1,000,000 rows in audit_logs
#   postgres-1m  the same on PostgreSQL with 1,000,000 rows in audit_logs
#   livez        GET /livez on SQLite: the ceiling of the HTTP stack alone
#   memory       the side-by-side run's memory: idle RSS on the first start
#                and after a restart, RSS after health, auth/me and a login
#                flood (scripts/bench/memory.sh)
#   auth-me      /livez and /api/v1/auth/me (bearer, API key) with default
#                settings, request limits on (scripts/bench/auth_me.sh)
#   lists        users, API keys, connections, organizations and audit pages
#                at 8 and 32 connections with 100,000 users, 1,000 connections
#                and 1,000,000 audit entries, on SQLite and PostgreSQL, and the
#                audit export's peak RSS (scripts/bench/management.sh)
#   all          every case above
#   profile      not in `all`: instructions per request under callgrind, the
#                load-independent figures (scripts/bench/profile.sh, all its cases)
#
# Each database case: build (release), start the server once so it migrates
# and seeds, stop it; (1m cases) insert the rows with SQL and ANALYZE; time
# BENCH_STARTUP_RUNS starts on the already migrated database (exec -> first
# 200 from /readyz, median); start it again, record idle RSS, warm up, run wrk,
# record RSS after the load and the CPU other processes used meanwhile; stop
# it with SIGTERM. A markdown summary table is
# printed at the end (and written to $BENCH_OUT/summary.md when BENCH_OUT is set).
#
# Environment (all optional):
#   BENCH_DURATION=15s   wrk duration per case       BENCH_WARMUP=3s   warm-up
#   BENCH_THREADS=2      wrk threads                 BENCH_CONNECTIONS=32
#   BENCH_PORT=18080     server port                 BENCH_ROWS=1000000 (1m cases)
#   BENCH_STARTUP_RUNS=5 start-to-ready repetitions (0 skips)
#   BENCH_MAX_BUSY=25    before each measurement, wait (up to 2 min) until the
#                        machine's CPU use over 1 s is below this percentage,
#                        so a concurrent build does not skew the numbers
#   BENCH_SKIP_BUILD=1   use the existing target/release/curatore-server
#   BENCH_OUT=DIR        keep logs, wrk outputs and summary.md in DIR
#   BENCH_KEEP=1         keep the temporary working directory
#   BENCH_PG_HOST=127.0.0.1 BENCH_PG_PORT=5432 BENCH_PG_USER=root
#   BENCH_PG_ADMIN_DB=test  (database psql connects to for CREATE/DROP DATABASE)
#
# Needs: cargo, curl, python3 (standard library only), wrk (installed with
# apt-get if missing), psql for the PostgreSQL cases. The load generator runs
# on the same machine as the server, so they share the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-15s}
WARMUP=${BENCH_WARMUP:-3s}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
PORT=${BENCH_PORT:-18080}
ROWS=${BENCH_ROWS:-1000000}
STARTUP_RUNS=${BENCH_STARTUP_RUNS:-5}
MAX_BUSY=${BENCH_MAX_BUSY:-25}
PG_HOST=${BENCH_PG_HOST:-127.0.0.1}
PG_PORT=${BENCH_PG_PORT:-5432}
PG_USER=${BENCH_PG_USER:-root}
PG_ADMIN_DB=${BENCH_PG_ADMIN_DB:-test}
HEALTH=/api/v1/system/health/database
BASE=http://127.0.0.1:$PORT

ALL_CASES=(sqlite postgres sqlite-1m postgres-1m livez memory auth-me lists)
CASES=()
for arg in "${@:-all}"; do
    case $arg in
        all) CASES+=("${ALL_CASES[@]}") ;;
        sqlite | postgres | sqlite-1m | postgres-1m | livez | memory | auth-me | lists | profile) CASES+=("$arg") ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown case: $arg (see --help)" >&2; exit 2 ;;
    esac
done

log() { printf '\033[1m[bench]\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt-get)"
    as_root apt-get install -y wrk >/dev/null 2>&1 ||
        { as_root apt-get update >/dev/null && as_root apt-get install -y wrk >/dev/null; } ||
        die "cannot install wrk; install it and rerun"
fi
command -v curl >/dev/null || die "curl is required"
PY=$(python3 -c 'import sys; print(sys.executable)') || die "python3 is required"
for c in "${CASES[@]}"; do
    case $c in postgres* | lists) command -v psql >/dev/null || die "psql is required for $c" ;; esac
done

BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/curatore-server
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
    log "building curatore-server (release)"
    cargo build --release --locked -p curatore-server >&2
fi
[ -x "$BIN" ] || die "$BIN not found"

# ---------------------------------------------------------------- state & cleanup
WORK=$(mktemp -d "${TMPDIR:-/tmp}/curatore-bench.XXXXXX")
OUT=${BENCH_OUT:-$WORK/out}
mkdir -p "$OUT"
SERVER_PID=
PG_DBS=()

psql_admin() { PGOPTIONS="-c client_min_messages=warning" psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_ADMIN_DB" -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_db() {
    local db=$1; shift
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$db" -v ON_ERROR_STOP=1 -qAt "$@"
}

stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && { log "server $SERVER_PID ignored SIGTERM; killing"; kill -KILL "$SERVER_PID" 2>/dev/null || true; }
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

cleanup() {
    local rc=$?
    stop_server
    for db in "${PG_DBS[@]}"; do
        psql_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 ||
            log "could not drop PostgreSQL database $db"
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
# Environment of every server run: nothing inherited but PATH and HOME, an
# empty config directory (so no .env or config/*.toml of the checkout is read).
server_env() { # DATABASE_URL
    mkdir -p "$WORK/config" "$WORK/run"
    SERVER_ENV=(PATH="$PATH" HOME="${HOME:-/tmp}" CURATORE_CONFIG_DIR="$WORK/config"
        HOST=127.0.0.1 PORT="$PORT" LOG_LEVEL=info DATABASE_URL="$1"
        SHUTDOWN_TIMEOUT_SECONDS=5)
}

wait_ready() {
    local deadline=$((SECONDS + 60))
    until curl -fs -o /dev/null "$BASE/readyz"; do
        kill -0 "$SERVER_PID" 2>/dev/null || die "server exited; log: $1"
        [ $SECONDS -lt $deadline ] || die "server not ready after 60 s; log: $1"
        sleep 0.02
    done
}

start_server() { # LOGFILE
    (cd "$WORK/run" && exec env -i "${SERVER_ENV[@]}" "$BIN" serve) >"$1" 2>&1 &
    SERVER_PID=$!
    wait_ready "$1"
}

rss_mb() { awk '{printf "%.1f", $1/1024}' < <(ps -o rss= -p "$SERVER_PID"); }

# CPU use of the whole machine over one second, in percent of all cores.
busy_pct() {
    local a b
    read -r -a a < <(grep '^cpu ' /proc/stat)
    sleep 1
    read -r -a b < <(grep '^cpu ' /proc/stat)
    local total=0 idle i
    for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
    idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $(((total - idle) * 100 / (total > 0 ? total : 1)))
}

# Waits (up to 2 minutes) for the machine to be quiet; records the conditions.
CONDITIONS=
wait_quiet() {
    local busy tries=0
    while :; do
        busy=$(busy_pct)
        [ "$busy" -lt "$MAX_BUSY" ] && break
        tries=$((tries + 1))
        [ $tries -ge 24 ] && { log "machine still ${busy}% busy; measuring anyway"; break; }
        log "machine ${busy}% busy from something else; waiting 5 s"
        sleep 4
    done
    CONDITIONS="busy ${busy}%, load $(cut -d' ' -f1-3 /proc/loadavg)"
    log "conditions: $CONDITIONS"
}

# CPU jiffies: "<busy of the machine> <all of the machine> <ours>", where ours
# is the server, wrk and PostgreSQL; the rest during a run is someone else's.
cpu_snapshot() {
    local ours
    ours=$(cat /proc/[0-9]*/stat 2>/dev/null |
        awk '$2 ~ /^\((curatore-server|wrk|postgres)\)$/ {s += $14 + $15} END {print s + 0}')
    awk -v ours="$ours" '/^cpu / {t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t, ours}' /proc/stat
}

# Runs wrk; sets RPS P50 P99 ERRORS OTHERS (others' CPU during the run, % of all cores).
run_wrk() { # NAME PATH
    local name=$1 path=$2 file="$OUT/wrk-$1.txt"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$BASE$path" >/dev/null
    wait_quiet
    local before after
    before=$(cpu_snapshot)
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$BASE$path" | tee "$file" >&2
    after=$(cpu_snapshot)
    OTHERS=$(awk -v a="$before" -v b="$after" 'BEGIN {
        split(a, x, " "); split(b, y, " "); t = y[2] - x[2]
        o = (y[1] - x[1]) - (y[3] - x[3]); if (o < 0) o = 0
        printf "%.0f%%", (t > 0 ? 100 * o / t : 0) }')
    log "CPU used by other processes during the run: $OTHERS"
    RPS=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$file")
    P50=$(awk '$1 == "50%" {print $2}' "$file")
    P99=$(awk '$1 == "99%" {print $2}' "$file")
    local non2xx sock
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
    sock=$(awk '/Socket errors:/ {print $0}' "$file")
    ERRORS=${non2xx:-0}
    [ -n "$sock" ] && ERRORS="$ERRORS; ${sock#*Socket errors: }"
    return 0
}

seed_sqlite() { # PATH ROWS
    log "inserting $2 audit_logs rows (SQLite)"
    "$PY" - "$1" "$2" <<'PY'
import sqlite3, sys, time
path, rows = sys.argv[1], int(sys.argv[2])
t = time.time()
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL")
db.execute("PRAGMA synchronous=NORMAL")
db.execute("BEGIN")
# ids are UUIDs as 16-byte blobs, as sqlx stores them on SQLite; timestamps in
# the text form the migration's default writes, spread over the last N seconds.
db.execute("""
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO audit_logs (id, action, status, created_at)
SELECT randomblob(16), 'bench', 'success',
       strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || i || ' seconds')
FROM n""", (rows,))
db.execute("COMMIT")
db.execute("ANALYZE")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
n = db.execute("SELECT count(*) FROM audit_logs").fetchone()[0]
print(f"audit_logs: {n} rows in {time.time() - t:.1f}s", file=sys.stderr)
PY
}

seed_postgres() { # DB ROWS
    log "inserting $2 audit_logs rows (PostgreSQL)"
    local t=$SECONDS
    psql_db "$1" -c "INSERT INTO audit_logs (id, action, status, created_at)
        SELECT gen_random_uuid(), 'bench', 'success', now() - make_interval(secs => i)
        FROM generate_series(1, $2) AS i" -c "VACUUM ANALYZE"
    log "audit_logs: $(psql_db "$1" -c 'SELECT count(*) FROM audit_logs') rows in $((SECONDS - t))s"
}

ROWS_MD=()
STARTUP_MD=()

bench_case() { # CASE
    local case=$1 engine url path dir db
    engine=${case%-1m}
    [ "$case" = livez ] && engine=sqlite
    path=$HEALTH
    [ "$case" = livez ] && path=/livez
    dir="$OUT/$case"
    mkdir -p "$dir"
    log "=== case $case ($engine, GET $path)"

    if [ "$engine" = sqlite ]; then
        rm -rf "$WORK/db"
        mkdir -p "$WORK/db"
        url="sqlite://$WORK/db/curatore.db"
    else
        db="curatore_bench_$$_${case//-/_}"
        psql_admin -c "DROP DATABASE IF EXISTS \"$db\"" -c "CREATE DATABASE \"$db\"" >/dev/null
        PG_DBS+=("$db")
        url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$db"
    fi
    server_env "$url"

    # First start: migrates and seeds.
    start_server "$dir/server-migrate.log"
    stop_server

    if [ "$case" != "$engine" ]; then
        if [ "$engine" = sqlite ]; then seed_sqlite "$WORK/db/curatore.db" "$ROWS"; else seed_postgres "$db" "$ROWS"; fi
    fi

    # Start-to-ready on the already migrated database.
    local startup="-"
    if [ "$STARTUP_RUNS" -gt 0 ] && [ "$case" != livez ]; then
        wait_quiet
        local st
        st=$(cd "$WORK/run" && "$PY" "$ROOT/scripts/bench/startup_time.py" --runs "$STARTUP_RUNS" \
            --port "$PORT" --log-dir "$dir" -- env -i "${SERVER_ENV[@]}" "$BIN" serve | tee "$dir/startup.txt" | tail -n1)
        cat "$dir/startup.txt" >&2
        startup=$(sed -E 's/.*median_ready_ms=([0-9.]+).*/\1/' <<<"$st")
        local logged runs
        logged=$(sed -E 's/.*median_startup_ms=([0-9a-z]+).*/\1/' <<<"$st")
        runs=$(sed -E 's/.*runs=(.*)/\1/' <<<"$st")
        STARTUP_MD+=("| $case | $startup | $logged | $runs | $CONDITIONS |")
    fi

    # The measured run.
    start_server "$dir/server.log"
    sleep 2
    local rss_idle rss_after
    rss_idle=$(rss_mb)
    curl -fs "$BASE$path" >"$dir/response.json"
    curl -fs "$BASE$path" >"$dir/response.json" # second call: cached figures
    run_wrk "$case" "$path"
    rss_after=$(rss_mb)
    stop_server
    ROWS_MD+=("| $case | $path | $RPS | $P50 | $P99 | $ERRORS | $rss_idle | $rss_after | $CONDITIONS; others during: $OTHERS |")
    log "$case: $RPS req/s, p50 $P50, p99 $P99, errors $ERRORS, RSS idle $rss_idle MB, after $rss_after MB"
}

# The cases that have their own script: their tables go into $OUT/<case>.md.
SCRIPT_MD=()
script_case() { # CASE
    local script
    case $1 in
        memory) script=memory.sh ;;
        auth-me) script=auth_me.sh ;;
        lists) script=management.sh ;;
        profile) script=profile.sh ;;
    esac
    log "=== case $1 (scripts/bench/$script)"
    wait_quiet
    local args=()
    [ "$1" = profile ] && args=(livez me-bearer me-key users users-deep keys connections organizations audit audit-deep)
    BENCH_SKIP_BUILD=1 BENCH_SERVER="$BIN" BENCH_OUT="$OUT/$1" "$ROOT/scripts/bench/$script" "${args[@]}" |
        tee "$OUT/$1.md"
    SCRIPT_MD+=("$1")
}

for c in "${CASES[@]}"; do
    case $c in
        memory | auth-me | lists | profile) script_case "$c" ;;
        *) bench_case "$c" ;;
    esac
done

{
    echo "Load: wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), same machine;"
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    if [ ${#ROWS_MD[@]} -gt 0 ]; then
        echo "| case | path | requests/s | p50 | p99 | non-2xx / socket errors | RSS idle (MB) | RSS after load (MB) | conditions (before the run; others' CPU during it) |"
        echo "|---|---|---:|---:|---:|---|---:|---:|---|"
        printf '%s\n' "${ROWS_MD[@]}"
    fi
    if [ ${#STARTUP_MD[@]} -gt 0 ]; then
        echo
        echo "Start to ready (already migrated database, exec -> first 200 from /readyz, $STARTUP_RUNS runs):"
        echo
        echo "| case | median ms | median logged startup_ms | each run (ms) | conditions |"
        echo "|---|---:|---:|---|---|"
        printf '%s\n' "${STARTUP_MD[@]}"
    fi
    for c in "${SCRIPT_MD[@]}"; do
        echo
        echo "## $c"
        cat "$OUT/$c.md"
    done
} | tee "$OUT/summary.md"
[ -n "${BENCH_OUT:-}" ] && log "outputs in $OUT"
exit 0
