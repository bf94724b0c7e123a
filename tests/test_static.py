"""--static-map and friends: a Django site's static files served by oxwsgi
alone, with caching headers, ranges and no way out of the mapped root."""
import os

from conftest import VENV, free_port
from test_http import get, raw


def test_django_static_files(serve, django_project, tmp_path):
    static = django_project / "static"
    (static / "empty").mkdir(exist_ok=True)
    (static / "docs").mkdir(exist_ok=True)
    (static / "docs" / "index.html").write_text("<p>docs</p>")
    os.symlink(django_project / "manage.py", static / "escape.py")
    port = free_port()
    srv = serve("--http", "127.0.0.1:%d" % port, "--module", "mysite.wsgi", "--chdir", django_project, "--home", VENV,
                "--static-map", "/static=%s" % static, "--static-index", "index.html", port=port)
    css = (static / "admin" / "css" / "base.css").read_bytes()
    r, body = get(port, "/static/admin/css/base.css")
    assert r.status == 200 and body == css, srv.read_log()
    assert r.getheader("Content-Type") == "text/css; charset=utf-8"
    assert r.getheader("Content-Length") == str(len(css))
    etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
    assert etag and lm and r.getheader("Accept-Ranges") == "bytes"
    assert get(port, "/static/admin/css/base.css", headers={"If-None-Match": etag})[0].status == 304
    assert get(port, "/static/admin/css/base.css", headers={"If-Modified-Since": lm})[0].status == 304
    r, body = get(port, "/static/admin/css/base.css", headers={"Range": "bytes=0-9"})
    assert r.status == 206 and body == css[:10] and r.getheader("Content-Range") == "bytes 0-9/%d" % len(css)
    r, body = get(port, "/static/admin/css/base.css", headers={"Range": "bytes=-5"})
    assert r.status == 206 and body == css[-5:]
    r, _ = get(port, "/static/admin/css/base.css", headers={"Range": "bytes=99999999-"})
    assert r.status == 416 and r.getheader("Content-Range") == "bytes */%d" % len(css)
    r, body = get(port, "/static/admin/css/base.css", method="HEAD")
    assert r.status == 200 and body == b"" and r.getheader("Content-Length") == str(len(css))
    assert get(port, "/static/docs/")[1] == b"<p>docs</p>"
    assert get(port, "/static/empty/")[0].status == 404
    # Never outside the root: .., its encoded form, and a symlink out.
    for path in (b"/static/../manage.py", b"/static/%2e%2e/manage.py", b"/static/escape.py"):
        resp = raw(port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert resp.startswith(b"HTTP/1.1 403"), (path, resp[:100])
    # A missing file is the app's to answer (Django's 404 page), as in uWSGI.
    r, body = get(port, "/static/nope.css")
    assert r.status == 404 and b"Not Found" in body
    assert get(port, "/hello/")[1] == b"Hello from Django, world"
    srv.wait_log("GET /static/admin/css/base.css => generated %d bytes" % len(css))


def test_static_safe_and_check_static(serve, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "shared.txt").write_text("shared")
    (root / "page.txt").write_text("page")
    os.symlink(outside / "shared.txt", root / "shared.txt")
    app = tmp_path / "app.py"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'app']\n")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--check-static", root, "--static-safe", outside, port=port)
    assert get(port, "/page.txt")[1] == b"page"
    assert get(port, "/shared.txt")[1] == b"shared"
    assert get(port, "/other")[1] == b"app"
    assert get(port, "/page.txt", method="POST", body=b"x")[1] == b"app"


def test_expires_and_precompressed_variants(serve, tmp_path):
    import email.utils
    import gzip
    import time
    root = tmp_path / "root"
    root.mkdir()
    css = b"body { color: red }\n" * 50
    (root / "site.css").write_bytes(css)
    (root / "site.css.gz").write_bytes(gzip.compress(css))
    (root / "app.js").write_bytes(b"let x = 1;\n")
    (root / "logo.png").write_bytes(b"\x89PNG fake")
    os.utime(root / "logo.png", (1_600_000_000, 1_600_000_000))
    app = tmp_path / "app.py"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'app']\n")
    port = free_port()
    serve("--http", "127.0.0.1:%d" % port, "--wsgi-file", app, "--static-map", "/s=%s" % root,
          "--static-expires-type", "text/css=3600", "--static-expires-mtime", r"\.png$ 60",
          "--static-gzip-all", port=port)

    def expires_in(r):
        return email.utils.parsedate_to_datetime(r.getheader("Expires")).timestamp() - time.time()

    # The .gz variant for a client that accepts gzip, the file itself otherwise.
    r, body = get(port, "/s/site.css", headers={"Accept-Encoding": "gzip, deflate"})
    assert r.status == 200 and r.getheader("Content-Encoding") == "gzip" and gzip.decompress(body) == css
    assert r.getheader("Content-Type") == "text/css; charset=utf-8" and r.getheader("Vary") == "Accept-Encoding"
    assert 3590 < expires_in(r) <= 3600
    gz_etag = r.getheader("ETag")
    r, body = get(port, "/s/site.css", headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert r.status == 200 and r.getheader("Content-Encoding") is None and body == css
    assert r.getheader("ETag") != gz_etag and r.getheader("Vary") == "Accept-Encoding"
    r, body = get(port, "/s/site.css")
    assert body == css and r.getheader("Content-Encoding") is None
    # No variant on disk: no Content-Encoding; no rule: no Expires.
    r, body = get(port, "/s/app.js", headers={"Accept-Encoding": "gzip"})
    assert body == b"let x = 1;\n" and r.getheader("Content-Encoding") is None and r.getheader("Expires") is None
    # -mtime rules count from the file's modification time.
    r, _ = get(port, "/s/logo.png")
    assert r.getheader("Expires") == "Sun, 13 Sep 2020 12:27:40 GMT"


def test_bad_expires_option_names_the_fix(tmp_path):
    from conftest import run_oxwsgi
    app = tmp_path / "app.py"
    app.write_text("def application(e, sr):\n    sr('200 OK', [])\n    return [b'app']\n")
    r = run_oxwsgi("--http", ":0", "--wsgi-file", app, "--static-expires-type", "text/css")
    assert r.returncode != 0 and "TYPE=SECONDS" in r.stderr
    r = run_oxwsgi("--http", ":0", "--wsgi-file", app, "--static-expires", "([ 60")
    assert r.returncode != 0 and "bad regexp" in r.stderr
