//! The typed configuration. Options are parsed once, here; the rest of the
//! server reads fields, never option names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Http,
    Uwsgi,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{}", a),
            ListenAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Listener {
    pub addr: ListenAddr,
    pub proto: Proto,
}

/// One application to load: from a file or a module, at a mount point
/// ("" is the default app).
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    pub mountpoint: String,
    pub source: AppSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AppSource {
    File {
        path: PathBuf,
        callable: String,
    },
    Module {
        module: String,
        callable: String,
    },
    /// A PasteDeploy URI (`config:/path/app.ini`).
    Paste {
        uri: String,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    // Python application
    pub apps: Vec<AppSpec>,
    pub manage_script_name: bool,
    pub home: Option<PathBuf>,
    pub chdir: Option<PathBuf>,
    pub pythonpath: Vec<String>,
    pub env: Vec<(String, String)>,
    pub unenv: Vec<String>,
    pub lazy_apps: bool,
    /// --chdir2: after the app is loaded.
    pub chdir2: Option<PathBuf>,
    /// --import: modules imported before the apps.
    pub imports: Vec<String>,
    /// --pyargv: sys.argv after "oxwsgi".
    pub pyargv: Vec<String>,
    pub file_wrapper: bool,
    /// --catch-exceptions: tracebacks in 500 responses.
    pub catch_exceptions: bool,
    /// --master-fifo: the first is read; `0`-`9` switch.
    pub master_fifo: Vec<PathBuf>,
    pub touch_chain_reload: Vec<PathBuf>,
    pub touch_workers_reload: Vec<PathBuf>,
    /// --cheaper and its options (None: a fixed number of workers).
    pub cheaper: Option<crate::master::cheaper::CheaperSpec>,
    pub cheap: bool,
    /// --idle: seconds without a request before the workers stop (0: never).
    pub idle: u64,
    pub die_on_idle: bool,
    /// --attach-daemon and its kin, in config order.
    pub daemons: Vec<crate::master::daemons::DaemonSpec>,
    /// hook-* and exec-*, in config order.
    pub hooks: Vec<crate::hooks::Hook>,
    pub binsh: Vec<PathBuf>,
    /// --wait-for-fs/-file/-dir, before the root hooks; --wait-for-socket, before the app.
    pub wait_for_fs: Vec<(PathBuf, crate::hooks::WaitFor)>,
    pub wait_for_socket: Vec<String>,
    pub wait_for_fs_timeout: u64,
    pub wait_for_socket_timeout: u64,
    /// --py-autoreload: seconds between looks at the modules' files (0: off).
    pub py_autoreload: u64,
    pub py_autoreload_ignore: Vec<String>,
    // Sockets
    pub listeners: Vec<Listener>,
    /// --protocol: what a listening socket inherited as fd 0 speaks.
    pub stdin_protocol: Proto,
    pub chmod_socket: Option<u32>,
    pub chown_socket: Option<String>,
    pub listen_backlog: i32,
    pub buffer_size: usize,
    pub post_buffering: usize,
    pub limit_post: u64,
    pub vacuum: bool,
    pub umask: Option<u32>,
    pub reuse_port: bool,
    pub so_keepalive: bool,
    /// TCP_DEFER_ACCEPT on TCP sockets (off with --no-defer-accept).
    pub defer_accept: bool,
    pub proxy_protocol: bool,
    /// --add-header lines, as "Name: value\r\n".
    pub add_headers: Vec<u8>,
    // Limits and timeouts
    pub http_max_headers: usize,
    pub http_keepalive_requests: u64,
    pub http_header_timeout: u64,
    pub http_keepalive_timeout: u64,
    pub socket_timeout: u64,
    /// --http-timeout: socket_timeout for HTTP sockets.
    pub http_timeout: Option<u64>,
    // Processes
    pub master: bool,
    pub processes: usize,
    pub threads: usize,
    pub threads_stacksize_kb: Option<usize>,
    pub max_fd: Option<u64>,
    pub max_requests: u64,
    pub max_requests_delta: u64,
    pub min_worker_lifetime: u64,
    pub max_worker_lifetime: u64,
    pub max_worker_lifetime_delta: u64,
    pub reload_on_rss_mb: u64,
    /// --reload-on-as: the worker retires past this much address space (MB).
    pub reload_on_as_mb: u64,
    /// --evil-reload-on-rss/-as: the master kills a worker past these (MB).
    pub evil_reload_on_rss_mb: u64,
    pub evil_reload_on_as_mb: u64,
    pub touch_reload: Vec<PathBuf>,
    pub harakiri: u64,
    pub harakiri_graceful_timeout: u64,
    /// --harakiri-graceful-signal: sent to the worker instead of interrupting the request.
    pub harakiri_graceful_signal: Option<i32>,
    pub harakiri_verbose: bool,
    pub limit_as_mb: Option<u64>,
    pub pidfile: Option<PathBuf>,
    pub safe_pidfile: Option<PathBuf>,
    /// Written after dropping privileges.
    pub pidfile2: Option<PathBuf>,
    pub safe_pidfile2: Option<PathBuf>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub master_as_root: bool,
    pub ignore_write_errors: bool,
    pub disable_write_exception: bool,
    pub binary_path: Option<PathBuf>,
    pub reload_mercy: u64,
    pub daemonize: Option<PathBuf>,
    /// --daemonize2: after the app is loaded.
    pub daemonize2: Option<PathBuf>,
    pub ignore_sigpipe: bool,
    pub locks: usize,
    /// Process names (--auto-procname, --procname-*; procname.rs).
    pub auto_procname: bool,
    pub procname: Option<String>,
    pub procname_master: Option<String>,
    pub procname_prefix: String,
    pub procname_append: String,
    // Static files
    pub statics: crate::statics::StaticConfig,
    // Monitoring
    pub stats: Option<ListenAddr>,
    pub stats_http: bool,
    pub metrics: Option<ListenAddr>,
    pub memory_report: bool,
    // Emperor
    pub emperor: Option<String>,
    pub emperor_tyrant: bool,
    pub emperor_tyrant_nofollow: bool,
    pub emperor_tyrant_initgroups: bool,
    pub emperor_tyrant_min_id: u32,
    pub emperor_pidfile: Option<PathBuf>,
    pub emperor_stats: Option<ListenAddr>,
    pub emperor_on_demand_dir: Option<PathBuf>,
    pub emperor_on_demand_ext: Option<String>,
    /// Added to every vassal's command line: --set after its file,
    /// --include/--inherit after it (or before it: the -before forms).
    pub vassal_set: Vec<String>,
    pub vassals_include: Vec<String>,
    pub vassals_include_before: Vec<String>,
    pub vassals_inherit: Vec<String>,
    pub vassals_inherit_before: Vec<String>,
    // Logging
    pub disable_logging: bool,
    /// The log-* options (log/mod.rs).
    pub log: crate::log::LogOptions,
    pub logto: Option<PathBuf>,
    pub logto2: Option<PathBuf>,
    /// --print: shown when the configuration is read.
    pub prints: Vec<String>,
    /// What reading the configuration found worth a warning.
    pub warnings: Vec<String>,
    pub check_config: bool,
    /// The arguments we were started with: a reload re-executes them.
    pub argv: Vec<String>,
    /// The options and placeholders as given (expanded), in order, for the
    /// `uwsgi.opt` dict and --show-config.
    pub raw_opts: Vec<(String, Option<String>)>,
    pub show_config: bool,
}

impl Config {
    /// --show-config: the resolved options, as an ini file.
    pub fn as_ini(&self) -> String {
        let mut out = String::from("[uwsgi]\n");
        for (k, v) in &self.raw_opts {
            if k == "show-config" || k == "check-config" {
                continue;
            }
            out.push_str(&format!("{} = {}\n", k, v.as_deref().unwrap_or("true")));
        }
        out
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            apps: Vec::new(),
            manage_script_name: false,
            home: None,
            chdir: None,
            pythonpath: Vec::new(),
            env: Vec::new(),
            unenv: Vec::new(),
            lazy_apps: false,
            chdir2: None,
            imports: Vec::new(),
            pyargv: Vec::new(),
            file_wrapper: true,
            catch_exceptions: false,
            master_fifo: Vec::new(),
            touch_chain_reload: Vec::new(),
            touch_workers_reload: Vec::new(),
            cheaper: None,
            cheap: false,
            idle: 0,
            die_on_idle: false,
            daemons: Vec::new(),
            hooks: Vec::new(),
            binsh: Vec::new(),
            wait_for_fs: Vec::new(),
            wait_for_socket: Vec::new(),
            wait_for_fs_timeout: 60,
            wait_for_socket_timeout: 60,
            py_autoreload: 0,
            py_autoreload_ignore: Vec::new(),
            listeners: Vec::new(),
            stdin_protocol: Proto::Uwsgi,
            chmod_socket: None,
            chown_socket: None,
            listen_backlog: 1024,
            // The most a uwsgi packet's 16-bit size field can describe; uWSGI's
            // 4096 rejects ordinary browsers carrying a few cookies.
            buffer_size: 65535,
            post_buffering: 1 << 20,
            limit_post: 0,
            vacuum: false,
            umask: None,
            reuse_port: false,
            so_keepalive: false,
            defer_accept: true,
            proxy_protocol: false,
            add_headers: Vec::new(),
            http_max_headers: crate::proto::http::MAX_HEADERS,
            http_keepalive_requests: 1000,
            http_header_timeout: 30,
            http_keepalive_timeout: 60,
            socket_timeout: 60,
            http_timeout: None,
            master: false,
            processes: 1,
            threads: 1,
            threads_stacksize_kb: None,
            max_fd: None,
            max_requests: 0,
            max_requests_delta: 0,
            max_worker_lifetime: 0,
            max_worker_lifetime_delta: 0,
            min_worker_lifetime: 0,
            reload_on_rss_mb: 0,
            reload_on_as_mb: 0,
            evil_reload_on_rss_mb: 0,
            evil_reload_on_as_mb: 0,
            touch_reload: Vec::new(),
            harakiri: 0,
            harakiri_verbose: false,
            harakiri_graceful_timeout: 5,
            harakiri_graceful_signal: None,
            limit_as_mb: None,
            pidfile: None,
            safe_pidfile: None,
            pidfile2: None,
            safe_pidfile2: None,
            uid: None,
            gid: None,
            master_as_root: false,
            ignore_write_errors: false,
            disable_write_exception: false,
            binary_path: None,
            reload_mercy: 60,
            daemonize: None,
            daemonize2: None,
            ignore_sigpipe: false,
            auto_procname: false,
            procname: None,
            procname_master: None,
            procname_prefix: String::new(),
            procname_append: String::new(),
            locks: 0,
            statics: Default::default(),
            stats: None,
            stats_http: false,
            metrics: None,
            memory_report: false,
            emperor: None,
            emperor_tyrant: false,
            emperor_tyrant_nofollow: false,
            emperor_tyrant_initgroups: false,
            emperor_tyrant_min_id: 1,
            emperor_pidfile: None,
            emperor_stats: None,
            emperor_on_demand_dir: None,
            emperor_on_demand_ext: None,
            vassal_set: Vec::new(),
            vassals_include: Vec::new(),
            vassals_include_before: Vec::new(),
            vassals_inherit: Vec::new(),
            vassals_inherit_before: Vec::new(),
            disable_logging: false,
            log: crate::log::LogOptions { bufsize: 8192, ..Default::default() },
            logto: None,
            logto2: None,
            prints: Vec::new(),
            warnings: Vec::new(),
            check_config: false,
            argv: Vec::new(),
            raw_opts: Vec::new(),
            show_config: false,
        }
    }
}

