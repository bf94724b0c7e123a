"""The option system as the binary shows it: errors, --help, ini files."""
import textwrap

from conftest import APPS, free_port, run_oxwsgi
from test_http import get


def test_unknown_option_suggests():
    r = run_oxwsgi("--http", ":8000", "--proceses", "4")
    assert r.returncode == 1
    assert "unknown option '--proceses'" in r.stderr and "did you mean --processes?" in r.stderr
    assert "argument 3" in r.stderr


def test_missing_and_malformed_values():
    r = run_oxwsgi("--http")
    assert r.returncode == 1 and "'--http' needs a value" in r.stderr
    r = run_oxwsgi("--processes", "lots")
    assert r.returncode == 1 and "whole number" in r.stderr


def test_a_subsystem_we_do_not_provide_is_refused_by_name():
    r = run_oxwsgi("--http", ":8000", "--wsgi-file", "x.py", "--spooler", "/tmp/spool")
    assert r.returncode == 1 and "option '--spooler': the uWSGI spooler is not provided by oxwsgi" in r.stderr
    r = run_oxwsgi("--http", ":8000", "--wsgi-file", "x.py", "--nosuch-opt", "1")
    assert r.returncode == 1 and "unknown option '--nosuch-opt'" in r.stderr


def test_help_and_version():
    r = run_oxwsgi("--help")
    assert r.returncode == 0
    for opt in ("--http", "--socket", "--wsgi-file", "--module", "--processes", "--master", "--home", "--chmod-socket"):
        assert opt in r.stdout
    assert "Sockets:" in r.stdout and "Processes:" in r.stdout
    r = run_oxwsgi("--version")
    assert r.returncode == 0 and r.stdout.startswith("oxwsgi ")


def test_ini_errors_name_file_and_line(tmp_path):
    ini = tmp_path / "bad.ini"
    ini.write_text("[uwsgi]\nmaster = true\nproceses = 4\n")
    r = run_oxwsgi("--ini", ini)
    assert r.returncode == 1
    assert "%s:3" % ini in r.stderr and "did you mean processes?" in r.stderr
    r = run_oxwsgi("--ini", tmp_path / "missing.ini")
    assert r.returncode == 1 and "cannot read config file" in r.stderr


def test_ini_runs_with_magic_variables(serve, tmp_path):
    port = free_port()
    (tmp_path / "test.py").write_text((APPS / "hello.py").read_text())
    ini = tmp_path / "site.ini"
    ini.write_text(textwrap.dedent("""\
        # a site, uWSGI style
        [uwsgi]
        base = %d
        chdir = %(base)
        wsgi-file = %(base)test.py
        http = 127.0.0.1:$(OXWSGI_TEST_PORT)
        env = SITE_NAME=%n
        disable-logging = yes
        master = false
        """))
    srv = serve("--ini", ini, port=port, env={"OXWSGI_TEST_PORT": str(port)})
    r, body = get(port, "/")
    assert body == b"Hello World", srv.read_log()


def test_bare_ini_argument_and_section(serve, tmp_path):
    port = free_port()
    ini = tmp_path / "multi.ini"
    ini.write_text("[uwsgi]\nhttp = 127.0.0.1:1\n[other]\nhttp = 127.0.0.1:%d\nwsgi-file = %s\n" % (port, APPS / "hello.py"))
    serve("--ini", "%s:other" % ini, port=port)
    assert get(port, "/")[1] == b"Hello World"


def test_yaml_json_env_and_show_config(serve, tmp_path):
    port = free_port()
    y = tmp_path / "site.yaml"
    y.write_text("uwsgi:\n  http-socket: 127.0.0.1:%d\n  wsgi-file: %s\n  env:\n    - A=1\n  disable-logging: true\n" % (port, APPS / "hello.py"))
    serve("--yaml", y, port=port)
    assert get(port, "/")[1] == b"Hello World"
    port = free_port()
    j = tmp_path / "site.json"
    j.write_text('{"uwsgi": {"http-socket": "127.0.0.1:%d", "wsgi-file": "%s", "master": true, "processes": 2}}' % (port, APPS / "hello.py"))
    srv = serve(j, port=port)  # a bare file argument, by its extension
    assert get(port, "/")[1] == b"Hello World"
    srv.wait_log("spawned worker 2")
    # UWSGI_* environment variables, overridden by the command line.
    port = free_port()
    srv = serve("--wsgi-file", APPS / "hello.py", "--show-config", "--processes", "1", port=port,
                env={"UWSGI_HTTP_SOCKET": "127.0.0.1:%d" % port, "UWSGI_PROCESSES": "3"})
    assert get(port, "/")[1] == b"Hello World"
    log = srv.read_log()
    assert "[uwsgi]\nhttp-socket = 127.0.0.1:%d\nprocesses = 3\nwsgi-file = " % port in log
    assert "spawned worker" not in log  # --processes 1 on the command line won
    r = run_oxwsgi("--json", tmp_path / "bad.json", env={})
    assert r.returncode == 1 and "cannot read config file" in r.stderr
    (tmp_path / "bad.json").write_text('{"uwsgi": {"proceses": 2}}')
    r = run_oxwsgi(tmp_path / "bad.json")
    assert r.returncode == 1 and 'bad.json (key "proceses")' in r.stderr and "did you mean processes?" in r.stderr
