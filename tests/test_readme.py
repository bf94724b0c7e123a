"""The README's first command, scripts/demo, serves the tutorial's Django
site (on PORT, 8000 by default)."""
import os
import signal
import socket
import subprocess
import time
import urllib.request

from conftest import ROOT, free_port


def test_demo_command_serves_the_django_site():
    port = free_port()
    env = dict(os.environ, PORT=str(port))
    env.pop("VIRTUAL_ENV", None)
    p = subprocess.Popen([str(ROOT / "scripts" / "demo")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 600  # it may have to build and install first
        while True:
            assert p.poll() is None, p.stdout.read().decode(errors="replace")[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "scripts/demo did not serve within 10 minutes"
                time.sleep(0.2)
        body = urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=10).read()
        assert b"The install worked successfully" in body
    finally:
        os.killpg(p.pid, signal.SIGINT)
        p.wait(20)
