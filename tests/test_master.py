"""Master and workers with real processes and real signals."""
import collections
import concurrent.futures
import http.client
import json
import os
import signal
import threading
import time

from conftest import APPS, free_port, run_oxwsgi, wait_port, world_readable_binary
from test_http import get


def pid_of(port, path="/pid"):
    r, body = get(port, path)
    assert r.status == 200
    return json.loads(body)["pid"]


def worker_pids(port, n=60):
    """The PIDs that answer n fresh connections."""
    return collections.Counter(pid_of(port) for _ in range(n))


def wait_for(pred, timeout=15, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def test_workers_exist_and_all_serve(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2", port=port)
    srv.wait_log("spawned worker 2")
    # Concurrent requests spread over both workers.
    def one(_):
        return json.loads(get(port, "/sleep?0.05")[1])["pid"]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        pids = collections.Counter(ex.map(one, range(40)))
    assert len(pids) == 2, pids
    assert srv.pid not in pids
    assert min(pids.values()) >= 5, pids
    # A worker busy inside the app takes no new connection while another
    # is idle: every worker accepts on its own event loop, which does not
    # poll while the app runs on it.
    busy = concurrent.futures.ThreadPoolExecutor(1).submit(lambda: json.loads(get(port, "/sleep?1.5")[1])["pid"])
    time.sleep(0.3)
    t0 = time.time()
    quick = collections.Counter(pid_of(port) for _ in range(10))
    assert time.time() - t0 < 1.0 and len(quick) == 1, quick
    assert busy.result() not in quick


def test_killed_worker_is_respawned(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "1", port=port)
    victim = pid_of(port)
    os.kill(victim, signal.SIGKILL)
    srv.wait_log("died (killed by signal SIGKILL)")
    wait_for(lambda: pid_of(port) != victim, what="a new worker")
    assert "worker 1 (pid: %d) died (killed by signal SIGKILL)" % victim in srv.read_log()
    for _ in range(5):
        assert get(port, "/ok")[1] == b"suite: /ok"


def test_max_requests_replaces_worker_without_failures(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2",
                "--max-requests", "50", "--disable-logging", port=port)
    failures = 0
    pids = set()
    for _ in range(1000):
        r, body = get(port, "/pid")
        if r.status != 200:
            failures += 1
        else:
            pids.add(json.loads(body)["pid"])
    assert failures == 0
    assert len(pids) >= 20, pids  # 1000 requests / 50 per worker
    assert "served --max-requests 50, retiring" in srv.read_log()


def test_sighup_reload_loses_nothing_and_picks_up_changes(serve, tmp_path):
    app = tmp_path / "app.py"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'version 1']\n")
    port = free_port()
    pidfile = tmp_path / "master.pid"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2",
                "--pidfile", pidfile, "--disable-logging", port=port)
    stop = threading.Event()
    stats = collections.Counter()

    def load():
        while not stop.is_set():
            try:
                r, body = get(port, "/")
                stats[body if r.status == 200 else r.status] += 1
            except Exception as e:  # noqa: BLE001 - any failure counts
                stats["error: %s" % e.__class__.__name__] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'version 2']\n")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: stats[b"version 2"] > 20, what="the new app")
    stop.set()
    for t in threads:
        t.join(10)
    assert set(stats) == {b"version 1", b"version 2"}, stats
    assert int(pidfile.read_text()) == srv.pid  # same master PID after the reload
    assert "reloading" in srv.read_log()


def test_sigterm_graceful_stop_with_master(serve, tmp_path):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2", port=port)
    result = {}

    def slow():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/sleep?1")
        result["status"] = c.getresponse().status

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    srv.signal(signal.SIGTERM)
    t.join(20)
    assert result.get("status") == 200
    assert srv.wait(20) == 0
    assert "stopped (exit status 0)" in srv.read_log()


def test_limit_as_turns_huge_allocation_into_500(serve, tmp_path):
    app = tmp_path / "mem.py"
    app.write_text(
        "import os\n"
        "def application(e, sr):\n"
        "    if e['PATH_INFO'] == '/alloc':\n"
        "        x = bytearray(1024 * 1024 * 1024)\n"
        "    sr('200 OK', [])\n"
        "    return [str(os.getpid()).encode()]\n"
    )
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--limit-as", "512", port=port)
    before = get(port, "/")[1]
    r, _ = get(port, "/alloc")
    assert r.status == 500
    assert "MemoryError" in srv.read_log()
    assert get(port, "/")[1] == before  # same worker, still serving


