#!/usr/bin/env bash
# Re-fetches the console's vendored htmx from its npm package and checks it.
#
#   scripts/vendor-htmx.sh           download the pinned tarball, verify the
#                                    npm integrity (sha512) and the file's
#                                    sha256, write crates/console/assets/htmx.min.js
#   scripts/vendor-htmx.sh --verify  only check the committed file's sha256
#
# To move to another version: change HTMX_VERSION, run with UPDATE=1 (prints
# the new checksums instead of refusing), review the diff, set the two
# checksums below, and commit the file with this script.
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX_VERSION=2.0.4
# `dist.integrity` of htmx.org@2.0.4 on registry.npmjs.org.
TARBALL_INTEGRITY="sha512-HLxMCdfXDOJirs3vBZl/ZLoY+c7PfM4Ahr2Ad4YXh6d22T5ltbTXFFkpx9Tgb2vvmWFMbIc3LqN2ToNkZJvyYQ=="
# sha256 of package/dist/htmx.min.js in that tarball.
FILE_SHA256="e209dda5c8235479f3166defc7750e1dbcd5a5c1808b7792fc2e6733768fb447"
TARGET=crates/console/assets/htmx.min.js

if [ "${1:-}" = "--verify" ]; then
  echo "${FILE_SHA256}  ${TARGET}" | sha256sum -c -
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="https://registry.npmjs.org/htmx.org/-/htmx.org-${HTMX_VERSION}.tgz"
curl -fsSL "$url" -o "$tmp/htmx.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/htmx.tgz" | base64 -w0)"
if [ "$got" != "$TARBALL_INTEGRITY" ] && [ -z "${UPDATE:-}" ]; then
  echo "vendor-htmx: tarball integrity mismatch: $got" >&2
  exit 1
fi
tar -xzf "$tmp/htmx.tgz" -C "$tmp" package/dist/htmx.min.js package/LICENSE
sum=$(sha256sum "$tmp/package/dist/htmx.min.js" | cut -d' ' -f1)
if [ -n "${UPDATE:-}" ]; then
  echo "TARBALL_INTEGRITY=\"$got\""
  echo "FILE_SHA256=\"$sum\""
elif [ "$sum" != "$FILE_SHA256" ]; then
  echo "vendor-htmx: htmx.min.js sha256 mismatch: $sum" >&2
  exit 1
fi
cp "$tmp/package/dist/htmx.min.js" "$TARGET"
cp "$tmp/package/LICENSE" crates/console/assets/htmx.LICENSE
echo "vendor-htmx: wrote $TARGET (htmx.org@${HTMX_VERSION}, sha256 $sum)"
