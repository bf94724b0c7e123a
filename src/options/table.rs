//! The option table: one entry per option, shared by the command line, the
//! ini reader and `--help`. Adding an option means adding a row here and a
//! field in `Config` (config.rs); nothing else looks options up by name.

/// How an option takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A boolean: `--master`, `--master=false`, `master = yes` in an ini.
    Flag,
    /// One value; the last one given wins (as in uWSGI).
    Value,
    /// Repeatable; every occurrence adds a value (`socket`, `env`, ...).
    List,
    /// A flag that may also take a value (`--chmod-socket` alone means 666).
    OptionalValue,
}

/// Whether an option does something. uWSGI has hundreds of options; we
/// list the common ones we do not implement yet so that a config using
/// them fails loudly instead of being silently ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Recognised, but not implemented yet: rejected with this hint.
    NotYet,
    /// Accepted for old configs, and harmless because our behaviour already
    /// is what the option asks for. The text says why.
    NoOp(&'static str),
}

#[derive(Debug)]
pub struct OptSpec {
    pub name: &'static str,
    /// Other long names (uWSGI aliases such as `workers` for `processes`).
    pub aliases: &'static [&'static str],
    pub short: Option<char>,
    pub kind: Kind,
    pub group: &'static str,
    pub help: &'static str,
    pub support: Support,
}

macro_rules! opt {
    ($name:literal, [$($alias:literal),*], $short:expr, $kind:ident, $group:literal, $support:expr, $help:literal) => {
        OptSpec { name: $name, aliases: &[$($alias),*], short: $short, kind: Kind::$kind,
                  group: $group, help: $help, support: $support }
    };
}

use Support::{NoOp, NotYet, Yes};

