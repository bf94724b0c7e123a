"""The tutorial's "Basic test" and PEP 3333 over --http, end to end."""
import hashlib
import http.client
import json
import os
import signal
import socket
import time

import pytest

from conftest import APPS, free_port


def get(port, path, method="GET", body=None, headers=None, host="127.0.0.1"):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def raw(port, data, host="127.0.0.1", read_until_close=True, timeout=10):
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
            if not read_until_close:
                break
        return out


def test_tutorial_basic_test(serve):
    port = free_port()
    # Word for word: `oxwsgi --http :8000 --wsgi-file test.py` from the app's directory.
    srv = serve("--http", ":%d" % port, "--wsgi-file", "hello.py", port=port, cwd=APPS)
    r, body = get(port, "/")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/html"
    assert body == b"Hello World"
    srv.wait_log("GET / => generated 11 bytes in")  # logged after the answer is sent
    assert "(HTTP/1.1 200) 1 headers in" in srv.read_log()


def test_ipv6_loopback(serve):
    port = free_port()
    serve("--http", "[::1]:%d" % port, "--wsgi-file", APPS / "hello.py")
    deadline = time.time() + 10
    while True:
        try:
            r, body = get(port, "/", host="::1")
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    assert body == b"Hello World"


def suite(serve, *extra):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", *extra, port=port)
    return port, srv


def test_environ_types_and_values(serve):
    port, _ = suite(serve)
    r, body = get(port, "/environ/a%20b/%C3%A9?x=1&y=%20", headers={"X-Custom": "v", "Content-Type": "text/x"}, method="POST", body=b"abc")
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == ["str", "POST"]
    assert env["PATH_INFO"] == ["str", "/environ/a b/\u00c3\u00a9"]  # latin-1 decoded bytes, PEP 3333
    assert env["QUERY_STRING"] == ["str", "x=1&y=%20"]
    assert env["REQUEST_URI"] == ["str", "/environ/a%20b/%C3%A9?x=1&y=%20"]
    assert env["SCRIPT_NAME"] == ["str", ""]
    assert env["CONTENT_TYPE"] == ["str", "text/x"]
    assert env["CONTENT_LENGTH"] == ["str", "3"]
    assert env["HTTP_X_CUSTOM"] == ["str", "v"]
    assert env["SERVER_NAME"] == ["str", "127.0.0.1"]
    assert env["SERVER_PORT"] == ["str", str(port)]
    assert env["SERVER_PROTOCOL"] == ["str", "HTTP/1.1"]
    assert env["REMOTE_ADDR"] == ["str", "127.0.0.1"]
    assert env["REMOTE_PORT"][0] == "str"
    assert env["wsgi.version"][0] == "tuple"
    assert env["wsgi.url_scheme"] == ["str", "http"]
    assert env["wsgi.multithread"] == ["bool", False]
    assert env["wsgi.multiprocess"] == ["bool", False]
    assert env["wsgi.run_once"] == ["bool", False]
    for k in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert k in env
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env


def test_validator_app(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "validated.py", port=port)
    r, body = get(port, "/v", method="POST", body=b"abcdef\nline2\nline3\nlast", headers={"Content-Type": "text/plain"})
    assert r.status == 200, srv.read_log()
    assert body == b"via write;abc|def\n|line|2\n|line3\n|last;/v"
    r, body = get(port, "/g?file")
    assert r.status == 200, srv.read_log()
    assert body == b"via write;file-wrapped:;/g"
    r, body = get(port, "/h", method="HEAD")
    assert r.status == 200 and body == b""
    assert "AssertionError" not in srv.read_log()
    assert "validated app writes to wsgi.errors" in srv.read_log()


def test_input_methods(serve):
    port, _ = suite(serve)
    r, body = get(port, "/input", method="POST", body=b"l1\nl2\nl3\nrest")
    assert json.loads(body) == ["l1", "\n", "l2", ["\n", "l3\n", "rest"], ""]
    r, body = get(port, "/iter-input", method="POST", body=b"a\nb\nc")
    assert json.loads(body) == ["a\n", "b\n", "c"]


