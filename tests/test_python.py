"""The Python side: venvs, paths, environment, app loading and mounts."""
import json
import os
import subprocess
import sys

from conftest import APPS, BIN, VENV, free_port, run_oxwsgi
from test_http import get


def sysinfo(serve, *args, env=None, cwd=None):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, *args, port=port, env=env, cwd=cwd)
    r, body = get(port, "/sys")
    assert r.status == 200, srv.read_log()
    return json.loads(body)


def test_home_venv(serve):
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", "--home", VENV)
    assert info["prefix"] == str(VENV)
    assert any(p.startswith(str(VENV)) and p.endswith("site-packages") for p in info["path"])


def test_home_aliases_and_virtual_env(serve):
    for opt in ("--virtualenv", "--venv", "--pyhome", "-H"):
        info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", opt, VENV)
        assert info["prefix"] == str(VENV), opt
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", env={"VIRTUAL_ENV": str(VENV)})
    assert info["prefix"] == str(VENV)


def test_home_classic_virtualenv(serve, tmp_path):
    env_dir = tmp_path / "classic"
    subprocess.run([sys.executable, "-m", "virtualenv", "-q", str(env_dir)], check=True)
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", "--home", env_dir)
    assert info["prefix"] == str(env_dir)


def test_runs_inside_system_python_unless_told_not_to(serve):
    """The app runs in Debian's LTO-built python3 (python/host.rs), and
    sees the same process the linked interpreter gave it."""
    python = os.path.realpath("/usr/bin/python3")
    for args in ([], ["--home", VENV]):
        info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", "--master", *args)
        assert info["exe"] == python, args
        assert info["comm"] == "oxwsgi"
        assert info["argv"] == ["oxwsgi"]
        assert "" not in info["path"]
        assert info["sigint"] == "server"  # not python3's KeyboardInterrupt
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", env={"OXWSGI_EMBEDDED": "0"})
    assert info["exe"] == python
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", env={"OXWSGI_EMBEDDED": "yes"})
    assert info["exe"] == str(BIN)
    info = sysinfo(serve, "--wsgi-file", APPS / "suite.py", "--home", VENV, env={"OXWSGI_EMBEDDED": "1"})
    assert info["exe"] == str(BIN)
    assert info["prefix"] == str(VENV)
    assert info["comm"] == "oxwsgi" and info["argv"] == ["oxwsgi"] and info["sigint"] == "server"


def test_home_missing_is_an_error():
    r = run_oxwsgi("--http", ":0", "--wsgi-file", APPS / "suite.py", "--home", "/nonexistent/venv")
    assert r.returncode == 1
    assert "--home /nonexistent/venv: no such directory" in r.stderr


def test_chdir_pythonpath_env(serve, tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "helper_mod.py").write_text("VALUE = 'from pythonpath'\n")
    (tmp_path / "app.py").write_text(
        "import helper_mod\n"
        "def application(e, sr):\n"
        "    sr('200 OK', [('Content-Type', 'text/plain')])\n"
        "    import os\n"
        "    return [('%s|%s|%s' % (helper_mod.VALUE, os.environ['OXWSGI_T1'], os.getcwd())).encode()]\n"
    )
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--chdir", tmp_path, "--wsgi-file", "app.py",
                "--pythonpath", tmp_path / "lib", "--env", "OXWSGI_T1=x=1", port=port)
    r, body = get(port, "/")
    assert body.decode() == "from pythonpath|x=1|%s" % tmp_path, srv.read_log()


def test_callable_and_module_forms(serve, tmp_path):
    (tmp_path / "pkgapp.py").write_text(
        "def app(e, sr):\n    sr('200 OK', [])\n    return [b'app']\n"
        "def other(e, sr):\n    sr('200 OK', [])\n    return [b'other']\n"
    )
    for args, want in ((["--module", "pkgapp", "--callable", "app"], b"app"),
                       (["--module", "pkgapp:other"], b"other"),
                       (["-w", "pkgapp:app"], b"app"),
                       (["--wsgi-file", tmp_path / "pkgapp.py", "--callable", "other"], b"other")):
        port = free_port()
        serve("--http", "127.0.0.1:%d" % port, "--chdir", tmp_path, *args, port=port)
        assert get(port, "/")[1] == want, args