// One row per option, kept on one line each: a table, not code.
#[rustfmt::skip]
pub static OPTIONS: &[OptSpec] = &[
    // Configuration
    opt!("ini", [], None, List, "Configuration", Yes, "load options from an ini file (file.ini or file.ini:section, section [uwsgi] by default)"),
    opt!("yaml", ["yml"], Some('y'), List, "Configuration", Yes, "load options from a YAML file in uWSGI's layout (file.yaml or file.yaml:section)"),
    opt!("json", ["js"], Some('j'), List, "Configuration", Yes, "load options from a JSON file in uWSGI's layout (file.json or file.json:section)"),
    opt!("show-config", [], None, Flag, "Configuration", Yes, "print the resolved options as an ini file, then start"),
    opt!("help", ["usage"], Some('h'), Flag, "Configuration", Yes, "show this help and exit"),
    opt!("version", [], None, Flag, "Configuration", Yes, "print the version and exit"),
    opt!("strict", [], None, Flag, "Configuration", NoOp("unknown options are always errors in oxwsgi"), "fail on unknown options (always on)"),
    opt!("plugins", ["plugin", "plugins-dir", "plugin-dir"], None, List, "Configuration", Yes, "accepted for old configs: python and http are built in; any other plugin is an error"),
    opt!("set-placeholder", ["set-ph"], None, List, "Configuration", Yes, "define a %(name) placeholder: name=value"),
    // Python application
    opt!("wsgi-file", ["file"], None, Value, "Python application", Yes, "load the WSGI application from this Python file"),
    opt!("module", ["wsgi"], Some('w'), Value, "Python application", Yes, "load the WSGI application from this module (pkg.mod or pkg.mod:callable)"),
    opt!("callable", [], None, Value, "Python application", Yes, "name of the WSGI callable (default: application)"),
    opt!("mount", [], None, List, "Python application", Yes, "mount an application at a prefix: /prefix=app.py or /prefix=pkg.mod:callable"),
    opt!("manage-script-name", [], None, Flag, "Python application", Yes, "split SCRIPT_NAME/PATH_INFO by the longest matching mount point"),
    opt!("need-app", [], None, Flag, "Python application", NoOp("oxwsgi always refuses to start without an application"), "exit if no app can be loaded (always on)"),
    opt!("home", ["virtualenv", "venv", "pyhome"], Some('H'), Value, "Python application", Yes, "the virtualenv (python3 -m venv or virtualenv) to run in"),
    opt!("chdir", [], None, Value, "Python application", Yes, "change to this directory before loading the app"),
    opt!("pythonpath", ["python-path", "pp"], None, List, "Python application", Yes, "add a directory to sys.path (repeatable)"),
    opt!("env", [], None, List, "Python application", Yes, "set an environment variable: KEY=VALUE (repeatable)"),
    opt!("lazy-apps", [], None, Flag, "Python application", Yes, "load the app in each worker after fork instead of once in the master"),
    opt!("enable-threads", [], None, Flag, "Python application", NoOp("Python threads are always enabled in oxwsgi"), "allow the app to start threads (always on)"),
    opt!("single-interpreter", [], None, Flag, "Python application", NoOp("oxwsgi always runs one interpreter per process"), "use one interpreter (always on)"),
    // Sockets
    opt!("http", [], None, List, "Sockets", Yes, "serve HTTP on this address (:8000, 127.0.0.1:8000, [::1]:8000)"),
    opt!("http-socket", [], None, List, "Sockets", Yes, "serve HTTP on this address or unix socket path"),
    opt!("http11-socket", [], None, List, "Sockets", Yes, "serve HTTP/1.1 with keep-alive (keep-alive is always on)"),
    opt!("socket", ["uwsgi-socket"], Some('s'), List, "Sockets", Yes, "serve the uwsgi protocol (for nginx uwsgi_pass) on this address or unix socket path"),
    opt!("chmod-socket", [], Some('C'), OptionalValue, "Sockets", Yes, "chmod unix sockets (bare: 666, or an octal mode such as 664)"),
    opt!("chown-socket", [], None, Value, "Sockets", Yes, "chown unix sockets to user[:group]"),
    opt!("listen", [], Some('l'), Value, "Sockets", Yes, "the listen backlog (default 1024)"),
    opt!("buffer-size", [], Some('b'), Value, "Sockets", Yes, "largest request head / uwsgi vars block in bytes (default 65535, the most a uwsgi packet can carry)"),
    opt!("post-buffering", [], None, Value, "Sockets", Yes, "request bodies larger than this many bytes are spooled to a temp file (default 1048576)"),
    opt!("limit-post", [], None, Value, "Sockets", Yes, "largest request body in bytes, 0 for no limit (default 0); larger bodies get 413"),
    opt!("http-max-headers", [], None, Value, "Limits and timeouts", Yes, "most request headers accepted (default 100, at most 1000); 431 past it"),
    opt!("http-keepalive-requests", [], None, Value, "Limits and timeouts", Yes, "requests served on one keep-alive connection before it is closed (default 1000, 0 for no limit)"),
    opt!("http-header-timeout", [], None, Value, "Limits and timeouts", Yes, "seconds to receive a whole request head (default 30): slowloris protection"),
    opt!("http-keepalive-timeout", [], None, Value, "Limits and timeouts", Yes, "seconds an idle keep-alive connection is kept (default 60)"),
    opt!("socket-timeout", [], None, Value, "Limits and timeouts", Yes, "seconds without progress reading a body or writing a response before the connection is dropped (default 60)"),
    opt!("vacuum", [], None, Flag, "Sockets", Yes, "remove the unix sockets and pidfiles we created at exit"),
    // Processes
    opt!("master", [], Some('M'), Flag, "Processes", Yes, "run a master process that supervises the workers"),
    opt!("processes", ["workers"], Some('p'), Value, "Processes", Yes, "number of worker processes (default 1)"),
    opt!("threads", [], None, Value, "Processes", Yes, "Python threads per worker (default 1)"),
    opt!("max-requests", [], Some('R'), Value, "Processes", Yes, "replace a worker after it served this many requests"),
    opt!("limit-as", [], None, Value, "Processes", Yes, "address space limit of each worker in MB"),
    opt!("pidfile", [], None, Value, "Processes", Yes, "write the master's PID to this file"),
    opt!("safe-pidfile", [], None, Value, "Processes", Yes, "write the master's PID to this file atomically"),
    opt!("uid", [], None, Value, "Processes", Yes, "drop to this user (name or number) after binding the sockets"),
    opt!("gid", [], None, Value, "Processes", Yes, "drop to this group (name or number) after binding the sockets"),
    opt!("locks", [], None, Value, "Processes", Yes, "shared locks for uwsgi.lock(N), besides lock 0 (default 0)"),
    opt!("ignore-sigpipe", [], None, Flag, "Processes", Yes, "keep SIGPIPE ignored, for the processes the app starts too (by default it is caught, so they start with its default action)"),
    opt!("die-on-term", [], None, Flag, "Processes", NoOp("SIGTERM always stops oxwsgi gracefully"), "stop on SIGTERM (always on)"),
    opt!("reload-mercy", ["worker-reload-mercy"], None, Value, "Processes", Yes, "seconds to wait for workers to finish their requests on stop/reload (default 60)"),
    opt!("daemonize", [], Some('d'), Value, "Processes", Yes, "detach and log to this file"),
    opt!("harakiri", [], Some('t'), Value, "Processes", Yes, "interrupt a request running longer than this many seconds (504), needs --master"),
    opt!("harakiri-graceful-timeout", [], None, Value, "Processes", Yes, "seconds an interrupted request gets before its worker is killed (default 5)"),
    opt!("max-requests-delta", [], None, Value, "Processes", Yes, "add worker_id * delta to max-requests, so workers do not all retire at once"),
    opt!("min-worker-lifetime", [], None, Value, "Processes", Yes, "seconds a worker lives before max-requests or reload-on-rss may retire it (default 0)"),
    opt!("reload-on-rss", [], None, Value, "Processes", Yes, "replace a worker whose resident memory passes this many MB after a request"),
    opt!("touch-reload", [], None, List, "Processes", Yes, "reload gracefully when this file's mtime changes (repeatable), needs --master"),
    opt!("reload", [], None, Value, "Processes", Yes, "send SIGHUP (graceful reload) to the instance whose pidfile this is, and exit"),
    opt!("stop", [], None, Value, "Processes", Yes, "send SIGINT (stop) to the instance whose pidfile this is, and exit"),
    opt!("emperor", [], None, Value, "Emperor", Yes, "run the Emperor: one instance per config in this directory (or DIR/*.ini)"),
    opt!("emperor-tyrant", [], None, Flag, "Emperor", Yes, "run each vassal as the owner of its config file"),
    // Monitoring
    opt!("stats", ["stats-server"], None, Value, "Monitoring", Yes, "serve uWSGI's stats JSON (for uwsgitop) on this address: HOST:PORT or a unix socket path"),
    opt!("stats-http", [], None, Flag, "Monitoring", Yes, "serve the stats over HTTP (uwsgitop http://HOST:PORT); GET /metrics there gives Prometheus text"),
    opt!("metrics", [], None, Value, "Monitoring", Yes, "serve Prometheus metrics over HTTP on this address (GET /metrics)"),
    opt!("memory-report", [], None, Flag, "Monitoring", Yes, "add the worker's memory use to each request log line (and the stats)"),
    opt!("static-map", [], None, List, "Static files", Yes, "serve files under /prefix from a directory: /prefix=/path (repeatable, longest prefix first)"),
    opt!("static-map2", [], None, List, "Static files", Yes, "like static-map, but the whole request path, prefix included, is looked up under /path"),
    opt!("check-static", [], None, List, "Static files", Yes, "serve a request path from this directory when the file exists"),
    opt!("static-index", [], None, List, "Static files", Yes, "file to serve for a directory (e.g. index.html)"),
    opt!("static-safe", [], None, List, "Static files", Yes, "a directory static symlinks may lead into"),
    opt!("static-expires-type", [], None, List, "Static files", Yes, "Expires: now + SECONDS for files of a content type: TYPE=SECONDS (e.g. text/css=86400)"),
    opt!("static-expires-type-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by content type: TYPE=SECONDS"),
    opt!("static-expires", [], None, List, "Static files", Yes, "Expires: now + SECONDS for files whose path matches: 'REGEXP SECONDS'"),
    opt!("static-expires-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by file path: 'REGEXP SECONDS'"),
    opt!("static-expires-uri", [], None, List, "Static files", Yes, "Expires: now + SECONDS when REQUEST_URI matches: 'REGEXP SECONDS'"),
    opt!("static-expires-uri-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by REQUEST_URI: 'REGEXP SECONDS'"),
    opt!("static-expires-path-info", [], None, List, "Static files", Yes, "Expires: now + SECONDS when PATH_INFO matches: 'REGEXP SECONDS'"),
    opt!("static-expires-path-info-mtime", [], None, List, "Static files", Yes, "Expires: the file's mtime + SECONDS, by PATH_INFO: 'REGEXP SECONDS'"),
    opt!("static-gzip-all", [], None, Flag, "Static files", Yes, "answer with FILE.br or FILE.gz when it exists and the client accepts it"),
    opt!("static-gzip-dir", [], None, List, "Static files", Yes, "like static-gzip-all, for files under this directory (a path prefix)"),
    opt!("static-gzip-ext", [], None, List, "Static files", Yes, "like static-gzip-all, for file names ending with this (e.g. .css)"),
    // uWSGI subsystems oxwsgi does not have (yet): refused by name, so a
    // config that relies on them fails loudly instead of running without.
    opt!("cheaper", [], None, Value, "Not supported yet", NotYet, "adaptive process spawning"),
    opt!("spooler", [], None, List, "Not supported yet", NotYet, "the uWSGI spooler (background tasks)"),
    opt!("mule", [], None, List, "Not supported yet", NotYet, "uWSGI mules"),
    opt!("route", [], None, List, "Not supported yet", NotYet, "internal routing"),
    opt!("log-format", ["logformat"], None, Value, "Not supported yet", NotYet, "a custom request log format"),
    opt!("cache2", [], None, List, "Not supported yet", NotYet, "the uWSGI cache"),
    opt!("attach-daemon", [], None, List, "Not supported yet", NotYet, "external daemons managed by the master"),
    opt!("offload-threads", [], None, Value, "Not supported yet", NotYet, "offload threads (oxwsgi's I/O thread already sends static files without blocking Python)"),
    // Logging
    opt!("disable-logging", [], Some('L'), Flag, "Logging", Yes, "do not log requests"),
    opt!("logto", [], None, Value, "Logging", Yes, "log to this file instead of stderr"),
];

