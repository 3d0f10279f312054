#!/usr/bin/env bash
# Documentation that stays true: the API docs build without a warning
# (broken or private links fail), and every crate meant to be published
# packages (its file list resolves: readme, license, sources).
# The doc-tests themselves run in `cargo test --workspace` (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

publishable=(curatore-domain curatore-config curatore-auth curatore-persistence
  curatore-service curatore-web curatore-migration curatore-backup curatore-mail
  curatore-console curatore-server)
for crate in "${publishable[@]}"; do
  files="$(cargo package --list --allow-dirty --locked -p "$crate" 2>/dev/null)"
  grep -qx 'src/lib.rs' <<<"$files" || { echo "docs-check: $crate packages no src/lib.rs" >&2; exit 1; }
  grep -qx 'README.md' <<<"$files" || { echo "docs-check: $crate packages no README.md" >&2; exit 1; }
done
# Crates that must never be published say so.
for manifest in crates/test-support/Cargo.toml examples/document-service/Cargo.toml; do
  grep -q '^publish = false' "$manifest" || { echo "docs-check: $manifest lacks publish = false" >&2; exit 1; }
done
# Doc examples that run: code blocks opened by a bare ``` or ```rust
# (no_run, ignore and text blocks do not count).
running="$(awk '
  /^[[:space:]]*\/\/[!\/] ```/ {
    if (open) { open = 0; next }
    open = 1
    if ($0 ~ /```(rust)?[[:space:]]*$/) n++
  }
  END { print n + 0 }' $(find crates migration -path '*/src/*.rs'))"
if [ "$running" -lt 10 ]; then
  echo "docs-check: only $running doc examples run (want at least 10; no_run does not count)" >&2
  exit 1
fi
echo "docs-check: docs build clean; ${#publishable[@]} crates package; $running doc examples run"
