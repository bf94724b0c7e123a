"""uWSGI's hooks (hook-PHASE, exec-PHASE): each point runs, in order, as
the right user; a failing hook stops the instance; unix_signal remaps the
master's signals (the hook-master-start SIGTERM recipe)."""
import collections
import json
import os
import pwd
import shutil
import signal
import threading
import time

from conftest import APPS, free_port, run_oxwsgi, world_readable_binary, world_readable_dir
from test_http import get
from test_master import pid_of, wait_for

SUITE = APPS / "suite.py"
PHASES = ["asap", "pre-jail", "post-jail", "in-jail", "as-root", "as-user", "pre-app", "post-app", "master-start",
          "post-fork", "accepting", "accepting1", "accepting-once", "accepting1-once", "as-user-atexit"]
EXEC_PHASES = ["asap", "as-root", "as-user", "pre-app", "post-app"]


def records(path):
    """(phase, uid) per line written by the hooks."""
    if not path.exists():
        return []
    return [tuple(l.split()) for l in path.read_text().splitlines()]


def test_every_hook_point_runs_in_order_as_its_user(serve):
    d = world_readable_dir("oxwsgi-hooks-")
    try:
        rec = d / "order.txt"
        rec.touch()
        os.chmod(rec, 0o666)
        shutil.copy(SUITE, d / "app.py")
        os.chmod(d / "app.py", 0o644)
        port = free_port()
        lines = ["[uwsgi]", "http = 127.0.0.1:%d" % port, "wsgi-file = %s" % (d / "app.py"), "master = true",
                 "processes = 2", "uid = nobody", "gid = nogroup"]
        for p in PHASES:
            lines.append("hook-%s = exec:echo %s `id -u` >> %s" % (p, p, rec))
        for p in EXEC_PHASES:
            lines.append("exec-%s = echo exec-%s `id -u` >> %s" % (p, p, rec))
        (d / "hooks.ini").write_text("\n".join(lines) + "\n")
        srv = serve("--ini", d / "hooks.ini", port=port, binary=world_readable_binary(d))
        nobody = str(pwd.getpwnam("nobody").pw_uid)
        # 13 lines of the instance's own phases, then master-start, and per
        # worker post-fork, accepting, accepting-once (worker 1: both -1 too).
        wait_for(lambda: len(records(rec)) >= 22, what="the start's hooks")
        got = records(rec)
        # The instance's own phases, in order; root until the drop.
        assert got[:12] == [("asap", "0"), ("exec-asap", "0"), ("pre-jail", "0"), ("post-jail", "0"), ("in-jail", "0"),
                            ("as-root", "0"), ("exec-as-root", "0"), ("as-user", nobody), ("exec-as-user", nobody),
                            ("pre-app", nobody), ("exec-pre-app", nobody), ("post-app", nobody)], got
        assert got[12] == ("exec-post-app", nobody)
        counts = collections.Counter(p for p, _ in got[13:])
        assert counts == {"master-start": 1, "post-fork": 2, "accepting": 2, "accepting1": 1, "accepting-once": 2,
                          "accepting1-once": 1}, got
        assert all(uid == nobody for _, uid in got[7:]), got
        # A respawned worker runs post-fork and accepting again, not the -once phases.
        before = len(records(rec))
        os.kill(pid_of(port), signal.SIGKILL)
        respawned = lambda: collections.Counter(p for p, _ in records(rec)[before:])
        wait_for(lambda: respawned() in ({"post-fork": 1, "accepting": 1}, {"post-fork": 1, "accepting": 1, "accepting1": 1}),
                 what="the respawn's hooks")
        time.sleep(0.3)
        assert respawned() in ({"post-fork": 1, "accepting": 1}, {"post-fork": 1, "accepting": 1, "accepting1": 1}), respawned()
        # A reload runs the start's phases again, but not the -once ones.
        before = len(records(rec))
        srv.signal(signal.SIGHUP)
        try:
            wait_for(lambda: collections.Counter(p for p, _ in records(rec)[before:])["accepting1"] == 1
                     and sum(1 for p, _ in records(rec)[before:] if p == "accepting") == 2, what="the reload's hooks")
        except AssertionError:
            raise AssertionError((records(rec)[before:], srv.read_log()))
        time.sleep(0.3)
        after = collections.Counter(p for p, _ in records(rec)[before:])
        assert after["asap"] == 1 and after["master-start"] == 1 and after["accepting1"] == 1, after
        assert "accepting-once" not in after and "accepting1-once" not in after and "as-user-atexit" not in after, after
        assert get(port, "/ok")[0].status == 200
        # A stop runs as-user-atexit, once, as the user.
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0
        assert records(rec)[-1] == ("as-user-atexit", nobody)
        log = srv.read_log()
        assert 'running "exec:echo asap `id -u` >> %s" (asap)...' % rec in log
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_actions_write_files_and_root_phases_skip_without_root(serve, tmp_path):
    port = free_port()
    out = tmp_path / "made"
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE,
                "--hook-asap", "mkdir:%s" % out,
                "--hook-pre-app", "writen:%s one" % (out / "f"),
                "--hook-post-app", "appendn:%s two" % (out / "f"),
                "--hook-post-app", "chmod:%s 0600" % (out / "f"),
                "--hook-post-fork", "putenv:HOOKED=yes", "--hook-asap", "putenv:HOOKED_EARLY=1",
                "--hook-accepting", "!write:%s secret" % (out / "private"),
                "--hook-accepting", "print:the worker accepts", port=port)
    assert (out / "f").read_text() == "one\ntwo\n"
    assert os.stat(out / "f").st_mode & 0o777 == 0o600
    assert (out / "private").read_text() == "secret"
    log = srv.read_log()
    assert "running --- PRIVATE HOOK --- (accepting)..." in log and "secret" not in log
    assert "the worker accepts" in log
    osenv = lambda name: json.loads(get(port, "/osenv?" + name)[1])["value"]
    assert osenv("HOOKED") == "yes" and osenv("HOOKED_EARLY") == "1"


