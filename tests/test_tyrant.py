"""--emperor-tyrant as a privilege boundary, run as root: a vassal becomes
its file's owner before our binary runs, so every process of it, and every
file it opens (log, pidfile, unix socket), belongs to that owner; files
owned by root, and uid/gid in a tyrant vassal's config, are refused."""
import grp
import json
import os
import pwd
import shutil

import pytest

from conftest import free_port, wait_port, world_readable_binary, world_readable_dir
from test_emperor import descendants
from test_http import get
from test_master import wait_for

NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid)

WHO_APP = """import json, os
def application(e, sr):
    sr('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'uid': os.getuid(), 'euid': os.geteuid(), 'gid': os.getgid(), 'egid': os.getegid(),
                        'groups': sorted(os.getgroups())}).encode()]
"""


@pytest.fixture
def place():
    if os.geteuid() != 0:
        pytest.fail("the tyrant tests check a privilege boundary: run them as root (CI does)")
    d = world_readable_dir("oxwsgi-tyrant-")
    binary = world_readable_binary(d)
    (d / "who.py").write_text(WHO_APP)
    os.chmod(d / "who.py", 0o644)
    vdir = d / "vassals"
    vdir.mkdir()
    os.chmod(vdir, 0o755)
    run = d / "run"
    run.mkdir()
    os.chown(run, NOBODY.pw_uid, NOBODY.pw_gid)
    yield d, binary, vdir, run
    shutil.rmtree(d, ignore_errors=True)


def ids(pid):
    """Real, effective, saved and fs uid and gid, and the groups, from /proc."""
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return st["Uid"].split(), st["Gid"].split(), sorted(int(g) for g in st.get("Groups", "").split())


def owned_by_nobody(ini):
    os.chown(ini, NOBODY.pw_uid, NOBODY.pw_gid)
    os.chmod(ini, 0o644)


def test_a_tyrant_vassal_is_its_owner_in_every_process_and_file(serve, place):
    d, binary, vdir, run = place
    port = free_port()
    # As the tutorial links its ini into the vassal directory: the link is
    # root's, the file nobody's, and the file's owner is who runs.
    real = d / "site.ini"
    real.write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nsocket = %s/site.sock\nlogto = %s/site.log\npidfile = %s/site.pid\n"
                    "wsgi-file = %s\nmaster = true\nprocesses = 2\n" % (port, run, run, run, d / "who.py"))
    owned_by_nobody(real)
    (vdir / "site.ini").symlink_to(real)
    emperor = serve("--emperor", vdir, "--emperor-tyrant", binary=binary)
    wait_port(port, proc=emperor, timeout=30)
    who = json.loads(get(port, "/")[1])
    # Not root's supplementary groups either: only the file's group.
    assert who == {"uid": NOBODY.pw_uid, "euid": NOBODY.pw_uid, "gid": NOBODY.pw_gid, "egid": NOBODY.pw_gid, "groups": [NOBODY.pw_gid]}
    wait_for(lambda: (run / "site.pid").exists() and len(descendants(int((run / "site.pid").read_text()))) >= 2, what="the vassal's workers")
    master = int((run / "site.pid").read_text())
    procs = [master] + descendants(master)
    assert descendants(emperor.pid)[0] == master
    for pid in procs:
        uids, gids, groups = ids(pid)
        assert uids == [str(NOBODY.pw_uid)] * 4 and gids == [str(NOBODY.pw_gid)] * 4 and groups == [NOBODY.pw_gid], (pid, uids, gids, groups)
    for f in ("site.log", "site.pid", "site.sock"):
        st = os.stat(run / f)
        assert (st.st_uid, st.st_gid) == (NOBODY.pw_uid, NOBODY.pw_gid), f
    # The Emperor itself stays root, to start the next vassal as its owner.
    assert ids(emperor.pid)[0][0] == "0"


def test_root_owned_files_and_ids_in_the_config_are_refused(serve, place):
    d, binary, vdir, run = place
    p_root, p_ids, p_ok = free_port(), free_port(), free_port()
    (vdir / "root.ini").write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\n" % (p_root, d / "who.py"))
    os.chmod(vdir / "root.ini", 0o644)
    (vdir / "ids.ini").write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\nuid = 0\ngid = 0\n" % (p_ids, d / "who.py"))
    owned_by_nobody(vdir / "ids.ini")
    (vdir / "ok.ini").write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\n" % (p_ok, d / "who.py"))
    owned_by_nobody(vdir / "ok.ini")
    emperor = serve("--emperor", vdir, "--emperor-tyrant", binary=binary)
    wait_port(p_ok, proc=emperor, timeout=30)
    emperor.wait_log("[emperor-tyrant] vassal root.ini refused: its file is owned by uid 0 gid 0 (root)")
    emperor.wait_log("uid = 0, gid = 0: this vassal runs under --emperor-tyrant as its config file's owner (uid %d, gid %d)" % (NOBODY.pw_uid, NOBODY.pw_gid))
    for port in (p_root, p_ids):
        with pytest.raises(OSError):
            get(port, "/")
    # Nothing of any vassal runs as root.
    for pid in descendants(emperor.pid):
        assert ids(pid)[0] != ["0"] * 4, pid


def test_nofollow_takes_the_symlink_owner_and_initgroups_the_users_groups(serve, place):
    d, binary, vdir, run = place
    p_link = free_port()
    real = d / "linked.ini"
    real.write_text("[uwsgi]\nhttp-socket = 127.0.0.1:%d\nwsgi-file = %s\n" % (p_link, d / "who.py"))
    owned_by_nobody(real)
    (vdir / "linked.ini").symlink_to(real)  # the link is root's
    emperor = serve("--emperor", vdir, "--emperor-tyrant", "--emperor-tyrant-nofollow", binary=binary)
    emperor.wait_log("[emperor-tyrant] vassal linked.ini refused: its file is owned by uid 0 gid 0 (root)")
    emperor.stop()
    # Without nofollow, with initgroups: the owner's groups as the system lists them.
    emperor = serve("--emperor", vdir, "--emperor-tyrant", "--emperor-tyrant-initgroups", binary=binary)
    wait_port(p_link, proc=emperor, timeout=30)
    assert json.loads(get(p_link, "/")[1])["groups"] == sorted(set(os.getgrouplist(NOBODY.pw_name, NOBODY.pw_gid)))
    emperor.stop()
    # A floor above nobody's ids refuses it too.
    emperor = serve("--emperor", vdir, "--emperor-tyrant", "--emperor-tyrant-min-id", str(NOBODY.pw_uid + 1), binary=binary)
    emperor.wait_log("below --emperor-tyrant-min-id %d" % (NOBODY.pw_uid + 1))
