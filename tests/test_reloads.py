"""Reloads that keep serving: chain reloads (one worker at a time, each
new one accepting before the next stops) through --touch-chain-reload and
the master FIFO, and the FIFO's other commands."""
import os
import signal
import threading
import time

from conftest import free_port, wait_port
from test_http import get
from test_master import wait_for

APP = ("import os\n"
       "VERSION = %r\n"
       "def application(env, start_response):\n"
       "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
       "    return [('%%s %%d' %% (VERSION, os.getpid())).encode()]\n")


class Load:
    """A bounded client loop in a thread: every answer, and every failure."""

    def __init__(self, port, seconds=30):
        self.port, self.answers, self.failures, self.stop = port, [], [], False
        self.t = threading.Thread(target=self.run, args=(time.time() + seconds,))
        self.t.start()

    def run(self, deadline):
        while not self.stop and time.time() < deadline:
            try:
                r, body = get(self.port, "/")
                (self.answers if r.status == 200 else self.failures).append(body if r.status == 200 else r.status)
            except Exception as e:  # a refused or reset connection is a failure
                self.failures.append(repr(e))
            time.sleep(0.003)

    def finish(self):
        self.stop = True
        self.t.join()
        return self.failures


def versions(load, since=0):
    return [a.split()[0].decode() for a in load.answers[since:]]


def test_chain_reload_through_the_fifo_loses_no_request(serve, tmp_path):
    app, fifo = tmp_path / "app.py", tmp_path / "master.fifo"
    app.write_text(APP % "v1")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "3", "--lazy-apps",
                "--master-fifo", fifo, port=port)
    wait_for(lambda: srv.read_log().count("ready in process") == 3, what="three workers")
    load = Load(port)
    time.sleep(0.3)
    app.write_text(APP % "v2")
    with open(fifo, "w") as f:
        f.write("c")
    wait_for(lambda: "chain reload done" in srv.read_log(), timeout=20, what="the chain reload")
    mark = len(load.answers)
    time.sleep(0.3)
    assert load.finish() == []
    assert set(versions(load, mark)) == {"v2"}
    log = srv.read_log()
    assert log.count("chain reload: replacing worker") == 3
    # One at a time: the master never re-executed, and its pid is the same.
    assert "executing" not in log and srv.poll() is None
    # s logs the workers, q stops gracefully and removes the FIFO.
    with open(fifo, "w") as f:
        f.write("s\nz")
    wait_for(lambda: "each logs its own numbers" in srv.read_log(), what="the stats")
    assert "'z' is not a command oxwsgi has" in srv.read_log()
    with open(fifo, "w") as f:
        f.write("q")
    assert srv.wait() == 0 and not fifo.exists()


def test_touch_chain_reload_and_workers_reload(serve, tmp_path):
    app, trigger, wtrigger = tmp_path / "app.py", tmp_path / "chain", tmp_path / "workers"
    app.write_text(APP % "v1")
    trigger.touch()
    wtrigger.touch()
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--processes", "2", "--lazy-apps",
                "--touch-chain-reload", trigger, "--touch-workers-reload", wtrigger, port=port)
    load = Load(port)
    time.sleep(0.3)
    app.write_text(APP % "v2")
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    wait_for(lambda: "chain reload done" in srv.read_log(), timeout=20, what="the chain reload")
    app.write_text(APP % "v3")
    os.utime(wtrigger, (time.time() + 10, time.time() + 10))
    wait_for(lambda: "--touch-workers-reload" in srv.read_log(), what="the workers reload")
    wait_for(lambda: load.answers and versions(load)[-1] == "v3", timeout=20, what="the new code")
    time.sleep(0.3)
    assert load.finish() == []
    assert "--touch-chain-reload needs a master process" in srv.read_log()


