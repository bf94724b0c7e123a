"""Hostile and unlucky clients, and faults: nothing crashes, nothing hangs,
the server keeps serving."""
import os
import resource
import signal
import socket
import statistics
import subprocess
import threading
import time

import pytest

from conftest import APPS, free_port
from test_http import get
from test_master import pid_of, wait_for


def suite(serve, *extra):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", *extra, port=port)
    return port, srv


def recv_all(s, timeout):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            out += c
    except (socket.timeout, ConnectionResetError):
        pass
    return out


def test_slowloris_head_gets_408(serve):
    port, srv = suite(serve, "--http-header-timeout", "1")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.time()
    assert get(port, "/meanwhile")[1] == b"suite: /meanwhile"
    out = recv_all(s, 5)
    assert out.startswith(b"HTTP/1.1 408"), out
    assert 0.8 < time.time() - t0 < 3
    assert "request timed out from 127.0.0.1" in srv.read_log()


def test_slow_body_is_dropped(serve):
    port, srv = suite(serve, "--socket-timeout", "1")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    t0 = time.time()
    out = recv_all(s, 5)
    assert out == b"" and 0.8 < time.time() - t0 < 3
    wait_for(lambda: "no body bytes within --socket-timeout" in srv.read_log(), what="the log line")
    assert get(port, "/after")[1] == b"suite: /after"


def test_idle_keepalive_closed(serve):
    port, _ = suite(serve, "--http-keepalive-timeout", "1")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.time()
    out = recv_all(s, 5)
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"suite: /a")
    assert 0.8 < time.time() - t0 < 3


def test_keepalive_timeout_counts_from_the_last_request(serve):
    """The idle timer is armed once per connection and moved when it fires
    early: a connection used again just before the timeout gets the whole
    timeout again."""
    port, _ = suite(serve, "--http-keepalive-timeout", "2")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    time.sleep(1.5)
    s.sendall(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    t0 = time.time()
    out = recv_all(s, 6)
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"suite: /b")
    assert 1.7 < time.time() - t0 < 4


def test_keepalive_request_limit(serve):
    port, _ = suite(serve, "--http-keepalive-requests", "3")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"".join(b"GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5)))
    out = recv_all(s, 5)
    assert out.count(b"HTTP/1.1 200") == 3 and out.count(b"Connection: close") == 1


def test_client_that_stops_reading_is_dropped(serve):
    port, srv = suite(serve, "--socket-timeout", "1")
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /big?256 HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: "the client stopped reading (--socket-timeout)" in srv.read_log(), timeout=15, what="the drop")
    t0 = time.time()
    assert get(port, "/next")[1] == b"suite: /next"
    assert time.time() - t0 < 2
    s.close()


def test_client_disconnect_mid_response_and_mid_body(serve):
    port, srv = suite(serve)
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /big?64 HTTP/1.1\r\nHost: x\r\n\r\n")
    s.recv(1000)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()
    wait_for(lambda: "not delivered" in srv.read_log() and "the client disconnected" in srv.read_log(), what="the log line")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"POST /sha HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 5000)
    s.close()
    wait_for(lambda: "disconnected in the middle of its body" in srv.read_log(), what="the body log line")
    for i in range(3):
        assert get(port, "/ok%d" % i)[1] == b"suite: /ok%d" % i


def test_thousand_idle_and_trickling_connections_do_not_delay_others(serve):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    port, _ = suite(serve, "--disable-logging")

    def latency(n=30):
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            get(port, "/x")
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    before = latency()
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    stop = threading.Event()

    def trickle():
        for c in conns[:500]:
            c.sendall(b"GET / HTTP/1.1\r\n")
        i = 0
        while not stop.is_set() and i < 200:
            for c in conns[:500:10]:
                try:
                    c.sendall(b"X")
                except OSError:
                    pass
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=trickle)
    t.start()
    time.sleep(0.3)
    during = latency()
    stop.set()
    t.join()
    for c in conns:
        c.close()
    print("median latency before %.2f ms, with 1000 idle/trickling connections %.2f ms" % (before * 1e3, during * 1e3))
    assert during < before + 0.005, (before, during)


