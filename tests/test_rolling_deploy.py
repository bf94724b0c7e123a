"""A rolling deploy across three hosts behind nginx, as sites run several
app servers behind an `upstream`: each host is an oxwsgi master with two
workers, its own copy of the Django site, pidfile and master FIFO, bound to
its own loopback address (127.0.1.1-3). Under a steady load through nginx
(uwsgi_pass, uwsgi_next_upstream), each host in turn gets a chain reload to
a new version of its app, then a full reload to another; not one request
fails, and every host answers the last version at the end."""
import os
import shutil
import signal
import socket
import threading
import time

from conftest import ROOT, VENV, free_port, wait_port
from test_hardening import recv_all, uwsgi_packet
from test_http import get
from test_master import wait_for

HOSTS = ["127.0.1.1", "127.0.1.2", "127.0.1.3"]

# The nginx server block the README shows for this pattern.
NGINX_SITE = """
    upstream django {
        server %s;
        server %s;
        server %s;
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            uwsgi_pass django;
            include %s/uwsgi_params;
            uwsgi_next_upstream error timeout;
        }
    }
"""


class Load:
    """Bounded client loops through nginx: every answer and every failure."""

    def __init__(self, port, threads=3, seconds=180):
        self.port, self.answers, self.failures, self.stop = port, [], [], False
        self.started = time.time()
        deadline = self.started + seconds
        self.ts = [threading.Thread(target=self.run, args=(deadline,)) for _ in range(threads)]
        for t in self.ts:
            t.start()

    def run(self, deadline):
        while not self.stop and time.time() < deadline:
            try:
                r, body = get(self.port, "/version/")
                if r.status == 200:
                    self.answers.append(body.decode())
                else:
                    self.failures.append(r.status)
            except Exception as e:
                self.failures.append(repr(e))
            time.sleep(0.004)

    def finish(self):
        self.stop = True
        for t in self.ts:
            t.join()
        return time.time() - self.started


def set_version(site, version):
    (site / "mysite" / "version.py").write_text("VERSION = %r\n" % version)


def host_version(addr, port):
    """Asks one host directly, over the uwsgi protocol, which version it runs."""
    with socket.create_connection((addr, port), timeout=10) as s:
        s.sendall(uwsgi_packet(b"/version/"))
        resp = recv_all(s, 10)
    head, _, body = resp.partition(b"\r\n\r\n")
    return body.decode() if head.startswith(b"HTTP/1.1 200") else None


def test_rolling_deploy_across_three_hosts_loses_no_request(serve, nginx, django_project, tmp_path):
    hosts = []
    for i, addr in enumerate(HOSTS):
        site = tmp_path / ("host%d" % (i + 1))
        shutil.copytree(django_project, site)
        views = site / "mysite" / "views.py"
        views.write_text(views.read_text() + "\ndef version(request):\n    from mysite.version import VERSION\n    return HttpResponse(VERSION)\n")
        urls = site / "mysite" / "urls.py"
        urls.write_text(urls.read_text().replace("path('hello/', views.hello),", "path('hello/', views.hello),\n    path('version/', views.version),"))
        set_version(site, "host%d-v1" % (i + 1))
        port = free_port()
        fifo, pidfile = site / "master.fifo", site / "master.pid"
        srv = serve("--socket", "%s:%d" % (addr, port), "--chdir", site, "--module", "mysite.wsgi", "--home", VENV, "--master",
                    "--processes", "2", "--lazy-apps", "--master-fifo", fifo, "--pidfile", pidfile, "--disable-logging",
                    env={"PYTHONDONTWRITEBYTECODE": "1"})
        wait_port(port, host=addr, proc=srv, timeout=30)
        hosts.append((site, addr, port, fifo, pidfile, srv))
    for site, addr, port, *_ in hosts:
        wait_for(lambda: host_version(addr, port) == "%s-v1" % site.name, timeout=30, what="%s to answer" % site.name)
    front = free_port()
    nginx(NGINX_SITE % tuple(["%s:%d" % (h[1], h[2]) for h in hosts] + [front, ROOT]), front)
    load = Load(front)
    try:
        time.sleep(1)
        for site, addr, port, fifo, pidfile, srv in hosts:
            master = int(pidfile.read_text())
            # A chain reload to v2: one worker at a time loads the new code.
            set_version(site, "%s-v2" % site.name)
            with open(fifo, "w") as f:
                f.write("c")
            wait_for(lambda: "chain reload done" in srv.read_log(), timeout=60, what="%s's chain reload" % site.name)
            assert host_version(addr, port) == "%s-v2" % site.name
            # A full reload to v3 (SIGHUP): the same master, every worker new.
            set_version(site, "%s-v3" % site.name)
            retired = srv.read_log().count("previous worker (pid: ")
            os.kill(master, signal.SIGHUP)
            # The old workers serve until both new ones accept, then finish.
            wait_for(lambda: srv.read_log().count("previous worker (pid: ") == retired + 2, timeout=60, what="%s's old workers to retire" % site.name)
            assert host_version(addr, port) == "%s-v3" % site.name
            assert int(pidfile.read_text()) == master and srv.poll() is None
            time.sleep(0.5)
        mark = len(load.answers)
        time.sleep(1)
    finally:
        took = load.finish()
    assert load.failures == [], load.failures[:10]
    rate = len(load.answers) / took
    assert rate >= 200, "only %.0f requests/s through nginx" % rate
    # After the deploy, nginx reaches every host, and each runs v3.
    assert set(load.answers[mark:]) == {"host1-v3", "host2-v3", "host3-v3"}, set(load.answers[mark:])
    print("rolling deploy: %d requests in %.1fs (%.0f/s), 0 failed" % (len(load.answers), took, rate))
