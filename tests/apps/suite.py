"""One app with a route per behaviour the HTTP tests check."""
import hashlib
import io
import json
import os
import sys
import tempfile

CLOSED = {"n": 0}
HOG = []
FILE = os.path.join(tempfile.gettempdir(), "oxwsgi-suite-file-%d.bin" % os.getpid())


class Closing:
    def __init__(self, parts):
        self.parts = parts

    def __iter__(self):
        return iter(self.parts)

    def close(self):
        CLOSED["n"] += 1


def _try(f):
    try:
        f("200 OK", [])
        return "no error"
    except Exception as e:
        return type(e).__name__


def json_response(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path == "/sha":
        h = hashlib.sha256()
        n = 0
        while True:
            chunk = inp.read(65536)
            if not chunk:
                break
            n += len(chunk)
            h.update(chunk)
        return json_response(start_response, {"len": n, "sha256": h.hexdigest(), "content_length": environ.get("CONTENT_LENGTH")})
    if path == "/echo":
        body = inp.read()
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))])
        return [body]
    # A target with no path (absolute-form "http://host?q") reaches "/".
    if path.startswith("/environ") or environ.get("QUERY_STRING", "").startswith("as=environ"):
        if "mutate" in environ.get("QUERY_STRING", ""):
            # An app may change its environ; the next request must not see it.
            environ["HTTP_HOST"] = "mutated"
            environ["injected"] = "x"
            del environ["PATH_INFO"]
            environ["PATH_INFO"] = path
        out = {k: [type(v).__name__, v if isinstance(v, (str, int, bool, type(None))) else repr(v)] for k, v in environ.items()}
        return json_response(start_response, out)
    if path == "/input":
        # Every wsgi.input method on a known body "l1\nl2\nl3\nrest".
        a = inp.read(2)
        b = inp.readline()
        c = inp.readline(2)
        d = inp.readlines()
        e = inp.read()
        return json_response(start_response, [x.decode() if isinstance(x, bytes) else [y.decode() for y in x] for x in (a, b, c, d, e)])
    if path == "/iter-input":
        return json_response(start_response, [line.decode() for line in inp])
    if path == "/raise":
        raise RuntimeError("boom from the app")
    if path == "/gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"part%d\n" % i for i in range(5))
    if path == "/big-gen":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (b"x" * 65536 for _ in range(32))
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"returned"]
    if path == "/close":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Closing([b"a", b"b"])
    if path == "/closed":
        return json_response(start_response, CLOSED)
    if path == "/file":
        with open(FILE, "wb") as f:
            f.write(bytes(range(256)) * 4096)
        f = open(FILE, "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return environ["wsgi.file_wrapper"](f, 8192)
    if path == "/badheader":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"no"]
    if path == "/empty-input":
        # A request without a body: its input reads as empty however used,
        # and what one request does to it does not reach the next.
        out = {"read": inp.read().decode(), "read10": inp.read(10).decode(), "readline": inp.readline().decode(),
               "readlines": inp.readlines(), "iter": list(inp), "seek": inp.seek(5), "tell": inp.tell()}
        try:
            inp.write(b"leak")
            out["write"] = "accepted"
        except io.UnsupportedOperation:
            out["write"] = "refused"
        inp.close()
        out["read_after_close"] = inp.read().decode()
        return json_response(start_response, out)
    if path == "/headers":
        # ?N: one way of giving headers; good ones answer 200, bad ones raise.
        shapes = {
            "list": [("X-A", "1"), ("Content-Type", "text/plain")],
            "tuple": (("X-A", "1"), ("Content-Type", "text/plain")),
            "generator": (pair for pair in [("X-A", "1"), ("Content-Type", "text/plain")]),
            "list-items": [["X-A", "1"]],
            "triple": [("X-A", "1", "2")],
            "bytes-name": [(b"X-A", "1")],
            "space-name": [("X A", "1")],
            "empty-name": [("", "1")],
            "nul-value": [("X-A", "a\x00b")],
            "non-latin1": [("X-A", "\u20ac")],
            "hop-by-hop": [("Transfer-Encoding", "chunked")],
            "bad-length": [("Content-Length", "ten")],
            "not-iterable": 5,
        }
        start_response("200 OK", shapes[environ["QUERY_STRING"]])
        return [b"shape ok"]
    if path == "/start-twice":
        start_response("200 OK", [])
        start_response("200 OK", [])
        return [b"no"]
    if path == "/late-start":
        # start_response kept past its request: a later call must fail
        # cleanly, not touch another request.
        import threading
        kept = start_response
        start_response("200 OK", [("Content-Type", "text/plain")])
        seen = []
        t = threading.Thread(target=lambda: seen.append(_try(kept)))
        t.start()
        t.join()
        return [seen[0].encode()]
    if path == "/nostart":
        return [b"never started"]
    if path == "/notbytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["a str"]
    if path == "/exc-info":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise ValueError("late")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"replaced by exc_info"]
    if path == "/short":
        start_response("200 OK", [("Content-Length", "100")])
        return [b"only ten b"]
    if path == "/sys":
        return json_response(start_response, {"prefix": sys.prefix, "path": sys.path, "cwd": os.getcwd(),
                                              "env": {k: os.environ.get(k) for k in ("OXWSGI_T1", "OXWSGI_T2")},
                                              "pid": os.getpid(), "executable": sys.executable,
                                              "exe": os.readlink("/proc/self/exe"), "argv": sys.argv,
                                              "comm": open("/proc/self/comm").read().strip(),
                                              "sigint": ("KeyboardInterrupt" if __import__("signal").getsignal(2) is __import__("signal").default_int_handler else "server")})
    if path == "/osenv":
        # os.environ[NAME] for ?NAME.
        return json_response(start_response, {"value": os.environ.get(environ.get("QUERY_STRING", ""))})
    if path == "/threading-main":
        # On a request thread, be the first to import threading (nothing in
        # this app imports it before) and say which thread it calls main.
        import _thread
        if _thread.get_native_id() == os.getpid():
            return json_response(start_response, {"on_main": True})
        import threading
        return json_response(start_response, {"on_main": False, "main_tid": threading.main_thread().native_id, "pid": os.getpid()})
    if path == "/stack":
        # This thread's stack size, as pthreads reports it (--threads-stacksize).
        import ctypes
        import threading
        libc = ctypes.CDLL(None)
        libc.pthread_self.restype = ctypes.c_ulong
        attr = ctypes.create_string_buffer(128)
        size = ctypes.c_size_t()
        libc.pthread_getattr_np(ctypes.c_ulong(libc.pthread_self()), attr)
        libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
        libc.pthread_attr_destroy(attr)
        return json_response(start_response, {"main": threading.current_thread() is threading.main_thread(), "size": size.value})
    if path == "/limits":
        with open("/proc/self/limits") as f:
            nofile = [l for l in f if l.startswith("Max open files")][0].split()
        mask = os.umask(0)
        os.umask(mask)
        return json_response(start_response, {"nofile": [int(nofile[3]), int(nofile[4])], "uid": os.getuid(), "umask": mask})
    if path == "/status204":
        start_response("204 No Content", [])
        return []
    if path == "/status":
        start_response((environ.get("QUERY_STRING") or "200") + " Chosen", [("Content-Type", "text/plain")])
        return [b"status"]
    if path == "/pid":
        return json_response(start_response, {"pid": os.getpid()})
    if path == "/sleep":
        import time
        time.sleep(float(environ.get("QUERY_STRING") or "1"))
        return json_response(start_response, {"pid": os.getpid(), "slept": True})
    if path == "/uwsgi":
        import uwsgi
        uwsgi.set_logvar("user", "alice")
        uwsgi.log("uwsgi.log from the app")
        try:
            uwsgi.cache_get("x")
            missing = "no error"
        except AttributeError as e:
            missing = str(e)
        return json_response(start_response, {
            "worker_id": uwsgi.worker_id(), "numproc": uwsgi.numproc, "masterpid": uwsgi.masterpid(),
            "request_id": uwsgi.request_id(), "version": uwsgi.version.decode(), "logvar": uwsgi.get_logvar("user"),
            "opt_processes": uwsgi.opt["processes"].decode(), "opt_master": uwsgi.opt["master"],
            "opt_env": [v.decode() for v in uwsgi.opt["env"]], "missing": missing, "pid": os.getpid()})
    if path == "/uwsgi-reload":
        import uwsgi
        return json_response(start_response, {"reload": uwsgi.reload()})
    if path == "/crash":
        import ctypes
        ctypes.string_at(0)  # a C extension's segfault
    if path == "/big":
        n = int(environ.get("QUERY_STRING") or "64")
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n << 20))])
        return (b"b" * (1 << 20) for _ in range(n))
    if path == "/hog":
        HOG.append(bytearray(b"x" * (64 * 1024 * 1024)))
        return json_response(start_response, {"pid": os.getpid()})
    if path == "/spin":
        import time
        end = time.time() + float(environ.get("QUERY_STRING") or "30")
        while time.time() < end:
            pass
        return json_response(start_response, {"spun": True})
    if path == "/stubborn":
        import time
        end = time.time() + 30
        while time.time() < end:
            try:
                time.sleep(0.05)
            except BaseException:
                pass  # swallows even the harakiri interruption
        return json_response(start_response, {"stubborn": True})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"suite: " + path.encode("latin-1")]
