"""--stats (uWSGI's JSON, read by the real uwsgitop), --metrics
(Prometheus text) and --memory-report, checked against the traffic sent."""
import json
import os
import pty
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import fcntl
import threading
import time
import urllib.request

import pyte

from conftest import APPS, VENV, free_port
from test_http import get, raw

SUITE = APPS / "suite.py"
UWSGITOP = VENV / "bin" / "uwsgitop"


def read_to_end(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def stats_json(path):
    """The raw stats document from a unix path or a (host, port)."""
    if isinstance(path, tuple):
        with socket.create_connection(path, timeout=5) as s:
            return json.loads(read_to_end(s))
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(path))
        return json.loads(read_to_end(s))


def eventually(read, ok, timeout=5):
    """read() until ok(value) or the timeout; the last value. A worker
    counts a request just after its response is written, so a client can
    read the stats a moment before the count moves."""
    deadline = time.time() + timeout
    while True:
        v = read()
        if ok(v) or time.time() > deadline:
            return v
        time.sleep(0.05)


def settled_total(sock):
    """The workers' request total once two reads 0.05 s apart agree."""
    totals = []
    eventually(lambda: totals.append(sum(w["requests"] for w in stats_json(sock)["workers"])),
               lambda _: len(totals) > 1 and totals[-1] == totals[-2])
    return totals[-1]


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return r.read().decode()


def metric(text, name, **labels):
    """The value of one sample, or None."""
    want = ",".join('%s="%s"' % kv for kv in labels.items())
    line = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape("{%s}" % want) if want else ""), text, re.M)
    return float(line.group(1)) if line else None


def pids_of(port, n, tries=200):
    seen = set()
    for _ in range(tries):
        seen.add(json.loads(get(port, "/pid")[1])["pid"])
        if len(seen) == n:
            break
    return seen


def test_stats_json_has_uwsgis_keys_and_counts(serve, tmp_path):
    port, sock = free_port(), tmp_path / "stats.sock"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2", "--threads", "2",
                "--stats", sock, "--disable-logging", port=port)
    for _ in range(20):
        assert get(port, "/hello")[0].status == 200
    assert get(port, "/raise")[0].status == 500
    doc = eventually(lambda: stats_json(sock), lambda d: sum(w["requests"] for w in d["workers"]) == 21
                     and sum(c["requests"] for w in d["workers"] for c in w["cores"]) == 21)
    for key in ("version", "listen_queue", "load", "pid", "uid", "gid", "cwd", "sockets", "workers"):
        assert key in doc, key
    assert doc["pid"] == srv.pid and doc["uid"] == os.getuid()
    assert doc["sockets"][0]["name"] == "127.0.0.1:%d" % port and doc["sockets"][0]["max_queue"] == 1024
    workers = doc["workers"]
    assert [w["id"] for w in workers] == [1, 2]
    for w in workers:
        for key in ("id", "pid", "accepting", "requests", "delta_requests", "exceptions", "harakiri_count", "status",
                    "rss", "vsz", "running_time", "avg_rt", "tx", "last_spawn", "respawn_count", "cores"):
            assert key in w, key
        assert w["accepting"] == 1 and w["status"] == "idle" and w["rss"] > 1 << 20 and w["respawn_count"] == 1
        assert len(w["cores"]) == 2
    assert sum(w["requests"] for w in workers) == 21
    assert sum(w["exceptions"] for w in workers) == 1
    assert sum(c["requests"] for w in workers for c in w["cores"]) == 21
    assert sum(w["tx"] for w in workers) > 21 * 40
    assert {w["pid"] for w in workers} == pids_of(port, 2)
    # delta_requests counts since the previous read (summed over reads, as
    # the last count may land a moment after its response).
    settled_total(sock)
    for _ in range(3):
        get(port, "/hello")
    deltas = []
    eventually(lambda: deltas.append(sum(w["delta_requests"] for w in stats_json(sock)["workers"])), lambda _: sum(deltas) >= 3)
    assert sum(deltas) == 3, deltas


def test_busy_worker_and_listen_queue(serve, tmp_path):
    """A worker inside a request shows as busy; connections that no worker
    takes show in the listen queue."""
    port, sock = free_port(), tmp_path / "stats.sock"
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "1",
          "--stats", sock, "--disable-logging", port=port)
    t = threading.Thread(target=get, args=(port, "/sleep?1.5"))
    t.start()
    try:
        deadline = time.time() + 5
        while time.time() < deadline and stats_json(sock)["workers"][0]["status"] != "busy":
            time.sleep(0.05)
        w = stats_json(sock)["workers"][0]
        assert w["status"] == "busy" and w["cores"][0]["in_request"] == 1
    finally:
        t.join()
    assert eventually(lambda: stats_json(sock)["workers"][0]["status"], lambda st: st == "idle") == "idle"
    # Stop the only worker (SIGSTOP): new connections wait in the backlog.
    wpid = stats_json(sock)["workers"][0]["pid"]
    os.kill(wpid, signal.SIGSTOP)
    clients = []
    try:
        for _ in range(5):
            c = socket.create_connection(("127.0.0.1", port))
            # TCP sockets defer accept (as uWSGI's do) until data comes.
            c.sendall(b"GET / HTTP/1.1\r\n")
            clients.append(c)
        time.sleep(0.3)
        doc = stats_json(sock)
        # The worker's accept thread may have taken one before it stopped.
        assert doc["listen_queue"] >= 4 and doc["sockets"][0]["queue"] >= 4, doc
    finally:
        os.kill(wpid, signal.SIGCONT)
        for c in clients:
            c.close()


