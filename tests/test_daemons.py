"""Attached daemons (--attach-daemon, --smart-attach-daemon[2],
--attach-daemon2, --attach-control-daemon) as uWSGI runs them: restarted
when they die, stopped with the instance, governed by their pidfile."""
import os
import signal
import subprocess
import time

from conftest import APPS, free_port
from test_master import wait_for

SUITE = APPS / "suite.py"


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(") ")[1][0] != "Z"


def pids(path):
    return [int(l) for l in path.read_text().split()] if path.exists() else []


def recorder(path):
    """A daemon that appends its pid to `path`, then sleeps as that pid."""
    return "echo $$ >> %s; exec sleep 100" % path


def test_attach_daemon_respawned_after_kill_and_stopped_with_the_instance(serve, tmp_path):
    rec = tmp_path / "pids"
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--attach-daemon", recorder(rec), port=port)
    wait_for(lambda: len(pids(rec)) == 1, what="the daemon")
    first = pids(rec)[0]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: len(pids(rec)) == 2, what="the respawn")
    second = pids(rec)[1]
    assert alive(second) and not alive(first)
    # A reload stops it and the new master starts it again.
    srv.signal(signal.SIGHUP)
    wait_for(lambda: len(pids(rec)) == 3, what="the daemon after the reload")
    assert not alive(second)
    third = pids(rec)[2]
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0
    assert not alive(third)
    log = srv.read_log()
    assert "[daemons] spawning \"%s\"" % recorder(rec) in log and "[daemons] stopping" in log


def test_smart_daemon_is_found_by_its_pidfile_and_outlives_the_instance(serve, tmp_path):
    pidfile, marker = tmp_path / "d.pid", tmp_path / "started"
    # Already running when the instance starts.
    outside = subprocess.Popen(["sleep", "100"])
    pidfile.write_text("%d\n" % outside.pid)
    cmd = "echo yes >> %s; echo $$ > %s; exec sleep 100" % (marker, pidfile)
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--smart-attach-daemon",
                "%s %s" % (pidfile, cmd), port=port)
    try:
        wait_for(lambda: "found valid/active pidfile" in srv.read_log(), what="the pidfile check")
        time.sleep(1.2)
        assert not marker.exists()
        # Gone: started again within a check or two.
        outside.kill()
        outside.wait()
        wait_for(lambda: marker.exists() and int(pidfile.read_text()) != outside.pid, what="the respawn")
        daemon = int(pidfile.read_text())
        assert alive(daemon)
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0
        assert alive(daemon), "a smart daemon survives the instance's stop"
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


def test_smart_attach_daemon2_daemonizes_and_writes_the_pidfile(serve, tmp_path):
    pidfile = tmp_path / "d2.pid"
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--smart-attach-daemon2",
                "%s sleep 101" % pidfile, port=port)
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), what="the pidfile")
        pid = int(pidfile.read_text())
        wait_for(lambda: alive(pid) and b"sleep" in open("/proc/%d/cmdline" % pid, "rb").read(), what="the daemon")
        # Not the master's child: it daemonized.
        with open("/proc/%d/stat" % pid) as f:
            assert int(f.read().split(") ")[1].split()[1]) != srv.pid
        srv.signal(signal.SIGTERM)
        assert srv.wait() == 0 and alive(pid)
    finally:
        if pidfile.exists():
            # Its own session and group (it daemonized): the shell and its sleep.
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


def test_control_daemon_stops_the_instance(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--attach-control-daemon", "sleep 1",
                port=port)
    assert srv.wait(timeout=10) == 0
    assert 'the control daemon "sleep 1" exited: stopping gracefully' in srv.read_log()


def test_attach_daemon2_touch_and_stop_signal(serve, tmp_path):
    rec, trigger, got = tmp_path / "pids", tmp_path / "restart", tmp_path / "signal"
    trigger.touch()
    # The daemon says which signal stopped it.
    cmd = "echo $$ >> %s; trap 'echo QUIT > %s; exit 0' QUIT; while true; do sleep 0.1; done" % (rec, got)
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--attach-daemon2",
                "cmd=%s,touch=%s,stopsignal=QUIT" % (cmd, trigger), port=port)
    wait_for(lambda: len(pids(rec)) == 1, what="the daemon")
    time.sleep(1.1)
    os.utime(trigger, (time.time() + 5, time.time() + 5))
    wait_for(lambda: len(pids(rec)) == 2, what="the restart")
    assert got.read_text() == "QUIT\n"
    assert "touched: restarting" in srv.read_log()
    srv.signal(signal.SIGTERM)
    assert srv.wait() == 0 and not alive(pids(rec)[1])
