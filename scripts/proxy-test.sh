#!/usr/bin/env bash
# The side-by-side deployment test: installs Debian's nginx when it is
# missing (as root, or through sudo; the package's own service is not
# started), then runs crates/server/tests/side_by_side.rs, which puts
# deploy/side-by-side/nginx.conf in front of the real server and a stand-in
# for the original's document-processing backend. scripts/test.sh calls the
# installer part (--install-only) before the test suite, so .ci/run runs the
# proxy test too.
set -euo pipefail
cd "$(dirname "$0")/.."

have_nginx() {
  [ -n "${NGINX:-}" ] && [ -x "${NGINX}" ] && return 0
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]
}

# shellcheck source=scripts/debian-package.sh
. scripts/debian-package.sh

install_nginx() {
  have_nginx || install_debian_package proxy-test nginx
}

install_nginx
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi
cargo test -p curatore-server --locked --test side_by_side -- --nocapture