def test_reload_matches_sockets_by_address(serve, tmp_path):
    a, b, c = free_port(), free_port(), free_port()
    ini = tmp_path / "app.ini"
    app = tmp_path / "app.py"
    app.write_text(APP % "v1")
    ini.write_text("[uwsgi]\nmaster = true\nwsgi-file = %s\nhttp = 127.0.0.1:%d\nhttp = 127.0.0.1:%d\n" % (app, b, a))
    srv = serve("--ini", ini, port=a)
    load = Load(a)
    time.sleep(0.2)
    # b goes, c comes, a stays (now listed first): a's waiting connections are kept.
    ini.write_text("[uwsgi]\nmaster = true\nwsgi-file = %s\nhttp = 127.0.0.1:%d\nhttp = 127.0.0.1:%d\n" % (app, a, c))
    srv.signal(signal.SIGHUP)
    wait_for(lambda: srv.read_log().count("spawned worker") == 2, what="the reload")
    # The previous worker served through the reload; once retired, the
    # dropped socket has no holder left.
    wait_for(lambda: "previous worker (pid: " in srv.read_log(), what="the previous worker to retire")
    assert get(c, "/")[0].status == 200
    time.sleep(0.2)
    assert load.finish() == []
    assert "the configuration no longer has 127.0.0.1:%d: closing it" % b in srv.read_log()
    import socket
    try:
        socket.create_connection(("127.0.0.1", b), timeout=2).close()
        raise AssertionError("the dropped socket still listens")
    except ConnectionRefusedError:
        pass


def test_a_broken_deploy_keeps_the_old_workers_serving(serve, tmp_path):
    app = tmp_path / "app.py"
    app.write_text(APP % "v1")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", port=port)
    load = Load(port)
    time.sleep(0.2)
    app.write_text("raise RuntimeError('half-deployed')\n")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: "not reloading, the new version of the app does not load" in srv.read_log(), what="the check")
    time.sleep(0.3)
    assert set(versions(load)) == {"v1"}
    assert "RuntimeError: half-deployed" in srv.read_log()
    # Fixed: the next reload goes through.
    app.write_text(APP % "v2")
    srv.signal(signal.SIGHUP)
    wait_for(lambda: load.answers and versions(load)[-1] == "v2", timeout=20, what="the new version")
    assert load.finish() == []
    assert srv.poll() is None


