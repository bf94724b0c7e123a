//! The typed configuration. Options are parsed once, here; the rest of the
//! server reads fields, never option names.

use super::{ConfigError, Origin, RawOpt, parse_bool};
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
    File { path: PathBuf, callable: String },
    Module { module: String, callable: String },
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
    pub lazy_apps: bool,
    // Sockets
    pub listeners: Vec<Listener>,
    pub chmod_socket: Option<u32>,
    pub chown_socket: Option<String>,
    pub listen_backlog: i32,
    pub buffer_size: usize,
    pub post_buffering: usize,
    pub limit_post: u64,
    pub vacuum: bool,
    // Limits and timeouts
    pub http_max_headers: usize,
    pub http_keepalive_requests: u64,
    pub http_header_timeout: u64,
    pub http_keepalive_timeout: u64,
    pub socket_timeout: u64,
    // Processes
    pub master: bool,
    pub processes: usize,
    pub threads: usize,
    pub max_requests: u64,
    pub max_requests_delta: u64,
    pub min_worker_lifetime: u64,
    pub reload_on_rss_mb: u64,
    pub touch_reload: Vec<PathBuf>,
    pub harakiri: u64,
    pub harakiri_graceful_timeout: u64,
    pub limit_as_mb: Option<u64>,
    pub pidfile: Option<PathBuf>,
    pub safe_pidfile: Option<PathBuf>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub reload_mercy: u64,
    pub daemonize: Option<PathBuf>,
    pub ignore_sigpipe: bool,
    pub locks: usize,
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
    // Logging
    pub disable_logging: bool,
    pub logto: Option<PathBuf>,
    /// The arguments we were started with: a reload re-executes them.
    pub argv: Vec<String>,
    /// The options as given, in order, for the `uwsgi.opt` dict.
    pub raw_opts: Vec<(String, Option<String>)>,
    pub show_config: bool,
}

