"""The tutorial's production stack: a real nginx (Debian's) in front of
oxwsgi over the uwsgi protocol, on TCP and on a unix socket."""
import collections
import concurrent.futures
import hashlib
import http.client
import json
import os
import shutil
import socket
import struct
import time

import pytest

from conftest import APPS, ROOT, VENV, free_port, tutorial_ini, world_readable_dir
from test_hardening import recv_all
from test_http import get


def site(port, upstream, project):
    """The tutorial's mysite_nginx.conf, with our uwsgi_params."""
    return """
    upstream django { server %s; }
    server {
        listen 127.0.0.1:%d;
        server_name localhost;
        charset utf-8;
        client_max_body_size 75M;
        location /media { alias %s/media; }
        location /static { alias %s/static; }
        location / {
            uwsgi_pass django;
            include %s/uwsgi_params;
        }
    }
    """ % (upstream, port, project, project, ROOT)


@pytest.fixture
def sockdir():
    d = world_readable_dir("oxwsgi-sock-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_tutorial_test_py_over_tcp(serve, nginx, django_project):
    up, port = free_port(), free_port()
    srv = serve("--socket", ":%d" % up, "--wsgi-file", APPS / "hello.py", port=up)
    nginx(site(port, "127.0.0.1:%d" % up, django_project), port)
    r, body = get(port, "/")
    assert r.status == 200 and body == b"Hello World"
    srv.wait_log("GET / => generated 11 bytes")


def test_django_static_media_and_app_over_tcp(serve, nginx, django_project):
    up, port = free_port(), free_port()
    serve("--socket", "127.0.0.1:%d" % up, "--module", "mysite.wsgi", "--chdir", django_project, "--home", VENV, port=up)
    nginx(site(port, "127.0.0.1:%d" % up, django_project), port)
    r, body = get(port, "/static/admin/css/base.css")
    assert r.status == 200 and b"body" in body and r.getheader("Content-Type") == "text/css"
    r, body = get(port, "/media/note.txt")
    assert r.status == 200 and body == b"a media file\n"
    r, body = get(port, "/hello/?name=nginx")
    assert r.status == 200 and body == b"Hello from Django, nginx"
    r, body = get(port, "/admin/login/")
    assert r.status == 200 and b"csrfmiddlewaretoken" in body


def test_unix_socket_permissions_as_in_the_tutorial(serve, nginx, django_project, sockdir):
    # nginx's workers run as nobody: without --chmod-socket they cannot
    # connect (502); with --chmod-socket=666 they can.
    sock = sockdir / "mysite.sock"
    port = free_port()
    srv = serve("--socket", sock, "--wsgi-file", APPS / "hello.py", unix=sock)
    n = nginx(site(port, "unix://%s" % sock, django_project), port)
    r, _ = get(port, "/")
    assert r.status == 502
    assert "Permission denied" in n.error_log()
    srv.stop()
    srv = serve("--socket", sock, "--wsgi-file", APPS / "hello.py", "--chmod-socket=666", unix=sock)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o666"
    r, body = get(port, "/")
    assert r.status == 200 and body == b"Hello World"
    srv.stop()
    srv = serve("--socket", sock, "--wsgi-file", APPS / "hello.py", "--chmod-socket", "664", unix=sock)
    assert oct(os.stat(sock).st_mode & 0o777) == "0o664"


def test_tutorial_ini_over_unix_socket(serve, nginx, django_project, sockdir):
    sock = sockdir / "mysite.sock"
    ini = sockdir / "mysite_uwsgi.ini"
    ini.write_text(tutorial_ini(django_project, sock).replace("# chmod-socket    = 664", "chmod-socket    = 666"))
    port = free_port()
    srv = serve("--ini", ini, unix=sock)
    nginx(site(port, "unix://%s" % sock, django_project), port)
    r, body = get(port, "/hello/")
    assert r.status == 200 and body == b"Hello from Django, world"
    for size in (0, 64 * 1024, 10 * 1024 * 1024):
        data = os.urandom(size)
        r, body = get(port, "/upload/", method="POST", body=data, headers={"Content-Type": "application/octet-stream"})
        got = json.loads(body)
        assert got["len"] == size and got["sha256"] == hashlib.sha256(data).hexdigest()
    # vacuum: the socket goes away with the server.
    srv.signal(15)
    assert srv.wait(20) == 0
    assert not sock.exists()


def test_concurrency_and_large_headers(serve, nginx, django_project, sockdir):
    sock = sockdir / "s.sock"
    port = free_port()
    serve("--socket", sock, "--wsgi-file", APPS / "suite.py", "--chmod-socket", "--processes", "2", "--threads", "4", unix=sock)
    nginx(site(port, "unix://%s" % sock, django_project), port)

    def one(i):
        r, body = get(port, "/n%d" % i)
        return r.status, body

    with concurrent.futures.ThreadPoolExecutor(200) as ex:
        results = list(ex.map(one, range(200)))
    assert results == [(200, b"suite: /n%d" % i) for i in range(200)]
    # 16 KiB of request headers (a browser with many cookies) passes with the
    # default --buffer-size; uWSGI's 4096 default would refuse it.
    headers = {"X-Big-%d" % i: "v" * 1000 for i in range(16)}
    r, body = get(port, "/environ", headers=headers)
    assert r.status == 200
    env = json.loads(body)
    assert env["HTTP_X_BIG_15"] == ["str", "v" * 1000]
    assert env["SERVER_PROTOCOL"] == ["str", "HTTP/1.1"]
    assert env["REQUEST_SCHEME"] == ["str", "http"]


def uwsgi_packet(vars_, modifier1=0, body=b""):
    data = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in vars_)
    return struct.pack("<BHB", modifier1, len(data), 0) + data + body


