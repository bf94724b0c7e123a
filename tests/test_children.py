"""Processes the app starts get a clean signal state: nothing blocked,
SIGPIPE and SIGXFSZ at their defaults, so SIGTERM stops them (Celery
launchers, subprocess.run(timeout=...) and supervisors rely on it).
Checked while serving and while the app is imported, under each way the
app can run: one or several Python threads, with or without a master,
lazy apps, and in python3 or in the interpreter linked into the binary."""
import json

import pytest

from conftest import APPS, free_port
from test_http import get

SIGPIPE_BIT = 1 << (13 - 1)
SIGXFSZ_BIT = 1 << (25 - 1)


def check(out, where):
    st = out["status"]
    assert int(st["SigBlk"], 16) == 0, (where, st)
    assert int(st["SigIgn"], 16) & (SIGPIPE_BIT | SIGXFSZ_BIT) == 0, (where, st)
    assert out["terminate"] == -15, (where, out)


@pytest.mark.parametrize("interp", ["hosted", "linked"])
@pytest.mark.parametrize("shape", [["--threads", "1"], ["--threads", "4"], ["--master", "--threads", "1"], ["--master", "--threads", "4"],
                                   ["--master", "--lazy-apps", "--threads", "4"], ["--master", "--processes", "2", "--threads", "2"]],
                         ids=lambda s: " ".join(s))
def test_children_start_with_clean_signals(serve, interp, shape):
    port = free_port()
    env = {"OXWSGI_EMBEDDED": "1" if interp == "linked" else "0"}
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "children.py", *shape, port=port, env=env)
    for path in ("/serve", "/import"):
        r, body = get(port, path)
        assert r.status == 200, srv.read_log()
        check(json.loads(body), (path, srv.read_log()[-2000:]))


def test_ignore_sigpipe_keeps_it_ignored_in_children(serve):
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "children.py", "--ignore-sigpipe", port=port)
    st = json.loads(get(port, "/serve")[1])["status"]
    assert int(st["SigIgn"], 16) & SIGPIPE_BIT, st
