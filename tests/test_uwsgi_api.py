"""The uwsgi module and uwsgidecorators, as apps written for uWSGI use
them: post-fork hooks, timers, file monitors, signals to every worker,
threads, the shared lock, and the process information calls."""
import concurrent.futures
import json
import os
import pathlib
import time

from conftest import APPS, free_port, run_oxwsgi
from test_http import get


def events(d):
    p = pathlib.Path(d) / "log"
    return [line.split() for line in p.read_text().splitlines()] if p.exists() else []


def wait_events(d, pred, timeout=10, what="events"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ev = events(d)
        if pred(ev):
            return ev
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s: %s" % (what, events(d)))


def start(serve, tmp_path, *extra):
    d = tmp_path / "events"
    d.mkdir()
    (d / "watched").write_text("")
    (d / "counter").write_text("0")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "decorated.py", *extra, port=port, env={"EVENTS": str(d)})
    return port, srv, d


def test_decorators_with_a_master_and_two_workers(serve, tmp_path):
    port, srv, d = start(serve, tmp_path, "--master", "--processes", "2", "--threads", "2")
    srv.wait_log("spawned worker 2")
    # @postfork (and @postfork @thread) ran once in each worker, never in the master.
    ev = wait_events(d, lambda ev: sum(e[0] == "postfork" for e in ev) == 2 and sum(e[0] == "thread" for e in ev) == 2, what="postfork")
    assert sorted(int(e[1]) for e in ev if e[0] == "postfork") == [1, 2], ev
    assert all(int(e[2]) != srv.pid for e in ev), ev
    # @timer(1): run by workers, about once a second.
    ev = wait_events(d, lambda ev: sum(e[0].startswith("timer") for e in ev) >= 3, timeout=6, what="the timer")
    assert all(int(e[1]) in (1, 2) for e in ev if e[0].startswith("timer")), ev
    # @filemon: a change to the file runs the handler.
    before = sum(e[0] == "filemon" for e in events(d))
    (d / "watched").write_text("changed")
    wait_events(d, lambda ev: sum(e[0] == "filemon" for e in ev) > before, what="the file monitor")
    # @signal(99, target="workers"): uwsgi.signal() from a request reaches both workers.
    assert json.loads(get(port, "/raise")[1]) == "raised"
    ev = wait_events(d, lambda ev: sum(e[0] == "signal99" for e in ev) == 2, what="signal 99 in both workers")
    assert sorted(int(e[1]) for e in ev if e[0] == "signal99") == [1, 2]
    # @lock: 40 concurrent read-modify-writes of one file lose nothing.
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        assert all(r[0].status == 200 for r in ex.map(lambda _: get(port, "/incr"), range(40)))
    assert (d / "counter").read_text() == "40"
    # uwsgi.workers(): one dict per worker, uWSGI's keys and types.
    ws = json.loads(get(port, "/workers")[1])
    assert [w["id"] for w in ws] == [1, 2]
    assert all(w["status"] in ("idle", "busy") and w["types"]["status"] == "bytes" for w in ws), ws
    assert sum(w["requests"] for w in ws) >= 41
    for key in ("pid", "requests", "delta_requests", "signals", "exceptions", "rss", "vsz", "running_time", "last_spawn", "respawn_count", "tx", "avg_rt"):
        assert all(w["types"][key] == "int" for w in ws), key
    assert sum(w["signals"] for w in ws) >= 4
    assert ws[0]["apps"][0]["mountpoint"] == "bytes"
    info = json.loads(get(port, "/info")[1])
    assert info["total"] >= 42 and info["mem"][0] > 1 << 20 and info["hostname"] == "bytes"
    assert abs(info["started_on"] - time.time()) < 120
    assert info["enable_threads"], "--threads implies enable-threads in uwsgi.opt, as in uWSGI"
    assert info["locked"] is False
    # uwsgi.setprocname(): what ps and pgrep show.
    pid = info["pid"]
    assert pathlib.Path("/proc/%d/cmdline" % pid).read_bytes().split(b"\0")[0].startswith(b"oxwsgi-decorated-")
    assert pathlib.Path("/proc/%d/comm" % pid).read_text().strip().startswith("oxwsgi-decorate")


def test_lazy_apps_register_in_each_worker_and_the_timer_runs_once(serve, tmp_path):
    port, srv, d = start(serve, tmp_path, "--master", "--processes", "2", "--lazy-apps")
    srv.wait_log("spawned worker 2")
    ev = wait_events(d, lambda ev: sum(e[0] == "postfork" for e in ev) == 2, what="postfork")
    time.sleep(2.6)
    ticks = [e for e in events(d) if e[0].startswith("timer")]
    # Both workers asked for the same timer: the master keeps one.
    assert 2 <= len(ticks) <= 4, ticks


def test_without_a_master_postfork_runs_and_signals_say_why_not(serve, tmp_path):
    d = tmp_path / "events"
    d.mkdir()
    (d / "watched").write_text("")
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", APPS / "decorated.py", env={"EVENTS": str(d)}, timeout=20)
    assert r.returncode != 0
    assert "uWSGI signals need a master process: add --master" in r.stderr, r.stderr


def test_decorators_of_missing_subsystems_fail_at_start_naming_them(tmp_path):
    app = tmp_path / "spooled.py"
    app.write_text("from uwsgidecorators import spool\n@spool\ndef task(args):\n    pass\ndef application(e, sr):\n    return []\n")
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", app, "--master")
    assert r.returncode != 0
    assert "uwsgidecorators.spool: the uWSGI spooler is not provided by oxwsgi" in r.stderr, r.stderr


def test_an_apps_own_uwsgidecorators_file_wins(serve, tmp_path):
    (tmp_path / "uwsgidecorators.py").write_text("MINE = True\n")
    app = tmp_path / "app.py"
    app.write_text("import uwsgidecorators\ndef application(e, sr):\n    sr('200 OK', [])\n    return [str(getattr(uwsgidecorators, 'MINE', False)).encode()]\n")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--chdir", tmp_path, port=port)
    assert get(port, "/")[1] == b"True"