impl Config {
    /// --show-config: the resolved options, as an ini file.
    pub fn as_ini(&self) -> String {
        let mut out = String::from("[uwsgi]\n");
        for (k, v) in &self.raw_opts {
            if k == "show-config" {
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
            lazy_apps: false,
            listeners: Vec::new(),
            chmod_socket: None,
            chown_socket: None,
            listen_backlog: 1024,
            // The most a uwsgi packet's 16-bit size field can describe; uWSGI's
            // 4096 rejects ordinary browsers carrying a few cookies.
            buffer_size: 65535,
            post_buffering: 1 << 20,
            limit_post: 0,
            vacuum: false,
            http_max_headers: crate::proto::http::MAX_HEADERS,
            http_keepalive_requests: 1000,
            http_header_timeout: 30,
            http_keepalive_timeout: 60,
            socket_timeout: 60,
            master: false,
            processes: 1,
            threads: 1,
            max_requests: 0,
            max_requests_delta: 0,
            min_worker_lifetime: 0,
            reload_on_rss_mb: 0,
            touch_reload: Vec::new(),
            harakiri: 0,
            harakiri_graceful_timeout: 5,
            limit_as_mb: None,
            pidfile: None,
            safe_pidfile: None,
            uid: None,
            gid: None,
            reload_mercy: 60,
            daemonize: None,
            ignore_sigpipe: false,
            locks: 0,
            statics: Default::default(),
            stats: None,
            stats_http: false,
            metrics: None,
            memory_report: false,
            emperor: None,
            emperor_tyrant: false,
            disable_logging: false,
            logto: None,
            argv: Vec::new(),
            raw_opts: Vec::new(),
            show_config: false,
        }
    }
}

fn num<T>(o: &RawOpt, min: T) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let v = o.value.as_deref().unwrap_or("");
    match v.trim().parse::<T>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(ConfigError::new(Some(o.origin.clone()), format!("option '{}' takes a whole number of at least {}, not '{}'", o.spec.name, min, v))),
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

fn split_callable(spec: &str, default: &str) -> (String, String) {
    match spec.rsplit_once(':') {
        Some((m, c)) if !c.is_empty() && !c.contains('/') => (m.to_string(), c.to_string()),
        _ => (spec.to_string(), default.to_string()),
    }
}

fn app_source(spec: &str, callable: &str) -> AppSource {
    let (target, call) = split_callable(spec, callable);
    if target.ends_with(".py") || target.ends_with(".wsgi") || target.contains('/') {
        AppSource::File { path: PathBuf::from(target), callable: call }
    } else {
        AppSource::Module { module: target, callable: call }
    }
}

impl Config {
    pub fn from_raw(opts: &[RawOpt]) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut wsgi_file: Option<String> = None;
        let mut module: Option<String> = None;
        let mut callable = "application".to_string();
        let mut mounts: Vec<(String, String, Origin)> = Vec::new();
        for o in opts {
            let val = || o.value.clone().unwrap_or_default();
            let flag = || o.value.as_deref().map(|v| parse_bool(v).unwrap_or(true)).unwrap_or(true);
            let err = |m: String| ConfigError::new(Some(o.origin.clone()), m);
            match o.spec.name {
                "wsgi-file" => wsgi_file = Some(val()),
                "module" => module = Some(val()),
                "callable" => callable = val(),
                "mount" => {
                    let v = val();
                    let Some((prefix, app)) = v.split_once('=') else {
                        return Err(err(format!("mount takes /prefix=app (a .py file or a module), not '{}'", v)));
                    };
                    let prefix = prefix.trim().trim_end_matches('/').to_string();
                    if !prefix.is_empty() && !prefix.starts_with('/') {
                        return Err(err(format!("mount point '{}' must start with /", prefix)));
                    }
                    mounts.push((prefix, app.trim().to_string(), o.origin.clone()));
                }
                "manage-script-name" => c.manage_script_name = flag(),
                "home" => c.home = Some(PathBuf::from(val())).filter(|p| !p.as_os_str().is_empty()),
                "chdir" => c.chdir = Some(PathBuf::from(val())),
                "pythonpath" => c.pythonpath.push(val()),
                "env" => {
                    let v = val();
                    match v.split_once('=') {
                        Some((k, v)) if !k.is_empty() => c.env.push((k.to_string(), v.to_string())),
                        _ => return Err(err(format!("env takes KEY=VALUE, not '{}'", v))),
                    }
                }
                "lazy-apps" => c.lazy_apps = flag(),
                "http" | "http-socket" | "http11-socket" | "socket" => {
                    let proto = if o.spec.name == "socket" { Proto::Uwsgi } else { Proto::Http };
                    let addr = parse_listen_addr(&val()).map_err(|e| err(format!("option '{}': {}", o.spec.name, e)))?;
                    c.listeners.push(Listener { addr, proto });
                }
                "chmod-socket" => {
                    c.chmod_socket = match o.value.as_deref() {
                        None | Some("") | Some("true") => Some(0o666),
                        Some(m) => Some(
                            u32::from_str_radix(m, 8)
                                .ok()
                                .filter(|m| *m <= 0o777)
                                .ok_or_else(|| err(format!("chmod-socket takes an octal mode such as 664, not '{}'", m)))?,
                        ),
                    }
                }
                "chown-socket" => c.chown_socket = Some(val()),
                "listen" => c.listen_backlog = num(o, 1)?,
                "buffer-size" => {
                    let n: usize = num(o, 512)?;
                    if n > 65535 {
                        return Err(err(format!("buffer-size {} is larger than a uwsgi packet can carry; the most is 65535", n)));
                    }
                    c.buffer_size = n;
                }
                "post-buffering" => c.post_buffering = num(o, 0)?,
                "limit-post" => c.limit_post = num(o, 0)?,
                "vacuum" => c.vacuum = flag(),
                "http-max-headers" => {
                    let n: usize = num(o, 1)?;
                    if n > crate::proto::http::MAX_HEADERS_LIMIT {
                        return Err(err(format!("http-max-headers {} is too many; the most is {}", n, crate::proto::http::MAX_HEADERS_LIMIT)));
                    }
                    c.http_max_headers = n;
                }
                "http-keepalive-requests" => c.http_keepalive_requests = num(o, 0)?,
                "http-header-timeout" => c.http_header_timeout = num(o, 1)?,
                "http-keepalive-timeout" => c.http_keepalive_timeout = num(o, 1)?,
                "socket-timeout" => c.socket_timeout = num(o, 1)?,
                "master" => c.master = flag(),
                "processes" => c.processes = num(o, 1)?,
                "threads" => c.threads = num(o, 1)?,
                "max-requests" => c.max_requests = num(o, 0)?,
                "max-requests-delta" => c.max_requests_delta = num(o, 0)?,
                "min-worker-lifetime" => c.min_worker_lifetime = num(o, 0)?,
                "reload-on-rss" => c.reload_on_rss_mb = num(o, 1)?,
                "touch-reload" => c.touch_reload.push(PathBuf::from(val())),
                "harakiri" => c.harakiri = num(o, 0)?,
                "harakiri-graceful-timeout" => c.harakiri_graceful_timeout = num(o, 0)?,
                "limit-as" => c.limit_as_mb = Some(num(o, 1)?),
                "pidfile" => c.pidfile = Some(PathBuf::from(val())),
                "safe-pidfile" => c.safe_pidfile = Some(PathBuf::from(val())),
                "uid" => c.uid = Some(val()),
                "gid" => c.gid = Some(val()),
                "reload-mercy" => c.reload_mercy = num(o, 0)?,
                "daemonize" => c.daemonize = Some(PathBuf::from(val())),
                "ignore-sigpipe" => c.ignore_sigpipe = flag(),
                "locks" => c.locks = num(o, 0)?,
                "static-map" | "static-map2" => {
                    let v = val();
                    let Some((prefix, dir)) = v.split_once('=') else {
                        return Err(err(format!("{} takes /prefix=/directory, not '{}'", o.spec.name, v)));
                    };
                    if !prefix.starts_with('/') {
                        return Err(err(format!("{}: the prefix '{}' must start with /", o.spec.name, prefix)));
                    }
                    c.statics.maps.push(crate::statics::StaticMap {
                        prefix: prefix.to_string(),
                        dir: PathBuf::from(dir),
                        keep_prefix: o.spec.name == "static-map2",
                    });
                    c.statics.maps.sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
                }
                "check-static" => c.statics.check.push(PathBuf::from(val())),
                "static-index" => c.statics.index.push(val()),
                "static-safe" => c.statics.safe.push(PathBuf::from(val())),
                "static-expires-type"
                | "static-expires-type-mtime"
                | "static-expires"
                | "static-expires-mtime"
                | "static-expires-uri"
                | "static-expires-uri-mtime"
                | "static-expires-path-info"
                | "static-expires-path-info-mtime" => {
                    c.statics.expires.push(crate::statics::Expires::parse(o.spec.name, &val()).map_err(err)?);
                    c.statics.expires.sort_by_key(|e| e.rank());
                }
                "static-gzip-all" => c.statics.gzip.all = flag(),
                "static-gzip-dir" => c.statics.gzip.dirs.push(val()),
                "static-gzip-ext" => c.statics.gzip.exts.push(val()),
                "stats" | "metrics" => {
                    let addr = parse_listen_addr(&val()).map_err(|e| err(format!("option '{}': {}", o.spec.name, e)))?;
                    if o.spec.name == "stats" { c.stats = Some(addr) } else { c.metrics = Some(addr) }
                }
                "stats-http" => c.stats_http = flag(),
                "memory-report" => c.memory_report = flag(),
                "emperor" => c.emperor = Some(val()),
                "emperor-tyrant" => c.emperor_tyrant = flag(),
                "disable-logging" => c.disable_logging = flag(),
                "logto" => c.logto = Some(PathBuf::from(val())),
                "plugins" => {
                    for p in val().split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let known = matches!(p, "python" | "python3" | "python311" | "python3.11" | "http" | "0" | "corerouter");
                        if !known && !p.starts_with("python") {
                            return Err(err(format!("plugin '{}' is not available in oxwsgi (python and http are built in)", p)));
                        }
                    }
                }
                // Handled while reading, or documented no-ops.
                "show-config" => c.show_config = flag(),
                "ini" | "yaml" | "json" | "help" | "version" | "reload" | "stop" | "set-placeholder" | "strict" | "need-app" | "enable-threads"
                | "single-interpreter" | "die-on-term" => {}
                other => return Err(err(format!("option '{}' is not supported yet by oxwsgi", other))),
            }
        }
        if c.harakiri > 0 && !c.master && c.processes == 1 {
            let o = opts.iter().rev().find(|o| o.spec.name == "harakiri").unwrap();
            return Err(ConfigError::new(Some(o.origin.clone()), "--harakiri needs --master: a stuck worker is killed and the master starts a new one"));
        }
        if !c.touch_reload.is_empty() && !c.master && c.processes == 1 {
            let o = opts.iter().rev().find(|o| o.spec.name == "touch-reload").unwrap();
            return Err(ConfigError::new(Some(o.origin.clone()), "--touch-reload needs --master: the master watches the files and reloads"));
        }
        if let Some(f) = wsgi_file {
            c.apps.push(AppSpec { mountpoint: String::new(), source: app_source_file(&f, &callable) });
        }
        if let Some(m) = module {
            let (module, call) = split_callable(&m, &callable);
            c.apps.push(AppSpec { mountpoint: String::new(), source: AppSource::Module { module, callable: call } });
        }
        for (prefix, app, _) in mounts {
            c.apps.push(AppSpec { mountpoint: prefix, source: app_source(&app, &callable) });
        }
        Ok(c)
    }
}

fn app_source_file(f: &str, callable: &str) -> AppSource {
    AppSource::File { path: PathBuf::from(f), callable: callable.to_string() }
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

    #[test]
    fn malformed_values() {
        for (args, want) in [
            (vec!["--processes", "many"], "whole number"),
            (vec!["--processes", "0"], "at least 1"),
            (vec!["--env", "NOEQUALS"], "KEY=VALUE"),
            (vec!["--chmod-socket=999"], "octal mode"),
            (vec!["--http", "host:80"], "not an IP address"),
            (vec!["--buffer-size", "100000"], "65535"),
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
        assert_eq!(c.processes, 1);
        let c = cfg(&["--plugins", "python3,http", "--need-app", "--die-on-term"]);
        assert!(c.apps.is_empty());
    }
}
