//! uWSGI options that oxwsgi does not provide, by what they belong to. A
//! key of a config file that names no option is a placeholder, as in
//! uWSGI; a key that names a uWSGI option we lack must never be taken for
//! one (the config would run without what it asks for), so it is refused
//! with the subsystem it belongs to. uWSGI names its options by subsystem
//! (`cache-*`, `spooler-*`, `http-*` for its HTTP router...), so most are
//! recognised by prefix; the rest are listed. Options oxwsgi has, or
//! accepts as documented no-ops, are in table.rs and never reach here.

/// Why a uWSGI option we lack is refused, and what to do instead. A
/// pattern ending in `*` is a prefix; any other names one option.
pub fn refused(name: &str) -> Option<&'static str> {
    let hit = |p: &&str| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *p,
    };
    PREFIXES.iter().chain(EXACT).find(|(ps, _)| ps.iter().any(hit)).map(|(_, why)| *why)
}

const LOOP: &str = "this loop engine is not provided by oxwsgi: each worker runs --threads N Python threads (use --threads)";
const LANG: &str = "this language plugin is not provided by oxwsgi, a server for Python WSGI apps";
const ROUTER: &str = "this belongs to uWSGI's HTTP router, which oxwsgi does not have: --http and --http-socket are served by the workers themselves";
const TLS: &str = "TLS is not provided by oxwsgi: terminate HTTPS in nginx (or another proxy) in front of it";
const LOGGING: &str =
    "this logging option is not provided by oxwsgi: see the Logging options of oxwsgi --help (log-format, logger, req-logger, log-master, log-maxsize...)";
const REROUTE: &str = "uWSGI's internal routing is not provided by oxwsgi: route in nginx (or another proxy)";
const JAIL: &str = "jails, namespaces and capabilities are not provided by oxwsgi: use the init system's or the container's";
const SOCKETS: &str = "this socket type is not provided by oxwsgi: it serves HTTP (--http, --http-socket) and uwsgi (--socket)";
const METRICS: &str = "this metrics subsystem is not provided by oxwsgi: use --stats (uWSGI's stats JSON) or --metrics (Prometheus)";
const RELOADS: &str = "this reload option is not provided yet: oxwsgi reloads on SIGHUP, --touch-reload and uwsgi.reload()";
const EMPEROR: &str = "this Emperor option is not provided yet: oxwsgi's Emperor has --emperor DIR and --emperor-tyrant";

