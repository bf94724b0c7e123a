"""An app wrapped in wsgiref.validate.validator that touches every environ
key, input method, write(), close() and wsgi.file_wrapper: any breach of
PEP 3333 by the server raises AssertionError, which becomes a 500."""
import io
from wsgiref.validate import validator

REQUIRED = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME", "SERVER_PORT",
            "SERVER_PROTOCOL", "wsgi.version", "wsgi.url_scheme", "wsgi.input", "wsgi.errors",
            "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once"]


def inner(environ, start_response):
    for k in REQUIRED:
        assert k in environ, k
    for k, v in environ.items():
        if k.startswith("HTTP_") or k.isupper():
            assert type(v) is str, (k, type(v))
    assert environ["wsgi.version"] == (1, 0)
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert int(environ["REMOTE_PORT"]) > 0
    assert "wsgi.file_wrapper" in environ
    environ["wsgi.errors"].write("validated app writes to wsgi.errors\n")
    environ["wsgi.errors"].flush()
    inp = environ["wsgi.input"]
    parts = []
    if environ["REQUEST_METHOD"] == "POST":
        parts.append(inp.read(3))
        parts.append(inp.readline())
        parts.append(inp.readline(4))
        parts.extend(inp.readlines())
        parts.extend(list(inp))
        assert inp.read(10) == b""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"via write;")
    body = b"|".join(parts) + b";" + environ["PATH_INFO"].encode("latin-1")
    if environ.get("QUERY_STRING") == "file":
        return environ["wsgi.file_wrapper"](io.BytesIO(b"file-wrapped:" + body), 4)
    return [body]


application = validator(inner)
