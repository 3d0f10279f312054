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

install_nginx() {
  have_nginx && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "proxy-test: nginx is missing and apt-get is not available; install nginx and set NGINX" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "proxy-test: nginx is missing and this user cannot install packages; install Debian's nginx" >&2
      return 1
    fi
  fi
  echo "proxy-test: installing nginx (apt-get)"
  # RUNLEVEL=1: the package's init script does not start a system nginx on
  # port 80; the test runs its own on a free port.
  local install=(env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y --no-install-recommends nginx)
  $sudo "${install[@]}" || { $sudo apt-get update && $sudo "${install[@]}"; }
}

install_nginx
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi
cargo test -p curatore-server --locked --test side_by_side -- --nocapture