def test_daemonize_pidfile_and_vacuum(tmp_path):
    port = free_port()
    log = tmp_path / "daemon.log"
    pidfile = tmp_path / "d.pid"
    sock = tmp_path / "d.sock"
    r = run_oxwsgi("--http", "127.0.0.1:%d" % port, "--socket", sock, "--wsgi-file", APPS / "suite.py", "--master",
                   "--daemonize", log, "--safe-pidfile", pidfile, "--vacuum", timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        wait_port(port)
        assert get(port, "/daemon")[1] == b"suite: /daemon"
        assert sock.exists()
        time.sleep(0.2)
        assert "GET /daemon => generated" in log.read_text()
        # A reload keeps the master's PID (it does not detach again) and
        # its pidfile; the new workers are its children.
        os.kill(pid, signal.SIGHUP)
        wait_for(lambda: "executing" in log.read_text() and log.read_text().count("spawned worker") >= 2, what="the reload")
        worker = pid_of(port)
        with open("/proc/%d/stat" % worker) as f:
            assert int(f.read().rsplit(")", 1)[1].split()[1]) == pid
        assert int(pidfile.read_text()) == pid and log.read_text().count("spawned worker") == 2
    finally:
        os.kill(pid, signal.SIGINT)
    wait_for(lambda: not os.path.exists("/proc/%d" % pid) or open("/proc/%d/stat" % pid).read().split()[2] == "Z", what="exit")
    wait_for(lambda: not pidfile.exists() and not sock.exists(), what="vacuum")


def test_daemonize_reports_failure(tmp_path):
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", APPS / "broken.py", "--daemonize", tmp_path / "x.log")
    assert r.returncode == 1
    assert "cannot load the application" in r.stderr


def test_threads(serve):
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--threads", "8", port=port)
    start = time.time()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(lambda _: get(port, "/sleep?0.5")[0].status, range(8)))
    assert results == [200] * 8
    assert time.time() - start < 2.5  # 8 x 0.5 s in parallel, not 4 s in a row
    env = json.loads(get(port, "/environ")[1])
    assert env["wsgi.multithread"] == ["bool", True]


def test_uid_gid_drop_privileges(serve):
    from conftest import world_readable_dir
    import shutil
    d = world_readable_dir("oxwsgi-uid-")
    try:
        (d / "who.py").write_text(
            "import os\n"
            "def application(e, sr):\n"
            "    sr('200 OK', [])\n"
            "    return [('%d:%d' % (os.getuid(), os.getgid())).encode()]\n"
        )
        os.chmod(d / "who.py", 0o644)
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", d / "who.py", "--uid", "nobody", "--gid", "nogroup",
                    "--master", "--processes", "2", port=port, binary=world_readable_binary(d))
        import pwd, grp
        want = "%d:%d" % (pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        assert get(port, "/")[1].decode() == want, srv.read_log()
        # A reload keeps serving: the re-executed master, no longer root,
        # keeps the ids it already has instead of failing to set them.
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "executing" in srv.read_log() and srv.read_log().count("spawned worker") >= 4, what="the reload")
        assert get(port, "/")[1].decode() == want and srv.poll() is None, srv.read_log()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_lazy_apps_load_in_each_worker(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2",
                "--lazy-apps", port=port)
    srv.wait_log("spawned worker 2")
    wait_for(lambda: srv.read_log().count("ready in process") == 2, what="two app loads")
    log = srv.read_log()
    assert "ready in process %d" % srv.pid not in log  # not in the master


