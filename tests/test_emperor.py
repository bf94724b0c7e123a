"""The Emperor: a vassal per config file, real processes and signals."""
import json
import os
import signal
import socket
import time

from conftest import APPS, free_port, wait_port
from test_http import get
from test_master import wait_for
from test_stats import read_to_end, stats_json


def vassal_ini(port, processes=1, extra=""):
    return ("[uwsgi]\nhttp = 127.0.0.1:%d\nwsgi-file = %s\nmaster = true\nprocesses = %d\nvacuum = true\n"
            "disable-logging = true\n%s" % (port, APPS / "suite.py", processes, extra))


def pid_of(port):
    return json.loads(get(port, "/pid")[1])["pid"]


def pids_of(port, n=30):
    return {pid_of(port) for _ in range(n)}


def descendants(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
                    out.extend(descendants(int(d)))
            except OSError:
                pass
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_emperor_lifecycle(serve, tmp_path):
    vdir = tmp_path / "vassals"
    vdir.mkdir()
    p1, p2 = free_port(), free_port()
    (vdir / "one.ini").write_text(vassal_ini(p1))
    real = tmp_path / "mysite_uwsgi.ini"
    real.write_text(vassal_ini(p2))
    (vdir / "mysite_uwsgi.ini").symlink_to(real)  # as the tutorial links it
    emperor = serve("--emperor", vdir)
    wait_port(p1, proc=emperor)
    wait_port(p2, proc=emperor)
    one_before, two_before = pid_of(p1), pid_of(p2)

    # Touch the symlink's target: that vassal reloads, the other is untouched.
    os.utime(real, (time.time() + 5, time.time() + 5))
    wait_for(lambda: pid_of(p2) != two_before, what="the touched vassal to reload")
    assert pid_of(p1) == one_before
    assert "vassal mysite_uwsgi.ini (pid: " in emperor.read_log() and "changed: reloading it" in emperor.read_log()

    # Amend an option: processes 1 -> 2 takes effect.
    (vdir / "one.ini").write_text(vassal_ini(p1, processes=2))
    wait_for(lambda: len(pids_of(p1)) == 2, what="two workers")

    # Remove a vassal: it stops and its socket goes (a unix one, vacuumed).
    sock = tmp_path / "three.sock"
    (vdir / "three.ini").write_text(vassal_ini(free_port(), extra="socket = %s\n" % sock))
    wait_for(lambda: sock.exists(), what="the new vassal's socket")
    (vdir / "three.ini").unlink()
    try:
        wait_for(lambda: not sock.exists(), what="the removed vassal's socket to go")
    except AssertionError:
        print(emperor.read_log())
        raise
    emperor.wait_log("vassal three.ini (pid: ")
    assert "removed: stopping it" in emperor.read_log()

    # Kill -9 a vassal's master: the Emperor brings it back.
    old_worker = pid_of(p2)
    master = [p for p in descendants(emperor.pid) if old_worker in descendants(p)][0]
    os.kill(master, signal.SIGKILL)
    wait_for(lambda: "died (signal: 9 (SIGKILL))" in emperor.read_log(), what="the death to be logged")
    wait_for(lambda: _serves(p2) and pid_of(p2) != old_worker, what="the vassal to come back")
    assert not alive(old_worker)

    # A broken config does not disturb the others, and is retried when fixed.
    p4 = free_port()
    (vdir / "broken.ini").write_text("[uwsgi]\nproceses = 2\n")
    emperor.wait_log("vassal broken.ini (pid: ")
    wait_for(lambda: "failed to start" in emperor.read_log(), what="the failure to be logged")
    assert "did you mean processes?" in emperor.read_log()
    assert _serves(p1) and _serves(p2)
    time.sleep(1.5)
    assert emperor.read_log().count("vassal broken.ini started") == 1  # no tight loop
    (vdir / "broken.ini").write_text(vassal_ini(p4))
    wait_port(p4, proc=emperor)

    # SIGTERM: every vassal stops, the Emperor exits, no process is left.
    tree = descendants(emperor.pid)
    assert len(tree) >= 6
    emperor.signal(signal.SIGTERM)
    assert emperor.wait(30) == 0
    wait_for(lambda: not any(alive(p) for p in tree), what="every process of the tree to exit")


def _serves(port):
    try:
        return get(port, "/ok")[1] == b"suite: /ok"
    except OSError:
        return False


def test_vassals_exit_when_the_emperor_is_killed(serve, tmp_path):
    vdir = tmp_path / "v"
    vdir.mkdir()
    port = free_port()
    (vdir / "a.ini").write_text(vassal_ini(port))
    emperor = serve("--emperor", "%s/*.ini" % vdir)
    wait_port(port, proc=emperor)
    tree = descendants(emperor.pid)
    os.kill(emperor.pid, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in tree), timeout=20, what="orphaned vassals to exit")


