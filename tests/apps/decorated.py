"""An app written against uwsgidecorators, as Flask/Django projects use it:
@postfork to reconnect, @timer, @filemon and @signal handlers, @thread,
and uwsgi.lock() around a shared file. Events go to files in $EVENTS."""
import json
import os
import time

import uwsgi
from uwsgidecorators import filemon, lock, postfork, signal, thread, timer

EVENTS = os.environ["EVENTS"]
WATCHED = os.path.join(EVENTS, "watched")
COUNTER = os.path.join(EVENTS, "counter")


def record(what):
    with open(os.path.join(EVENTS, "log"), "a") as f:
        f.write("%s %d %d\n" % (what, uwsgi.worker_id(), os.getpid()))


@postfork
def reconnect():
    record("postfork")


@postfork
@thread
def background():
    record("thread")


@timer(1)
def tick(num):
    record("timer%d" % num)


@filemon(WATCHED)
def changed(num):
    record("filemon")


@signal(99, target="workers")
def everyone(num):
    record("signal99")


@lock
def increment():
    with open(COUNTER) as f:
        n = int(f.read() or 0)
    time.sleep(0.005)
    with open(COUNTER, "w") as f:
        f.write(str(n + 1))


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise":
        uwsgi.signal(99)
        out = "raised"
    elif path == "/incr":
        increment()
        out = "ok"
    elif path == "/workers":
        out = [{k: (v.decode() if isinstance(v, bytes) else v) for k, v in w.items() if k != "apps"}
               | {"types": {k: type(v).__name__ for k, v in w.items()}, "apps": [{k: type(v).__name__ for k, v in a.items()} for a in w["apps"]]}
               for w in uwsgi.workers()]
    elif path == "/info":
        uwsgi.setprocname("oxwsgi-decorated-%d" % uwsgi.worker_id())
        out = {"total": uwsgi.total_requests(), "mem": list(uwsgi.mem()), "hostname": type(uwsgi.hostname).__name__,
               "started_on": uwsgi.started_on, "enable_threads": uwsgi.opt.get("enable-threads"), "pid": os.getpid(),
               "locked": uwsgi.is_locked()}
        out["enable_threads"] = out["enable_threads"] is True
    else:
        out = os.getpid()
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
