"""oxwsgi, installed as a wheel: the server runs inside this venv's python.

`oxwsgi ARGS` (the command pip puts in the venv's bin/) and `python -m
oxwsgi ARGS` are the same command; reloads, app checks and Emperor vassals
run `python -m oxwsgi` again with this python. The server itself is the
extension module `oxwsgi._oxwsgi` (the Rust crate in ext/).
"""
import sys


def main():
    # sys.path[0] is bin/ (the script's directory) or, under -m, the
    # current directory: the app's sys.path is the one uWSGI gives, and
    # --pythonpath / --chdir add to it.
    # (python -P and PYTHONSAFEPATH add nothing.)
    if sys.path and not getattr(sys.flags, "safe_path", False):
        del sys.path[0]
    from . import _oxwsgi

    _oxwsgi.run(sys.executable, sys.argv[1:])
