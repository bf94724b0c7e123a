#!/usr/bin/env python3
"""How long a request can wait while a Django site reloads under steady load.

Starts the server (oxwsgi, or uWSGI for comparison) with the benchmark's
Django project, `--master --processes 2`, drives it with a few bounded
client threads, sends SIGHUP a few times, and reports the failed requests
and the longest request latency during the reloads, next to the longest
without one.

    bench/.venv/bin/python bench/reload_latency.py [--server oxwsgi|uwsgi] [--reloads 3] [--clients 4] [--logger]

--logger logs the requests through `--logger file:...` (so through the log
master) instead of --disable-logging.
"""
import argparse
import os
import pathlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from procs import free_port  # noqa: E402
from run import OX, VENV, django_project, wait_port  # noqa: E402


def command(server, port, proj, logger=None):
    common = ["--master", "--processes", "2", "--http-socket", "127.0.0.1:%d" % port, "--module", "mysite.wsgi", "--chdir", proj,
              "--home", str(VENV)]
    common += ["--logger", "file:%s" % logger] if logger else ["--disable-logging"]
    if server == "uwsgi":
        return [str(VENV / "bin" / "uwsgi"), "--need-app", "--die-on-term"] + common
    return [os.environ.get("OXWSGI", str(OX))] + common


class Load:
    """Bounded client loops: each request's latency, and each failure."""

    def __init__(self, port, clients, seconds):
        self.url = "http://127.0.0.1:%d/page/" % port
        self.samples, self.failures, self.stop = [], [], False
        deadline = time.time() + seconds
        self.ts = [threading.Thread(target=self.run, args=(deadline,)) for _ in range(clients)]
        for t in self.ts:
            t.start()

    def run(self, deadline):
        while not self.stop and time.time() < deadline:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as r:
                    r.read()
                    ok = r.status == 200
            except Exception as e:  # refused, reset, timed out
                ok = False
                self.failures.append(repr(e))
            t1 = time.monotonic()
            if ok:
                self.samples.append((t0, t1 - t0))
            time.sleep(0.002)

    def finish(self):
        self.stop = True
        for t in self.ts:
            t.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default="oxwsgi", choices=["oxwsgi", "uwsgi"])
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--logger", action="store_true")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="oxwsgi-reload-bench-")
    proc = None
    try:
        proj = django_project(tmp)
        port = free_port()
        logger = os.path.join(tmp, "requests.log") if a.logger else None
        proc = subprocess.Popen(command(a.server, port, proj, logger), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(port, proc)
        time.sleep(1)
        load = Load(port, a.clients, seconds=10 + 6 * a.reloads)
        time.sleep(2)
        windows = []
        for _ in range(a.reloads):
            t = time.monotonic()
            proc.send_signal(signal.SIGHUP)
            time.sleep(5)
            windows.append((t, time.monotonic()))
        time.sleep(1)
        load.finish()
        during = [d for (t0, d) in load.samples if any(w0 <= t0 + d and t0 <= w1 for w0, w1 in windows)]
        before = [d for (t0, d) in load.samples if t0 + d < windows[0][0]]
        print("# %s: %d reloads under %d clients%s, %s" % (a.server, a.reloads, a.clients, " (--logger file:)" if a.logger else "", time.strftime("%Y-%m-%d")))
        print("requests %d, failed %d" % (len(load.samples), len(load.failures)))
        print("without a reload: p50 %.1f ms, max %.1f ms" % (statistics.median(before) * 1e3, max(before) * 1e3))
        print("around a reload:  p50 %.1f ms, max %.1f ms" % (statistics.median(during) * 1e3, max(during) * 1e3))
        if load.failures:
            print("first failures:", load.failures[:3])
    finally:
        if proc and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
