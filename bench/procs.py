"""Process and port helpers shared by bench/run.py and bench/soak.py."""
import os
import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid):
    """pid and all its descendants."""
    out = [pid]
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    out.extend(tree(int(d)))
            except OSError:
                pass
    return out


def rss_mb(pid):
    try:
        return int(open("/proc/%d/statm" % pid).read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def cpu_seconds(pids):
    """User + system CPU time used so far by the live processes in pids."""
    ticks = 0
    for p in pids:
        try:
            f = open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()
            ticks += int(f[11]) + int(f[12])
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")
