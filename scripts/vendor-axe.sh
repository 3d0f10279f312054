#!/usr/bin/env bash
# Re-fetches axe-core (the accessibility checker the console's browser test
# runs over every page) from its npm package and checks it.
#
#   scripts/vendor-axe.sh           download the pinned tarball, verify the npm
#                                   integrity (sha512) and the file's sha256, write
#                                   crates/server/tests/assets/axe.min.js
#   scripts/vendor-axe.sh --verify  only check the committed file's sha256
#
# Another version: change AXE_VERSION, run with UPDATE=1 (prints the new
# checksums), set them below, and commit the file with this script.
set -euo pipefail
cd "$(dirname "$0")/.."

AXE_VERSION=4.14.1
# `dist.integrity` of axe-core@4.14.1 on registry.npmjs.org.
TARBALL_INTEGRITY="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
# sha256 of package/axe.min.js in that tarball.
FILE_SHA256="29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
TARGET=crates/server/tests/assets/axe.min.js

if [ "${1:-}" = "--verify" ]; then
  echo "${FILE_SHA256}  ${TARGET}" | sha256sum -c -
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url="https://registry.npmjs.org/axe-core/-/axe-core-${AXE_VERSION}.tgz"
curl -fsSL "$url" -o "$tmp/package.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/package.tgz" | base64 -w0)"
if [ "$got" != "$TARBALL_INTEGRITY" ] && [ -z "${UPDATE:-}" ]; then
  echo "vendor-axe: tarball integrity mismatch: $got" >&2
  exit 1
fi
tar -xzf "$tmp/package.tgz" -C "$tmp" package/axe.min.js package/LICENSE
sum=$(sha256sum "$tmp/package/axe.min.js" | cut -d' ' -f1)
if [ -n "${UPDATE:-}" ]; then
  echo "TARBALL_INTEGRITY=\"$got\""
  echo "FILE_SHA256=\"$sum\""
elif [ "$sum" != "$FILE_SHA256" ]; then
  echo "vendor-axe: axe.min.js sha256 mismatch: $sum" >&2
  exit 1
fi
cp "$tmp/package/axe.min.js" "$TARGET"
cp "$tmp/package/LICENSE" crates/server/tests/assets/axe.LICENSE
echo "vendor-axe: wrote $TARGET (axe-core@${AXE_VERSION}, sha256 $sum)"