def run_uwsgitop(address, expect, timeout=15):
    """Runs the real uwsgitop in a terminal and returns the screen once
    every string of `expect` is on it."""
    screen = pyte.Screen(160, 40)
    stream = pyte.ByteStream(screen)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm"
        os.environ["LINES"], os.environ["COLUMNS"] = "40", "160"
        os.execv(sys.executable, [sys.executable, str(UWSGITOP), "--frequency", "1", str(address)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    text = ""
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    stream.feed(os.read(fd, 65536))
                except OSError:
                    break
            text = "\n".join(screen.display)
            if all(e in text for e in expect):
                return text
        raise AssertionError("uwsgitop did not show %r:\n%s" % (expect, text))
    finally:
        try:
            os.write(fd, b"q")
            time.sleep(0.2)
        except OSError:
            pass
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)


def test_uwsgitop_shows_our_workers(serve, tmp_path):
    assert UWSGITOP.exists(), "uwsgitop is missing from %s: pip install -r tests/requirements.txt" % VENV
    port, sock = free_port(), tmp_path / "stats.sock"
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
          "--stats", sock, "--disable-logging", port=port)
    pids = pids_of(port, 2)
    for _ in range(40):
        get(port, "/hello")
    total = settled_total(sock)
    screen = run_uwsgitop(sock, ["WID", "req: %d" % total] + [str(p) for p in pids])
    rows = [l.split() for l in screen.splitlines() if any(l.split()[2:3] == [str(p)] for p in pids)]
    assert len(rows) == 2, screen
    assert sum(int(r[3]) for r in rows) == total, screen
    assert {r[7] for r in rows} == {"idle"}, screen


def test_uwsgitop_over_stats_http(serve):
    port, sport = free_port(), free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--processes", "1",
          "--stats", "127.0.0.1:%d" % sport, "--stats-http", "--disable-logging", port=port)
    for _ in range(7):
        get(port, "/hello")
    def read():
        with urllib.request.urlopen("http://127.0.0.1:%d/" % sport, timeout=5) as r:
            assert r.headers["Content-Type"] == "application/json"
            return json.loads(r.read())
    assert eventually(read, lambda d: d["workers"][0]["requests"] == 7)["workers"][0]["requests"] == 7
    # The same socket gives Prometheus text at /metrics.
    assert metric(scrape(sport), "oxwsgi_requests_total", worker="1", status="2xx") == 7
    pid = json.loads(get(port, "/pid")[1])["pid"]
    run_uwsgitop("http://127.0.0.1:%d" % sport, ["WID", str(pid), "req: 8"])


