"""Cheaper mode and idle workers, as uWSGI users configure them: the
worker count follows the load (read from the stats), --idle stops the
workers until the next connection, --cheap starts none until the first."""
import concurrent.futures
import signal
import time

from conftest import APPS, free_port, run_oxwsgi
from test_http import get
from test_master import wait_for
from test_stats import stats_json

SUITE = APPS / "suite.py"


def running(stats):
    doc = stats_json(stats)
    return sum(1 for w in doc["workers"] if w["status"] != "cheap"), [w["status"] for w in doc["workers"]]


def test_spare_grows_under_load_and_shrinks_when_idle(serve, tmp_path):
    port, stats = free_port(), tmp_path / "stats.sock"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "4", "--cheaper", "1",
                "--cheaper-overload", "1", "--stats", stats, port=port)
    wait_for(lambda: stats.exists(), what="the stats socket")
    assert running(stats) == (1, ["idle", "cheap", "cheap", "cheap"])
    # Four slow requests at once: one worker busy, the others start one a second.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(get, port, "/sleep?5") for _ in range(4)]
        wait_for(lambda: running(stats)[0] == 4, timeout=15, what="four workers")
        statuses = [c.result()[0].status for c in calls]
    assert statuses == [200] * 4
    # Idle: back down to one, a worker at a time.
    wait_for(lambda: running(stats)[0] == 1, timeout=20, what="one worker")
    log = srv.read_log()
    assert "cheaper (spare): 1 worker(s) started" in log and "cheaper: stopping worker" in log, log
    assert "its slot stays cheap" in log
    assert get(port, "/ok")[0].status == 200


def test_backlog_algo_follows_the_listen_queue(serve, tmp_path):
    port, stats = free_port(), tmp_path / "stats.sock"
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "3", "--cheaper", "1",
          "--cheaper-algo", "backlog", "--cheaper-overload", "2", "--cheaper-step", "2", "--stats", stats, port=port)
    wait_for(lambda: stats.exists(), what="the stats socket")
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        calls = [pool.submit(get, port, "/sleep?3") for _ in range(6)]
        # Five wait in the queue (more than 2): two more workers at once.
        wait_for(lambda: running(stats)[0] == 3, timeout=10, what="three workers")
        assert all(c.result()[0].status == 200 for c in calls)


def test_idle_stops_the_workers_until_the_next_connection(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2", "--idle", "1",
                port=port)
    assert get(port, "/ok")[0].status == 200
    wait_for(lambda: "no request for 1s (--idle)" in srv.read_log(), timeout=10, what="idle")
    wait_for(lambda: srv.read_log().count("its slot stays cheap") == 2, what="the workers to stop")
    # The next connection wakes them.
    assert get(port, "/ok")[0].status == 200
    assert "a connection is waiting: 2 worker(s) started" in srv.read_log()


def test_die_on_idle_stops_the_instance(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--idle", "1", "--die-on-idle", port=port)
    assert srv.wait(timeout=10) == 0
    assert "no request for 1s (--idle, --die-on-idle): stopping gracefully" in srv.read_log()


def test_cheap_starts_no_worker_until_the_first_connection(serve):
    port = free_port()
    # Not waited for by connecting: that would be the first connection.
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--cheap", port=port, wait=False)
    wait_for(lambda: "--cheap: no worker until the first connection" in srv.read_log(), what="the start")
    time.sleep(0.5)
    assert "spawned worker" not in srv.read_log()
    assert get(port, "/ok")[0].status == 200
    assert "spawned worker 1" in srv.read_log()


def test_manual_algo_and_sigttin(serve, tmp_path):
    port, stats = free_port(), tmp_path / "stats.sock"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "3", "--cheaper", "1",
                "--cheaper-algo", "manual", "--stats", stats, port=port)
    wait_for(lambda: stats.exists(), what="the stats socket")
    srv.signal(signal.SIGTTIN)
    wait_for(lambda: running(stats)[0] == 2, what="a second worker")
    srv.signal(signal.SIGTTOU)
    wait_for(lambda: running(stats)[0] == 1, what="back to one")
    srv.signal(signal.SIGTTOU)
    wait_for(lambda: "already at --cheaper 1 worker(s)" in srv.read_log(), what="the floor")


def test_cheaper_must_be_lower_than_processes():
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--processes", "2", "--cheaper", "2")
    assert r.returncode == 1 and "--cheaper 2 must be lower than --processes (2)" in r.stderr, r.stderr
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--processes", "3", "--cheaper", "1", "--cheaper-algo", "quick")
    assert r.returncode == 1 and "'quick' is not a cheaper algorithm" in r.stderr
