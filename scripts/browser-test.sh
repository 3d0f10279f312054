#!/usr/bin/env bash
# The real-browser test: installs Debian's chromium when it is missing (as
# root, or through sudo), then runs crates/server/tests/browser.rs, which
# loads a page from another origin in headless Chromium against the real
# server. scripts/test.sh calls the installer part (--install-only) before the
# test suite, so .ci/run runs the browser test too.
set -euo pipefail
cd "$(dirname "$0")/.."

have_chromium() {
  [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1
}

install_chromium() {
  have_chromium && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser-test: chromium is missing and apt-get is not available; install Chromium and set CHROMIUM" >&2
    return 1
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo="sudo -n"
    else
      echo "browser-test: chromium is missing and this user cannot install packages; install Debian's chromium" >&2
      return 1
    fi
  fi
  echo "browser-test: installing chromium (apt-get)"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium \
    || { $sudo apt-get update && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends chromium; }
}

install_chromium
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi
cargo test -p curatore-server --locked --test browser -- --nocapture
