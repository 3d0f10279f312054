#!/usr/bin/env python3
"""Connection list latency: 1,000 connections (each with a sealed secret) in
one organization, `GET /api/v1/connections?limit=1000` timed N times from a
keep-alive client; prints p50/p99/max. Standard library only.

    cargo build --release -p curatore-server
    scripts/bench/connections.py [--binary target/release/curatore-server]
        [--database-url sqlite:///tmp/x.db | postgres://...] [--requests 300]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def call(conn, method, path, body=None, token=None):
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/curatore-server")
    ap.add_argument("--database-url")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp()
    url = args.database_url or f"sqlite://{tmp}/bench.db"
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CURATORE_CONFIG_DIR": tmp,
        "DATABASE_URL": url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "ENABLE_AUTH": "true",
        "JWT_SECRET_KEY": "bench-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye",
        "ADMIN_PASSWORD": "bench-admin-password",
        "SECRETS_ENCRYPTION_KEY": "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "AUTO_TEST_CONNECTIONS": "false",
        "LOG_LEVEL": "warn",
        "LOGIN_MAX_FAILURES_PER_IP": "1000",
    }
    server = subprocess.Popen([os.path.abspath(args.binary)], cwd=tmp, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                if call(c, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline:
                sys.exit("server did not become ready")
            time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        status, body = call(conn, "POST", "/api/v1/auth/login",
                            {"email_or_username": "admin", "password": "bench-admin-password"})
        assert status == 200, body
        token = json.loads(body)["access_token"]
        for i in range(args.connections):
            status, body = call(conn, "POST", "/api/v1/connections", {
                "name": f"LLM {i}", "connection_type": "llm", "test_on_save": False,
                "config": {"api_key": f"sk-bench-{i:06d}-secret", "model": "m",
                           "base_url": "http://127.0.0.1:9/v1"}}, token)
            assert status == 201, body
        path = f"/api/v1/connections?limit={args.connections}"
        for _ in range(20):  # warm-up
            call(conn, "GET", path, token=token)
        times = []
        for _ in range(args.requests):
            t = time.perf_counter()
            status, body = call(conn, "GET", path, token=token)
            times.append((time.perf_counter() - t) * 1000)
            assert status == 200
        listed = json.loads(body)
        assert listed["total"] == args.connections
        assert "sk-bench-" not in body.decode()
        times.sort()
        p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
        print(f"{url.split(':')[0]}: list of {args.connections} connections "
              f"({len(body)} bytes), {args.requests} requests: "
              f"p50 {p(0.5):.2f} ms, p99 {p(0.99):.2f} ms, max {times[-1]:.2f} ms")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
