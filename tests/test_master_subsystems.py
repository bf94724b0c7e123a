"""What the master does for production configs beyond start and stop:
process names, worker lifetimes, a verbose harakiri."""
import time

from conftest import APPS, free_port
from test_http import get
from test_master import pid_of, wait_for

SUITE = APPS / "suite.py"


def title(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmdline = f.read().rstrip(b"\0").decode()
    with open("/proc/%d/comm" % pid) as f:
        return cmdline, f.read().strip()


def test_auto_procname_names_master_and_workers(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--processes", "2",
                "--auto-procname", "--procname-prefix-spaced", "shop", port=port)
    srv.wait_log("spawned worker 2")
    assert title(srv.pid) == ("shop oxwsgi master", "shop oxwsgi mas")
    workers = {pid_of(port) for _ in range(40)}
    names = sorted(title(p)[0] for p in workers)
    assert names == ["shop oxwsgi worker 1", "shop oxwsgi worker 2"][:len(names)] and len(names) == 2, names
    # Without the options, the command line stays as it was given.
    port2 = free_port()
    plain = serve("--http", "127.0.0.1:%d" % port2, "--wsgi-file", SUITE, "--master", port=port2)
    assert "--wsgi-file" in title(plain.pid)[0]


def test_procname_master_and_procname(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--procname", "shop-app",
                "--procname-master", "shop-boss", "--procname-append", " [prod]", port=port)
    assert title(srv.pid)[0] == "shop-boss [prod]"
    assert title(pid_of(port))[0] == "shop-app [prod]"


def test_max_worker_lifetime_recycles_without_losing_a_request(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--max-worker-lifetime", "2", port=port)
    first = pid_of(port)
    statuses = []
    deadline = time.time() + 8
    while time.time() < deadline and "reached --max-worker-lifetime 2s" not in srv.read_log():
        statuses.append(get(port, "/ok")[0].status)
    wait_for(lambda: pid_of(port) != first, what="a fresh worker")
    for _ in range(20):
        statuses.append(get(port, "/ok")[0].status)
    assert set(statuses) == {200} and len(statuses) > 20
    assert "worker 1 (pid %d) reached --max-worker-lifetime 2s, retiring" % first in srv.read_log()


def test_harakiri_verbose_logs_where_the_thread_was(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, "--master", "--harakiri", "1",
                "--harakiri-verbose", port=port)
    assert get(port, "/sleep?30")[0].status == 504
    log = srv.read_log()
    assert "HARAKIRI: -- syscall> " in log and "HARAKIRI: -- wchan> " in log, log


def test_py_autoreload_reloads_when_an_imported_module_changes(serve, tmp_path):
    (tmp_path / "helper.py").write_text("WORD = b'one'\n")
    (tmp_path / "skipped.py").write_text("X = 1\n")
    (tmp_path / "app.py").write_text(
        "import helper, skipped\n"
        "def application(env, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [helper.WORD]\n")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", tmp_path / "app.py", "--pythonpath", tmp_path,
                "--master", "--processes", "2", "--py-autoreload", "1", "--py-auto-reload-ignore", "skipped", port=port)
    assert get(port, "/")[1] == b"one"
    time.sleep(1.5)  # the reloader has looked at least once
    # A file --py-autoreload-ignore names is not watched.
    (tmp_path / "skipped.py").write_text("X = 2\n")
    time.sleep(2.5)
    assert "reloading gracefully" not in srv.read_log()
    (tmp_path / "helper.py").write_text("WORD = b'two'\n")
    wait_for(lambda: "helper.py was modified: reloading gracefully" in srv.read_log(), what="the reloader")
    statuses = []
    def new_code():
        r, body = get(port, "/")
        statuses.append(r.status)
        return body == b"two"
    wait_for(new_code, what="the new code")
    assert set(statuses) == {200} and srv.poll() is None
