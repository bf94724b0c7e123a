"""The small options real configs use, each doing what uWSGI's does."""
import grp
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import time

from conftest import APPS, VENV, free_port, run_oxwsgi, wait_port, world_readable_dir
from test_http import get, raw
from test_master import wait_for

SUITE = APPS / "suite.py"


def jget(port, path):
    return json.loads(get(port, path)[1])


def test_protocol_http_makes_socket_speak_http(serve):
    port = free_port()
    serve("--socket", "127.0.0.1:%d" % port, "--protocol", "http", "--wsgi-file", SUITE, port=port)
    assert get(port, "/pid")[0].status == 200


def test_add_header_on_app_and_static_responses(serve, tmp_path):
    port = free_port()
    (tmp_path / "s.txt").write_text("static")
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--add-header", "X-Frame-Options: DENY",
          "--add-header", "X-Served-By: oxwsgi", "--static-map", "/s=%s" % tmp_path, port=port)
    for path in ("/pid", "/s/s.txt"):
        r, _ = get(port, path)
        assert r.getheader("X-Frame-Options") == "DENY" and r.getheader("X-Served-By") == "oxwsgi", path
    r = run_oxwsgi("--http", ":0", "--wsgi-file", SUITE, "--add-header", "no colon here")
    assert r.returncode == 1 and "add-header takes 'Name: value'" in r.stderr


def test_proxy_protocol_gives_the_client_address(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--http-enable-proxy-protocol", port=port)
    out = raw(port, b"PROXY TCP4 203.0.113.7 127.0.0.1 56324 80\r\nGET /environ HTTP/1.0\r\n\r\n")
    env = json.loads(out.split(b"\r\n\r\n", 1)[1])
    assert env["REMOTE_ADDR"] == ["str", "203.0.113.7"] and env["REMOTE_PORT"] == ["str", "56324"]
    # Without the line, the connection is refused: a proxy must be in front.
    assert raw(port, b"GET /environ HTTP/1.0\r\n\r\n") == b""
    srv.wait_log("connection refused (--http-enable-proxy-protocol)")


def test_catch_exceptions_shows_the_traceback(serve):
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--catch-exceptions", port=port)
    r, body = get(port, "/raise")
    assert r.status == 500 and b"Traceback (most recent call last)" in body and b"suite.py" in body
    port2 = free_port()
    serve("--http", "127.0.0.1:%d" % port2, "--wsgi-file", SUITE, port=port2)
    r, body = get(port2, "/raise")
    assert r.status == 500 and b"Traceback" not in body


def test_wsgi_env_behaviour_takes_uwsgi_values():
    r = run_oxwsgi("--check-config", "--http", ":0", "--wsgi-file", SUITE, "--wsgi-env-behaviour", "holy")
    assert r.returncode == 0, r.stderr
    r = run_oxwsgi("--check-config", "--http", ":0", "--wsgi-file", SUITE, "--wsgi-env-behaviour", "lax")
    assert r.returncode == 1 and "wsgi-env-behaviour takes holy or cheat" in r.stderr


def test_ignore_write_errors_keeps_the_log_quiet(serve):
    def broken_response(flags):
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--socket-timeout", "1", *flags, port=port)
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(2.5)  # never read: the write times out after --socket-timeout
        s.close()
        get(port, "/pid")  # the request's log line is written by now
        return srv.read_log()
    assert "not delivered" in broken_response([])
    assert "not delivered" not in broken_response(["--ignore-write-errors"])


def test_threads_stacksize(serve):
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--threads", "2", "--threads-stacksize", "512", port=port)
    sizes = set()
    for _ in range(200):
        s = jget(port, "/stack")
        if not s["main"]:
            sizes.add(s["size"])
            break
    assert sizes == {512 * 1024}


def test_threading_main_thread_is_the_process_main_thread(serve):
    # threading takes the thread that first imports it for the main one.
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--threads", "2", port=port)
    for _ in range(200):
        s = jget(port, "/threading-main")
        if not s["on_main"]:
            break
    assert s["on_main"] is False and s["main_tid"] == s["pid"], s


def test_max_fd_umask_unenv_pyargv(serve, tmp_path):
    port = free_port()
    sock = tmp_path / "s.sock"
    srv = serve("--http", "127.0.0.1:%d" % port, "--socket", sock, "--wsgi-file", SUITE, "--max-fd", "2048",
                "--umask", "027", "--unenv", "OXWSGI_T2", "--pyargv", "--one two", port=port,
                env={"OXWSGI_T1": "kept", "OXWSGI_T2": "dropped"})
    lim = jget(port, "/limits")
    assert lim["nofile"][0] == 2048 and lim["umask"] == 0o027
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o750  # made under the umask
    info = jget(port, "/sys")
    assert info["env"] == {"OXWSGI_T1": "kept", "OXWSGI_T2": None}
    assert info["argv"][1:] == ["--one", "two"]
    assert srv.poll() is None


def test_import_and_chdir2_and_file_wrapper(serve, tmp_path):
    port = free_port()
    (tmp_path / "early.py").write_text("import os\nos.environ['OXWSGI_T1'] = 'imported first'\n")
    later = tmp_path / "later"
    later.mkdir()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--pythonpath", tmp_path, "--import", "early",
          "--chdir2", later, "--wsgi-disable-file-wrapper", port=port)
    info = jget(port, "/sys")
    assert info["env"]["OXWSGI_T1"] == "imported first" and info["cwd"] == str(later)
    assert "wsgi.file_wrapper" not in jget(port, "/environ")


