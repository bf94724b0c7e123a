"""Slow and fast requests, for the tests of how workers take connections."""
import os
import time


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