def test_a_failing_hook_stops_the_start_and_says_which(tmp_path):
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", SUITE, "--hook-pre-app", "exec:exit 3")
    assert r.returncode == 1
    assert 'hook "exec:exit 3" (pre-app) failed: command "exit 3" exited with non-zero code: 3' in r.stderr
    # safeexec only logs.
    port = free_port()
    r = run_oxwsgi("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--hook-pre-app", "safeexec:exit 3",
                   "--hook-post-app", "exit:0")
    assert r.returncode == 0 and "non-zero code: 3" in r.stderr, r.stderr
    # An unknown action, or one oxwsgi does not have, is refused before anything runs.
    marker = tmp_path / "ran"
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--hook-asap", "exec:touch %s" % marker,
                   "--hook-pre-app", "frobnicate:x")
    assert r.returncode == 1 and "option 'hook-pre-app': hook action not found: frobnicate" in r.stderr, r.stderr
    assert not marker.exists()
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--hook-as-root", "call:uwsgi_foo")
    assert r.returncode == 1 and "use exec:COMMAND" in r.stderr


def test_a_failing_worker_hook_stops_the_whole_instance(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
                "--hook-accepting1", "exec:false", port=port, wait=False)
    assert srv.wait() == 1
    log = srv.read_log()
    assert 'hook "exec:false" (accepting1) failed' in log and "FATAL hook failed in worker 1, destroying instance" in log, log
    assert "respawning" not in log


def test_master_start_unix_signal_recipe(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master",
                "--hook-master-start", "unix_signal:15 gracefully_kill_them_all",
                "--hook-master-start", "unix_signal:1 gracefully_kill_them_all", port=port)
    # SIGHUP now stops gracefully instead of reloading: the request in
    # flight finishes.
    done = []
    t = threading.Thread(target=lambda: done.append(get(port, "/sleep?1")[0].status))
    t.start()
    time.sleep(0.3)
    srv.signal(signal.SIGHUP)
    t.join(10)
    assert done == [200]
    assert srv.wait() == 0
    log = srv.read_log()
    assert "SIGHUP received (unix_signal: gracefully_kill_them_all): stopping gracefully" in log, log
    assert "reloading" not in log


def test_reap_them_all_reloads_without_waiting(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master",
                "--hook-master-start", "unix_signal:SIGUSR2 reap_them_all", port=port)
    first = pid_of(port)
    srv.signal(signal.SIGUSR2)
    wait_for(lambda: "executing" in srv.read_log(), what="the reload")
    wait_for(lambda: pid_of(port) != first, what="a new worker")
    assert "SIGUSR2 received (unix_signal: reap_them_all): reloading now" in srv.read_log()
    assert srv.poll() is None


def test_wait_for_file_holds_the_start(serve, tmp_path):
    flag = tmp_path / "ready"
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--wait-for-file", flag, port=port, wait=False)
    wait_for(lambda: "waiting for the file %s (up to 60s)" % flag in srv.read_log(), what="the wait")
    time.sleep(0.5)
    assert "ready in process" not in srv.read_log()
    flag.touch()
    wait_for(lambda: "ready in process" in srv.read_log(), what="the app")
    assert get(port, "/ok")[0].status == 200
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--wait-for-dir", tmp_path / "never", "--wait-for-fs-timeout", "1")
    assert r.returncode == 1 and "did not appear within 1s" in r.stderr