def test_crash_in_c_extension_is_respawned(serve):
    port, srv = suite(serve, "--master", "--processes", "2")
    try:
        get(port, "/crash")
    except Exception:  # noqa: BLE001 - the connection dies with the worker
        pass
    wait_for(lambda: "killed by signal SIGSEGV" in srv.read_log(), what="the crash to be logged")
    for i in range(10):
        assert get(port, "/after%d" % i)[1] == b"suite: /after%d" % i


def test_sigkill_under_load_fails_only_in_flight(serve):
    port, srv = suite(serve, "--master", "--processes", "2", "--disable-logging")
    stop = threading.Event()
    results = {"ok": 0, "fail": 0}

    def load():
        while not stop.is_set():
            try:
                r, _ = get(port, "/x")
                results["ok" if r.status == 200 else "fail"] += 1
            except Exception:  # noqa: BLE001
                results["fail"] += 1

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    os.kill(pid_of(port), signal.SIGKILL)
    time.sleep(1.0)
    stop.set()
    for t in threads:
        t.join()
    assert results["fail"] <= 2, results  # at most one in-flight request per client
    assert results["ok"] > 100


def test_full_disk_while_spooling_gives_507(serve, tmp_path):
    tmpfs = tmp_path / "tiny"
    tmpfs.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(tmpfs)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("this test mounts a 64 KiB tmpfs and needs root: %s" % r.stderr)
    srv = None
    try:
        port = free_port()
        srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--post-buffering", "1000",
                    port=port, env={"TMPDIR": str(tmpfs)})
        r, body = get(port, "/sha", method="POST", body=b"x" * (1 << 20))
        assert r.status == 507, body
        r, body = get(port, "/sha", method="POST", body=b"small")
        assert r.status == 200
        r, body = get(port, "/sha", method="POST", body=b"y" * 20000)
        assert r.status == 200  # spooled to the tmpfs, which has room for this one
    finally:
        if srv is not None:
            srv.stop()
        subprocess.run(["umount", str(tmpfs)])


def uwsgi_packet(path):
    import struct
    pairs = [(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", path), (b"REQUEST_URI", path), (b"SERVER_PROTOCOL", b"HTTP/1.1"),
             (b"SERVER_NAME", b"x"), (b"SERVER_PORT", b"80"), (b"QUERY_STRING", b"")]
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in pairs)
    return struct.pack("<BHB", 0, len(body), 0) + body


@pytest.mark.parametrize("proto", ["--http-socket", "--socket"])
def test_a_panic_costs_only_its_connection(serve, proto):
    """A request that hits a panic in the connection code (the test hook
    OXWSGI_TEST_PANIC_PATH) closes that connection with a log line naming
    it; the worker, its other connections and its accept loop go on."""
    port = free_port()
    srv = serve(proto, "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "1",
                env={"OXWSGI_TEST_PANIC_PATH": "/boom"}, port=port)
    if proto == "--http-socket":
        pid = pid_of(port)
        # A keep-alive connection in the middle of its life, then the panic.
        other = socket.create_connection(("127.0.0.1", port))
        other.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in other.recv(65536)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /boom?x=1 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert recv_all(s, 5) == b""
        srv.wait_log("a panic while serving a connection (request: 127.0.0.1: GET /boom?x=1)")
        other.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in other.recv(65536)
        other.close()
        assert pid_of(port) == pid
    else:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(uwsgi_packet(b"/boom"))
                assert recv_all(s, 5) == b""
        srv.wait_log("(request: 127.0.0.1: GET /boom)")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(uwsgi_packet(b"/pid"))
            assert b"200 OK" in recv_all(s, 5)
    assert "died" not in srv.read_log() and srv.poll() is None
    assert srv.read_log().count("spawned worker 1") == 1