static PREFIXES: &[(&[&str], &str)] = &[
    (&["gevent*", "async", "ugreen*", "greenlet*", "asyncio*", "tornado*", "stackless*", "fiber*", "coroae*", "loop", "loops-list", "loop-list"], LOOP),
    (&["spooler*", "spool*"], "the uWSGI spooler is not provided by oxwsgi: use a task queue (Celery, RQ)"),
    (
        &["mule", "mules", "mule-*", "farm", "farm-*"],
        "uWSGI mules are not provided by oxwsgi: run background work in a task queue, or in a thread started with uwsgidecorators' @postfork @thread",
    ),
    (
        &["cache", "cache2", "cache-*", "load-file-in-cache*", "add-cache-item", "check-cache"],
        "the uWSGI cache is not provided by oxwsgi: use Redis, memcached or the framework's cache",
    ),
    (&["queue", "queue-*"], "the uWSGI queue is not provided by oxwsgi"),
    (&["sharedarea"], "the uWSGI sharedarea is not provided by oxwsgi"),
    (
        &[
            "route",
            "route-*",
            "final-route*",
            "error-route*",
            "response-route*",
            "router-list",
            "routers-list",
            "collect-header",
            "response-header-collect",
            "pull-header",
        ],
        REROUTE,
    ),
    (&["fastrouter*", "rawrouter*", "sslrouter*", "forkptyrouter*", "forkpty-router*", "tuntap*", "http-*", "http2*", "spdy*"], ROUTER),
    (&["https*", "ssl-*", "sni", "sni-*"], TLS),
    (&["legion*"], "the Legion cluster subsystem is not provided by oxwsgi"),
    (
        &["subscribe*", "subscription*", "unsubscribe*", "st", "start-unsubscribed"],
        "the uWSGI subscription system is not provided by oxwsgi: list the servers in nginx's upstream",
    ),
    (&["zerg*"], "zerg mode is not provided by oxwsgi"),
    (&["emperor-*", "vassal*", "imperial-*", "early-emperor", "heartbeat", "auto-weight"], EMPEROR),
    (
        &["cron*", "unique-cron*", "unique-legion-cron*"],
        "the uWSGI cron interface is not provided by oxwsgi: use the system's cron, or uwsgidecorators' @timer",
    ),
    (
        &["alarm*", "log-alarm", "not-log-alarm", "not-alarm-log", "segfault-alarm", "listen-queue-alarm", "lq-alarm", "backlog-alarm"],
        "uWSGI alarms are not provided by oxwsgi",
    ),
    (
        &[
            "log-*",
            "logger*",
            "loggers-list",
            "req-logger",
            "logfile-*",
            "logformat*",
            "logdate",
            "threaded-logger",
            "worker-logger*",
            "worker-log-*",
            "notfound-log",
            "rsyslog-*",
        ],
        LOGGING,
    ),
    (&["call-*"], "call-* hooks call a C function of the uWSGI binary by its name; oxwsgi has none to call: use exec-* or hook-*:exec"),
    (
        &["mount-*", "umount-*", "wait-for-mountpoint"],
        "mounting filesystems (Linux namespaces, jails) is not provided by oxwsgi: mount them before the start (systemd mount units)",
    ),
    (
        &["wait-for-iface*", "wait-for-interface*", "wait-interface*", "wait-iface*"],
        "waiting for a network interface is not provided by oxwsgi: order the service after network-online.target",
    ),
    (
        &["hook-as-emperor-*", "hook-as-vassal-*", "hook-emperor-lost", "hook-as-on-*", "hook-as-mule", "hook-as-gateway", "hook-touch"],
        "this hook phase is not provided by oxwsgi (no mules, gateways or setns; the instance's and the Emperor's hook-*/exec-* phases are)",
    ),
    (&["cheaper-algo-list", "cheaper-algos-list", "cheaper-list"], "oxwsgi's cheaper algorithms are built in: spare, spare2, backlog, busyness, manual"),
    (&["py-tracebacker"], "the Python tracebacker is not provided by oxwsgi: --harakiri logs where a stuck request was"),
    (
        &[
            "chain-reload",
            "touch-exec",
            "touch-signal",
            "touch-logrotate",
            "touch-logreopen",
            "fs-reload",
            "fs-brutal-reload",
            "fs-signal",
            "reload-on-fd",
            "brutal-reload-on-fd",
            "reload-on-exception*",
            "exit-on-reload",
            "propagate-touch",
            "harakiri-no-arh",
            "no-harakiri-*",
            "mule-harakiri",
            "cron-harakiri",
            "harakiri-queue-threshold",
            "reload-on-pss",
            "reload-on-uss",
            "touch-mules-reload",
            "touch-spoolers-reload",
        ],
        RELOADS,
    ),
    (
        &[
            "php*",
            "lua*",
            "perl*",
            "psgi*",
            "plack*",
            "rack*",
            "ruby*",
            "rbrequire",
            "rb-*",
            "rbshell*",
            "jvm*",
            "jwsgi*",
            "mono*",
            "v8*",
            "gccgo*",
            "go",
            "pypy*",
            "cgi*",
            "xslt*",
            "webdav*",
            "ring-*",
            "clojure*",
            "jar",
            "erlang*",
            "eval",
            "web3",
            "pump",
            "wsgi-lite",
            "pyshell*",
            "pyrun",
            "python",
            "py",
            "mongrel2*",
            "glusterfs*",
            "rados*",
            "libffi*",
            "symcall*",
            "dumbloop*",
            "rails",
            "rvm*",
            "rbthread*",
            "shared-rb*",
            "shared-require",
            "shared-ruby*",
            "require",
            "gemset",
            "go-*",
            "goroutines",
            "pecan",
            "plshell*",
            "early-perl*",
            "early-php*",
            "early-psgi",
        ],
        LANG,
    ),
    (
        &[
            "carbon*",
            "snmp*",
            "statsd*",
            "metric",
            "metric-*",
            "metrics-*",
            "enable-metrics",
            "stats-push*",
            "zabbix*",
            "influxdb*",
            "stats-min",
            "stats-minified",
            "stats-no-cores",
            "stats-no-metrics",
            "rrdtool*",
            "mem-collector-freq",
            "nagios",
        ],
        METRICS,
    ),
    (
        &[
            "jail*",
            "chroot",
            "pivot-root",
            "pivot_root",
            "unshare",
            "namespace*",
            "ns",
            "ns-*",
            "cgroup*",
            "cap",
            "setns*",
            "refork*",
            "re-fork*",
            "jidfile",
            "jid-file",
            "libjail",
            "add-gid",
            "immediate-uid",
            "immediate-gid",
            "no-initgroups",
            "forkbomb-delay",
            "unshare2",
            "pam",
            "pam-user",
            "check-mount*",
            "mountpoint-check",
        ],
        JAIL,
    ),
    (&["websocket*"], "WebSockets are not provided by oxwsgi"),
    (
        &[
            "fastcgi-*",
            "scgi-*",
            "raw-*",
            "suwsgi-*",
            "ssl-socket",
            "zeromq*",
            "zmq*",
            "shared-socket",
            "undeferred-shared-socket",
            "abstract-socket",
            "freebind",
            "map-socket",
            "udp",
            "multicast*",
            "puwsgi-*",
            "pty-*",
            "fork-server",
            "fork-socket",
            "forkpty-urouter",
            "forkptyurouter",
            "httprouter",
            "zeus",
            "notify-socket",
            "shutdown-sockets",
        ],
        SOCKETS,
    ),
    (
        &["xml", "xmlconfig", "sqlite*", "ldap*", "fallback-config", "config-py", "inject-before", "inject-after"],
        "oxwsgi reads ini, YAML and JSON configs (and the command line): convert this one",
    ),
    (&["rpc-*", "register-rpc"], "uWSGI RPC is not provided by oxwsgi"),
    (
        &["signal", "signals-bufsize", "signal-bufsize", "timer", "signal-timer", "rbtimer", "signal-rbtimer"],
        "this uWSGI signal option is not provided by oxwsgi (the uwsgi.signal() API is)",
    ),
    (&["snapshot", "auto-snapshot"], "worker snapshots are not provided by oxwsgi"),
    (&["vhost*"], "virtual hosting (one instance, apps chosen by host) is not provided by oxwsgi: run one instance per site"),
];

