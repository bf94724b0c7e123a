"""uWSGI's config language, end to end: the real binary reads configs we
write here (placeholders, includes, logic blocks, magic variables, the
YAML dialect, UWSGI_* variables) and serves with what they say."""
import json
import os

from conftest import APPS, free_port, run_oxwsgi
from test_http import get

SUITE = APPS / "suite.py"


def sysinfo(port):
    return json.loads(get(port, "/sys")[1])


def test_placeholders_includes_and_logic_blocks(serve, tmp_path):
    port = free_port()
    (tmp_path / "common.ini").write_text("[uwsgi]\nmaster = true\n[tuning]\nprocesses = 2\n")
    (tmp_path / "site.ini").write_text(
        "[uwsgi]\n"
        "base = %d\n"                       # a placeholder: the file's directory
        "ini = :paths\n"                    # a section of this file
        "ini = common.ini\n"                # relative to this file
        "ini = common.ini:tuning\n"
        "if-env = OXWSGI_CFG_TEST\n"
        "env = OXWSGI_T1=%(_)\n"
        "else\n"
        "env = OXWSGI_T1=unset\n"
        "endif\n"
        "for = a b\n"
        "env = OXWSGI_T2=%(_)\n"            # the last one wins
        "endfor\n"
        "http = 127.0.0.1:%(myport)  # a trailing comment is stripped\n"
        "wsgi-file = %(app)\n"
        "vaccuum = true\n"                  # a typo: a warning, not a stop
        "[paths]\n"
        "myport = " + str(port) + "\n"
        "app = " + str(SUITE) + "\n"
    )
    srv = serve(tmp_path / "site.ini", port=port, env={"OXWSGI_CFG_TEST": "from-env"})
    info = sysinfo(port)
    assert info["env"] == {"OXWSGI_T1": "from-env", "OXWSGI_T2": "b"}
    srv.wait_log("spawned worker 2")
    log = srv.read_log()
    assert "site.ini:16: unknown option 'vaccuum' kept as a placeholder; did you mean vacuum?" in log


def test_strict_makes_unknown_keys_errors(tmp_path):
    ini = tmp_path / "strict.ini"
    ini.write_text("[uwsgi]\nstrict = true\nhttp = :0\nwsgi-file = %s\nmy-root = /srv\n" % SUITE)
    r = run_oxwsgi(ini)
    assert r.returncode == 1
    assert "%s:5: unknown option 'my-root': strict mode allows no placeholders" % ini in r.stderr
    # set-placeholder is allowed under strict.
    ini.write_text("[uwsgi]\nstrict = true\nset-placeholder = root=%s\nwsgi-file = %%(root)/suite.py\nhttp = :0\ncheck-config = true\n" % APPS)
    r = run_oxwsgi(ini)
    assert r.returncode == 0, r.stderr
    assert "wsgi-file = %s/suite.py" % APPS in r.stdout


def test_magic_variables_and_environment(serve, tmp_path):
    port = free_port()
    (tmp_path / "hosts.txt").write_text("OXWSGI_T1=one\n")
    ini = tmp_path / "magic.ini"
    ini.write_text(
        "[uwsgi]\n"
        "http = 127.0.0.1:%d\n"
        "wsgi-file = %s\n"
        "processes = %%k\n"                  # the CPU count
        "for-readline = %%d/hosts.txt\n"
        "env = %%(_)\n"
        "endfor\n"
        "env = OXWSGI_T2=%%n:%%e:$(OXWSGI_CFG_HOME):@(%%d/word.txt)\n"
        "master = true\n" % (port, SUITE)
    )
    (tmp_path / "word.txt").write_text("bird\n")
    srv = serve(ini, port=port, env={"OXWSGI_CFG_HOME": "/home/x"})
    assert sysinfo(port)["env"] == {"OXWSGI_T1": "one", "OXWSGI_T2": "magic:ini:/home/x:bird"}
    srv.wait_log("spawned worker %d" % os.cpu_count())


def test_uwsgi_environment_variables_are_options(serve):
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", SUITE, port=port,
                env={"UWSGI_PROCESSES": "2", "UWSGI_MASTER": "1", "UWSGI_ENV": "OXWSGI_T1=via-env"})
    assert sysinfo(port)["env"]["OXWSGI_T1"] == "via-env"
    srv.wait_log("spawned worker 2")


def test_yaml_as_uwsgi_reads_it(serve, tmp_path):
    """Not valid YAML (a value starting with %), yet uWSGI runs it."""
    port = free_port()
    y = tmp_path / "site.yaml"
    y.write_text("uwsgi:\n  base: %s\n  http: 127.0.0.1:%d  # the port\n  wsgi-file: %%(base)/suite.py\n"
                 "  env: [OXWSGI_T1=a, OXWSGI_T2=b]\n  master: true\n" % (APPS, port))
    serve(y, port=port)
    assert sysinfo(port)["env"] == {"OXWSGI_T1": "a", "OXWSGI_T2": "b"}


def test_check_config_binds_nothing_and_says_what_would_fail(tmp_path):
    port = free_port()
    ini = tmp_path / "site.ini"
    ini.write_text("[uwsgi]\nhttp = 127.0.0.1:%d\nwsgi-file = %s\nprocesses = 3\nthreads = true\n" % (port, SUITE))
    r = run_oxwsgi("--check-config", ini)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("[uwsgi]\n") and "processes = 3\n" in r.stdout
    assert "threads takes a number, not 'true'" in r.stderr and "the configuration is valid (1 warning(s))" in r.stderr
    ini.write_text("[uwsgi]\nsocket = %s/missing/site.sock\nwsgi-file = %s/nope.py\nuid = no-such-user-here\n" % (tmp_path, tmp_path))
    r = run_oxwsgi("--check-config", ini)
    assert r.returncode == 1
    assert "error: --wsgi-file %s/nope.py: no such file" % tmp_path in r.stderr
    assert "error: socket %s/missing/site.sock: the directory %s/missing does not exist" % (tmp_path, tmp_path) in r.stderr
    assert "error: --uid no-such-user-here: no such user" in r.stderr
    assert "the server would not start: 3 error(s)" in r.stderr


def test_print_and_plugins_dir(serve, tmp_path):
    port = free_port()
    ini = tmp_path / "p.ini"
    ini.write_text("[uwsgi]\nplugins-dir = /usr/lib/uwsgi/plugins\nplugin = python3\nprint = hello %%n\n"
                   "http = 127.0.0.1:%d\nwsgi-file = %s\n" % (port, SUITE))
    srv = serve(ini, port=port)
    assert "hello p" in srv.read_log()
    ini.write_text("[uwsgi]\nplugin = php\nhttp = :0\nwsgi-file = %s\n" % SUITE)
    r = run_oxwsgi(ini)
    assert r.returncode == 1 and "plugin 'php' is not available in oxwsgi" in r.stderr
