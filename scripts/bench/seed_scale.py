#!/usr/bin/env python3
"""Loads benchmark data into a migrated and seeded Curatore database.

Two steps, used by scripts/bench/management.sh and scripts/bench/profile.sh:

  seed_scale.py --base URL --token JWT --connections N
      creates N `llm` connections through the API (each with a sealed
      `api_key`, test_on_save false), so secrets are sealed as the server
      seals them; run while the server is up.

  seed_scale.py (--sqlite PATH | --postgres URL) --users N --audit-rows N
                [--keys N] [--organizations N] [--cursors FILE]
      bulk-loads N users and N audit entries into the default organization
      (UUIDv7 ids, timestamps spread over the past as the application
      writes them), N API keys of its admin and N more organizations;
      writes the keyset cursors 99,000 users and 990,000 entries deep to
      FILE. Run while the server is stopped (SQLite) or idle.

Standard library only; PostgreSQL through the psql command.
"""
import argparse, csv, hashlib, io, json, random, sqlite3, subprocess, sys, time, urllib.request, uuid

ap = argparse.ArgumentParser()
ap.add_argument("--base")
ap.add_argument("--token")
ap.add_argument("--connections", type=int, default=0)
ap.add_argument("--sqlite")
ap.add_argument("--postgres")
ap.add_argument("--users", type=int, default=0)
ap.add_argument("--audit-rows", type=int, default=0)
ap.add_argument("--keys", type=int, default=0)
ap.add_argument("--organizations", type=int, default=0)
ap.add_argument("--cursors")
a = ap.parse_args()
t0 = time.time()

if a.base:
    for i in range(a.connections):
        body = json.dumps({
            "name": f"bench-llm-{i:05d}", "connection_type": "llm", "test_on_save": False,
            "config": {"api_key": f"sk-bench-{i:05d}-{random.getrandbits(64):016x}",
                       "model": "gpt-4o-mini", "base_url": "https://api.openai.com/v1"},
        }).encode()
        req = urllib.request.Request(f"{a.base}/api/v1/connections", data=body, headers={
            "content-type": "application/json", "authorization": f"Bearer {a.token}"})
        with urllib.request.urlopen(req) as r:
            assert r.status == 201, r.status
    print(f"created {a.connections} connections in {time.time() - t0:.0f}s", file=sys.stderr)
    sys.exit(0)

now_us = int(time.time() * 1_000_000)


def uuid7(ms):
    r = random.getrandbits(74)
    v = (ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))
    return uuid.UUID(int=v)


def stamp(us):
    # Microseconds never a multiple of 1000, so the text has six digits, as
    # the application's encoder writes such instants.
    if us % 1000 == 0:
        us += 1
    s, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{frac:06d}+00:00", us


def rows(n, step_us):
    # newest first: row i is i steps in the past
    for i in range(n):
        text, us = stamp(now_us - (i + 1) * step_us - random.randrange(1, 999))
        yield i, uuid7(us // 1000), text, us


def cursor(us, uid):
    return us.to_bytes(8, "big", signed=True).hex() + uid.hex


USER_COLS = "id, organization_id, email, username, password_hash, role, created_at, updated_at"
AUDIT_COLS = "id, organization_id, action, entity_type, details, ip_address, status, created_at"
KEY_COLS = "id, organization_id, user_id, name, key_hash, prefix, scopes, is_active, created_at, updated_at"
ORG_COLS = "id, name, display_name, slug, is_active, settings, created_at, updated_at"


def generate(org, admin, pw, cursors):
    """(table, columns, row iterator) for every table to load."""
    def users():
        for i, uid, text, us in rows(a.users, 60_000_000):
            if i == 98_999 % max(a.users, 1):
                cursors["users"] = cursor(us, uid)
            yield (uid, org, f"user{i}@bench.example", f"user{i}", pw, "member", text, text)

    def audit():
        for i, uid, text, us in rows(a.audit_rows, 5_000_000):
            if i == 989_999 % max(a.audit_rows, 1):
                cursors["audit"] = cursor(us, uid)
            yield (uid, org, "login", "user", "{}", "127.0.0.1", "success", text)

    def keys():
        for i, uid, text, _ in rows(a.keys, 3_600_000_000):
            digest = hashlib.sha256(f"bench-key-{i}-{uid}".encode()).hexdigest()
            yield (uid, org, admin, f"bench-key-{i}", digest, f"cur_bk{i:06d}"[:12], "[]", True, text, text)

    def organizations():
        for i, uid, text, _ in rows(a.organizations, 3_600_000_000):
            yield (uid, f"Bench {i}", f"Bench organization {i}", f"bench-{i}", True, "{}", text, text)

    return [("users", USER_COLS, users()), ("audit_logs", AUDIT_COLS, audit()),
            ("api_keys", KEY_COLS, keys()), ("organizations", ORG_COLS, organizations())]


cursors = {}
counts = {}
if a.sqlite:
    db = sqlite3.connect(a.sqlite, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL")
    org = db.execute("SELECT id FROM organizations").fetchone()[0]
    admin, pw = db.execute("SELECT id, password_hash FROM users WHERE username = 'admin'").fetchone()
    db.execute("BEGIN")
    for table, cols, it in generate(org, admin, pw, cursors):
        marks = ",".join("?" * len(cols.split(",")))
        batch = []
        for row in it:
            # ids as 16-byte blobs, as sqlx stores UUIDs on SQLite
            batch.append(tuple(v.bytes if isinstance(v, uuid.UUID) else v for v in row))
            if len(batch) == 50_000:
                db.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch); batch = []
        if batch:
            db.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)
    db.execute("COMMIT"); db.execute("ANALYZE"); db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for t in ("organizations", "users", "api_keys", "connections", "audit_logs"):
        counts[t] = db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
else:
    def psql(*args, stdin=None):
        return subprocess.run(["psql", a.postgres, "-qAtX", "-v", "ON_ERROR_STOP=1", *args], input=stdin,
                              check=True, capture_output=True, text=True).stdout.strip()
    org = psql("-c", "SELECT id FROM organizations LIMIT 1")
    admin, pw = psql("-c", "SELECT id || ' ' || password_hash FROM users WHERE username = 'admin'").split(" ", 1)
    for table, cols, it in generate(org, admin, pw, cursors):
        buf = io.StringIO(); w = csv.writer(buf)
        for row in it:
            w.writerow([str(v) if isinstance(v, uuid.UUID) else v for v in row])
        psql("-c", f"\\copy {table} ({cols}) FROM STDIN WITH (FORMAT csv)", stdin=buf.getvalue())
    psql("-c", "VACUUM ANALYZE")
    for t in ("organizations", "users", "api_keys", "connections", "audit_logs"):
        counts[t] = int(psql("-c", f"SELECT count(*) FROM {t}"))
if a.cursors:
    json.dump(cursors, open(a.cursors, "w"))
print(f"loaded {counts} in {time.time() - t0:.0f}s", file=sys.stderr)