def test_large_post_read_fully(serve):
    port, _ = suite(serve)
    data = os.urandom(10 * 1024 * 1024)
    r, body = get(port, "/sha", method="POST", body=data)
    assert r.status == 200
    got = json.loads(body)
    assert got["len"] == len(data)
    assert got["sha256"] == hashlib.sha256(data).hexdigest()


def test_chunked_request_body(serve):
    port, _ = suite(serve)
    req = (b"POST /sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n")
    resp = raw(port, req)
    head, _, body = resp.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    got = json.loads(body)
    assert got == {"len": 11, "sha256": hashlib.sha256(b"hello world").hexdigest(), "content_length": None}


def test_expect_100_continue(serve):
    port, _ = suite(serve)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = s.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"hello")
        resp = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            resp += c
    assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"\r\n\r\nhello")


@pytest.mark.parametrize("threads", ["1", "2"])
def test_environ_is_exact_for_every_request_on_a_keepalive_connection(serve, threads):
    # A keep-alive connection reuses what its previous environ was built
    # from; each environ must still hold exactly this request's variables.
    port, _ = suite(serve, "--threads", threads)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    steps = [
        ("/environ/a", {"X-One": "1"}),
        ("/environ/a", {"X-One": "1"}),             # same names, same values
        ("/environ/b?q=2", {"X-One": "2"}),         # values change
        ("/environ/b?mutate", {"X-One": "2"}),      # the app changes its environ
        ("/environ/b", {"X-One": "2"}),             # ... which must not leak
        ("/environ/c", {}),                         # a header goes away
        ("/environ/c", {"X-Two": "t", "X-One": "1"}),
        ("/environ/c", {"X-Two": "t", "X-One": "1"}),
    ]
    seen = []
    for path, headers in steps:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        assert r.status == 200
        seen.append(json.loads(r.read()))
    c.close()
    for (path, headers), env in zip(steps, seen):
        fresh = json.loads(get(port, path, headers=headers)[1])
        # Only the connection's own variables and the input object differ.
        for k in ("REMOTE_PORT", "wsgi.input"):
            env.pop(k), fresh.pop(k)
        if "mutate" in path:
            assert env["HTTP_HOST"] == ["str", "mutated"]
            continue
        assert env == fresh, path
        assert "injected" not in env and env["HTTP_HOST"][1] == "127.0.0.1:%d" % port
        for name in ("X-One", "X-Two"):
            key = "HTTP_" + name.upper().replace("-", "_")
            assert (key in env) == (name in headers)


def test_keepalive_and_pipelining(serve):
    port, srv = suite(serve)
    reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(5))
    reqs += b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    resp = raw(port, reqs)
    assert resp.count(b"HTTP/1.1 200 OK") == 6
    for i in range(5):
        assert b"suite: /p%d" % i in resp
    assert resp.endswith(b"suite: /last")
    # One connection served all six: one accept, six log lines.
    srv.wait_log("GET /last")
    assert srv.read_log().count("GET /p") == 5


def test_http10_closes_and_head(serve):
    port, _ = suite(serve)
    resp = raw(port, b"GET /gen HTTP/1.0\r\n\r\n")
    assert resp.startswith(b"HTTP/1.0 200 OK")
    assert b"Transfer-Encoding" not in resp
    assert resp.endswith(b"part0\npart1\npart2\npart3\npart4\n")
    resp = raw(port, b"HEAD /close HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 OK") and resp.endswith(b"\r\n\r\n")
    assert b"Content-Length: 2" in resp


def test_streamed_responses_are_chunked(serve):
    port, _ = suite(serve)
    r, body = get(port, "/gen")
    # A body that ended before we had to stream gets a Content-Length.
    assert r.getheader("Content-Length") == "30"
    assert body == b"".join(b"part%d\n" % i for i in range(5))
    r, body = get(port, "/big-gen")
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert len(body) == 32 * 65536 and set(body) == {ord("x")}


def test_write_close_and_file_wrapper(serve):
    port, _ = suite(serve)
    assert get(port, "/write")[1] == b"written returned"
    for _ in range(3):
        assert get(port, "/close")[1] == b"ab"
    assert json.loads(get(port, "/closed")[1]) == {"n": 3}
    r, body = get(port, "/file")
    assert r.getheader("Content-Length") == str(256 * 4096)
    assert body == bytes(range(256)) * 4096