/// Finds an option by its long name or any alias.
pub fn lookup(name: &str) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.name == name || o.aliases.contains(&name))
}

pub fn lookup_short(c: char) -> Option<&'static OptSpec> {
    OPTIONS.iter().find(|o| o.short == Some(c))
}

/// The closest known option name, for "did you mean --processes?".
pub fn suggest(name: &str) -> Option<&'static str> {
    let mut best: Option<(usize, &'static str)> = None;
    for o in OPTIONS {
        for cand in std::iter::once(&o.name).chain(o.aliases.iter()) {
            let d = edit_distance(name, cand);
            // A prefix match ("--proc") is as good as a small typo.
            let d = if cand.starts_with(name) && name.len() >= 3 { d.min(1) } else { d };
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, o.name));
            }
        }
    }
    let limit = (name.len() / 3).max(2);
    best.filter(|(d, _)| *d <= limit).map(|(_, n)| n)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The text of `--help`, grouped as the table is.
pub fn help_text() -> String {
    let mut out = String::from("Usage: oxwsgi [options...] [config.ini]\n");
    let mut group = "";
    for o in OPTIONS {
        if o.group != group {
            group = o.group;
            out.push_str(&format!("\n{}:\n", group));
        }
        let mut names = String::new();
        if let Some(c) = o.short {
            names.push_str(&format!("-{}|", c));
        }
        names.push_str(&format!("--{}", o.name));
        for a in o.aliases {
            names.push_str(&format!("|--{}", a));
        }
        let help = match o.support {
            Support::NotYet => format!("{} [not supported yet]", o.help),
            _ => o.help.to_string(),
        };
        out.push_str(&format!("    {:<44} {}\n", names, help));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for o in OPTIONS {
            for n in std::iter::once(&o.name).chain(o.aliases.iter()) {
                assert!(seen.insert(*n), "duplicate option name {n}");
            }
        }
        let mut shorts = std::collections::HashSet::new();
        for o in OPTIONS.iter().filter_map(|o| o.short) {
            assert!(shorts.insert(o), "duplicate short option {o}");
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest("proceses"), Some("processes"));
        assert_eq!(suggest("sockt"), Some("socket"));
        assert_eq!(suggest("wsgifile"), Some("wsgi-file"));
        assert_eq!(suggest("zzzzzzzzzzzz"), None);
    }

    #[test]
    fn aliases_resolve() {
        assert_eq!(lookup("workers").unwrap().name, "processes");
        assert_eq!(lookup("virtualenv").unwrap().name, "home");
        assert_eq!(lookup_short('s').unwrap().name, "socket");
        assert_eq!(lookup_short('M').unwrap().name, "master");
        assert!(help_text().contains("--processes"));
    }
}