def test_harakiri_interrupts_a_sleeping_request_with_504(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--harakiri", "1", port=port)
    before = pid_of(port)
    start = time.time()
    r, body = get(port, "/sleep?30")
    took = time.time() - start
    assert r.status == 504, srv.read_log()
    assert took < 3, took
    log = srv.read_log()
    assert "HARAKIRI: GET /sleep?30 on worker 1" in log and "ran past --harakiri 1s" in log
    assert "HarakiriError" in log and "time.sleep" in log  # the traceback shows where it was
    assert pid_of(port) == before  # interrupted, not killed
    r, body = get(port, "/spin?30")
    assert r.status == 504
    assert get(port, "/ok")[1] == b"suite: /ok"


def test_harakiri_with_threads_spares_siblings(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--threads", "4",
                "--harakiri", "1", port=port)
    before = pid_of(port)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        slow = [ex.submit(get, port, "/spin?30") for _ in range(2)]
        fast = [get(port, "/fast%d" % i)[1] for i in range(10)]
        statuses = [f.result()[0].status for f in slow]
    assert fast == [b"suite: /fast%d" % i for i in range(10)]
    assert statuses == [504, 504], srv.read_log()
    assert pid_of(port) == before


def test_harakiri_kills_a_worker_that_will_not_stop(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2",
                "--harakiri", "1", "--harakiri-graceful-timeout", "1", port=port)
    start = time.time()
    try:
        get(port, "/stubborn")
        raise AssertionError("a stuck worker answered")
    except (http.client.HTTPException, ConnectionError):
        pass
    assert time.time() - start < 5
    srv.wait_log("killed by signal SIGKILL")
    assert "still stuck in GET /stubborn" in srv.read_log()
    for _ in range(5):
        assert get(port, "/ok")[1] == b"suite: /ok"


def test_harakiri_brings_a_master_as_in_uwsgi(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--harakiri", "5", port=port)
    assert "--harakiri needs a master process: running one" in srv.read_log()
    assert "spawned worker 1" in srv.read_log()


def test_max_requests_delta_and_min_worker_lifetime(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master",
                "--max-requests", "5", "--max-requests-delta", "3", port=port)
    pids = [pid_of(port) for _ in range(8)]
    assert len(set(pids)) == 1, pids  # worker 1 retires after 5 + 1 * 3
    wait_for(lambda: pid_of(port) != pids[0], what="retirement after 8 requests")
    assert "served --max-requests 8, retiring" in srv.read_log()
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master",
          "--max-requests", "2", "--min-worker-lifetime", "3", port=port)
    pids = [pid_of(port) for _ in range(10)]
    assert len(set(pids)) == 1, pids  # too young to retire


def test_reload_on_rss(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master",
                "--reload-on-rss", "120", port=port)
    first = pid_of(port)
    get(port, "/hog")
    get(port, "/hog")
    wait_for(lambda: pid_of(port) != first, what="a fresh worker")
    assert "past --reload-on-rss 120: retiring" in srv.read_log()


def vsz_mb(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE") >> 20


def test_reload_on_as(serve):
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", port=port)
    limit = vsz_mb(pid_of(port)) + 100
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master",
                "--reload-on-as", str(limit), port=port)
    first = pid_of(port)
    get(port, "/hog")
    get(port, "/hog")
    wait_for(lambda: pid_of(port) != first, what="a fresh worker")
    assert "of address space, past --reload-on-as %d: retiring" % limit in srv.read_log()


def test_evil_reload_on_rss_kills_from_the_master(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--evil-reload-on-rss", "100",
                port=port)
    first = pid_of(port)
    get(port, "/hog")
    get(port, "/hog")
    wait_for(lambda: "past --evil-reload-on-rss 100: killing it" in srv.read_log(), what="the master's check")
    wait_for(lambda: pid_of(port) != first, what="a fresh worker")
    assert "needs a master process" in srv.read_log()


def test_touch_reload_and_pidfile_commands(serve, tmp_path):
    app = tmp_path / "app.py"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'one']\n")
    trigger = tmp_path / "reload.trigger"
    trigger.write_text("")
    pidfile = tmp_path / "p.pid"
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--touch-reload", trigger,
                "--pidfile", pidfile, port=port)
    assert get(port, "/")[1] == b"one"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'two']\n")
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    wait_for(lambda: get(port, "/")[1] == b"two", what="the touch reload")
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'three']\n")
    r = run_oxwsgi("--reload", pidfile)
    assert r.returncode == 0, r.stderr
    wait_for(lambda: get(port, "/")[1] == b"three", what="--reload")
    r = run_oxwsgi("--stop", pidfile)
    assert r.returncode == 0
    assert srv.wait(15) == 0
    r = run_oxwsgi("--stop", tmp_path / "nope.pid")
    assert r.returncode == 1 and "cannot read a PID" in r.stderr


def test_sigttin_sigttou_change_worker_count(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "1", port=port)
    srv.signal(signal.SIGTTIN)
    srv.wait_log("spawned worker 2")
    import re
    pid2 = int(re.search(r"spawned worker 2 \(pid: (\d+)\)", srv.read_log()).group(1))
    srv.signal(signal.SIGTTOU)
    srv.wait_log("SIGTTOU: stopping worker 2")
    wait_for(lambda: not os.path.exists("/proc/%d" % pid2), what="worker 2 to exit and be reaped")
    assert get(port, "/ok")[1] == b"suite: /ok"