def test_a_binary_upgrade_runs_the_new_binary_with_the_sockets(serve):
    """As a package upgrade does: a new file is renamed over the running
    binary (which the kernel then calls "PATH (deleted)"); the next reload
    executes the new one at PATH, with the listening sockets inherited."""
    import shutil
    from conftest import BIN, world_readable_binary, world_readable_dir
    d = world_readable_dir("oxwsgi-upgrade-")
    try:
        binary = world_readable_binary(d)
        app = d / "app.py"
        app.write_text(APP % "v1")
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", binary=binary, port=port)
        load = Load(port)
        time.sleep(0.2)
        # The "new release": a wrapper that says it ran, then runs oxwsgi.
        # The master runs as nobody by now: it leaves its mark where nobody may write.
        marks = d / "marks"
        marks.mkdir()
        import pwd
        os.chown(marks, pwd.getpwnam("nobody").pw_uid, -1)
        marker = marks / "new-binary-ran"
        new = d / "oxwsgi.new"
        new.write_text("#!/bin/sh\necho \"$@\" > %s\nexec %s \"$@\"\n" % (marker, BIN))
        new.chmod(0o755)
        os.rename(new, binary)
        app.write_text(APP % "v2")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: marker.exists(), timeout=20, what="the new binary to run")
        wait_for(lambda: load.answers and versions(load)[-1] == "v2", timeout=20, what="the new version")
        assert load.finish() == []
        assert "reloading: executing %s again" % binary in srv.read_log()
        assert "--wsgi-file %s" % app in marker.read_text()
        assert srv.poll() is None
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_an_emperor_touch_reloads_a_vassal_with_uid_gid_in_place(serve):
    """The tutorial's vassal drops to a user: a touch of its file reloads it
    gracefully (the same master, no cold restart), with no failed request."""
    import shutil
    from conftest import world_readable_binary, world_readable_dir
    d = world_readable_dir("oxwsgi-touch-")
    try:
        binary = world_readable_binary(d)
        app = d / "app.py"
        app.write_text(APP % "v1")
        os.chmod(app, 0o644)
        vdir = d / "vassals"
        vdir.mkdir()
        port = free_port()
        ini = vdir / "site.ini"
        ini.write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\nmaster = true\nprocesses = 2\nuid = nobody\ngid = nogroup\n"
                       "disable-logging = true\n" % (port, app))
        emperor = serve("--emperor", vdir, binary=binary)
        wait_port(port, proc=emperor, timeout=30)
        wait_for(lambda: emperor.read_log().count("spawned worker") >= 2, what="the vassal's workers")
        load = Load(port)
        time.sleep(0.3)
        app.write_text(APP % "v2")
        os.utime(ini)
        wait_for(lambda: load.answers and versions(load)[-1] == "v2", timeout=30, what="the new version")
        time.sleep(0.3)
        assert load.finish() == []
        log = emperor.read_log()
        assert log.count("vassal site.ini started") == 1, log
        assert "setgroups" not in log and "died" not in log
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_old_workers_serve_while_the_new_master_imports(serve, tmp_path):
    """A graceful reload overlaps the generations: the old workers answer
    while the re-executed master imports the app (here 2 s), and retire
    once the new workers accept. Before, every worker stopped first and
    requests waited in the backlog for the whole import."""
    slow = "import time\ntime.sleep(2)\n"
    app = tmp_path / "app.py"
    app.write_text(slow + APP % "v1")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", port=port)
    wait_for(lambda: srv.read_log().count("spawned worker") == 2, what="the workers")
    stamps, failures, stop = [], [], []

    def client():
        deadline = time.time() + 60
        while not stop and time.time() < deadline:
            try:
                r, body = get(port, "/")
                stamps.append((time.monotonic(), body.split()[0].decode()))
            except Exception as e:
                failures.append(repr(e))
            time.sleep(0.01)

    t = threading.Thread(target=client)
    t.start()
    try:
        time.sleep(0.3)
        app.write_text(slow + APP % "v2")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: stamps and stamps[-1][1] == "v2", timeout=30, what="the new version")
        wait_for(lambda: srv.read_log().count("previous worker (pid: ") == 2, what="the old workers to retire")
    finally:
        stop.append(True)
        t.join()
    assert failures == []
    # No gap as long as the new master's import: the old workers served it.
    gaps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) < 1.0, max(gaps)
    assert "the new workers accept: retiring the previous workers" in srv.read_log()


def test_with_a_log_master_the_old_workers_lines_are_still_written(serve, tmp_path):
    """--logger makes the master write the log; a graceful reload still
    overlaps the generations, and the old workers' log sockets go to the
    new master, so every request of the overlap is logged (one line per
    answer, the old workers' too, after the re-exec)."""
    slow = "import time\ntime.sleep(2)\n"
    app = tmp_path / "app.py"
    app.write_text(slow + APP % "v1")
    log, port = tmp_path / "all.log", free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2",
                "--logger", "file:%s" % log, port=port)
    wait_for(lambda: log.exists() and log.read_text().count("spawned worker") == 2, what="the workers")
    load = Load(port)
    try:
        time.sleep(0.3)
        app.write_text(slow + APP % "v2")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: versions(load)[-1:] == ["v2"], timeout=30, what="the new version")
        wait_for(lambda: log.read_text().count("previous worker (pid: ") == 2, what="the old workers to retire")
    finally:
        failures = load.finish()
    assert failures == []
    text = log.read_text()
    assert "reloading; the workers serve until the new ones accept" in text
    assert "log line(s) dropped" not in text
    # Every answer has its line: the old workers' of the new master's
    # import (2 s) too, which only the new master could read.
    wait_for(lambda: log.read_text().count("GET / => generated") == len(load.answers), what="a line per answer")


