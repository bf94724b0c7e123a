"""Real-world uWSGI configs (../shared/corpus, test data kept outside the
repository) start unchanged, and no uWSGI option name is ever taken for a
placeholder."""
import json
import os
import pathlib
import subprocess
import sys

import pytest

from conftest import BIN, ROOT

# The share config_corpus.py measured when it was last raised: a change
# that makes fewer configs start fails here. Raise it as support grows.
MIN_ACCEPTED = 199


def shared():
    for d in (os.environ.get("OXWSGI_SHARED"), ROOT.parent / "shared", "/work/shared"):
        if d and (pathlib.Path(d) / "corpus" / "uwsgi-configs" / "manifest.tsv").exists():
            return pathlib.Path(d)
    pytest.fail("the shared corpus is missing: set OXWSGI_SHARED to the folder holding corpus/uwsgi-configs "
                "and tools/config_corpus.py (the project expects it at ../shared)")


def test_real_world_configs_start(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("config_corpus.py sandboxes each server with unshare, which needs root: run the tests as root")
    d = shared()
    out = tmp_path / "corpus.json"
    r = subprocess.run([sys.executable, d / "tools" / "config_corpus.py", BIN, d / "corpus" / "uwsgi-configs", "--out", out],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["accepted"] >= MIN_ACCEPTED, r.stdout


def test_no_uwsgi_option_is_a_placeholder():
    """Each name uWSGI defines is one of ours (implemented or a documented
    no-op) or refused naming its subsystem; on the command line, a name we
    would take for a placeholder in a file says "unknown option"."""
    names = (shared() / "corpus" / "uwsgi-configs" / "uwsgi-option-names.txt").read_text().split()
    assert len(names) > 1000
    unknown = []
    for n in names:
        r = subprocess.run([BIN, "--check-config", "--" + n, "1"], capture_output=True, text=True, timeout=10)
        if "unknown option" in r.stderr:
            unknown.append(n)
    assert unknown == []
