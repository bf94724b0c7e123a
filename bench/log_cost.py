#!/usr/bin/env python3
"""What turning the request log on costs each server, per request.

The increment is small against a whole request, and CPU per request moves
between runs; so every round runs each server with logging off, with the
default line and with a 10-variable --log-format (to a file, --logto), one
after the other, and the cost is taken within the round (log minus off),
then the median over rounds, with the spread of the rounds.

With --profile, each server runs with logging on under `perf record` (a
software clock, call graphs from DWARF), and the cost is the share of the
worker's samples inside the functions that make and write the log line,
times its CPU per request: an attribution within one run, which the noise
between runs does not blur.

    bench/.venv/bin/python bench/log_cost.py [--rounds 7] [--seconds 5] [--conns 64] [--servers oxwsgi,uwsgi] [--profile]
"""
import argparse
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from run import APPS, run_one  # noqa: E402

MODES = (("off", None), ("default line", "default"), ("10-variable format", "format"))

# Where each server makes and writes its request line (perf's symbol
# names): a sample with one of them in its call chain is logging's.
LOG_FUNCTIONS = {
    "oxwsgi": ("oxwsgi::worker::request_log::Captured::take", "oxwsgi::worker::request_log::Captured::write", "oxwsgi::log::flush_batch"),
    "uwsgi": ("uwsgi_logit_simple", "uwsgi_logit_lf", "uwsgi_logit_lf_strftime"),
}
LOG_FUNCTIONS["oxwsgi-base"] = LOG_FUNCTIONS["oxwsgi"]


def profiler(tmp, server, out):
    """A run_one profile hook: perf on the workers while wrk runs; `out`
    gets the samples, and those with a log function in their call chain."""
    def start(pids, seconds):
        data = os.path.join(tmp, "perf.data")
        p = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "--call-graph", "dwarf,16384",
                              "-p", ",".join(map(str, pids)), "-o", data, "--", "sleep", str(max(seconds - 1, 1))],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def done():
            p.wait(timeout=seconds + 120)
            chains = subprocess.run(["perf", "script", "-i", data, "-F", "comm,tid,ip,sym"], capture_output=True, text=True, timeout=600).stdout
            samples = [c for c in chains.split("\n\n") if c.strip()]
            names = LOG_FUNCTIONS[server]
            out["samples"] = len(samples)
            out["log"] = sum(1 for c in samples if any(n in c for n in names))
            os.unlink(data)
            return True
        return done
    return start


def profile(servers, seconds, conns, tmp):
    hello = ("file", str(APPS / "hello.py"))
    print("# The request log's cost by profile, %s, hello world, 1 process, %d connections, %d s each\n" % (time.strftime("%Y-%m-%d"), conns, seconds))
    print("| server | log | rps | CPU us/req (profiled) | share in the log functions | cost us/req |")
    print("|---|---|---:|---:|---:|---:|")
    for s in servers:
        for m, log in MODES[1:]:
            counts = {}
            res = run_one(s, {"app": hello, "procs": 1, "conns": conns, "log": log, "profile": profiler(tmp, s, counts)}, seconds, tmp)
            share = 100.0 * counts["log"] / max(counts["samples"], 1)
            print("| %s | %s | %.0f | %.2f | %.1f%% | %.2f |" % (s, m, res["rps"], res["cpu"], share, share / 100 * res["cpu"]))
            for f in pathlib.Path(tmp).glob("*.log"):
                f.unlink()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--servers", default="oxwsgi,uwsgi")
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    servers = a.servers.split(",")
    tmp = tempfile.mkdtemp(prefix="oxwsgi-logcost-")
    os.chmod(tmp, 0o755)
    if a.profile:
        if not shutil.which("perf"):
            sys.exit("--profile needs perf: apt-get install linux-perf")
        profile(servers, a.seconds, a.conns, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    hello = ("file", str(APPS / "hello.py"))
    cpu = {(s, m): [] for s in servers for m, _ in MODES}
    rps = {(s, m): [] for s in servers for m, _ in MODES}
    for r in range(a.rounds):
        for s in servers:
            # The order of the modes turns with the round: no mode always runs first.
            for m, log in MODES[r % 3:] + MODES[:r % 3]:
                scen = {"app": hello, "procs": 1, "conns": a.conns}
                if log:
                    scen["log"] = log
                res = run_one(s, scen, a.seconds, tmp)
                cpu[(s, m)].append(res["cpu"])
                rps[(s, m)].append(res["rps"])
                for f in pathlib.Path(tmp).glob("*.log"):
                    f.unlink()
    print("# The request log's cost, %s, hello world, 1 process, %d connections, %d rounds of %d s\n"
          % (time.strftime("%Y-%m-%d"), a.conns, a.rounds, a.seconds))
    print("| server | log | rps | CPU us/req | cost us/req (median of rounds) | cost, rounds' range |")
    print("|---|---|---:|---:|---:|---|")
    for s in servers:
        for m, log in MODES:
            line = "| %s | %s | %.0f | %.2f |" % (s, m, statistics.median(rps[(s, m)]), statistics.median(cpu[(s, m)]))
            if log:
                d = [x - y for x, y in zip(cpu[(s, m)], cpu[(s, "off")])]
                line += " %+.2f | %+.2f .. %+.2f |" % (statistics.median(d), min(d), max(d))
            else:
                line += " | |"
            print(line)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