def test_reuse_port_lets_two_servers_share_a_port(serve):
    port = free_port()
    a = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--reuse-port", port=port)
    b = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--reuse-port")
    b.wait_log("socket bound to")
    pids = {jget(port, "/pid")["pid"] for _ in range(60)}
    assert pids <= {a.pid, b.pid} and len(pids) == 2
    r = run_oxwsgi("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE)
    assert r.returncode == 1 and "Address already in use" in r.stderr


def test_paste_deploy_app(serve, tmp_path):
    port = free_port()
    (tmp_path / "pasteapp.py").write_text(
        "def make_app(global_conf, greeting='hi'):\n"
        "    def app(e, sr):\n"
        "        sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "        return [greeting.encode()]\n"
        "    return app\n")
    (tmp_path / "app.ini").write_text("[app:main]\npaste.app_factory = pasteapp:make_app\ngreeting = hello from paste\n")
    serve("--http", "127.0.0.1:%d" % port, "--paste", "config:%s" % (tmp_path / "app.ini"), "--pythonpath", tmp_path,
          "--home", VENV, port=port)
    assert get(port, "/")[1] == b"hello from paste"


def test_pidfile2_and_logto2_are_written_after_the_privilege_drop(serve):
    d = world_readable_dir("oxwsgi-after-drop-")
    try:
        os.chown(d, pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid)
        # The app is read after the drop: from where nobody can read it.
        shutil.copy(SUITE, d / "suite.py")
        os.chmod(d / "suite.py", 0o644)
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", d / "suite.py", "--uid", "nobody", "--gid", "nogroup",
                    "--pidfile2", d / "app.pid", "--logto2", d / "app.log", port=port)
        assert (d / "app.pid").read_text().strip() == str(srv.pid)
        assert os.stat(d / "app.pid").st_uid == pwd.getpwnam("nobody").pw_uid
        get(port, "/pid")
        wait_for(lambda: "GET /pid" in (d / "app.log").read_text(), what="the request line in --logto2")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_privilege_order_as_uwsgi_defines_it(serve):
    """As root with --uid/--gid: the unix socket is bound, chowned and
    chmodded as root (in a directory only root may write), pidfile and
    logto are opened before the drop (root's), daemonize2 after it
    (nobody's); without --uid the app runs as root, with a warning."""
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    d = world_readable_dir("oxwsgi-order-")
    try:
        shutil.copy(SUITE, d / "suite.py")
        os.chmod(d / "suite.py", 0o644)
        rootonly = d / "root-only"
        rootonly.mkdir(mode=0o755)
        mine = d / "nobodys"
        mine.mkdir()
        os.chown(mine, nobody, nogroup)
        sock = rootonly / "app.sock"
        port = free_port()
        r = run_oxwsgi("--http-socket", "127.0.0.1:%d" % port, "--socket", sock, "--chown-socket", "nobody:nogroup", "--chmod-socket", "660",
                       "--wsgi-file", d / "suite.py", "--uid", "nobody", "--gid", "nogroup", "--master",
                       "--pidfile", rootonly / "before.pid", "--logto", rootonly / "before.log",
                       "--daemonize2", mine / "after.log", "--pidfile2", mine / "after.pid")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: (mine / "after.pid").exists() and (mine / "after.pid").read_text().strip(), what="--pidfile2")
        pid = int((mine / "after.pid").read_text())
        try:
            wait_port(port)
            st = os.stat(sock)
            assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (nobody, nogroup, 0o660)
            for f in ("before.pid", "before.log"):
                assert os.stat(rootonly / f).st_uid == 0, f
            assert os.stat(mine / "after.log").st_uid == nobody
            assert jget(port, "/limits")["uid"] == nobody
            with open("/proc/%d/status" % pid) as f:
                assert [l for l in f if l.startswith("Uid:")][0].split()[1:] == [str(nobody)] * 4
        finally:
            os.kill(pid, signal.SIGINT)
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), what="the instance to stop")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, port=port)
    assert "*** WARNING: the app runs as root; give --uid and --gid to drop privileges after binding ***" in srv.read_log()


def test_master_as_root_drops_only_the_workers(serve):
    d = world_readable_dir("oxwsgi-mar-")
    try:
        shutil.copy(SUITE, d / "suite.py")
        os.chmod(d / "suite.py", 0o644)
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", d / "suite.py", "--uid", "nobody", "--gid", "nogroup",
                    "--master", "--master-as-root", "--lazy-apps", port=port)
        assert jget(port, "/limits")["uid"] == pwd.getpwnam("nobody").pw_uid
        with open("/proc/%d/status" % srv.pid) as f:
            uid_line = [l for l in f if l.startswith("Uid:")][0].split()
        assert uid_line[1] == "0"
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_binary_path_is_what_a_reload_runs(serve, tmp_path):
    from conftest import BIN
    marker = tmp_path / "ran"
    wrapper = tmp_path / "oxwsgi-wrapper"
    wrapper.write_text("#!/bin/sh\necho reloaded >> %s\nexec %s \"$@\"\n" % (marker, BIN))
    wrapper.chmod(0o755)
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--binary-path", wrapper, port=port)
    srv.signal(signal.SIGHUP)
    wait_for(lambda: marker.exists(), what="the reload through --binary-path")
    wait_port(port, proc=srv)
    assert get(port, "/pid")[0].status == 200


def test_http_timeout_limits_http_sockets(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--http-timeout", "1", "--socket-timeout", "30", port=port)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    started = time.time()
    s.settimeout(10)
    data = s.recv(1000)
    s.close()
    assert time.time() - started < 5 and (data == b"" or data.startswith(b"HTTP/1.1 408")), data
    srv.wait_log("request body not received")
