#!/usr/bin/env python3
"""A bounded soak test (not run in CI): N minutes of mixed load against one
oxwsgi instance with workers recycled by --max-requests and a SIGHUP reload
every few seconds. Reports requests sent, answered and failed (failures we
cause on purpose, the abrupt disconnects, are counted apart), and the RSS of
every process of the server at the start and at the end.

    .venv/bin/python bench/soak.py --minutes 2
"""
import argparse
import hashlib
import http.client
import os
import pathlib
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from procs import free_port, rss_mb, tree  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "oxwsgi"
APP = ROOT / "tests" / "apps" / "suite.py"








def read_to_close(s):
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            return out
        out += c


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.c = {"sent": 0, "answered": 0, "failed": 0, "retried": 0, "killed_on_purpose": 0}
        self.errors = {}

    def add(self, k, err=None):
        with self.lock:
            self.c[k] += 1
            if err:
                self.errors[err] = self.errors.get(err, 0) + 1


def keepalive(port, st, stop):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while not stop.is_set():
        st.add("sent")
        try:
            c.request("GET", "/ka")
            r = c.getresponse()
            body = r.read()
            st.add("answered" if r.status == 200 and body == b"suite: /ka" else "failed", None if r.status == 200 else "status %d" % r.status)
            if r.getheader("Connection") == "close":
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        except Exception as e:  # noqa: BLE001
            st.add("failed", type(e).__name__)
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def pipelined(port, st, stop):
    while not stop.is_set():
        n = 5
        for _ in range(n):
            st.add("sent")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"".join(b"GET /p HTTP/1.1\r\nHost: x\r\n\r\n" for _ in range(n - 1)) + b"GET /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                out = read_to_close(s)
            got = out.count(b"suite: /p")
            for _ in range(got):
                st.add("answered")
            # RFC 9112 9.3.2: a pipelining client retries what was not
            # answered when the server closed with Connection: close after
            # its last answer (a worker recycled or reloaded).
            graceful = out.rfind(b"Connection: close") > out.rfind(b"HTTP/1.1 200") >= 0
            for _ in range(n - got):
                if graceful:
                    st.add("retried")
                else:
                    st.add("failed", "pipelined answer missing")
        except Exception as e:  # noqa: BLE001
            for _ in range(n):
                st.add("failed", type(e).__name__)


def big_posts(port, st, stop):
    while not stop.is_set():
        data = os.urandom(random.choice([1024, 65536, 2 * 2**20]))
        st.add("sent")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            c.request("POST", "/sha", body=data)
            r = c.getresponse()
            ok = r.status == 200 and hashlib.sha256(data).hexdigest() in r.read().decode()
            st.add("answered" if ok else "failed", None if ok else "bad echo")
            c.close()
        except Exception as e:  # noqa: BLE001
            st.add("failed", type(e).__name__)


def slow_client(port, st, stop):
    while not stop.is_set():
        st.add("sent")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                for b in b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n":
                    s.sendall(bytes([b]))
                    time.sleep(0.01)
                out = read_to_close(s)
            st.add("answered" if out.endswith(b"suite: /slow") else "failed", None if out.endswith(b"suite: /slow") else "slow answer")
        except Exception as e:  # noqa: BLE001
            st.add("failed", type(e).__name__)


def rude_client(port, st, stop):
    while not stop.is_set():
        st.add("killed_on_purpose")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(random.choice([b"GET /big?4 HTTP/1.1\r\nHost: x\r\n\r\n", b"POST /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc", b"GET / HT"]))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        time.sleep(0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--reload-every", type=float, default=5.0)
    a = ap.parse_args()
    port = free_port()
    log = open("/tmp/oxwsgi-soak.log", "w")
    srv = subprocess.Popen([str(BIN), "--http", "127.0.0.1:%d" % port, "--wsgi-file", str(APP), "--master", "--processes", "2",
                            "--threads", "2", "--max-requests", "500", "--disable-logging"], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("the server did not start; see /tmp/oxwsgi-soak.log")
            time.sleep(0.1)
    time.sleep(1)
    start_rss = {p: rss_mb(p) for p in tree(srv.pid)}
    st = Stats()
    stop = threading.Event()
    workers = [threading.Thread(target=f, args=(port, st, stop)) for f in
               (keepalive, keepalive, keepalive, pipelined, big_posts, slow_client, rude_client)]
    for t in workers:
        t.start()
    end = time.time() + a.minutes * 60
    reloads = 0
    while time.time() < end:
        time.sleep(min(a.reload_every, max(0, end - time.time())))
        if time.time() < end:
            os.kill(srv.pid, signal.SIGHUP)
            reloads += 1
    time.sleep(1)  # let the last reload settle, so the RSS is of settled workers
    end_rss = {p: rss_mb(p) for p in tree(srv.pid)}
    stop.set()
    for t in workers:
        t.join(60)
    srv.send_signal(signal.SIGTERM)
    code = srv.wait(60)
    print("soak: %.1f minutes, %d SIGHUP reloads, workers recycled every 500 requests" % (a.minutes, reloads))
    print("requests: sent %(sent)d, answered %(answered)d, failed %(failed)d, pipelined and retried after a graceful close %(retried)d; abrupt disconnects on purpose %(killed_on_purpose)d" % st.c)
    if st.errors:
        print("failures:", st.errors)
    print("RSS at start (MB): " + ", ".join("%d: %.1f" % kv for kv in start_rss.items()))
    print("RSS at end   (MB): " + ", ".join("%d: %.1f" % kv for kv in end_rss.items()))
    print("master RSS %.1f -> %.1f MB; server exit status %d" % (start_rss.get(srv.pid, 0), end_rss.get(srv.pid, 0), code))
    sys.exit(1 if st.c["failed"] or code != 0 else 0)


if __name__ == "__main__":
    main()
