"""bjoern has no process manager: listen, then fork N-1 children that all
serve the same socket (the usual way to run it on several cores)."""
import importlib.util
import os
import sys

import bjoern

path, host, port, procs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if path.endswith(".py"):
    spec = importlib.util.spec_from_file_location("app", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    app = mod.application
else:
    sys.path.insert(0, os.getcwd())
    app = importlib.import_module(path).application
bjoern.listen(app, host, port)
for _ in range(procs - 1):
    if os.fork() == 0:
        break
bjoern.run()