/// `:8000`, `127.0.0.1:8000`, `[::1]:8000`, `localhost:8000`, or a unix path.
pub fn parse_listen_addr(s: &str) -> Result<ListenAddr, String> {
    let s = s.trim();
    if s.starts_with('/') || s.starts_with('.') || !s.contains(':') {
        if s.is_empty() {
            return Err("empty address".into());
        }
        return Ok(ListenAddr::Unix(PathBuf::from(s)));
    }
    let (host, port) = s.rsplit_once(':').unwrap();
    let port: u16 = port.parse().map_err(|_| format!("'{}' is not a valid port in '{}'", port, s))?;
    let ip = if host.is_empty() || host == "0.0.0.0" || host == "*" {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else if let Some(h) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        h.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| format!("'{}' is not an IPv6 address", h))?
    } else if host == "localhost" {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        host.parse::<IpAddr>().map_err(|_| format!("'{}' is not an IP address (use :port, 127.0.0.1:port, [::1]:port or a socket path)", host))?
    };
    Ok(ListenAddr::Tcp(SocketAddr::new(ip, port)))
}

/// The plugins oxwsgi has built in, by any name uWSGI configs give them
/// (`python3`, `python311`, `/usr/lib/uwsgi/python3_plugin.so`, `http`).
pub fn builtin_plugin(p: &str) -> bool {
    let base = p.rsplit('/').next().unwrap_or(p);
    let base = base.strip_suffix(".so").unwrap_or(base);
    let base = base.strip_suffix("_plugin").unwrap_or(base);
    base.starts_with("python") || matches!(base, "http" | "0" | "corerouter" | "ugreen" | "logfile" | "syslog")
}