def test_sd_notify_ready(serve, tmp_path):
    vdir = tmp_path / "v"
    vdir.mkdir()
    addr = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(15)
    emperor = serve("--emperor", vdir, env={"NOTIFY_SOCKET": addr})
    msgs = b""
    while b"READY=1" not in msgs:
        msgs += s.recv(4096) + b"\n"
    assert b"MAINPID=%d" % emperor.pid in msgs
    assert b"STATUS=watching" in msgs
    s.close()


def test_sighup_reloads_every_vassal(serve, tmp_path):
    vdir = tmp_path / "v"
    vdir.mkdir()
    p1, p2 = free_port(), free_port()
    (vdir / "a.ini").write_text(vassal_ini(p1))
    (vdir / "b.ini").write_text(vassal_ini(p2).replace("master = true", "master = false"))
    emperor = serve("--emperor", vdir)
    wait_port(p1, proc=emperor)
    wait_port(p2, proc=emperor)
    a, b = pid_of(p1), pid_of(p2)
    emperor.signal(signal.SIGHUP)
    wait_for(lambda: _serves(p1) and pid_of(p1) != a, what="vassal a to reload")
    wait_for(lambda: _serves(p2) and "reloading: executing" in emperor.read_log(), what="vassal b to reload")
    assert "died" not in emperor.read_log()


def _who_app(d):
    app = d / "who.py"
    app.write_text("import os\ndef application(e, sr):\n    sr('200 OK', [])\n"
                   "    return [('%d:%d' % (os.getuid(), os.getgid())).encode()]\n")
    os.chmod(app, 0o644)
    return app


