#!/usr/bin/env bash
# The real-browser test: installs Debian's chromium when it is missing (as
# root, or through sudo), then runs crates/server/tests/browser.rs, which
# loads a page from another origin in headless Chromium against the real
# server, and crates/server/tests/console_browser.rs, which drives the console
# over the DevTools protocol. scripts/test.sh calls the installer part (--install-only) before the
# test suite, so .ci/run runs the browser test too.
set -euo pipefail
cd "$(dirname "$0")/.."

have_chromium() {
  [ -n "${CHROMIUM:-}" ] && [ -x "${CHROMIUM}" ] && return 0
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1
}

# shellcheck source=scripts/debian-package.sh
. scripts/debian-package.sh

install_chromium() {
  have_chromium || install_debian_package browser-test chromium
}

install_chromium
if [ "${1:-}" = "--install-only" ]; then
  exit 0
fi
cargo test -p curatore-server --locked --test browser --test console_browser -- --nocapture