def test_mounts_and_manage_script_name(serve, tmp_path):
    (tmp_path / "m.py").write_text(
        "def application(e, sr):\n    sr('200 OK', [])\n"
        "    return [('%s|%s|%s' % (e.get('APP'), e['SCRIPT_NAME'], e['PATH_INFO'])).encode()]\n"
        "def a(e, sr):\n    e['APP'] = 'a'\n    return application(e, sr)\n"
        "def b(e, sr):\n    e['APP'] = 'b'\n    return application(e, sr)\n"
    )
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--chdir", tmp_path, "--manage-script-name",
          "--mount", "/app=m:a", "--mount", "/app/deep=m:b", port=port)
    assert get(port, "/app/x/y")[1] == b"a|/app|/x/y"
    assert get(port, "/app/deep/z")[1] == b"b|/app/deep|/z"
    assert get(port, "/app")[1] == b"a|/app|"
    r, body = get(port, "/elsewhere")
    assert r.status == 404


def test_broken_app_fails_at_start_with_traceback():
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", APPS / "broken.py")
    assert r.returncode != 0
    assert "ModuleNotFoundError: No module named 'nonexistent_module_for_oxwsgi_tests'" in r.stderr
    assert "cannot load the application from --wsgi-file" in r.stderr
    r = run_oxwsgi("--http", "127.0.0.1:%d" % free_port(), "--wsgi-file", APPS / "hello.py", "--callable", "nope")
    assert r.returncode != 0 and "no callable named 'nope'" in r.stderr


def test_no_app_is_an_error():
    r = run_oxwsgi("--http", ":%d" % free_port())
    assert r.returncode == 1
    assert "no application configured" in r.stderr


def test_uwsgi_module(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", APPS / "suite.py", "--master", "--processes", "2",
                "--env", "A=1", "--env", "B=2", port=port)
    seen = {}
    for _ in range(20):
        info = json.loads(get(port, "/uwsgi")[1])
        seen[info["worker_id"]] = info
    assert set(seen) == {1, 2}
    info = seen[1]
    assert info["numproc"] == 2 and info["masterpid"] == srv.pid
    assert info["request_id"] >= 1 and info["version"].startswith("2.")
    assert info["logvar"] == "alice"
    assert info["opt_processes"] == "2" and info["opt_master"] is True and info["opt_env"] == ["A=1", "B=2"]
    assert "uwsgi.cache_get is not provided by oxwsgi" in info["missing"]
    assert "uwsgi.log from the app" in srv.read_log()
    before = {json.loads(get(port, "/pid")[1])["pid"] for _ in range(10)}
    assert json.loads(get(port, "/uwsgi-reload")[1]) == {"reload": True}
    srv.wait_log("reloading; the workers serve until the new ones accept")
    import time
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            if not {json.loads(get(port, "/pid")[1])["pid"] for _ in range(4)} & before:
                break
        except OSError:
            pass
        time.sleep(0.1)
    else:
        raise AssertionError("uwsgi.reload() did not replace the workers")


def test_c_extension_modules_load(serve, tmp_path):
    # The interpreter is linked into the binary (see build.rs): the C
    # extension modules Python loads from disk (lib-dynload) must still
    # find its symbols, in the master and in forked workers.
    (tmp_path / "app.py").write_text(
        "import importlib, json\n"
        "NAMES = ['ssl', 'ctypes', 'sqlite3', 'decimal', 'hashlib', 'lzma', 'bz2', 'zlib', 'pyexpat', '_json', 'select', 'mmap']\n"
        "def application(e, sr):\n"
        "    out = {}\n"
        "    for n in NAMES:\n"
        "        try:\n"
        "            importlib.import_module(n)\n"
        "            out[n] = 'ok'\n"
        "        except Exception as ex:\n"
        "            out[n] = repr(ex)\n"
        "    import sqlite3, ctypes, ssl\n"
        "    c = sqlite3.connect(':memory:')\n"
        "    out['sqlite'] = c.execute('select 6 * 7').fetchone()[0]\n"
        "    out['ctypes'] = ctypes.c_int(5).value\n"
        "    out['ssl'] = ssl.OPENSSL_VERSION.split()[0]\n"
        "    sr('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [json.dumps(out).encode()]\n")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--master", "--processes", "2", "--wsgi-file", tmp_path / "app.py", port=port)
    out = json.loads(get(port, "/")[1])
    assert {k: v for k, v in out.items() if v != "ok" and k not in ("sqlite", "ctypes", "ssl")} == {}
    assert (out["sqlite"], out["ctypes"], out["ssl"]) == (42, 5, "OpenSSL")
