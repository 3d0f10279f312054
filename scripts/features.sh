#!/usr/bin/env bash
# The crates with fewer than their default features, as an embedder builds
# them: each engine alone, without OpenAPI, Swagger UI or the command line.
# (`examples/document-service/check.sh` builds and runs the SQLite-only one.)
set -euo pipefail
cd "$(dirname "$0")/.."
lint() {
  echo "--- cargo clippy $*"
  cargo clippy --quiet --locked "$@" -- -D warnings
}
lint -p curatore-server --no-default-features --features postgres
lint -p curatore-server --no-default-features --features postgres,cli,openapi
lint -p curatore-server --no-default-features --features sqlite
lint -p curatore-migration --no-default-features --features sqlite
# What the issue promises, checked on the dependency graph itself.
if cargo tree --quiet --locked -p curatore-persistence --no-default-features --features sqlite \
  -e normal --prefix none | grep -E '^sqlx-postgres '; then
  echo "curatore-persistence with only sqlite pulls a PostgreSQL driver" >&2
  exit 1
fi
if cargo tree --quiet --locked -p curatore-service -e normal --prefix none | grep -E '^(rsa|p256|p384|ed25519-dalek) '; then
  echo "curatore-service pulls RSA or elliptic-curve code" >&2
  exit 1
fi
echo "features: each engine alone, and without OpenAPI or the command line, build without warnings"
