#!/usr/bin/env bash
# Installs the CI's extra cargo tools at pinned versions, from crates.io,
# only when the pinned version is not already in ~/.cargo/bin (CI machines
# keep it between runs; a fresh machine builds them once, a few minutes).
#
#   cargo-deny     licenses, bans, sources and advisories (deny.toml)
#   cargo-machete  dependencies declared in a Cargo.toml but never used
set -euo pipefail

CARGO_DENY_VERSION=0.20.2
CARGO_MACHETE_VERSION=0.9.2

# install <crate> <version> <binary>
install() {
  local crate="$1" version="$2" binary="$3" have
  have="$("$binary" --version 2>/dev/null || true)"
  # `cargo-deny 0.20.2`, or just `0.9.2` for cargo-machete.
  if [[ "$have" =~ (^|[^0-9.])${version//./\.}([^0-9.]|$) ]]; then
    echo "ci-tools: $crate $version present"
    return 0
  fi
  echo "ci-tools: installing $crate $version (have: ${have:-none})"
  local started=$SECONDS
  cargo install --locked --quiet --version "$version" "$crate"
  echo "ci-tools: $crate $version installed in $((SECONDS - started)) s"
}

install cargo-deny "$CARGO_DENY_VERSION" cargo-deny
install cargo-machete "$CARGO_MACHETE_VERSION" cargo-machete