#[cfg(test)]
mod tests {
    use super::super::{Action, parse_args};
    use super::*;

    fn cfg(args: &[&str]) -> Config {
        match parse_args(args).unwrap() {
            Action::Run(c) => *c,
            _ => panic!("not a run"),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_listen_addr(":8000").unwrap(), ListenAddr::Tcp("0.0.0.0:8000".parse().unwrap()));
        assert_eq!(parse_listen_addr("127.0.0.1:8001").unwrap(), ListenAddr::Tcp("127.0.0.1:8001".parse().unwrap()));
        assert_eq!(parse_listen_addr("[::1]:8001").unwrap(), ListenAddr::Tcp("[::1]:8001".parse().unwrap()));
        assert_eq!(parse_listen_addr("mysite.sock").unwrap(), ListenAddr::Unix("mysite.sock".into()));
        assert_eq!(parse_listen_addr("/tmp/x.sock").unwrap(), ListenAddr::Unix("/tmp/x.sock".into()));
        assert!(parse_listen_addr(":99999").is_err());
        assert!(parse_listen_addr("nohost:80").is_err());
    }

    #[test]
    fn tutorial_command_lines() {
        let c = cfg(&["--http", ":8000", "--wsgi-file", "test.py"]);
        assert_eq!(c.listeners[0].proto, Proto::Http);
        assert_eq!(c.apps[0].source, AppSource::File { path: "test.py".into(), callable: "application".into() });
        let c = cfg(&["--socket", "mysite.sock", "--module", "mysite.wsgi", "--chmod-socket=664"]);
        assert_eq!(c.listeners[0].proto, Proto::Uwsgi);
        assert_eq!(c.chmod_socket, Some(0o664));
        assert_eq!(c.apps[0].source, AppSource::Module { module: "mysite.wsgi".into(), callable: "application".into() });
        let c = cfg(&["--socket", "mysite.sock", "--chmod-socket"]);
        assert_eq!(c.chmod_socket, Some(0o666));
    }

