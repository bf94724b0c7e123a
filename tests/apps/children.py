"""Processes the app starts: their signal mask and ignored signals, and
whether SIGTERM stops them, at import time and while serving."""
import json
import os
import subprocess
import sys


def sig_status():
    """SigBlk and SigIgn of a program started as posix_spawn starts it,
    with nothing reset on the way (subprocess resets SIGPIPE itself)."""
    r, w = os.pipe()
    pid = os.posix_spawn("/bin/grep", ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, w, 1)])
    os.close(w)
    out = b""
    while True:
        b = os.read(r, 4096)
        if not b:
            break
        out += b
    os.close(r)
    os.waitpid(pid, 0)
    return dict(line.split(":\t") for line in out.decode().split("\n") if line)


def terminate_child():
    p = subprocess.Popen(["sleep", "100"])
    p.terminate()
    try:
        return p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return "still running 5 s after SIGTERM"


AT_IMPORT = {"status": sig_status(), "terminate": terminate_child()}


def application(environ, start_response):
    if environ["PATH_INFO"] == "/import":
        out = AT_IMPORT
    else:
        out = {"status": sig_status(), "terminate": terminate_child()}
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
