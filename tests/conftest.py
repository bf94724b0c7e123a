"""Fixtures that start the real oxwsgi binary, a real Django project and a
real nginx. Every process is stopped by its PID."""
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
BIN = pathlib.Path(os.environ.get("OXWSGI_BIN", ROOT / "target" / "release" / "oxwsgi"))
VENV = pathlib.Path(sys.prefix)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, host="127.0.0.1", timeout=15, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s:\n%s" % (proc.returncode, proc.read_log()))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("nothing listens on %s:%s" % (host, port))


def wait_unix(path, timeout=15, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited with %s:\n%s" % (proc.returncode, proc.read_log()))
        if os.path.exists(path):
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(path))
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise TimeoutError("nothing listens on %s" % path)


class Server:
    """One oxwsgi process; its stderr goes to a log file we can read."""

    def __init__(self, args, cwd=None, env=None, binary=None):
        binary = binary or BIN
        if not BIN.exists():
            raise RuntimeError("%s is missing: run cargo build --release (scripts/test does)" % BIN)
        self.logfile = tempfile.NamedTemporaryFile(prefix="oxwsgi-log-", suffix=".txt", delete=False)
        e = dict(os.environ)
        e.pop("VIRTUAL_ENV", None)
        if env:
            e.update(env)
        self.args = [str(binary)] + [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, stdout=self.logfile, stderr=subprocess.STDOUT, cwd=cwd, env=e)
        self.pid = self.proc.pid

    def poll(self):
        return self.proc.poll()

    @property
    def returncode(self):
        return self.proc.returncode

    def read_log(self):
        if self.logfile.closed:
            return ""
        with open(self.logfile.name, "r", errors="replace") as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.read_log():
                return
            time.sleep(0.05)
        raise AssertionError("%r not in log:\n%s" % (text, self.read_log()))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=15):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        if not self.logfile.closed:
            self.logfile.close()
            os.unlink(self.logfile.name)


@pytest.fixture
def serve():
    """serve(args..., port=None) starts oxwsgi and waits for its socket."""
    started = []

    def start(*args, port=None, unix=None, cwd=None, env=None, wait=True, binary=None):
        s = Server(list(args), cwd=cwd, env=env, binary=binary)
        started.append(s)
        if wait and port:
            wait_port(port, proc=s)
        if wait and unix:
            wait_unix(unix, proc=s)
        return s

    yield start
    for s in started:
        s.stop()


def run_oxwsgi(*args, cwd=None, timeout=20, env=None):
    e = dict(os.environ)
    e.pop("VIRTUAL_ENV", None)
    if env:
        e.update(env)
    return subprocess.run([str(BIN)] + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=e)


def world_readable_binary(d):
    """A copy of the binary (and the extension it runs python3 with) in
    `d`, so a master that dropped to nobody can execute itself again on a
    reload wherever the checkout is."""
    import shutil
    for name in ("oxwsgi", "liboxwsgi_ext.so"):
        shutil.copy(BIN.parent / name, d / name)
        os.chmod(d / name, 0o755)
    return d / "oxwsgi"