def test_fifo_p_suspends_and_resumes_and_C_goes_cheap(serve, tmp_path):
    import socket
    app, fifo = tmp_path / "app.py", tmp_path / "master.fifo"
    app.write_text(APP % "v1")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--master", "--processes", "2", "--master-fifo", fifo, port=port)
    wait_for(lambda: srv.read_log().count("spawned worker") == 2, what="the workers")
    with open(fifo, "w") as f:
        f.write("p")
    wait_for(lambda: "suspending (SIGSTOP) every worker" in srv.read_log(), what="the pause")
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.settimeout(0.5)
    try:
        assert s.recv(100) == b"", "a suspended instance answered"
    except socket.timeout:
        pass
    with open(fifo, "w") as f:
        f.write("p")
    s.settimeout(5)
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    # C: every worker stops; the next connection starts them again.
    with open(fifo, "w") as f:
        f.write("C")
    wait_for(lambda: srv.read_log().count("stopped (exit status 0); its slot stays cheap") == 2, what="going cheap")
    assert get(port, "/")[0].status == 200
    assert "a connection is waiting" in srv.read_log() and srv.poll() is None


def test_reloads_through_nginx_under_uid_gid_lose_no_request(serve, nginx):
    """The same reloads behind nginx (uwsgi_pass), as the tutorial deploys:
    a SIGHUP under --uid/--gid to a new version, a broken deploy that the
    old workers outlive, and a binary upgrade to a fixed version."""
    import shutil
    from conftest import BIN, world_readable_binary, world_readable_dir
    from test_nginx import site
    d = world_readable_dir("oxwsgi-nginx-reload-")
    try:
        binary = world_readable_binary(d)
        app = d / "app.py"
        app.write_text(APP % "v1")
        os.chmod(app, 0o644)
        up, front = free_port(), free_port()
        srv = serve("--socket", "127.0.0.1:%d" % up, "--wsgi-file", app, "--master", "--processes", "2", "--uid", "nobody", "--gid", "nogroup",
                    binary=binary, port=up)
        nginx(site(front, "127.0.0.1:%d" % up, d), front)
        load = Load(front, seconds=90)
        wait_for(lambda: load.answers, what="the first answer through nginx")
        # 1. A new version, reloaded as nobody.
        app.write_text(APP % "v2")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: versions(load)[-1] == "v2", timeout=30, what="v2")
        # 2. A broken deploy: refused, the workers keep answering v2.
        app.write_text("raise RuntimeError('half-deployed')\n")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: "not reloading, the new version of the app does not load" in srv.read_log(), timeout=30, what="the refusal")
        mark = len(load.answers)
        time.sleep(0.3)
        assert set(versions(load, mark)) == {"v2"}
        # 3. A binary upgrade and a fixed app.
        # The master runs as nobody by now: it leaves its mark where nobody may write.
        marks = d / "marks"
        marks.mkdir()
        import pwd
        os.chown(marks, pwd.getpwnam("nobody").pw_uid, -1)
        marker = marks / "new-binary-ran"
        new = d / "oxwsgi.new"
        new.write_text("#!/bin/sh\ntouch %s\nexec %s \"$@\"\n" % (marker, binary.with_name("oxwsgi.real")))
        shutil.copy(BIN, binary.with_name("oxwsgi.real"))
        os.chmod(binary.with_name("oxwsgi.real"), 0o755)
        new.chmod(0o755)
        os.rename(new, binary)
        app.write_text(APP % "v3")
        srv.signal(signal.SIGHUP)
        wait_for(lambda: versions(load)[-1] == "v3", timeout=30, what="v3")
        assert marker.exists()
        time.sleep(0.3)
        assert load.finish() == []
        assert srv.poll() is None and "died" not in srv.read_log()
    finally:
        shutil.rmtree(d, ignore_errors=True)
