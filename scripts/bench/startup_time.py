#!/usr/bin/env python3
"""Start-to-ready time of curatore-server, used by scripts/bench.sh.

Usage: startup_time.py --runs N --port PORT --log-dir DIR -- COMMAND [ARGS...]

Starts COMMAND N times (one after another, each on an already migrated
database), and for each run measures the wall time from just before exec to
the first `200` answer of `GET /readyz`, polling every millisecond with a raw
socket (no curl fork per poll). Each server is then stopped with SIGTERM.
Also reads `startup_ms=` from the server's "Listening on" log line (what the
server itself measures, from `serve()` entry to bind).

Prints one line per run and a final line:
    median_ready_ms=<x> median_startup_ms=<y> runs=<list>
Only the standard library is used.
"""

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def ready(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(REQUEST)
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def one_run(cmd, port, log_path, timeout_s=60.0):
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                if ready(port):
                    ready_ms = (time.perf_counter() - t0) * 1000.0
                    break
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited with {proc.returncode}; see {log_path}")
                if time.perf_counter() - t0 > timeout_s:
                    raise RuntimeError(f"server not ready after {timeout_s}s; see {log_path}")
                time.sleep(0.001)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    startup_ms = None
    with open(log_path, "r", errors="replace") as f:
        m = re.search(r"startup_ms=(\d+)", f.read())
        if m:
            startup_ms = int(m.group(1))
    return ready_ms, startup_ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--log-dir", required=True)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        p.error("missing COMMAND")
    readies, startups = [], []
    for i in range(1, a.runs + 1):
        log_path = os.path.join(a.log_dir, f"startup-run{i}.log")
        r, s = one_run(cmd, a.port, log_path)
        readies.append(r)
        if s is not None:
            startups.append(s)
        print(f"run {i}: ready_ms={r:.1f} startup_ms={s}", flush=True)
        time.sleep(0.3)  # let the port and the database settle between runs
    med_r = statistics.median(readies)
    med_s = statistics.median(startups) if startups else float("nan")
    runs = ",".join(f"{x:.0f}" for x in readies)
    print(f"median_ready_ms={med_r:.1f} median_startup_ms={med_s:.0f} runs={runs}")


if __name__ == "__main__":
    try:
        main()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
