# Curatore's front door. `just` lists the recipes; each is one plain command
# you can also run without just (see README.md).

set dotenv-load := false

pg_url := env_var_or_default("TEST_POSTGRES_URL", "postgres://root@127.0.0.1:5432/test")

# List the recipes.
default:
    @just --list

# Run the server on SQLite (./data/curatore.db): migrates, seeds, serves on :8000.
run *ARGS:
    cargo run -p curatore-server -- {{ARGS}}

# Run the server against a local PostgreSQL database (created if missing).
run-postgres db="curatore":
    psql -h 127.0.0.1 -U root -d test -tc "SELECT 1 FROM pg_database WHERE datname = '{{db}}'" | grep -q 1 \
        || psql -h 127.0.0.1 -U root -d test -c 'CREATE DATABASE "{{db}}"'
    DATABASE_URL=postgres://root@127.0.0.1:5432/{{db}} cargo run -p curatore-server

# All tests (SQLite and PostgreSQL) and the end-to-end smoke test.
test *ARGS:
    scripts/test.sh {{ARGS}}

# Formatting and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Everything CI runs.
ci:
    .ci/run

# Apply pending migrations (`just migrate-up -n 1` for one).
migrate-up *ARGS:
    cargo run -p curatore-migration -- up {{ARGS}}

# Roll back the newest migration (`just migrate-down -n 3` for more).
migrate-down *ARGS:
    cargo run -p curatore-migration -- down {{ARGS}}

# Show each migration as applied or pending.
migrate-status:
    cargo run -p curatore-migration -- status

# Drop every table and apply all migrations again.
migrate-fresh:
    cargo run -p curatore-migration -- fresh

# Back the SQLite database up into data/backups/ while the server runs (`just backup --output DIR/`).
backup *ARGS:
    cargo run -p curatore-server -- backup {{ARGS}}

# Print the effective configuration and where each value came from.
config:
    cargo run -p curatore-server -- config

# Load benchmark of /api/v1/system/health/database (see docs/benchmarks.md).
bench *ARGS:
    scripts/bench.sh {{ARGS}}

# Rewrite docs/openapi.json from the code (after an intended API change).
openapi:
    UPDATE_OPENAPI=1 cargo test -p curatore-web --lib openapi::tests::the_served_document_matches_the_committed_snapshot

# Schemathesis against the real server on SQLite and PostgreSQL (see docs/openapi.md).
fuzz *ARGS:
    scripts/schemathesis.sh {{ARGS}}
