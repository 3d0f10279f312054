#!/usr/bin/env bash
# Benchmark of the online backup (results: docs/benchmarks.md, "Backups").
#
# Usage: scripts/bench/backup.sh
#
# A fresh SQLite database; the server (release build, ENABLE_AUTH=true, the
# secrets key in the key file beside the database) starts once to migrate
# and seed, then stops; BENCH_AUDIT_ROWS (1,000,000) audit entries are
# bulk-loaded in one INSERT … SELECT (UUIDv7 ids, as the application writes
# them). The server starts again with one connection holding a secret; four
# writers create API keys through the API as fast as they are answered
# (one keep-alive connection each), and after a baseline of
# BENCH_BASELINE seconds `curatore-server backup` runs beside them. Reported:
# the backup's wall time, CPU time (user + system: the figure that depends
# least on other load), archive size and peak RSS (/usr/bin/time), the
# writers' throughput, p50 and p99 before and during
# the backup; then `backup verify` and `restore` (into a new file) of that
# archive, timed. The machine's load average is printed before and after:
# wall-clock figures mean little while other builds run.
#
# Environment: BENCH_AUDIT_ROWS (1000000), BENCH_BASELINE (10), BENCH_PORT
# (a free one), BENCH_SKIP_BUILD=1, BENCH_OUT=DIR (keep the work folder). Needs
# python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
# A free port unless one is given: other benchmarks may hold the usual ones.
PORT=${BENCH_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
AUDIT_ROWS=${BENCH_AUDIT_ROWS:-1000000}
BASELINE=${BENCH_BASELINE:-10}
WORK=${BENCH_OUT:-$(mktemp -d)}
mkdir -p "$WORK"
ADMIN_PASSWORD=bench-admin-password
SECRET="bench-secret-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
SERVER_PID=""
log() { printf '[bench-backup] %s\n' "$*" >&2; }
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
  [ -n "${BENCH_OUT:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

[ -n "${BENCH_SKIP_BUILD:-}" ] || cargo build --release --locked -q -p curatore-server
SERVER=${BENCH_SERVER:-$ROOT/target/release/curatore-server}
DB="$WORK/data/curatore.db"
mkdir -p "$WORK/app" "$WORK/cfg"

# The server's environment: nothing from the checkout's .env or config/.
# Replaces the calling (sub)shell.
run_env() {
  exec env -i PATH="$PATH" HOME="$WORK" CURATORE_CONFIG_DIR="$WORK/cfg" \
    PORT="$PORT" HOST=127.0.0.1 LOG_LEVEL=warn DATABASE_URL="sqlite://$DB" \
    ENABLE_AUTH=true JWT_SECRET_KEY="$SECRET" ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    RATE_LIMIT_ENABLED=false LOGIN_MAX_FAILURES_PER_IP=1000000 "$@"
}
start_server() {
  (cd "$WORK/app" && run_env "$SERVER" >"$WORK/server.log" 2>&1) &
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited; see $WORK/server.log"; exit 1; }
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  log "server did not become ready; see $WORK/server.log"; exit 1
}
stop_server() { kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
export -f run_env
export WORK PORT DB SECRET ADMIN_PASSWORD

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$WORK/app" && run_env "$SERVER" seed >/dev/null 2>&1)
python3 - "$DB" "$AUDIT_ROWS" <<'PY'
import random, sqlite3, sys, time
db_path, n = sys.argv[1], int(sys.argv[2])
t0 = time.time()
db = sqlite3.connect(db_path, isolation_level=None)
now_ms = int(time.time() * 1000)
def uuid7(i):
    ms = now_ms - (n - i) * 60_000
    r = random.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return v.to_bytes(16, "big")
db.create_function("uuid7", 1, uuid7, deterministic=False)
db.execute("BEGIN")
db.execute("""
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
INSERT INTO audit_logs (id, organization_id, action, entity_type, ip_address, status, created_at)
SELECT uuid7(i), (SELECT id FROM organizations LIMIT 1), 'login', 'user', '127.0.0.1', 'success',
       strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now', '-' || ((? - i) * 60) || ' seconds')
FROM n""", (n, n))
db.execute("COMMIT")
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(f"[bench-backup] loaded {db.execute('SELECT count(*) FROM audit_logs').fetchone()[0]} audit entries in {time.time() - t0:.1f}s", file=sys.stderr)
PY
log "database: $(du -m "$DB" | cut -f1) MB"

start_server
python3 - "$SERVER" "$BASELINE" <<'PY'
import http.client, json, os, statistics, subprocess, sys, threading, time
server, baseline = sys.argv[1], float(sys.argv[2])
port, work = int(os.environ["PORT"]), os.environ["WORK"]

def call(conn, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token: headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    r = conn.getresponse(); data = r.read()
    return r.status, data

c = http.client.HTTPConnection("127.0.0.1", port)
s, data = call(c, "POST", "/api/v1/auth/login", {"email_or_username": "admin", "password": os.environ["ADMIN_PASSWORD"]})
assert s == 200, data
token = json.loads(data)["access_token"]
s, data = call(c, "POST", "/api/v1/connections", {"name": "Model", "connection_type": "llm", "test_on_save": False,
    "config": {"api_key": "sk-bench-secret", "model": "m", "base_url": "http://127.0.0.1:9/v1"}}, token)
assert s == 201, data

stop = threading.Event()
samples = []  # (started, ended)
lock = threading.Lock()
def writer(w):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    i = 0
    while not stop.is_set():
        t = time.monotonic()
        st, body = call(conn, "POST", "/api/v1/api-keys", {"name": f"w{w}-{i}"}, token)
        e = time.monotonic()
        assert st == 201, body
        with lock: samples.append((t, e))
        i += 1
threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
for t in threads: t.start()
time.sleep(3)                       # warm-up, not counted
t_base = time.monotonic()
time.sleep(baseline)
t0 = time.monotonic()
out = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S", "bash", "-c",
                      f'cd "$WORK/app" && run_env "{server}" backup --output "$WORK/archives/"'],
                     capture_output=True, text=True)
t1 = time.monotonic()
time.sleep(1)
stop.set()
for t in threads: t.join()
assert out.returncode == 0, out.stderr
archive = out.stdout.strip().splitlines()[-1]
wall, rss_kb, user, system = out.stderr.strip().splitlines()[-1].split()

def stats(rows, span):
    lat = sorted((e - s) * 1000 for s, e in rows)
    if not lat: return "none"
    p = lambda q: lat[min(len(lat) - 1, int(len(lat) * q))]
    return f"{len(lat) / span:.0f} writes/s, p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms ({len(lat)} writes)"
before = [x for x in samples if t_base <= x[0] and x[1] < t0]
during = [x for x in samples if x[1] >= t0 and x[0] <= t1]
print(f"backup: {t1 - t0:.2f} s wall, {float(user) + float(system):.2f} s CPU (user {user}, system {system}), "
      f"archive {os.path.getsize(archive) / 2**20:.0f} MB, backup process peak RSS {int(rss_kb) / 1024:.0f} MB")
print(f"writers before: {stats(before, t0 - t_base)}")
print(f"writers during: {stats(during, t1 - t0)}")
with open(os.path.join(work, "archive.path"), "w") as f: f.write(archive)
PY
stop_server
ARCHIVE=$(cat "$WORK/archive.path")
# wall and CPU seconds, peak RSS of a command
timed() { /usr/bin/time -f "%e s wall, %U + %S s CPU, peak RSS %M KB" "$@" 2>&1 >/dev/null | tail -1; }
echo "verify: $(cd "$WORK/app" && timed bash -c 'run_env "$0" backup verify "$1"' "$SERVER" "$ARCHIVE")"
echo "restore (into a new file): $(cd "$WORK/app" && DB="$WORK/restored/curatore.db" timed bash -c 'run_env "$0" restore "$1"' "$SERVER" "$ARCHIVE")"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
