#!/usr/bin/env python3
"""oxwsgi side by side with uWSGI, gunicorn, granian and bjoern, in one run.

Each scenario starts every server on loopback with equivalent settings,
drives it with wrk (one thread), and repeats in interleaved rounds; the
table gives medians of rps, p50, p99, resident memory per process, and the
ratio of oxwsgi's rps to each server's.

    bench/setup                      # installs the anchors into bench/.venv
    bench/.venv/bin/python bench/run.py [--rounds 3] [--seconds 5] [--only hello64,django]
"""
import argparse
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from procs import cpu_seconds, free_port, rss_mb, tree  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
# OXWSGI=path runs another build as "oxwsgi" (with its liboxwsgi_ext.so beside it).
OX = pathlib.Path(os.environ.get("OXWSGI", ROOT / "target" / "release" / "oxwsgi"))
VENV = pathlib.Path(sys.prefix)
APPS = HERE / "apps"




def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: %s" % " ".join(map(str, proc.args)))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("server did not listen on %d" % port)


def wait_unix(path, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited: %s" % " ".join(map(str, proc.args)))
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise TimeoutError("no socket %s" % path)






# --- how each server is started --------------------------------------------
# app: ("file", path) or ("module", name, chdir). listen: ("http", port) or ("unix", path) for nginx.

def cmd_oxwsgi(app, listen, procs, threads, binary=OX):
    # --master as uWSGI is run: the app is loaded in the master and each
    # worker is forked from it, so "RSS per worker" means the same thing.
    c = [str(binary), "--disable-logging", "--master", "--processes", str(procs), "--threads", str(threads), "--home", str(VENV)]
    c += ["--http-socket", "127.0.0.1:%d" % listen[1]] if listen[0] == "http" else ["--socket", listen[1], "--chmod-socket=666"]
    c += ["--wsgi-file", app[1]] if app[0] == "file" else ["--module", app[1], "--chdir", app[2]]
    return c


def cmd_uwsgi(app, listen, procs, threads):
    c = [str(VENV / "bin" / "uwsgi"), "--disable-logging", "--master", "--processes", str(procs), "--die-on-term", "--need-app",
         "--home", str(VENV)]
    if threads > 1:
        c += ["--threads", str(threads)]
    c += ["--http11-socket", "127.0.0.1:%d" % listen[1]] if listen[0] == "http" else ["--socket", listen[1], "--chmod-socket=666"]
    c += ["--wsgi-file", app[1]] if app[0] == "file" else ["--module", app[1], "--chdir", app[2]]
    return c


def _module(app):
    if app[0] == "file":
        return pathlib.Path(app[1]).stem + ":application", str(pathlib.Path(app[1]).parent)
    return app[1] + ":application", app[2]


def cmd_gunicorn(app, listen, procs, threads):
    mod, d = _module(app)
    c = [str(VENV / "bin" / "gunicorn"), "-w", str(procs), "--chdir", d, "-b", "127.0.0.1:%d" % listen[1]]
    if threads > 1:
        c += ["--threads", str(threads)]
    return c + [mod]


def cmd_granian(app, listen, procs, threads):
    mod, d = _module(app)
    return [str(VENV / "bin" / "granian"), "--interface", "wsgi", "--workers", str(procs), "--blocking-threads", str(threads),
            "--host", "127.0.0.1", "--port", str(listen[1]), "--working-dir", d, "--no-ws", mod]


def cmd_bjoern(app, listen, procs, threads):
    target = app[1] if app[0] == "file" else app[1]
    c = [str(VENV / "bin" / "python"), str(APPS / "bjoern_run.py"), target, "127.0.0.1", str(listen[1]), str(procs)]
    return c


def cmd_oxwsgi_base(app, listen, procs, threads):
    # Another build of oxwsgi (OXWSGI_BASE=path/to/oxwsgi), for a before /
    # after comparison in one run: --servers oxwsgi,oxwsgi-base. Copy its
    # liboxwsgi_ext.so beside it: without it a build runs embedded (slower).
    base = os.environ.get("OXWSGI_BASE")
    if not base:
        sys.exit("oxwsgi-base needs OXWSGI_BASE=path/to/another/oxwsgi")
    return cmd_oxwsgi(app, listen, procs, threads, binary=base)


SERVERS = {"oxwsgi": cmd_oxwsgi, "oxwsgi-base": cmd_oxwsgi_base, "uwsgi": cmd_uwsgi, "granian": cmd_granian, "bjoern": cmd_bjoern, "gunicorn": cmd_gunicorn}


def wrk(url, conns, seconds, script=None):
    c = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency", url]
    if script:
        c += ["-s", script]
    out = subprocess.run(c, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def lat(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, out, re.M)
        if not m:
            return float("nan")
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v

    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "requests": int(total.group(1)) if total else 0, "p50": lat(50), "p99": lat(99), "non2xx": int(errors.group(1)) if errors else 0,
            "sockerr": sock_err.group(1) if sock_err else ""}


def nginx_conf(workdir, port, upstream_uwsgi=None, upstream_http=None, ceiling=False):
    os.makedirs(workdir, exist_ok=True)
    if ceiling:
        loc = "return 200 'Hello, World!';"
    elif upstream_uwsgi:
        loc = "uwsgi_pass unix:%s; include %s/uwsgi_params;" % (upstream_uwsgi, ROOT)
    else:
        loc = "proxy_pass http://127.0.0.1:%d; proxy_http_version 1.1; proxy_set_header Connection '';" % upstream_http
    upstream = ""
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write("worker_processes 1; daemon off; pid %s/nginx.pid; error_log %s/error.log;\n"
                "events { worker_connections 4096; }\nhttp { access_log off; %s\n"
                "  server { listen 127.0.0.1:%d; location / { %s } } }\n" % (workdir, workdir, upstream, port, loc))
    return conf


# The --log-format of the logging scenarios: 10 variables.
LOG_FORMAT = '%(addr) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)" %(msecs)ms'


def run_one(server, scen, seconds, tmp):
    port = free_port()
    app = scen["app"]
    if scen.get("nginx"):
        listen = ("unix", os.path.join(tmp, "%s.sock" % server)) if server in ("oxwsgi", "oxwsgi-base", "uwsgi") else ("http", free_port())
    else:
        listen = ("http", port)
    cmd = SERVERS[server](app, listen, scen["procs"], scen.get("threads", 1))
    if scen.get("log"):
        # Logging on, to a file, as production runs it: the default line, or
        # the same 10-variable --log-format for oxwsgi and uWSGI.
        logfile = os.path.join(tmp, "%s.log" % server)
        cmd = [c for c in cmd if c != "--disable-logging"] + ["--logto", logfile]
        if scen["log"] == "format":
            cmd += ["--log-format", LOG_FORMAT]
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    cwd = app[2] if app[0] == "module" else None
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True)
    ngx = None
    try:
        if listen[0] == "unix":
            wait_unix(listen[1], proc)
        else:
            wait_port(listen[1], proc)
        if scen.get("nginx"):
            wd = os.path.join(tmp, "nginx-%s" % server)
            conf = nginx_conf(wd, port, upstream_uwsgi=listen[1] if listen[0] == "unix" else None,
                              upstream_http=listen[1] if listen[0] == "http" else None)
            ngx = subprocess.Popen(["nginx", "-c", conf, "-p", wd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port, ngx)
        url = "http://127.0.0.1:%d%s" % (port, scen.get("path", "/"))
        wrk(url, scen["conns"], 1, scen.get("script"))  # warm-up
        # CPU per request, of the server's processes and of nginx's: what
        # each costs, less sensitive than rps to how busy the machine is.
        pids = tree(proc.pid)
        ngx_pids = tree(ngx.pid) if ngx else []
        cpu0, ngx0 = cpu_seconds(pids), cpu_seconds(ngx_pids)
        # A profiler (bench/log_cost.py --profile) watches the workers meanwhile.
        profiled = scen["profile"]([p for p in pids if p != proc.pid] or [proc.pid], seconds) if scen.get("profile") else None
        res = wrk(url, scen["conns"], seconds, scen.get("script"))
        if profiled:
            res["profile"] = profiled()
        n = max(res["requests"], 1)
        res["cpu"] = (cpu_seconds(pids) - cpu0) * 1e6 / n
        res["ngx_cpu"] = (cpu_seconds(ngx_pids) - ngx0) * 1e6 / n
        res["ngx_busy"] = (cpu_seconds(ngx_pids) - ngx0) / seconds * 100
        pids = tree(proc.pid)
        workers = [p for p in pids if p != proc.pid] or [proc.pid]
        res["rss"] = statistics.mean(rss_mb(p) for p in workers)
        return res
    finally:
        if ngx:
            ngx.send_signal(signal.SIGQUIT)
            ngx.wait(10)
        try:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def nginx_ceiling(seconds, tmp):
    port = free_port()
    wd = os.path.join(tmp, "nginx-ceiling")
    ngx = subprocess.Popen(["nginx", "-c", nginx_conf(wd, port, ceiling=True), "-p", wd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, ngx)
        return wrk("http://127.0.0.1:%d/" % port, 64, seconds)["rps"]
    finally:
        ngx.send_signal(signal.SIGQUIT)
        ngx.wait(10)


def django_project(tmp):
    base = os.path.join(tmp, "django")
    os.makedirs(base)
    subprocess.run([str(VENV / "bin" / "django-admin"), "startproject", "mysite"], cwd=base, check=True)
    proj = os.path.join(base, "mysite")
    s = pathlib.Path(proj, "mysite", "settings.py")
    s.write_text(s.read_text().replace("DEBUG = True", "DEBUG = False").replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['*']")
                 .replace("'DIRS': [],", "'DIRS': [BASE_DIR / 'templates'],"))
    os.makedirs(os.path.join(proj, "templates"))
    pathlib.Path(proj, "templates", "page.html").write_text(
        "<html><body><h1>{{ title }}</h1><ul>{% for i in items %}<li>{{ i }} of {{ title|upper }}</li>{% endfor %}</ul></body></html>")
    pathlib.Path(proj, "mysite", "views.py").write_text(
        "from django.shortcuts import render\n"
        "def page(request):\n    return render(request, 'page.html', {'title': 'bench', 'items': range(50)})\n")
    u = pathlib.Path(proj, "mysite", "urls.py")
    u.write_text(u.read_text().replace("from django.urls import path", "from django.urls import path\nfrom mysite import views")
                 .replace("path('admin/', admin.site.urls),", "path('admin/', admin.site.urls),\n    path('page/', views.page),"))
    return proj


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", default="")
    ap.add_argument("--servers", default="oxwsgi,uwsgi,granian,bjoern,gunicorn")
    a = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit("%s is missing: run bench/setup" % tool)
    servers = a.servers.split(",")
    tmp = tempfile.mkdtemp(prefix="oxwsgi-bench-")
    os.chmod(tmp, 0o755)
    proj = django_project(tmp)
    post = os.path.join(tmp, "post.lua")
    pathlib.Path(post).write_text('wrk.method = "POST"\nwrk.body = string.rep("x", 65536)\n'
                                  'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    hello = ("file", str(APPS / "hello.py"))
    django = ("module", "mysite.wsgi", proj)
    scenarios = [
        ("hello64", "hello world, 1 process, 64 connections", {"app": hello, "procs": 1, "conns": 64}),
        ("hello64x2", "hello world, 2 processes, 64 connections", {"app": hello, "procs": 2, "conns": 64}),
        ("hello1", "hello world, 1 process, 1 connection", {"app": hello, "procs": 1, "conns": 1}),
        ("hello64-log", "hello world, 1 process, 64 connections, request log on (default line, to a file)", {"app": hello, "procs": 1, "conns": 64, "log": "default"}),
        ("hello64-logformat", "hello world, 1 process, 64 connections, a 10-variable --log-format to a file", {"app": hello, "procs": 1, "conns": 64, "log": "format"}),
        ("django", "Django template view, 2 processes, 16 connections", {"app": django, "procs": 2, "conns": 16, "path": "/page/"}),
        ("post64k", "64 KiB POST echo, 2 processes, 16 connections", {"app": ("file", str(APPS / "echo.py")), "procs": 2, "conns": 16, "script": post}),
        ("nginx-hello", "nginx in front, hello, 1 process, 64 connections", {"app": hello, "procs": 1, "conns": 64, "nginx": True}),
        ("nginx-django", "nginx in front, Django, 2 processes, 16 connections", {"app": django, "procs": 2, "conns": 16, "nginx": True, "path": "/page/"}),
        ("sleepy", "10 ms sleep per request, 1 process, 16 threads, 64 connections", {"app": ("file", str(APPS / "sleepy.py")), "procs": 1, "threads": 16, "conns": 64}),
    ]
    if a.only:
        scenarios = [s for s in scenarios if s[0] in a.only.split(",")]
    print("# oxwsgi benchmark, %s, %d cores, %d rounds of %d s (medians)\n" % (time.strftime("%Y-%m-%d"), os.cpu_count(), a.rounds, a.seconds))
    for key, title, scen in scenarios:
        who = [s for s in servers if not (key == "sleepy" and s == "bjoern")]
        if scen.get("log"):  # uWSGI's log options: oxwsgi and uWSGI only
            who = [s for s in who if s in ("oxwsgi", "oxwsgi-base", "uwsgi")]
        results = {s: [] for s in who}
        for _ in range(a.rounds):
            for s in who:  # interleaved: every server once per round
                try:
                    results[s].append(run_one(s, scen, a.seconds, tmp))
                except Exception as e:  # noqa: BLE001 - report and go on
                    print("  (%s failed in %s: %s)" % (s, key, e), file=sys.stderr)
        keys = ("rps", "p50", "p99", "rss", "cpu", "ngx_cpu", "ngx_busy")
        med = {s: {k: statistics.median(r[k] for r in rs) for k in keys} for s, rs in results.items() if rs}
        ngx = bool(scen.get("nginx"))
        print("## %s (%s)\n" % (title, key))
        print("| server | rps | p50 ms | p99 ms | RSS/process MB | CPU us/req |%s oxwsgi / server |" % (" nginx CPU us/req | nginx busy |" if ngx else ""))
        print("|---|---:|---:|---:|---:|---:|%s---:|" % ("---:|---:|" if ngx else ""))
        # A run with error answers measured errors, not the server: it is
        # shown, but no ratio is drawn from it.
        bad = {s for s, rs in results.items() if any(r["non2xx"] for r in rs)}
        ox = med.get("oxwsgi", {}).get("rps") if "oxwsgi" not in bad else None
        for s, m in sorted(med.items(), key=lambda kv: -kv[1]["rps"]):
            ratio = "%.2fx" % (ox / m["rps"]) if ox and m["rps"] and s not in bad else "-"
            note = ""
            if s in bad:
                note = " (INVALID: %d non-2xx answers)" % sum(r["non2xx"] for r in results[s])
            elif results[s][-1]["sockerr"]:
                note = " (wrk socket errors: %s)" % results[s][-1]["sockerr"]
            extra = " %.1f | %.0f%% |" % (m["ngx_cpu"], m["ngx_busy"]) if ngx else ""
            print("| %s%s | %.0f | %.2f | %.2f | %.1f | %.1f |%s %s |" % (s, note, m["rps"], m["p50"], m["p99"], m["rss"], m["cpu"], extra, ratio))
        if key == "nginx-hello":
            print("\nnginx's own ceiling (`return 200`, 64 connections): %.0f rps" % nginx_ceiling(a.seconds, tmp))
        print()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
