#!/usr/bin/env bash
# The docs page in a real browser: headless Chromium (Debian's `chromium`,
# installed with apt-get if missing) loads /docs from the running server,
# checks that Swagger UI lists every operation of /openapi.json, and writes a
# screenshot to docs/img/docs-page.png (the README shows it).
#
# Environment (optional): DOCS_PORT=18282, DOCS_SCREENSHOT=docs/img/docs-page.png
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PORT=${DOCS_PORT:-18282}
SHOT=${DOCS_SCREENSHOT:-$ROOT/docs/img/docs-page.png}
BASE=http://127.0.0.1:$PORT

die() { echo "docs-browser.sh: $*" >&2; exit 1; }

if ! command -v chromium >/dev/null; then
    echo "=== installing chromium (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

cargo build --quiet -p curatore-server
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

env -i PATH="$PATH" HOME="$HOME" DATABASE_URL="sqlite://$WORK/docs.db" HOST=127.0.0.1 \
    PORT="$PORT" LOG_LEVEL=warn CURATORE_CONFIG_DIR="$WORK" \
    "$ROOT/target/debug/curatore-server" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
    curl -fs "$BASE/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; die "the server exited"; }
    sleep 0.2
done
curl -fs "$BASE/readyz" >/dev/null || die "the server did not become ready"

# Every operation of the document, as Swagger UI labels them: "METHOD path".
curl -fs "$BASE/openapi.json" >"$WORK/openapi.json"
python3 - "$WORK/openapi.json" >"$WORK/operations" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for path, item in doc["paths"].items():
    for method in item:
        if method in ("get", "put", "post", "delete", "patch", "head", "options"):
            print(method.upper(), path)
PY
expected=$(wc -l <"$WORK/operations")

chrome() {
    chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$WORK/profile" --virtual-time-budget=15000 "$@" 2>/dev/null
}

chrome --dump-dom "$BASE/docs" >"$WORK/dom.html" || die "chromium could not load $BASE/docs"
python3 - "$WORK/dom.html" "$WORK/operations" <<'PY' || die "the docs page does not list every operation"
import html, re, sys
dom = open(sys.argv[1]).read()
ops = [l.split() for l in open(sys.argv[2]) if l.strip()]
listed = set()
for method, path in re.findall(
    r'opblock-summary-method">([A-Z]+)</span>.*?data-path="([^"]+)"', dom, re.S
):
    listed.add((method, html.unescape(path)))
missing = [f"{m} {p}" for m, p in ops if (m, p) not in listed]
print(f"docs page: {len(listed)} operations listed, {len(ops)} in /openapi.json")
if missing:
    print("not listed:", *missing, sep="\n  ")
    sys.exit(1)
PY

mkdir -p "$(dirname "$SHOT")"
chrome --window-size=1280,1800 --hide-scrollbars --screenshot="$SHOT" "$BASE/docs/" >/dev/null ||
    die "chromium could not take the screenshot"
[ -s "$SHOT" ] || die "no screenshot written"
echo "=== docs page: every one of the $expected operations listed; screenshot: ${SHOT#"$ROOT"/}"
