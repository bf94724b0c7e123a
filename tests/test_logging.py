"""Logging as uWSGI users configure it: the real binary writes what its
options say, and the tests read it back."""
import concurrent.futures
import json
import os
import shutil
import signal
import socket
import subprocess
import time

from conftest import APPS, BIN, ROOT, free_port, wait_port
from test_http import get
from test_master import wait_for

SUITE = APPS / "suite.py"

FORMAT = ('%(addr) %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) %(rsize) %(hsize) '
          '"%(referer)" "%(uagent)" %(host) %(msecs) %(micros) %(cl) %(pid) %(wid) %(headers) %(var.HTTP_X_TRACE) %(who)')


def check_format_line(line, pid_expected=None):
    head, rest = line.split(" [", 1)
    assert head == "127.0.0.1 -", line
    ltime, rest = rest.split("] ", 1)
    assert time.strptime(ltime, "%d/%b/%Y:%H:%M:%S %z"), ltime
    f = rest.split(" ")
    assert f[0:3] == ['"POST', "/echo?x=1", 'HTTP/1.1"'], line
    status, size, rsize, hsize = map(int, f[3:7])
    assert status == 200 and size == rsize + hsize and rsize == 5 and hsize > 20, line
    assert f[7] == '"http://ref.example/"' and f[8] == '"tester/1.0"', line
    msecs, micros, cl, pid, wid, headers = map(int, f[10:16])
    assert micros >= msecs * 1000 and cl == 5 and wid == 1 and headers >= 1, line
    if pid_expected:
        assert pid == pid_expected
    assert f[16:] == ["abc-1", "-"], line


def post(port):
    r, body = get(port, "/echo?x=1", method="POST", body=b"hello",
                  headers={"Referer": "http://ref.example/", "User-Agent": "tester/1.0", "X-Trace": "abc-1", "Host": "shop.example"})
    assert r.status == 200 and body == b"hello"


def test_log_format_every_variable_direct_and_through_nginx(serve, nginx, tmp_path):
    log = tmp_path / "req.log"
    port, up = free_port(), free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--socket", "127.0.0.1:%d" % up, "--wsgi-file", SUITE,
                "--log-format", FORMAT, "--req-logger", "file:%s" % log, port=port)
    post(port)
    nport = free_port()
    nginx("""
    server {
        listen 127.0.0.1:%d;
        location / { uwsgi_pass 127.0.0.1:%d; include %s/uwsgi_params; }
    }""" % (nport, up, ROOT), nport)
    post(nport)
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2, what="two request lines")
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    for line in lines:
        check_format_line(line)
    assert "shop.example" in lines[0]
    # Request lines go to the request logger only, the rest to stderr.
    assert "POST /echo" not in srv.read_log()


def test_log_variables_set_by_the_app(serve, tmp_path):
    app = tmp_path / "lv.py"
    app.write_text("import uwsgi\n"
                   "def application(e, sr):\n"
                   "    uwsgi.set_logvar('who', 'user-%s' % e['QUERY_STRING'])\n"
                   "    sr('200 OK', [])\n"
                   "    return [uwsgi.get_logvar('who').encode()]\n")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--threads", "4", "--log-format", "%(uri) who=%(who)", port=port)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        bodies = list(ex.map(lambda i: get(port, "/x?%d" % i)[1], range(40)))
    assert bodies == [b"user-%d" % i for i in range(40)]
    wait_for(lambda: srv.read_log().count("who=") == 40, what="40 lines")
    for i in range(40):
        assert "/x?%d who=user-%d\n" % (i, i) in srv.read_log()


