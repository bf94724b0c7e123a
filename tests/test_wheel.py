"""`pip install oxwsgi`: the wheel built with maturin, installed into a
fresh venv made with Debian's python3 -m venv, with Django from PyPI and
nothing from the checkout on the path, running the tutorial's steps with
the venv's own `oxwsgi`; then the sdist built with cargo by pip, and a
clean uninstall."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ROOT, VENV, Server, free_port, wait_port, world_readable_dir
from test_nginx import site

MATURIN = VENV / "bin" / "maturin"
AUDITWHEEL = VENV / "bin" / "auditwheel"
SYSTEM_PYTHON = "/usr/bin/python3"

# Where the app runs: its interpreter, its path, and where what it imports
# comes from.
WHERE_APP = """
import json, os, sys
import oxwsgi, uwsgidecorators

def application(environ, start_response):
    import django
    body = json.dumps({
        "prefix": sys.prefix, "executable": sys.executable, "path": sys.path, "pid": os.getpid(),
        "oxwsgi": oxwsgi.__file__, "uwsgidecorators": uwsgidecorators.__file__, "django": django.__file__,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
"""


def tool(path, what):
    if not path.exists():
        pytest.fail("%s is not installed in %s: run scripts/test, which installs tests/requirements.txt" % (what, VENV))
    return str(path)


def pip(venv, *args, timeout=600):
    r = subprocess.run([str(venv / "bin" / "pip"), "--disable-pip-version-check", *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def clean_env():
    """No venv activated, nothing of the checkout on PYTHONPATH."""
    e = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    # Its own target directory: the wheel's build flags differ from the
    # binary's, and sharing target/release would rebuild both every time.
    r = subprocess.run([tool(MATURIN, "maturin"), "build", "--release", "-i", SYSTEM_PYTHON, "-o", str(out), "--target-dir", str(ROOT / "target" / "wheel")],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = list(out.glob("oxwsgi-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel):
    """A fresh venv with the wheel and Django, in a directory nobody can
    read: nothing here leaks into it from the checkout."""
    base = world_readable_dir("oxwsgi-wheel-")
    v = base / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(v)], check=True)
    pip(v, "install", "-q", str(wheel), "Django>=4.2")
    (base / "where.py").write_text(WHERE_APP)
    yield v
    shutil.rmtree(base, ignore_errors=True)


def get(port, path="/", timeout=10):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.read()


def where(port):
    status, body = get(port)
    assert status == 200
    return json.loads(body)


def start(venv, *args, port=None, cwd=None):
    s = Server(list(args), cwd=cwd or venv.parent, env=clean_env(), binary=venv / "bin" / "oxwsgi")
    if port:
        wait_port(port, proc=s, timeout=30)
    return s


def assert_inside(venv, w):
    site = str(venv / "lib")
    assert w["prefix"] == str(venv), w
    assert w["oxwsgi"].startswith(site) and w["uwsgidecorators"].startswith(site) and w["django"].startswith(site), w
    assert not any(p.startswith(str(ROOT)) for p in w["path"]), w["path"]
    # Neither bin/ (the script's directory) nor the current directory.
    assert str(venv / "bin") not in w["path"] and "" not in w["path"], w["path"]


def test_the_wheel_is_manylinux_and_holds_the_server(wheel):
    r = subprocess.run([tool(AUDITWHEEL, "auditwheel"), "show", str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'platform tag: "manylinux_' in " ".join(r.stdout.split()), r.stdout
    import zipfile
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("oxwsgi/_oxwsgi.cpython-") and n.endswith(".so") for n in names), names
    assert "uwsgidecorators.py" in names and "oxwsgi/__main__.py" in names, names
    # Tagged for the one CPython it was built for (not abi3).
    tag = "cp%d%d" % tuple(int(x) for x in subprocess.check_output([SYSTEM_PYTHON, "-c", "import sys;print(*sys.version_info[:2])"], text=True).split())
    assert "-%s-%s-manylinux" % (tag, tag) in wheel.name, wheel.name
    print("wheel %s: %d bytes" % (wheel.name, wheel.stat().st_size))


def test_the_command_and_python_m_are_the_same(venv):
    a = subprocess.run([str(venv / "bin" / "oxwsgi"), "--version"], capture_output=True, text=True, env=clean_env())
    b = subprocess.run([str(venv / "bin" / "python"), "-m", "oxwsgi", "--version"], capture_output=True, text=True, env=clean_env())
    assert a.returncode == 0 and a.stdout.startswith("oxwsgi "), a
    assert (b.returncode, b.stdout) == (0, a.stdout), b


def test_http_with_test_py_runs_in_the_venv(venv):
    port = free_port()
    s = start(venv, "--http", "127.0.0.1:%d" % port, "--wsgi-file", venv.parent / "where.py", port=port)
    try:
        assert_inside(venv, where(port))
    finally:
        s.stop()


def test_module_mysite_wsgi(venv, django_project):
    port = free_port()
    s = start(venv, "--http", "127.0.0.1:%d" % port, "--chdir", django_project, "--module", "mysite.wsgi", port=port)
    try:
        status, body = get(port, "/hello/?name=wheel")
        assert (status, body) == (200, b"Hello from Django, wheel")
        # The Django that answered is the venv's, not the test runner's.
        cmdline = pathlib.Path("/proc/%d/cmdline" % s.pid).read_bytes().split(b"\0")
        assert cmdline[0] == str(venv / "bin" / "python3").encode() or cmdline[0].startswith(str(venv).encode()), cmdline
        maps = pathlib.Path("/proc/%d/maps" % s.pid).read_text()
        assert str(venv / "lib") in maps and str(VENV) not in maps
    finally:
        s.stop()


def test_socket_behind_nginx(venv, django_project, nginx):
    up, port = free_port(), free_port()
    s = start(venv, "--socket", "127.0.0.1:%d" % up, "--chdir", django_project, "--module", "mysite.wsgi", port=up)
    try:
        nginx(site(port, "127.0.0.1:%d" % up, django_project), port)
        assert get(port, "/hello/?name=nginx") == (200, b"Hello from Django, nginx")
        assert get(port, "/static/admin/css/base.css")[0] == 200
    finally:
        s.stop()


def test_ini_with_master_and_a_sighup_reload(venv):
    port = free_port()
    ini = venv.parent / "site.ini"
    ini.write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\nmaster = true\nprocesses = 2\n" % (port, venv.parent / "where.py"))
    s = start(venv, "--ini", ini, port=port)
    try:
        s.wait_log("spawned worker 2")
        before = {where(port)["pid"] for _ in range(20)}
        s.signal(signal.SIGHUP)
        s.wait_log("reloading: executing %s -m oxwsgi again" % (venv / "bin" / "python3"), timeout=30)
        # The old workers serve until the new ones accept, then retire.
        deadline = time.time() + 30
        while s.read_log().count("previous worker (pid: ") < 2 and time.time() < deadline:
            time.sleep(0.1)
        w = where(port)
        assert_inside(venv, w)
        assert w["pid"] not in before
        assert s.poll() is None
        # The master is this venv's python running the installed package.
        cmdline = pathlib.Path("/proc/%d/cmdline" % s.pid).read_bytes().split(b"\0")
        assert cmdline[1:3] == [b"-m", b"oxwsgi"], cmdline
    finally:
        s.stop()


def test_emperor_with_a_vassal(venv):
    port = free_port()
    vassals = venv.parent / "vassals"
    vassals.mkdir(exist_ok=True)
    (vassals / "site.ini").write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\nmaster = true\nprocesses = 1\n" % (port, venv.parent / "where.py"))
    s = start(venv, "--emperor", vassals)
    try:
        wait_port(port, proc=s, timeout=30)
        assert_inside(venv, where(port))
        s.wait_log("vassal site.ini started")
    finally:
        s.stop()
        shutil.rmtree(vassals, ignore_errors=True)


def test_home_names_another_venv(venv):
    # A venv of the same python: the app runs in it, with our extension.
    other = venv.parent / "other"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(other)], check=True)
    site_dir = next((other / "lib").glob("python3*/site-packages"))
    (site_dir / "onlyhere.py").write_text("import sys\ndef application(e, sr):\n    sr('200 OK', [])\n    return [sys.prefix.encode()]\n")
    port = free_port()
    s = start(venv, "--http", "127.0.0.1:%d" % port, "--home", other, "--module", "onlyhere", port=port)
    try:
        assert get(port) == (200, str(other).encode())
    finally:
        s.stop()
    # One this extension cannot load into (a --copies venv is another
    # interpreter): refused, saying what to do.
    copies = venv.parent / "copies"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--copies", "--without-pip", str(copies)], check=True)
    r = subprocess.run([str(venv / "bin" / "oxwsgi"), "--http", "127.0.0.1:%d" % free_port(), "--home", str(copies), "--module", "onlyhere"],
                       capture_output=True, text=True, env=clean_env(), timeout=30)
    assert r.returncode == 1
    assert "--home %s: not a venv of the python this oxwsgi is installed for" % copies in r.stderr, r.stderr
    assert "%s/bin/pip install oxwsgi" % copies in r.stderr, r.stderr


def test_pip_install_from_the_sdist_builds_with_cargo(tmp_path):
    r = subprocess.run([tool(MATURIN, "maturin"), "sdist", "-o", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    sdist = next(tmp_path.glob("oxwsgi-*.tar.gz"))
    v = tmp_path / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(v)], check=True)
    # pip fetches maturin for the build; cargo builds the extension.
    pip(v, "install", "-q", "--no-cache-dir", str(sdist), timeout=1500)
    port = free_port()
    (tmp_path / "hello.py").write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'from the sdist']\n")
    s = start(v, "--http", "127.0.0.1:%d" % port, "--wsgi-file", tmp_path / "hello.py", port=port, cwd=tmp_path)
    try:
        assert get(port) == (200, b"from the sdist")
    finally:
        s.stop()


def test_uninstall_leaves_nothing(venv):
    # Last in this file: the venv fixture is shared.
    site_dir = next((venv / "lib").glob("python3*/site-packages"))
    assert (site_dir / "uwsgidecorators.py").exists()
    pip(venv, "uninstall", "-y", "oxwsgi")
    assert not (venv / "bin" / "oxwsgi").exists()
    left = [p.name for p in site_dir.iterdir() if p.name.lower().startswith(("oxwsgi", "uwsgidecorators"))]
    assert left == [], left
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import oxwsgi"], capture_output=True, text=True, env=clean_env())
    assert r.returncode != 0 and "No module named 'oxwsgi'" in r.stderr