def test_emperor_uid_gid_as_in_the_tutorial(serve):
    import grp, pwd, shutil
    from conftest import world_readable_dir
    d = world_readable_dir("oxwsgi-emp-")
    try:
        vdir = d / "vassals"
        vdir.mkdir()
        os.chmod(vdir, 0o755)
        port = free_port()
        (vdir / "site.ini").write_text("[uwsgi]\nhttp = 127.0.0.1:%d\nwsgi-file = %s\nmaster = true\n" % (port, _who_app(d)))
        os.chmod(vdir / "site.ini", 0o644)
        # The Emperor drops to www-data before it starts vassals, so the binary
        # must be where www-data can run it (a CI checkout may be private).
        from conftest import BIN
        binary = d / "oxwsgi"
        shutil.copy(BIN, binary)
        os.chmod(binary, 0o755)
        emperor = serve("--emperor", vdir, "--uid", "www-data", "--gid", "www-data", binary=binary)
        wait_port(port, proc=emperor)
        want = "%d:%d" % (pwd.getpwnam("www-data").pw_uid, grp.getgrnam("www-data").gr_gid)
        assert get(port, "/")[1].decode() == want
        # --emperor-tyrant: each vassal runs as its file's owner.
        port2 = free_port()
        tdir = d / "tyrant"
        tdir.mkdir()
        (tdir / "owned.ini").write_text("[uwsgi]\nhttp = 127.0.0.1:%d\nwsgi-file = %s\n" % (port2, _who_app(d)))
        nobody = pwd.getpwnam("nobody")
        os.chown(tdir / "owned.ini", nobody.pw_uid, nobody.pw_gid)
        tyrant = serve("--emperor", "%s/owned*.ini" % tdir, "--emperor-tyrant", binary=binary)
        wait_port(port2, proc=tyrant)
        assert get(port2, "/")[1].decode() == "%d:%d" % (nobody.pw_uid, nobody.pw_gid)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_emperor_daemonize_pidfile_logto(tmp_path):
    from conftest import run_oxwsgi
    vdir = tmp_path / "v"
    vdir.mkdir()
    port = free_port()
    real = tmp_path / "mysite_uwsgi.ini"
    real.write_text(vassal_ini(port))
    (vdir / "mysite_uwsgi.ini").symlink_to(real)
    log = tmp_path / "emperor.log"
    pidfile = tmp_path / "emperor.pid"
    r = run_oxwsgi("--emperor", vdir, "--daemonize", log, "--pidfile", pidfile, "--vacuum")
    assert r.returncode == 0, r.stderr
    pid = int(pidfile.read_text())
    try:
        wait_port(port)
        assert _serves(port)
        assert "vassal mysite_uwsgi.ini started (pid: " in log.read_text()
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), what="the Emperor to exit")
    wait_for(lambda: "every vassal stopped, goodbye" in log.read_text(), what="the goodbye")
    assert not pidfile.exists()
    r = run_oxwsgi("--emperor", tmp_path / "nope")
    assert r.returncode == 1 and "the vassals directory cannot be entered (chdir(): No such file or directory" in r.stderr


def test_a_pattern_waits_for_its_directory(serve, tmp_path):
    """As uWSGI's glob monitor: `--emperor dir/*.ini` starts before dir
    exists, and runs the vassals once it does."""
    vdir = tmp_path / "later"
    port = free_port()
    emperor = serve("--emperor", "%s/*.ini" % vdir)
    wait_for(lambda: "does not exist" in emperor.read_log(), what="the warning")
    vdir.mkdir()
    (vdir / "site.ini").write_text(vassal_ini(port))
    wait_port(port, proc=emperor)
    assert get(port, "/")[0].status == 200


def test_yaml_and_json_vassals(serve, tmp_path):
    vdir = tmp_path / "v"
    vdir.mkdir()
    p1, p2 = free_port(), free_port()
    (vdir / "a.yaml").write_text("uwsgi:\n  http: 127.0.0.1:%d\n  wsgi-file: %s\n" % (p1, APPS / "suite.py"))
    (vdir / "b.json").write_text('{"uwsgi": {"http": "127.0.0.1:%d", "wsgi-file": "%s"}}' % (p2, APPS / "suite.py"))
    (vdir / "notes.txt").write_text("not a vassal")
    emperor = serve("--emperor", vdir)
    wait_port(p1, proc=emperor)
    wait_port(p2, proc=emperor)
    assert _serves(p1) and _serves(p2)
    assert "notes.txt" not in emperor.read_log()


