#!/usr/bin/env bash
# End to end, as a newcomer would: the server with no configuration at all in
# an empty folder creates ./data/curatore.db, migrates, seeds and serves; the
# same against PostgreSQL given an SQLAlchemy-style URL; curatore-migrate
# takes the schema down and up again; a backup is made while it serves and
# restored once it has stopped. Uses the debug binaries `cargo test`
# has just built.
#
# PostgreSQL comes from TEST_POSTGRES_URL (default: the local server at
# 127.0.0.1:5432, user root, database test), as in scripts/test.sh; an
# unreachable server fails the run unless CURATORE_SKIP_POSTGRES=1 (never
# under CI).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --quiet --locked -p curatore-server -p curatore-migration --manifest-path "$root/Cargo.toml"
server="$root/target/debug/curatore-server"
migrate="$root/target/debug/curatore-migrate"
pg_admin="${TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}"
work="$(mktemp -d)"
pid=""
pgdb=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  if [ -n "$pgdb" ]; then
    psql -q "$pg_admin" -c "DROP DATABASE IF EXISTS \"$pgdb\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "smoke: FAILED: $*" >&2; [ -f "$work/server.log" ] && tail -20 "$work/server.log" >&2; exit 1; }

# The URL of database $1 on the TEST_POSTGRES_URL server, SQLAlchemy-style
# (postgresql+asyncpg://...), as an existing .env would give it.
sqlalchemy_url() {
  python3 - "$pg_admin" "$1" <<'PY'
import sys, urllib.parse
u = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(("postgresql+asyncpg", u.netloc, "/" + sys.argv[2], u.query, "")))
PY
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Runs the server in $work/app with the given extra environment; waits for /readyz.
start() {
  port="$(free_port)"
  mkdir -p "$work/app"
  (cd "$work/app" && exec env -i PATH="$PATH" HOME="$work" PORT="$port" "$@" "$server" >"$work/server.log" 2>&1) &
  pid=$!
  for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "server exited during start-up"
    sleep 0.1
  done
  fail "server not ready after 20 s"
}

stop() {
  kill -TERM "$pid"
  wait "$pid" || fail "server did not exit 0 on SIGTERM"
  pid=""
  grep -q "Database connections closed" "$work/server.log" || fail "no 'Database connections closed' on shutdown"
}

check_health() {
  local engine="$1"
  curl -fsS "http://127.0.0.1:$port/api/v1/system/health/database" >"$work/health.json" || fail "health/database not 200"
  python3 - "$engine" "$work/health.json" <<'PY' || fail "health/database body"
import json, sys
engine, path = sys.argv[1], sys.argv[2]
h = json.load(open(path))
tables = {"organizations", "users", "api_keys", "connections", "system_settings", "audit_logs"}
assert h["status"] == "healthy" and h["connected"] is True, h
assert h["database_type"] == engine, h
assert set(h["tables"]) == tables, h
assert h["tables"]["organizations"] == 1 and h["tables"]["users"] == 1, h
assert h["migration_version"].startswith("m2026"), h
PY
}

echo "smoke: SQLite with no configuration"
start
[ -f "$work/app/data/curatore.db" ] || fail "./data/curatore.db was not created"
check_health sqlite
stop

echo "smoke: curatore-migrate down and up on the same file"
(cd "$work/app" && env -i PATH="$PATH" "$migrate" down -n 3 >/dev/null) || fail "migrate down"
# Read all of it before looking: `grep -q` would stop reading at the first
# match and fail the command with a broken pipe.
status="$(cd "$work/app" && env -i PATH="$PATH" "$migrate" status)" || fail "migrate status"
grep -q pending <<<"$status" || fail "status after down shows no pending migration"
(cd "$work/app" && env -i PATH="$PATH" "$migrate" up >/dev/null) || fail "migrate up"
start
check_health sqlite

echo "smoke: backup while serving, verify, restore with the server stopped"
archive="$(cd "$work/app" && env -i PATH="$PATH" "$server" backup 2>/dev/null)" || fail "backup"
case "$archive" in ./data/backups/curatore-backup-*.tar) ;; *) fail "backup printed '$archive'" ;; esac
(cd "$work/app" && env -i PATH="$PATH" "$server" restore "$archive" >/dev/null 2>&1) && fail "restore over the running server's database was not refused"
stop
(cd "$work/app" && env -i PATH="$PATH" "$server" backup verify "$archive" 2>/dev/null | grep -q '^OK ') || fail "backup verify"
(cd "$work/app" && env -i PATH="$PATH" "$server" restore "$archive" 2>/dev/null | grep -q '^Restored ') || fail "restore"
start
check_health sqlite
stop

skip_postgres() { case "${CURATORE_SKIP_POSTGRES:-}" in ""|0|false) return 1 ;; *) return 0 ;; esac; }
if psql -q "$pg_admin" -c "SELECT 1" >/dev/null 2>&1; then
  echo "smoke: PostgreSQL via an SQLAlchemy-style DATABASE_URL"
  pgdb="curatore_smoke_$$_$RANDOM"
  psql -q "$pg_admin" -c "CREATE DATABASE \"$pgdb\"" >/dev/null
  start DATABASE_URL="$(sqlalchemy_url "$pgdb")"
  check_health postgresql
  stop
elif [ -n "${CI:-}" ]; then
  fail "PostgreSQL at TEST_POSTGRES_URL ($pg_admin) is not reachable, and CI is set"
elif skip_postgres; then
  echo "smoke: SKIPPED PostgreSQL part (no server at $pg_admin; CURATORE_SKIP_POSTGRES=$CURATORE_SKIP_POSTGRES)"
else
  fail "PostgreSQL at TEST_POSTGRES_URL ($pg_admin) is not reachable; start it, or set CURATORE_SKIP_POSTGRES=1 to skip"
fi
echo "smoke: ok"