    #[test]
    fn callable_and_mounts() {
        let c = cfg(&["--module", "app:wsgi_app"]);
        assert_eq!(c.apps[0].source, AppSource::Module { module: "app".into(), callable: "wsgi_app".into() });
        let c = cfg(&["--callable", "app", "--wsgi-file", "x.py", "--mount", "/a=a.py", "--mount", "/b/=pkg.mod:b", "--manage-script-name"]);
        assert_eq!(c.apps.len(), 3);
        assert_eq!(c.apps[0].source, AppSource::File { path: "x.py".into(), callable: "app".into() });
        assert_eq!(c.apps[1], AppSpec { mountpoint: "/a".into(), source: AppSource::File { path: "a.py".into(), callable: "app".into() } });
        assert_eq!(c.apps[2], AppSpec { mountpoint: "/b".into(), source: AppSource::Module { module: "pkg.mod".into(), callable: "b".into() } });
        assert!(c.manage_script_name);
    }

    #[test]
    fn last_value_wins_lists_accumulate() {
        let c = cfg(&["-p", "2", "--processes", "5", "--env", "A=1", "--env", "B=x=y", "--pp", "/a", "--pythonpath", "/b"]);
        assert_eq!(c.processes, 5);
        assert_eq!(c.env, vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]);
        assert_eq!(c.pythonpath, vec!["/a".to_string(), "/b".to_string()]);
        let c = cfg(&["--master", "--master=false", "--vacuum=yes"]);
        assert!(!c.master && c.vacuum);
    }

    /// Every option of the table is handled by Config::from_raw: none
    /// falls through to "not supported yet".
    #[test]
    fn every_table_option_is_handled() {
        use super::super::{Origin, RawOpt, table};
        // Logic blocks never get here: the collector runs them.
        for spec in table::OPTIONS.iter().filter(|s| !super::super::collect::is_logic(s.name)) {
            for value in [None, Some("1"), Some("true"), Some("a=b"), Some("/tmp/x"), Some("holy")] {
                let o = RawOpt { spec, value: value.map(str::to_string), origin: Origin::Arg(1) };
                if let Err(e) = Config::from_raw(&[o]) {
                    assert!(!e.to_string().contains("not supported yet"), "{}: {}", spec.name, e);
                }
            }
        }
    }

    /// An option that would do nothing where it was given is said so.
    #[test]
    fn options_for_the_other_kind_of_process_warn() {
        let warns = |args: &[&str]| cfg(args).warnings.join("\n");
        assert!(warns(&["--cheaper-step", "2"]).contains("--cheaper-step does nothing without --cheaper N"));
        assert!(warns(&["--emperor-stats", ":9000"]).contains("--emperor-stats does nothing without --emperor"));
        assert!(warns(&["--hook-as-vassal", "print:x"]).contains("--hook-as-vassal does nothing without --emperor"));
        assert!(warns(&["--emperor", "/tmp", "--hook-post-fork", "print:x"]).contains("the Emperor does not run it"));
        assert!(!warns(&["--emperor", "/tmp", "--hook-asap", "print:x", "--vassal-set", "a=b"]).contains("does"));
        assert!(!warns(&["--processes", "3", "--cheaper", "1", "--cheaper-step", "2"]).contains("does nothing"));
    }

    #[test]
    fn malformed_values() {
        for (args, want) in [
            (vec!["--processes", "many"], "whole number"),
            (vec!["--processes", "0"], "at least 1"),
            (vec!["--env", "NOEQUALS"], "KEY=VALUE"),
            (vec!["--chmod-socket=999"], "octal mode"),
            (vec!["--http", "host:80"], "not an IP address"),
            (vec!["--buffer-size", "100"], "at least 512"),
            (vec!["--mount", "noequals"], "/prefix=app"),
            (vec!["--plugins", "php"], "not available"),
        ] {
            let e = match parse_args(&args) {
                Err(e) => e.to_string(),
                Ok(_) => panic!("{args:?} should fail"),
            };
            assert!(e.contains(want), "{args:?}: {e}");
            assert!(e.contains("argument"), "{args:?}: {e}");
        }
    }

    #[test]
    fn defaults_avoid_traps() {
        let c = cfg(&[]);
        assert_eq!(c.buffer_size, 65535);
        // Larger, as uWSGI allows: it bounds HTTP heads (uwsgi packets stop at 65535).
        assert_eq!(cfg(&["--buffer-size", "131072"]).buffer_size, 131072);
        assert_eq!(c.processes, 1);
        let c = cfg(&["--plugins", "python3,http", "--need-app", "--die-on-term"]);
        assert!(c.apps.is_empty());
    }
}
