"""The tutorial's "Test your Django project": a real project made by
django-admin startproject, served with --module/--chdir/--home."""
import hashlib
import json
import os

from conftest import VENV, free_port
from test_http import get


def test_django_over_http(serve, django_project):
    port = free_port()
    srv = serve("--http", ":%d" % port, "--module", "mysite.wsgi", "--chdir", django_project, "--home", VENV, port=port)
    r, body = get(port, "/hello/?name=oxwsgi")
    assert r.status == 200, srv.read_log()
    assert body == b"Hello from Django, oxwsgi"
    r, body = get(port, "/admin/login/")
    assert r.status == 200
    assert b"csrfmiddlewaretoken" in body and b"Django" in body
    assert "csrftoken" in r.getheader("Set-Cookie")
    r, body = get(port, "/no/such/page/")
    assert r.status == 404
    data = os.urandom(64 * 1024)
    r, body = get(port, "/upload/", method="POST", body=data, headers={"Content-Type": "application/octet-stream"})
    got = json.loads(body)
    assert got["len"] == len(data) and got["sha256"] == hashlib.sha256(data).hexdigest()
    assert got["secure"] is False


def test_django_from_project_dir_as_in_tutorial(serve, django_project):
    # `oxwsgi --http :8000 --module mysite.wsgi` run inside the project
    # directory with the virtualenv activated, word for word.
    port = free_port()
    srv = serve("--http", ":%d" % port, "--module", "mysite.wsgi", port=port, cwd=django_project,
                env={"VIRTUAL_ENV": str(VENV)})
    r, body = get(port, "/hello/")
    assert r.status == 200, srv.read_log()
    assert body == b"Hello from Django, world"