def uwsgi_get(sock, path="/pid"):
    """One request over the uwsgi protocol on a unix socket: the body."""
    import struct
    def kv(k, v):
        return struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    env = b"".join(kv(k, v) for k, v in [(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", path.encode()), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
                                         (b"SERVER_NAME", b"t"), (b"SERVER_PORT", b"0"), (b"QUERY_STRING", b"")])
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(15)
        s.connect(str(sock))
        s.sendall(struct.pack("<BHB", 0, len(env), 0) + env)
        return read_to_end(s).split(b"\r\n\r\n", 1)[1]


def test_on_demand_vassal_starts_at_its_first_connection(serve, tmp_path):
    vdir, sockets = tmp_path / "vassals", tmp_path / "sockets"
    vdir.mkdir()
    sockets.mkdir()
    # No socket of its own: it serves the one the Emperor hands it as fd 0,
    # and goes back on demand when idle.
    (vdir / "app.ini").write_text("[uwsgi]\nwsgi-file = %s\nmaster = true\nvacuum = true\nidle = 1\ndie-on-idle = true\n"
                                  % (APPS / "suite.py"))
    emperor = serve("--emperor", vdir, "--emperor-on-demand-directory", sockets)
    sock = sockets / "app.socket"
    wait_for(lambda: sock.exists(), what="the on-demand socket")
    time.sleep(0.5)
    assert "vassal app.ini started" not in emperor.read_log()
    first = json.loads(uwsgi_get(sock))["pid"]
    assert "a connection is waiting on its socket: starting it" in emperor.read_log()
    # Idle: it exits, the socket stays (vacuum leaves the Emperor's socket alone).
    wait_for(lambda: "back on demand" in emperor.read_log(), timeout=15, what="the idle exit")
    assert sock.exists() and not alive(first)
    second = json.loads(uwsgi_get(sock))["pid"]
    assert second != first
    assert emperor.read_log().count("vassal app.ini started") == 2


def test_vassal_set_include_pidfile_and_stats(serve, tmp_path):
    vdir = tmp_path / "vassals"
    vdir.mkdir()
    port, stats_port = free_port(), free_port()
    (vdir / "a.ini").write_text(vassal_ini(port, processes=1))
    extra = tmp_path / "extra.ini"
    extra.write_text("[uwsgi]\nenv = FROM_INCLUDE=yes\n")
    pidfile = tmp_path / "emperor.pid"
    emperor = serve("--emperor", vdir, "--vassal-set", "processes=3", "--vassals-include", extra,
                    "--emperor-pidfile", pidfile, "--emperor-stats", "127.0.0.1:%d" % stats_port)
    wait_port(port, proc=emperor)
    # --vassal-set comes after the vassal's own config: it wins.
    wait_for(lambda: len(pids_of(port)) == 3, what="three workers")
    assert json.loads(get(port, "/osenv?FROM_INCLUDE")[1])["value"] == "yes"
    assert int(pidfile.read_text()) == emperor.pid
    doc = stats_json(("127.0.0.1", stats_port))
    assert doc["pid"] == emperor.pid and doc["emperor"] == [str(vdir)]
    [v] = doc["vassals"]
    assert v["id"] == "a.ini" and v["state"] == "running" and alive(v["pid"]) and v["born"] > 0


def test_emperor_hooks(serve, tmp_path):
    vdir, rec = tmp_path / "vassals", tmp_path / "rec"
    vdir.mkdir()
    port = free_port()
    (vdir / "a.ini").write_text(vassal_ini(port))
    say = lambda what: "echo %s $UWSGI_HOOK_CONTEXT >> %s" % (what, rec)
    emperor = serve("--emperor", vdir, "--hook-emperor-start", "exec:" + say("start"), "--exec-as-emperor", say("started"),
                    "--hook-emperor-reload", "exec:" + say("reload"), "--hook-emperor-stop", "exec:" + say("stop"),
                    "--hook-as-vassal", "exec:" + say("vassal"))
    wait_port(port, proc=emperor)
    lines = lambda: rec.read_text().splitlines() if rec.exists() else []
    wait_for(lambda: len(lines()) >= 3, what="the start's hooks")
    assert sorted(lines()[:3]) == sorted(["start", "vassal a.ini", "started a.ini"]) and lines()[0] == "start", lines()
    os.utime(vdir / "a.ini", (time.time() + 5, time.time() + 5))
    wait_for(lambda: "reload a.ini" in lines(), what="the reload hook")
    (vdir / "a.ini").unlink()
    wait_for(lambda: "stop a.ini" in lines(), what="the stop hook")