def talk(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(payload)
        try:
            s.shutdown(socket.SHUT_WR)  # so a truncated packet meets EOF, not a timeout
        except OSError:
            pass  # the server has already closed: that is an answer too
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                return out
            if not c:
                return out
            out += c


def test_raw_uwsgi_packets(serve):
    up = free_port()
    srv = serve("--socket", "127.0.0.1:%d" % up, "--wsgi-file", APPS / "suite.py", "--buffer-size", "4096", port=up)
    good = [(b"REQUEST_METHOD", b"POST"), (b"PATH_INFO", b"/echo"), (b"CONTENT_LENGTH", b"5"), (b"SERVER_PROTOCOL", b"HTTP/1.1")]
    resp = talk(up, uwsgi_packet(good, body=b"hello"))
    assert resp.startswith(b"HTTP/1.1 200 OK\r\n") and resp.endswith(b"\r\n\r\nhello")
    # Bad packets: each closes its connection with a log line; the server keeps serving.
    bad = [
        b"\x00\x10",                                    # truncated header
        struct.pack("<BHB", 0, 100, 0) + b"\x01\x00",   # size larger than the data
        struct.pack("<BHB", 0, 3, 0) + b"\x05\x00a",    # key past the block
        struct.pack("<BHB", 0, 5000, 0),                # larger than --buffer-size
        uwsgi_packet(good, modifier1=5),                # not WSGI
        uwsgi_packet([(b"PATH_INFO", b"/"), (b"CONTENT_LENGTH", b"-3")]),
    ]
    for p in bad:
        assert talk(up, p) == b""
    log = srv.read_log()
    assert "invalid request block size: 5000 (max 4096); raise --buffer-size" in log
    assert "unsupported uwsgi modifier1 5" in log
    assert "malformed uwsgi vars block" in log
    assert "truncated packet header" in log
    # Empty vars and a lying CONTENT_LENGTH (the client sends less, then closes).
    assert talk(up, uwsgi_packet([])).startswith(b"HTTP/1.1 200 OK")
    assert talk(up, uwsgi_packet([(b"PATH_INFO", b"/sha"), (b"CONTENT_LENGTH", b"100")], body=b"short")) == b""
    assert talk(up, uwsgi_packet(good, body=b"hello")).endswith(b"hello")


@pytest.mark.parametrize("family", ["tcp", "unix"])
def test_uwsgi_connections_that_must_wait(serve, sockdir, family):
    # A uwsgi connection is read and answered without the reactor until a
    # call would block; each way of blocking must carry on correctly.
    if family == "tcp":
        up = free_port()
        serve("--socket", "127.0.0.1:%d" % up, "--wsgi-file", APPS / "suite.py", port=up)
        connect = lambda: socket.create_connection(("127.0.0.1", up), timeout=10)
    else:
        path = str(sockdir / "wait.sock")
        serve("--socket", path, "--wsgi-file", APPS / "suite.py", unix=path)

        def connect():
            c = socket.socket(socket.AF_UNIX)
            c.settimeout(10)
            c.connect(path)
            return c

    def exchange(packet, pieces=1, pause=0.0, read_pause=0.0):
        with connect() as c:
            step = max(1, len(packet) // pieces)
            for i in range(0, len(packet), step):
                c.sendall(packet[i:i + step])
                time.sleep(pause)
            out = b""
            while True:
                time.sleep(read_pause)
                d = c.recv(65536)
                if not d:
                    return out
                out += d

    def req(path, body=b"", method="GET"):
        v = [(b"REQUEST_METHOD", method.encode()), (b"PATH_INFO", path.encode()), (b"SERVER_PROTOCOL", b"HTTP/1.1")]
        if body:
            v.append((b"CONTENT_LENGTH", str(len(body)).encode()))
        return uwsgi_packet(v, body=body)

    # The packet arrives in pieces: the first read would block.
    resp = exchange(req("/after"), pieces=3, pause=0.1)
    assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"suite: /after")
    # A body that trickles in after the vars.
    body = os.urandom(200000)
    resp = exchange(req("/echo", body, "POST"), pieces=4, pause=0.05)
    assert resp.endswith(body)
    # A response larger than the socket buffer, read slowly: writes block.
    resp = exchange(req("/big-gen"), read_pause=0.002)
    assert resp.startswith(b"HTTP/1.1 200") and resp.count(b"x") >= 32 * 65536
    # wsgi.file_wrapper: sendfile on a connection not yet registered.
    resp = exchange(req("/file"))
    assert resp.endswith(bytes(range(256)) * 4096)
    # And the plain case still answers.
    assert exchange(req("/after")).endswith(b"suite: /after")


def test_queued_uwsgi_connections_go_to_whichever_worker_is_free(serve, sockdir):
    """A worker back from a slow app call takes the next queued connection,
    not the whole queue (as uWSGI's workers take one at a time): before,
    the first worker to finish took all four queued requests and served
    them one after the other while the other worker sat idle."""
    path = str(sockdir / "fair.sock")
    srv = serve("--socket", path, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2", unix=path)
    srv.wait_log("spawned worker 2")
    time.sleep(0.3)
    packet = uwsgi_packet([(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/sleep"), (b"QUERY_STRING", b"0.5"),
                           (b"SERVER_PROTOCOL", b"HTTP/1.1")])

    def send():
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(20)
        c.connect(path)
        c.sendall(packet)
        return c

    def pid(c):
        out = recv_all(c, 20)
        c.close()
        return json.loads(out.split(b"\r\n\r\n", 1)[1])["pid"]

    # Both workers busy for half a second, then four requests queue up.
    busy = []
    for _ in range(2):
        busy.append(send())
        time.sleep(0.1)
    queued = [send() for _ in range(4)]
    assert len({pid(c) for c in busy}) == 2
    owners = collections.Counter(pid(c) for c in queued)
    assert sorted(owners.values()) == [2, 2], owners


def test_stale_and_busy_unix_socket(serve, sockdir):
    sock = sockdir / "stale.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()  # a socket file nobody listens on, as a crash leaves it
    srv = serve("--socket", sock, "--wsgi-file", APPS / "hello.py", unix=sock)
    from conftest import run_oxwsgi
    r = run_oxwsgi("--socket", sock, "--wsgi-file", APPS / "hello.py")
    assert r.returncode == 1 and "is in use by a running server" in r.stderr
    assert srv.poll() is None