def test_metrics_match_the_traffic(serve, tmp_path):
    port, mport = free_port(), free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
                "--max-requests", "20", "--metrics", "127.0.0.1:%d" % mport, "--disable-logging", port=port)
    sent = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for i in range(30):
        assert get(port, "/hello")[0].status == 200
        sent["2xx"] += 1
    for code, n in (("302", 3), ("404", 4), ("503", 2)):
        for _ in range(n):
            assert get(port, "/status?" + code)[0].status == int(code)
            sent[code[0] + "xx"] += 1
    for _ in range(2):
        assert get(port, "/raise")[0].status == 500
        sent["5xx"] += 1
    # A malformed request is refused by the server itself: still a 4xx.
    assert raw(port, b"GET / HTTP/1.1\r\nHost: a\r\nHost b\r\n\r\n").startswith(b"HTTP/1.1 400")
    sent["4xx"] += 1
    total = sum(sent.values())
    text = eventually(lambda: scrape(mport), lambda t: metric(t, "oxwsgi_request_duration_seconds_count") == total)
    for cls, n in sent.items():
        got = sum(metric(text, "oxwsgi_requests_total", worker=str(w), status=cls) for w in (1, 2))
        assert got == n, (cls, got, n, text)
    assert metric(text, "oxwsgi_request_duration_seconds_count") == total
    assert metric(text, "oxwsgi_request_duration_seconds_bucket", le="+Inf") == total
    assert metric(text, "oxwsgi_request_duration_seconds_bucket", le="0.001") <= total
    assert sum(metric(text, "oxwsgi_exceptions_total", worker=str(w)) for w in (1, 2)) == 2
    # (a worker retiring under --max-requests shows 0 until its successor runs)
    assert any(metric(text, "oxwsgi_worker_rss_bytes", worker=str(w)) > 1 << 20 for w in (1, 2))
    assert sum(metric(text, "oxwsgi_gil_wait_seconds_total", worker=str(w)) for w in (1, 2)) > 0
    assert sum(metric(text, "oxwsgi_tx_bytes_total", worker=str(w)) for w in (1, 2)) > total * 40
    assert metric(text, "oxwsgi_listen_queue", socket="127.0.0.1:%d" % port) == 0
    # 45 requests over 2 workers with --max-requests 20: workers retired,
    # and the metrics say why each was respawned.
    srv.wait_log("served --max-requests 20")
    time.sleep(0.5)
    retired = srv.read_log().count("served --max-requests 20")
    deadline = time.time() + 5
    while time.time() < deadline and metric(scrape(mport), "oxwsgi_worker_respawns_total", cause="max-requests") < retired:
        time.sleep(0.1)
    assert metric(scrape(mport), "oxwsgi_worker_respawns_total", cause="max-requests") == retired >= 1
    # In flight: a request in progress is counted.
    t = threading.Thread(target=get, args=(port, "/sleep?1"))
    t.start()
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            text = scrape(mport)
            if sum(metric(text, "oxwsgi_requests_in_flight", worker=str(w)) for w in (1, 2)) == 1:
                break
            time.sleep(0.05)
        assert sum(metric(text, "oxwsgi_requests_in_flight", worker=str(w)) for w in (1, 2)) == 1
    finally:
        t.join()
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % mport, timeout=5)
        assert False, "expected a 404"
    except urllib.error.HTTPError as e:
        assert e.code == 404


def test_crash_and_harakiri_are_counted(serve, tmp_path):
    port, mport, sock = free_port(), free_port(), tmp_path / "stats.sock"
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "1", "--harakiri", "1",
          "--harakiri-graceful-timeout", "1", "--stats", sock, "--metrics", "127.0.0.1:%d" % mport, port=port)
    assert get(port, "/spin?3")[0].status == 504
    w = stats_json(sock)["workers"][0]
    assert w["harakiri_count"] == 1
    try:
        get(port, "/crash")
    except Exception:
        pass
    deadline = time.time() + 10
    while time.time() < deadline and stats_json(sock)["workers"][0]["respawn_count"] < 2:
        time.sleep(0.1)
    w = stats_json(sock)["workers"][0]
    assert w["respawn_count"] == 2 and w["requests"] == 0
    text = scrape(mport)
    assert metric(text, "oxwsgi_worker_respawns_total", cause="signal") == 1
    assert metric(text, "oxwsgi_harakiri_total", worker="1") == 1
    # Lifetime totals survive the respawn.
    assert metric(text, "oxwsgi_requests_total", worker="1", status="5xx") == 1
    assert get(port, "/hello")[0].status == 200


def test_memory_report_prefixes_the_log_line(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--memory-report", port=port)
    get(port, "/hello")
    srv.wait_log("GET /hello")
    line = [l for l in srv.read_log().splitlines() if "GET /hello" in l][0]
    m = re.match(r"\{address space usage: (\d+) bytes/(\d+)MB\} \{rss usage: (\d+) bytes/(\d+)MB\} \[pid: \d+\|app: 0\|req: 1/1\]", line)
    assert m, line
    assert int(m.group(1)) >> 20 == int(m.group(2)) and int(m.group(3)) >> 20 == int(m.group(4)) and int(m.group(3)) > 1 << 20


def test_stats_options_errors(tmp_path):
    from conftest import run_oxwsgi
    r = run_oxwsgi("--emperor", tmp_path, "--stats", "127.0.0.1:1")
    assert r.returncode == 1 and "each vassal's config" in r.stderr
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--stats", "300.1.1.1:1")
    assert r.returncode == 1 and "stats" in r.stderr


def test_only_the_master_holds_the_stats_socket(serve, tmp_path):
    port, sport = free_port(), free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
                "--stats", "127.0.0.1:%d" % sport, port=port)
    srv.wait_log("spawned worker 2")
    # The inode of the listening stats socket, from /proc/net/tcp.
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1].endswith(":%04X" % sport) and fields[3] == "0A":
                inode = fields[9]
    assert inode, "no listening socket for the stats port"

    def holds(pid):
        fds = "/proc/%d/fd" % pid
        return any(os.readlink(os.path.join(fds, fd)) == "socket:[%s]" % inode for fd in os.listdir(fds))

    workers = [w["pid"] for w in stats_json(("127.0.0.1", sport))["workers"]]
    assert holds(srv.pid)
    assert len(workers) == 2 and not any(holds(p) for p in workers)
