#!/usr/bin/env bash
# The project's test command: every crate's unit and integration tests
# (SQLite and PostgreSQL), then the end-to-end smoke test of the binaries.
#
# PostgreSQL comes from TEST_POSTGRES_URL (default: the local server at
# 127.0.0.1:5432, user root, database test). Without a reachable server the
# PostgreSQL tests print SKIPPED, unless CI is set: then they fail.
set -euo pipefail
cd "$(dirname "$0")/.."

export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test}"

cargo test --workspace --locked "$@"
bash tests/smoke.sh