def world_readable_dir(prefix):
    """A temp dir nginx's unprivileged workers can enter (pytest's own
    temp dirs are private to root)."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return pathlib.Path(d)


@pytest.fixture(scope="session")
def django_project():
    """A Django project made with django-admin startproject, with a view,
    DEBUG=False and collected static files."""
    base = world_readable_dir("oxwsgi-django-")
    admin = VENV / "bin" / "django-admin"
    if not admin.exists():
        pytest.fail("Django is not installed in %s: run scripts/test, which installs tests/requirements.txt" % VENV)
    subprocess.run([str(admin), "startproject", "mysite"], cwd=base, check=True)
    proj = base / "mysite"
    settings = proj / "mysite" / "settings.py"
    text = settings.read_text()
    text = text.replace("DEBUG = True", "DEBUG = False").replace("ALLOWED_HOSTS = []", "ALLOWED_HOSTS = ['*']")
    text += "\nSTATIC_ROOT = BASE_DIR / 'static'\nMEDIA_ROOT = BASE_DIR / 'media'\nDATA_UPLOAD_MAX_MEMORY_SIZE = None\n"
    settings.write_text(text)
    (proj / "mysite" / "views.py").write_text(
        "from django.http import HttpResponse, JsonResponse\n"
        "from django.views.decorators.csrf import csrf_exempt\n"
        "import os\n"
        "def hello(request):\n"
        "    return HttpResponse('Hello from Django, %s' % request.GET.get('name', 'world'))\n"
        "@csrf_exempt\n"
        "def upload(request):\n"
        "    import hashlib\n"
        "    body = request.body\n"
        "    return JsonResponse({'len': len(body), 'sha256': hashlib.sha256(body).hexdigest(), 'pid': os.getpid(),\n"
        "                         'script_name': request.META.get('SCRIPT_NAME'), 'secure': request.is_secure()})\n"
    )
    urls = proj / "mysite" / "urls.py"
    urls.write_text(urls.read_text().replace(
        "from django.urls import path",
        "from django.urls import path\nfrom mysite import views",
    ).replace("path('admin/', admin.site.urls),", "path('admin/', admin.site.urls),\n    path('hello/', views.hello),\n    path('upload/', views.upload),"))
    subprocess.run([str(VENV / "bin" / "python"), "manage.py", "collectstatic", "--noinput", "-v0"], cwd=proj, check=True)
    (proj / "media").mkdir()
    (proj / "media" / "note.txt").write_text("a media file\n")
    yield proj
    shutil.rmtree(base, ignore_errors=True)


def tutorial_ini(project, sock, processes=2):
    """examples/mysite_uwsgi.ini, the tutorial's file, with its paths filled in."""
    return ((ROOT / "examples" / "mysite_uwsgi.ini").read_text()
            .replace("/path/to/your/project/mysite.sock", str(sock))
            .replace("/path/to/your/project", str(project))
            .replace("project.wsgi", "mysite.wsgi")
            .replace("/path/to/virtualenv", str(VENV))
            .replace("processes       = 10", "processes       = %d" % processes))


NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


@pytest.fixture(scope="session")
def nginx_bin():
    if NGINX is None:
        pytest.fail("nginx is not installed: run `apt-get install nginx-light` (scripts/test installs it on Debian)")
    return NGINX


class Nginx:
    def __init__(self, binary, conf_text, workdir, user=None):
        self.dir = workdir
        os.makedirs(os.path.join(workdir, "logs"), exist_ok=True)
        os.chmod(workdir, 0o755)
        # Request bodies are buffered by nginx's unprivileged workers.
        for d in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
            os.makedirs(os.path.join(workdir, d), exist_ok=True)
            os.chmod(os.path.join(workdir, d), 0o777)
        self.conf = os.path.join(workdir, "nginx.conf")
        user_line = "user %s;" % user if user else ""
        with open(self.conf, "w") as f:
            f.write(
                "%s\nworker_processes 1;\ndaemon off;\nmaster_process on;\npid %s/nginx.pid;\nerror_log %s/logs/error.log info;\n"
                "events { worker_connections 1024; }\nhttp {\n  access_log off;\n  client_body_temp_path %s/body;\n"
                "  proxy_temp_path %s/proxy;\n  fastcgi_temp_path %s/fcgi;\n  uwsgi_temp_path %s/uwsgi;\n  scgi_temp_path %s/scgi;\n"
                "  types { text/css css; text/plain txt; application/javascript js; }\n%s\n}\n"
                % (user_line, workdir, workdir, workdir, workdir, workdir, workdir, workdir, conf_text)
            )
        self.proc = subprocess.Popen([binary, "-c", self.conf, "-p", workdir], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "logs", "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def nginx(nginx_bin):
    started = []
    base = world_readable_dir("oxwsgi-nginx-")

    def start(server_block, port, user=None):
        n = Nginx(nginx_bin, server_block, str(base / ("nginx%d" % len(started))), user=user)
        started.append(n)
        wait_port(port)
        return n

    yield start
    for n in started:
        n.stop()
    shutil.rmtree(base, ignore_errors=True)