def test_json_request_lines(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--log-format", "json", port=port)
    get(port, '/pid?a="quoted"')
    wait_for(lambda: '"status"' in srv.read_log(), what="the JSON line")
    line = [l for l in srv.read_log().splitlines() if l.startswith("{")][0]
    doc = json.loads(line)
    assert doc["uri"] == '/pid?a="quoted"' and doc["status"] == 200 and isinstance(doc["size"], int)
    assert doc["method"] == "GET" and doc["addr"] == "127.0.0.1" and time.strptime(doc["timestamp"], "%Y-%m-%dT%H:%M:%S%z")


def test_selective_logging_under_disable_logging(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--disable-logging", "--log-5xx", "--log-slow", "300",
                "--log-zero", port=port)
    get(port, "/pid")             # 200, fast, has a body: not logged
    get(port, "/raise")           # 500: logged
    get(port, "/sleep?0.4")       # slow: logged
    get(port, "/status204")       # empty body: logged
    get(port, "/nothere-but-ok")  # suite answers 200 with a body: not logged
    wait_for(lambda: srv.read_log().count("=> generated") == 3, what="three request lines")
    log = srv.read_log()
    assert "GET /raise =>" in log and "GET /sleep?0.4 =>" in log and "GET /status204 =>" in log
    assert "GET /pid =>" not in log
    port2 = free_port()
    srv2 = serve("--http", "127.0.0.1:%d" % port2, "--wsgi-file", SUITE, "--disable-logging", "--log-4xx", "--log-big", "100000",
                 port=port2)
    get(port2, "/big")
    get(port2, "/pid")
    get(port2, "/status?404")
    wait_for(lambda: srv2.read_log().count("=> generated") == 2, what="two request lines")
    assert "GET /pid =>" not in srv2.read_log()


def test_default_line_options(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--log-x-forwarded-for", "--log-micros",
                "--log-date", "%Y-%m-%d", "--log-prefix", "[shop] ", port=port)
    get(port, "/pid", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})
    wait_for(lambda: "GET /pid" in srv.read_log(), what="the line")
    line = [l for l in srv.read_log().splitlines() if "GET /pid" in l][0]
    assert line.startswith("[shop] [pid: ") and "] 203.0.113.9 () {" in line and " micros (HTTP/1.1 200)" in line, line
    assert any(l.startswith("[shop] %s - oxwsgi: " % time.strftime("%Y-%m-%d")) for l in srv.read_log().splitlines()), srv.read_log()


def test_loggers_routes_and_encoders(serve, tmp_path):
    port = free_port()
    general, req, slow = tmp_path / "general.log", tmp_path / "req.log", tmp_path / "errors.log"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
                "--logger", "file:%s" % general, "--logger", "errs file:%s" % slow, "--log-route", "errs Traceback|Error",
                "--req-logger", "file:%s" % req, "--log-req-encoder", "prefix REQ ", port=port)
    get(port, "/pid")
    get(port, "/raise")
    wait_for(lambda: req.exists() and req.read_text().count("\n") == 2, what="two request lines")
    wait_for(lambda: slow.exists() and "RuntimeError: boom" in slow.read_text(), what="the traceback routed")
    assert all(l.startswith("REQ [pid: ") for l in req.read_text().splitlines())
    assert "spawned worker 2" in general.read_text() and "Traceback" not in general.read_text()
    assert "=> generated" not in general.read_text()
    assert "spawned worker" not in srv.read_log()  # the loggers took it


def test_udp_and_unix_datagram_loggers(serve, tmp_path):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(10)
    dgram_path = str(tmp_path / "log.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    unix.bind(dgram_path)
    unix.settimeout(10)
    try:
        port = free_port()
        serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE,
              "--logger", "rsyslog:127.0.0.1:%d,shop,local0" % udp.getsockname()[1], "--req-logger", "socket:%s" % dgram_path,
              port=port)
        get(port, "/pid")
        got = []
        while not any(b"spawned" in g or b"ready in process" in g for g in got):
            got.append(udp.recv(65536))
        assert all(g.startswith(b"<134>shop: ") for g in got), got
        line = unix.recv(65536)
        assert line.startswith(b"[pid: ") and b"GET /pid" in line
    finally:
        udp.close()
        unix.close()


def test_rotation_at_maxsize_loses_no_line(serve, tmp_path):
    log = tmp_path / "app.log"
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2", "--threads", "2",
                "--logto", log, "--log-maxsize", "30000", port=port)
    n = 600
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda i: get(port, "/pid?n=%d" % i), range(n)))

    def lines():
        out = []
        for f in tmp_path.iterdir():
            if f.name.startswith("app.log"):
                out += [l for l in f.read_text().splitlines() if "GET /pid?n=" in l]
        return out
    wait_for(lambda: len(lines()) == n, what="every request line")
    seen = sorted(int(l.split("GET /pid?n=")[1].split(" ")[0]) for l in lines())
    assert seen == list(range(n))  # none lost, none cut (each parses)
    rotated = [f for f in tmp_path.iterdir() if f.name.startswith("app.log.")]
    assert len(rotated) >= 3, rotated
    assert all(f.stat().st_size < 30000 + 4096 for f in rotated)
    assert "triggering rotation to" in log.read_text() or any("triggering rotation" in f.read_text() for f in rotated)
    assert srv.poll() is None


def test_touch_logreopen_after_logrotate_moved_the_file(serve, tmp_path):
    log, moved, trigger = tmp_path / "app.log", tmp_path / "app.log.1", tmp_path / "reopen"
    trigger.write_text("")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--logto", log, "--touch-logreopen", trigger, port=port)
    get(port, "/pid?before")
    wait_for(lambda: "before" in log.read_text(), what="the first line")
    os.rename(log, moved)
    time.sleep(0.05)
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    wait_for(lambda: log.exists(), what="the reopened file")
    get(port, "/pid?after")
    wait_for(lambda: "pid?after" in log.read_text(), what="the line in the new file")
    assert "pid?after" not in moved.read_text()


