"""Every case of http_corpus.py, on --http and --http-socket, in three split patterns: all at once, in
two halves, and byte by byte. A differential test of the parser as the
network sees it, not as a unit test calls it."""
import json
import socket
import time

import pytest

from conftest import APPS, free_port, wait_port
from http_corpus import CASES

SPLITS = ["whole", "halves", "bytes"]


@pytest.fixture(scope="module", params=["--http", "--http-socket"])
def server(request):
    from conftest import Server
    port = free_port()
    s = Server([request.param, "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--buffer-size", "8192",
                "--http-max-headers", "50", "--limit-post", "100000", "--disable-logging"])
    wait_port(port, proc=s)
    yield port, s
    s.stop()


def send(port, data, split):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if split == "whole":
            s.sendall(data)
        elif split == "halves":
            s.sendall(data[: len(data) // 2])
            time.sleep(0.01)
            s.sendall(data[len(data) // 2:])
        else:
            # Byte by byte for the head; a large body goes in 1 KiB pieces.
            for i in range(0, len(data)):
                if i > 600:
                    for j in range(i, len(data), 1024):
                        s.sendall(data[j:j + 1024])
                    break
                s.sendall(data[i:i + 1])
                if i % 50 == 0:
                    time.sleep(0.001)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        while True:
            try:
                c = s.recv(65536)
            except ConnectionResetError:
                break
            if not c:
                break
            out += c
        return out


def parse(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    parts = status_line.split(b" ")
    if parts[1:2] == [b"100"]:  # skip an interim 100 Continue
        return parse(body)
    return int(parts[1]), body


@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("name,raw,expect", CASES, ids=[c[0] for c in CASES])
def test_case(server, name, raw, expect, split):
    port, srv = server
    resp = send(port, raw, split)
    assert resp, "no answer to %r (%s)" % (name, split)
    status, body = parse(resp)
    if isinstance(expect, int):
        assert status == expect, (name, split, resp[:200])
    else:
        assert status == 200, (name, split, resp[:300])
        got = json.loads(body)
        for k, v in expect.items():
            if k in ("len", "content_length"):  # from /sha
                assert got[k] == v, (name, k, got[k])
            elif v is None:
                assert k not in got, (name, k)
            else:
                assert got[k] == ["str", v], (name, k, got.get(k))
    assert srv.poll() is None, "the server died"


def test_corpus_size():
    assert len(CASES) >= 60
    assert sum(isinstance(c[2], int) for c in CASES) >= 30
