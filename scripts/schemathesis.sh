#!/usr/bin/env bash
# Schemathesis (from PyPI) against the real server, on SQLite and PostgreSQL,
# with authentication on and a valid bearer token: every operation of
# /openapi.json, a fixed number of examples each. Fails on a 5xx, a response
# that violates the document (status, content type, headers, body), or a 2xx
# for a request that violates it.
#
# Usage: scripts/schemathesis.sh [sqlite] [postgres]     (default: both)
#
# Environment (all optional):
#   ST_EXAMPLES=100    examples per operation and phase
#   ST_SEED=<n>        replay a run (a random seed is printed otherwise)
#   ST_PORT=18181      server port
#   TEST_POSTGRES_URL  postgres://root@127.0.0.1:5432/test: where the
#                      PostgreSQL case creates (and drops) its database
#
# Installs schemathesis into .venv-tools/ (ignored by git) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${ST_EXAMPLES:-100}
SEED=${ST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
PORT=${ST_PORT:-18181}
PG_URL=${TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}
VENV=$ROOT/.venv-tools
BASE=http://127.0.0.1:$PORT
ADMIN_PASSWORD=fuzz-admin-password-1
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(sqlite postgres)

die() { echo "schemathesis.sh: $*" >&2; exit 1; }

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "=== installing schemathesis $SCHEMATHESIS_VERSION into .venv-tools/"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --quiet -p curatore-server
BIN=$ROOT/target/debug/curatore-server

WORK=$(mktemp -d)
SERVER_PID=
PG_DB=
cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    if [ -n "$PG_DB" ]; then
        psql "$PG_URL" -qAt -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

start_server() {
    local url=$1 log=$2
    env -i PATH="$PATH" HOME="$HOME" \
        DATABASE_URL="$url" HOST=127.0.0.1 PORT="$PORT" \
        ENABLE_AUTH=true JWT_SECRET_KEY="$(head -c 48 /dev/urandom | base64 | tr -d '\n')" \
        SECRETS_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64 | tr -d '\n')" \
        ADMIN_PASSWORD="$ADMIN_PASSWORD" ALLOW_REGISTRATION=true \
        RATE_LIMIT_ENABLED=false LOG_FORMAT=json LOG_LEVEL=warn \
        CURATORE_CONFIG_DIR="$WORK" \
        "$BIN" >"$log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 150); do
        curl -fs "$BASE/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log"; die "the server exited"; }
        sleep 0.2
    done
    cat "$log"
    die "the server did not become ready"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

token() {
    curl -fs -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email_or_username\":\"admin\",\"password\":\"$ADMIN_PASSWORD\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection

fuzz() {
    local name=$1
    shift
    "$VENV/bin/st" run "$BASE/openapi.json" \
        --checks "$CHECKS" \
        --phases examples,coverage,fuzzing \
        --max-examples "$EXAMPLES" \
        --seed "$SEED" \
        --generation-database none \
        --request-timeout 10 \
        --workers 1 \
        --no-color \
        --suppress-health-check all \
        --generation-with-security-parameters false \
        "$@" || { echo "=== schemathesis FAILED on $name (seed $SEED)"; return 1; }
}

run_case() {
    local case=$1 url
    case $case in
        sqlite) url="sqlite://$WORK/fuzz.db" ;;
        postgres)
            PG_DB="curatore_fuzz_$$_$RANDOM"
            psql "$PG_URL" -qAt -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
            url="${PG_URL%/*}/$PG_DB"
            ;;
        *) die "unknown case $case (sqlite or postgres)" ;;
    esac
    echo "=== schemathesis on $case: seed $SEED, $EXAMPLES examples per operation (replay: ST_SEED=$SEED $0 $case)"
    start_server "$url" "$WORK/$case.log"
    local auth
    auth="Authorization: Bearer $(token)"
    # Logging out ends the session the token belongs to: every operation but
    # logout first, then logout alone.
    fuzz "$case" -H "$auth" --exclude-path /api/v1/auth/logout
    fuzz "$case" -H "$auth" --include-path /api/v1/auth/logout
    if grep -q '"level":"ERROR"' "$WORK/$case.log"; then
        grep '"level":"ERROR"' "$WORK/$case.log" | head -20
        die "the server logged errors on $case (seed $SEED)"
    fi
    stop_server
    if [ "$case" = postgres ]; then
        psql "$PG_URL" -qAt -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=
    fi
}

for c in "${CASES[@]}"; do run_case "$c"; done
echo "=== schemathesis: no failures (seed $SEED)"