def test_logfile_chmod_and_truncate(serve, tmp_path):
    log = tmp_path / "app.log"
    log.write_text("old content\n")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--logto", log, "--logfile-chmod", "640", "--log-truncate", port=port)
    assert oct(log.stat().st_mode & 0o777) == "0o640"
    assert "old content" not in log.read_text()


# 25 distinct frames (Python folds a repeated one into a line).
DEEP = "import time\n\ndef f0():\n    raise RuntimeError('deep boom')\n" + "".join(
    "\ndef f%d():\n    return f%d()\n" % (i, i - 1) for i in range(1, 25)) + '''
def application(environ, start_response):
    if environ["PATH_INFO"] == "/raise":
        time.sleep(0.05)  # the requests of both workers raise together
        f24()
    if environ["PATH_INFO"] == "/printed":  # the app prints a chained one itself
        import traceback
        try:
            try:
                f24()
            except RuntimeError:
                {}["missing"]
        except KeyError:
            traceback.print_exc()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


def traceback_ends_whole(lines):
    """lines start at 'Traceback': every frame line, then the exception."""
    assert lines[0] == "Traceback (most recent call last):", lines
    frames = 0
    for l in lines[1:]:
        if not l.startswith("  "):
            assert l == "RuntimeError: deep boom", "\n".join(lines)
            assert frames == 26, "\n".join(lines)
            return
        frames += l.lstrip().startswith("File ")
    raise AssertionError("\n".join(lines))


def raise_together(port, n):
    with concurrent.futures.ThreadPoolExecutor(n) as ex:
        codes = list(ex.map(lambda i: get(port, "/raise?%d" % i)[0].status, range(n)))
    assert codes == [500] * n


def test_tracebacks_are_one_record_across_processes(serve, tmp_path):
    """Python prints a traceback a line at a time; two workers raising at
    once would interleave their lines. Each is logged as one record: in a
    shared file, its lines together; through a log master's JSON encoder,
    one object."""
    app = tmp_path / "deep.py"
    app.write_text(DEEP)
    n = 16
    # No log master: both workers write the one --logto file.
    plain, port = tmp_path / "plain.log", free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", "--threads", "8",
                "--logto", plain, "--disable-logging", port=port)
    raise_together(port, n)
    wait_for(lambda: plain.read_text().count("RuntimeError: deep boom") == n, what="every traceback")
    lines = plain.read_text().splitlines()
    starts = [i for i, l in enumerate(lines) if "answering 500:" in l]
    assert len(starts) == n
    for i in starts:
        traceback_ends_whole(lines[i + 1:])
    srv.stop()
    # A log master with the JSON encoder: one object per traceback.
    js, port = tmp_path / "json.log", free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", "--threads", "8",
          "--logger", "file:%s" % js, "--log-encoder", 'json {"msg": "${msg}"}', "--log-encoder", "nl", "--disable-logging", port=port)
    raise_together(port, n)
    wait_for(lambda: js.read_text().count("RuntimeError: deep boom") == n, what="every traceback")
    records = [json.loads(l)["msg"] for l in js.read_text().splitlines()]
    tracebacks = [r for r in records if "answering 500:" in r]
    assert len(tracebacks) == n, records
    for t in tracebacks:
        assert t.endswith("\nRuntimeError: deep boom"), t
        traceback_ends_whole(t.split("\n")[1:])
    # The app's own traceback.print_exc(), a line at a time: one object too.
    for i in range(4):
        assert get(port, "/printed")[0].status == 200
    wait_for(lambda: js.read_text().count("KeyError: 'missing'") == 4, what="the printed tracebacks")
    records = [json.loads(l)["msg"] for l in js.read_text().splitlines()]
    printed = [r for r in records if "KeyError: 'missing'" in r]
    assert len(printed) == 4
    for t in printed:
        first, second = t.split("\n\nDuring handling of the above exception, another exception occurred:\n\n")
        traceback_ends_whole(first.split("\n"))
        assert second.startswith("Traceback (most recent call last):\n") and second.endswith("\nKeyError: 'missing'"), t


def test_a_stalled_log_master_never_holds_a_worker(serve, tmp_path):
    """The master stops reading (SIGSTOP): the worker goes on answering at
    once, lines that do not fit are dropped, and the count of them is
    logged once the master reads again: lines + dropped = requests."""
    import http.client
    log, port = tmp_path / "req.log", free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "1",
                "--logger", "file:%s" % log, port=port)
    get(port, "/pid")
    wait_for(lambda: "GET /pid " in log.read_text(), what="the first line")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    sent, slowest = 1, 0.0
    srv.signal(signal.SIGSTOP)
    try:
        for i in range(8000):
            began = time.monotonic()
            conn.request("GET", "/pid?n=%d" % i)
            r = conn.getresponse()
            r.read()
            assert r.status == 200
            slowest = max(slowest, time.monotonic() - began)
            sent += 1
    finally:
        srv.signal(signal.SIGCONT)
    assert slowest < 0.5, "a request took %.2f s while the log master was stopped" % slowest

    def counted():
        text = log.read_text()
        dropped = sum(int(l.split(": ")[2].split(" ")[0]) for l in text.splitlines() if "log line(s) dropped" in l)
        return text.count(" GET /pid"), dropped
    for _ in range(50):  # each request that gets through reports what was dropped before it
        conn.request("GET", "/pid?after")
        conn.getresponse().read()
        sent += 1
        time.sleep(0.1)
        lines, dropped = counted()
        if dropped and lines + dropped == sent:
            break
    lines, dropped = counted()
    assert dropped > 0 and lines + dropped == sent, (lines, dropped, sent)
    assert all(l.startswith("[pid: ") or "oxwsgi" in l for l in log.read_text().splitlines() if l)  # none cut
    conn.close()


# A private mount namespace whose /dev is the test's directory: the real
# null, zero, random, urandom and full, and the test's socket as /dev/log.
DEV_SANDBOX = """set -e
d="$1"; shift
for f in null zero random urandom full; do : > "$d/$f"; mount --bind "/dev/$f" "$d/$f"; done
mount --rbind "$d" /dev
exec "$@"
"""


def test_syslog_and_stdio_loggers_of_the_real_binary(tmp_path):
    """--logger syslog writes to /dev/log (here the test's socket, in a
    private mount namespace: nothing outside it sees a /dev/log); --req-logger
    stdio writes the request lines to the original stdout."""
    assert os.geteuid() == 0, "this test needs root for a private mount namespace (unshare -m): run the tests as root, as CI does"
    assert shutil.which("unshare"), "this test needs unshare: apt-get install util-linux"
    dev = tmp_path / "dev"
    dev.mkdir()
    syslog = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    syslog.bind(str(dev / "log"))
    syslog.settimeout(10)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    port = free_port()
    cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", DEV_SANDBOX, "sandbox", str(dev), str(BIN),
           "--http", "127.0.0.1:%d" % port, "--wsgi-file", str(SUITE), "--logger", "syslog:shop,local1", "--req-logger", "stdio"]
    with open(out, "wb") as o, open(err, "wb") as e:
        p = subprocess.Popen(cmd, stdout=o, stderr=e)
    try:
        wait_port(port, proc=p)
        get(port, "/pid?via-stdio")
        got = []
        while not any(b"ready in process" in g for g in got):
            got.append(syslog.recv(65536))
        # local1 (17) * 8 + info (6)
        assert all(g.startswith(b"<142>shop: ") for g in got), got
        wait_for(lambda: b"GET /pid?via-stdio" in out.read_bytes(), what="the request line on stdout")
        assert out.read_bytes().startswith(b"[pid: ")
        assert b"via-stdio" not in err.read_bytes() and b"ready in process" not in err.read_bytes()
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(10)
        syslog.close()


def test_log_reopen_after_a_reload(serve, tmp_path):
    """--log-reopen: after logrotate moved the --logto file, a reload
    writes a new one by the same name; without it, the moved file goes on
    (the reloaded master keeps its descriptor)."""
    for reopen in (True, False):
        d = tmp_path / ("reopen" if reopen else "keep")
        d.mkdir()
        log, moved, port = d / "app.log", d / "app.log.1", free_port()
        extra = ["--log-reopen"] if reopen else []
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "1", "--logto", log, *extra, port=port)
        get(port, "/pid?before")
        wait_for(lambda: "pid?before" in log.read_text(), what="the first line")
        os.rename(log, moved)
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "previous worker (pid: " in (log.read_text() if log.exists() else "") + moved.read_text(), what="the reload")
        get(port, "/pid?after")
        if reopen:
            wait_for(lambda: log.exists() and "pid?after" in log.read_text(), what="the line in the new file")
            assert "--log-reopen: %s opened again" % log in log.read_text()
            assert "pid?after" not in moved.read_text()
        else:
            wait_for(lambda: "pid?after" in moved.read_text(), what="the line in the moved file")
            assert not log.exists()
        srv.stop()
