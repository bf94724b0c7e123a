"""uWSGI's decorators, as oxwsgi provides them: the API of uWSGI's
uwsgidecorators module, importable with no file in the app's tree.

postfork, thread, lock, signal, timer, rbtimer and filemon work as in
uWSGI (signals need --master, as there). The decorators of uWSGI
subsystems that oxwsgi does not have raise an error naming the subsystem
when they are applied, so an app that needs them fails at start-up rather
than losing its tasks.
"""
import functools
import threading

import uwsgi

__all__ = ["postfork", "thread", "lock", "signal", "timer", "rbtimer", "filemon", "get_free_signal",
           "spool", "spoolforever", "spoolraw", "mulefunc", "mule_brain", "mule_brainloop", "cron", "rpc",
           "farm_loop", "harakiri", "erlang"]

# Run in order in every worker once it is forked (uwsgi.post_fork_hook).
postfork_chain = []


def _run_postfork_chain():
    for f in list(postfork_chain):
        f()


def postfork(f):
    """Runs f in every worker after it is forked: reopen database
    connections and sockets there, not in the master."""
    postfork_chain.append(f)
    uwsgi.post_fork_hook = _run_postfork_chain
    return f


def thread(f):
    """Calling f starts it in a daemon thread (with @postfork: one per worker)."""
    @functools.wraps(f)
    def start(*args, **kwargs):
        threading.Thread(target=f, args=args, kwargs=kwargs, daemon=True, name=getattr(f, "__name__", "uwsgi-thread")).start()
        return f
    return start


def lock(f):
    """f runs holding uWSGI lock 0: one at a time across every worker and thread."""
    @functools.wraps(f)
    def locked(*args, **kwargs):
        uwsgi.lock()
        try:
            return f(*args, **kwargs)
        finally:
            uwsgi.unlock()
    return locked


def get_free_signal():
    for n in range(256):
        if not uwsgi.signal_registered(n):
            return n
    raise RuntimeError("no free uWSGI signal: all 256 are registered")


def signal(num, target=""):
    """f handles uWSGI signal num (run by the target: "worker" is the first free worker)."""
    def register(f):
        uwsgi.register_signal(num, target, f)
        return f
    return register


def _every(add):
    def decorator(secs_or_path, target="", signum=None):
        def register(f):
            n = get_free_signal() if signum is None else signum
            uwsgi.register_signal(n, target, f)
            add(n, secs_or_path)
            return f
        return register
    return decorator


timer = _every(uwsgi.add_timer)
timer.__doc__ = "f(signum) runs every secs seconds, in the first free worker unless target says otherwise."
rbtimer = _every(uwsgi.add_rb_timer)
rbtimer.__doc__ = "As @timer (uWSGI's user-space timers; the same timers here)."
filemon = _every(uwsgi.add_file_monitor)
filemon.__doc__ = "f(signum) runs each time the file or directory changes."


def _missing(name, why):
    def refuse(*args, **kwargs):
        raise RuntimeError("uwsgidecorators.%s: %s" % (name, why))
    refuse.__name__ = name
    return refuse


spool = _missing("spool", "the uWSGI spooler is not provided by oxwsgi; use a task queue such as Celery or RQ")
spoolforever = _missing("spoolforever", "the uWSGI spooler is not provided by oxwsgi")
spoolraw = _missing("spoolraw", "the uWSGI spooler is not provided by oxwsgi")
mulefunc = _missing("mulefunc", "uWSGI mules are not provided by oxwsgi")
mule_brain = _missing("mule_brain", "uWSGI mules are not provided by oxwsgi")
mule_brainloop = _missing("mule_brainloop", "uWSGI mules are not provided by oxwsgi")
farm_loop = _missing("farm_loop", "uWSGI mule farms are not provided by oxwsgi")
cron = _missing("cron", "the uWSGI cron interface is not provided by oxwsgi; use @timer, or the system's cron")
rpc = _missing("rpc", "uWSGI RPC is not provided by oxwsgi")
harakiri = _missing("harakiri", "per-call harakiri (uwsgi.set_user_harakiri) is not provided by oxwsgi; use --harakiri")
erlang = _missing("erlang", "the Erlang bridge is not provided by oxwsgi")