def test_tutorial_ini_with_further_configuration(django_project, tmp_path):
    """mysite_uwsgi.ini as the tutorial writes it, plus every line of its
    "Further configuration" section, comments and all."""
    from conftest import tutorial_ini
    sock = tmp_path / "mysite.sock"
    log = tmp_path / "yourproject.log"
    pidfile = tmp_path / "project-master.pid"
    port = free_port()
    ini = tmp_path / "mysite_uwsgi.ini"
    ini.write_text(tutorial_ini(django_project, sock)
                   + "http-socket = 127.0.0.1:%d\n" % port
                   + "env = DJANGO_SETTINGS_MODULE=mysite.settings # set an environment variable\n"
                   + "safe-pidfile = %s # create a pidfile\n" % pidfile
                   + "harakiri = 20 # respawn processes taking more than 20 seconds\n"
                   + "limit-as = 1024 # limit the project to 1024 MB\n"
                   + "max-requests = 5000 # respawn processes after serving 5000 requests\n"
                   + "daemonize = %s # background the process & log\n" % log)
    r = run_oxwsgi("--ini", ini, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        wait_port(port)
        r, body = get(port, "/hello/")
        assert r.status == 200 and body == b"Hello from Django, world"
        assert sock.exists()
        time.sleep(0.2)
        assert "GET /hello/ => generated" in log.read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists() and not sock.exists(), what="vacuum")


def test_sigusr1_logs_worker_stats(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2", port=port)
    for _ in range(6):
        get(port, "/x")
    srv.signal(signal.SIGUSR1)
    wait_for(lambda: srv.read_log().count("open connections") == 2, what="two stats lines")
    assert "each logs its own numbers" in srv.read_log()
    import re
    counts = [int(n) for n in re.findall(r"worker \d \(pid \d+\): (\d+) requests", srv.read_log())]
    assert len(counts) == 2 and sum(counts) == 6, srv.read_log()


def test_keepalive_connections_spread_over_workers(serve):
    """A pool of keep-alive connections opened at once (wrk, a load
    balancer) is spread over the workers instead of landing on whichever
    woke first; before balancing, one worker could hold all 16."""
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2", port=port)
    srv.wait_log("spawned worker 2")
    time.sleep(0.3)
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
    for c in conns:
        c.connect()
    owners = collections.Counter()
    for c in conns:
        c.request("GET", "/pid")
        owners[json.loads(c.getresponse().read())["pid"]] += 1
    for c in conns:
        c.close()
    assert len(owners) == 2 and min(owners.values()) >= 5, owners


def test_harakiri_graceful_signal_is_sent_to_the_worker(serve, tmp_path):
    """--harakiri-graceful-signal 6, as AWX configures it: a request past
    --harakiri makes its worker get SIGABRT, which faulthandler turns into
    the Python stack of the stuck request; the master respawns the worker."""
    app = tmp_path / "app.py"
    app.write_text("import faulthandler, resource, time\n"
                   "faulthandler.enable()\n"
                   "resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n"
                   "def stuck_here():\n"
                   "    end = time.time() + 30\n"
                   "    while time.time() < end:\n"
                   "        pass\n"
                   "def application(environ, start_response):\n"
                   "    if environ['PATH_INFO'] == '/stuck':\n"
                   "        stuck_here()\n"
                   "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                   "    return [b'ok']\n")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "1",
                "--harakiri", "1", "--harakiri-graceful-timeout", "3", "--harakiri-graceful-signal", "6", port=port)
    start = time.time()
    try:
        get(port, "/stuck")
        raise AssertionError("a worker that got SIGABRT answered")
    except (http.client.HTTPException, ConnectionError):
        pass
    assert time.time() - start < 3
    srv.wait_log("killed by signal SIGABRT")
    log = srv.read_log()
    assert "sending signal 6 to worker 1 (--harakiri-graceful-signal)" in log
    assert "Fatal Python error: Aborted" in log and "in stuck_here" in log, log
    assert "still stuck" not in log  # gone before the graceful timeout
    wait_for(lambda: get(port, "/")[1] == b"ok", what="the respawned worker")
    bad = run_oxwsgi("--http", ":0", "--wsgi-file", app, "--harakiri-graceful-signal", "500")
    assert bad.returncode != 0 and "--harakiri-graceful-signal 500: not a signal number" in bad.stderr, bad.stderr