def test_app_errors_give_500_and_the_server_keeps_serving(serve):
    port, srv = suite(serve)
    for path in ("/raise", "/badheader", "/nostart", "/notbytes"):
        r, body = get(port, path)
        assert r.status == 500, path
        assert b"Injected" not in body
        r, body = get(port, "/after")
        assert r.status == 200 and body == b"suite: /after"
    log = srv.read_log()
    assert "RuntimeError: boom from the app" in log
    assert "Traceback" in log
    assert "GET /raise" in log
    r, body = get(port, "/exc-info")
    assert r.status == 500 and body == b"replaced by exc_info"


def test_input_without_a_body_is_empty_whatever_the_app_does(serve):
    port, _ = suite(serve)
    want = {"read": "", "read10": "", "readline": "", "readlines": [], "iter": [], "seek": 0, "tell": 0,
            "write": "refused", "read_after_close": ""}
    for _ in range(3):
        assert json.loads(get(port, "/empty-input")[1]) == want
    # A body still arrives whole after that.
    assert get(port, "/echo", method="POST", body=b"abc")[1] == b"abc"


def test_response_headers_are_validated_in_every_shape(serve):
    port, srv = suite(serve)
    for shape in ("list", "tuple", "generator"):
        r, body = get(port, "/headers?" + shape)
        assert (r.status, body, r.getheader("X-A")) == (200, b"shape ok", "1"), shape
    bad = ("list-items", "triple", "bytes-name", "space-name", "empty-name", "nul-value", "non-latin1", "hop-by-hop", "bad-length", "not-iterable")
    for shape in bad:
        r, body = get(port, "/headers?" + shape)
        assert r.status == 500 and b"shape ok" not in body, shape
    r, _ = get(port, "/start-twice")
    assert r.status == 500
    log = srv.read_log()
    for why in ("headers must be (name, value) tuples", "header name must be str", "invalid header name", "has CR, LF or NUL",
                "is not latin-1", "is the server's to send", "invalid Content-Length", "start_response called a second time"):
        assert why in log, why
    # Called from another thread, start_response has no request: an error
    # for the caller, and the request it came from is unharmed.
    r, body = get(port, "/late-start")
    assert (r.status, body) == (200, b"RuntimeError")


def test_short_body_closes_connection(serve):
    port, _ = suite(serve)
    resp = raw(port, b"GET /short HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200") and resp.endswith(b"only ten b")
    assert b"Connection: close" in resp


def test_204_has_no_body(serve):
    port, _ = suite(serve)
    resp = raw(port, b"GET /status204 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 204") and b"Content-Length" not in resp and resp.endswith(b"\r\n\r\n")


def test_bad_requests_get_4xx_and_server_keeps_serving(serve):
    port, _ = suite(serve)
    assert raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(port, b"GET / HTTP/9.9\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 505")
    assert raw(port, b"\x00\x01garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(port, b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 414")
    assert raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 70000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431")
    assert get(port, "/ok")[1] == b"suite: /ok"


def test_logging_options(serve, tmp_path):
    port, srv = suite(serve, "--disable-logging")
    get(port, "/quiet")
    time.sleep(0.2)
    assert "GET /quiet" not in srv.read_log()
    port2 = free_port()
    logfile = tmp_path / "oxwsgi.log"
    serve("--http", "127.0.0.1:%d" % port2, "--wsgi-file", APPS / "suite.py", "--logto", logfile, port=port2)
    get(port2, "/logged")
    time.sleep(0.2)
    text = logfile.read_text()
    assert "GET /logged => generated 14 bytes" in text
    assert text.count("[pid: ") == 1


def test_signals_stop_cleanly(serve):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        port, srv = suite(serve)
        get(port, "/x")
        srv.signal(sig)
        assert srv.wait(10) == 0, (sig, srv.read_log())


def test_sigterm_lets_a_running_request_finish(serve):
    port, srv = suite(serve)
    import threading
    result = {}

    def slow():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/sleep?1")
        r = c.getresponse()
        result["status"] = r.status
        result["body"] = r.read()

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)
    srv.signal(signal.SIGTERM)
    t.join(20)
    assert result["status"] == 200 and b"slept" in result["body"]
    assert srv.wait(10) == 0