/// The rest: one name each, by what they do.
static EXACT: &[(&[&str], &str)] = &[
    (
        &[
            "reaper",
            "prio",
            "cpu-affinity",
            "limit-nproc",
            "ksm",
            "never-swap",
            "use-abort",
            "backtrace-depth",
            "check-interval",
            "skip-zero",
            "skip-atexit",
            "clock",
            "clocks-list",
            "clock-list",
        ],
        "this process tuning option is not provided by oxwsgi",
    ),
    (
        &[
            "dlopen",
            "autoload",
            "allowed-modifiers",
            "remap-modifier",
            "need-plugins",
            "need-plugin",
            "plugins-list",
            "plugin-list",
            "print-sym",
            "print-symbol",
            "cflags",
            "dot-h",
            "dump-options",
            "pcre-jit",
        ],
        "uWSGI's plugin and build machinery is not provided by oxwsgi (python and http are built in)",
    ),
    (
        &["flock", "flock-wait", "flock2", "flock-wait2", "file-write", "safe-fd", "fd-safe", "lock-engine", "ftok", "persistent-ipcsem"],
        "this option is not provided by oxwsgi",
    ),
    (
        &[
            "honour-range",
            "file-serve-mode",
            "fileserve-mode",
            "disable-sendfile",
            "upload-progress",
            "body-read-warning",
            "post-buffering-bufsize",
            "chunked-input-limit",
            "chunked-input-timeout",
            "static-gzip",
            "static-cache-paths",
            "static-cache-paths-name",
            "check-static-docroot",
            "static-expires-uri-mtime-regexp",
        ],
        "this request-handling option is not provided by oxwsgi",
    ),
    (
        &[
            "worker-mount",
            "worker-exec",
            "worker-exec2",
            "force-gateway",
            "no-server",
            "command-mode",
            "connect-and-read",
            "extract",
            "mode",
            "get",
            "blacklist",
            "whitelist",
            "end-blacklist",
            "end-whitelist",
            "ignore-script-name",
            "exception-handler",
            "pymodule-alias",
            "post-pymodule-alias",
            "shared-import",
            "shared-pyimport",
            "shared-py-import",
            "shared-python-import",
            "spooler-import",
            "start_response-nodelay",
            "optimize",
            "test",
            "no-site",
            "py-programname",
            "py-program-name",
            "reload-os-env",
            "ini-paste",
            "ini-paste-logged",
            "paste-logger",
            "python-version",
            "py-sharedarea",
            "py-call-uwsgi-fork-hooks",
            "early-python*",
            "early-pyimport",
            "early-pythonpath",
            "python-raw",
            "py-executable",
            "py-sys-executable",
            "python-worker-override",
            "py-master-check-signals",
            "dynamic-apps",
            "wsgi-strict",
            "wsgi-accept-buffer*",
            "wsgi-manage-chunked-input",
            "skip-atexit-teardown",
            "after-request-call",
            "after-request-hook",
            "paste-name",
            "error-page-*",
            "exit",
        ],
        "this uWSGI option is not provided by oxwsgi",
    ),
    (&["envdir", "early-envdir"], "envdirs are not read by oxwsgi: set the variables with --env KEY=VALUE"),
    (&["ienv"], "--ienv (set a variable without touching the config's own $(VAR)s) is not provided by oxwsgi: use --env KEY=VALUE"),
    (
        &[
            "geoip-*",
            "curl-cron*",
            "ping",
            "ping-timeout",
            "resolve",
            "response-headers-limit",
            "build-plugin",
            "binary-append-data",
            "die-on-no-workers",
            "disable-async-warn-on-queue-full",
        ],
        "this uWSGI option is not provided by oxwsgi",
    ),
    (
        &[
            "weight",
            "privileged-binary-patch",
            "unprivileged-binary-patch",
            "privileged-binary-patch-arg",
            "unprivileged-binary-patch-arg",
            "pause",
            "suspend",
            "resume",
            "max-vars",
            "max-apps",
            "cgi-mode",
            "profiler",
            "drop-after-init",
            "drop-after-apps",
            "force-cwd",
            "rem-header",
            "del-header",
            "tcp-fast-open",
            "tcp-fastopen",
            "tcp-fast-open-client",
            "tcp-fastopen-client",
            "so-send-timeout",
            "socket-send-timeout",
            "so-write-timeout",
            "socket-write-timeout",
            "socket-sndbuf",
            "socket-rcvbuf",
            "write-errors-tolerance",
            "write-errors-exception-only",
            "no-fd-passing",
            "no-threads-wait",
            "honour-stdin",
            "stats-http-headers",
        ],
        "this uWSGI option is not provided by oxwsgi",
    ),
];

/// The refused families for --help: their patterns, and why.
pub fn summary() -> impl Iterator<Item = (String, &'static str)> {
    PREFIXES.iter().chain(EXACT).map(|(names, why)| (names.join(" "), *why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsystems_by_prefix_and_name() {
        assert!(refused("gevent").unwrap().contains("--threads"));
        assert!(refused("gevent-monkey-patch").is_some());
        assert!(refused("spooler-processes").unwrap().contains("spooler"));
        assert!(refused("cache2").unwrap().contains("cache"));
        assert!(refused("http-websockets").unwrap().contains("router"));
        assert!(refused("log-5xx").unwrap().contains("logging"));
        assert!(refused("reaper").is_some());
        // Custom placeholders are not uWSGI options.
        for p in ["base", "project", "app-name", "socket_dir", "my-root"] {
            assert_eq!(refused(p), None, "{p}");
        }
    }
}
