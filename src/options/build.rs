//! Turning the collected options into the typed `Config`: each option's
//! rule, in the order given (the last value wins, lists accumulate), then
//! what they imply together (the protocol of --socket sockets, a master
//! for the options that need one, the apps to load).

use super::config::{AppSource, AppSpec, Config, Listener, Proto, parse_listen_addr};
use super::{ConfigError, Origin, RawOpt, parse_bool};
use std::path::PathBuf;

/// The variable an address names with an unexpanded `$(VAR)` (unset).
fn unset_env(v: &str) -> Option<&str> {
    let start = v.find("$(")? + 2;
    let len = v[start..].find(')')?;
    Some(&v[start..start + len])
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
        let mut paste: Option<String> = None;
        let mut protocol = Proto::Uwsgi;
        // The --socket sockets, whose protocol --protocol sets.
        let mut default_sockets: Vec<usize> = Vec::new();
        // An option that only works with a master: one is run, as uWSGI does.
        let mut needs_master: Option<&'static str> = None;
        let mut log_master: Option<&'static str> = None;
        let mut daemons_stdin = false;
        let mut ch = crate::master::cheaper::CheaperSpec::default();
        let mut cheaper_min: Option<(usize, super::Origin)> = None;
        let mut cheaper_initial: Option<usize> = None;
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
                "chdir2" => c.chdir2 = Some(PathBuf::from(val())),
                "import" => c.imports.push(val()),
                "pyargv" => c.pyargv = val().split_whitespace().map(str::to_string).collect(),
                "paste" => paste = Some(val()),
                "wsgi-disable-file-wrapper" => c.file_wrapper = !flag(),
                "unenv" => c.unenv.push(val()),
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
                    let v = val();
                    if let Some(var) = unset_env(&v) {
                        return Err(err(format!("option '{}' {}: cannot bind: the environment variable {} is not set", o.spec.name, v, var)));
                    }
                    let addr = parse_listen_addr(&v).map_err(|e| err(format!("option '{}': {}", o.spec.name, e)))?;
                    // --protocol applies to --socket sockets wherever it is given.
                    if o.spec.name == "socket" {
                        default_sockets.push(c.listeners.len());
                    }
                    c.listeners.push(Listener { addr, proto });
                }
                "protocol" => {
                    protocol = match val().trim() {
                        "uwsgi" => Proto::Uwsgi,
                        "http" => Proto::Http,
                        other => return Err(err(format!("protocol '{}' is not provided by oxwsgi: use uwsgi (nginx uwsgi_pass) or http", other))),
                    }
                }
                "umask" => {
                    c.umask = Some(u32::from_str_radix(val().trim(), 8).map_err(|_| err(format!("umask takes an octal mode such as 022, not '{}'", val())))?)
                }
                "reuse-port" => c.reuse_port = flag(),
                "so-keepalive" => c.so_keepalive = flag(),
                "no-defer-accept" => c.defer_accept = !flag(),
                "http-enable-proxy-protocol" => c.proxy_protocol = flag(),
                "add-header" => {
                    let v = val();
                    let Some((name, value)) = v.split_once(':') else {
                        return Err(err(format!("add-header takes 'Name: value', not '{}'", v)));
                    };
                    let (name, value) = (name.trim(), value.trim());
                    if name.is_empty()
                        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                        || value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
                    {
                        return Err(err(format!("add-header: '{}' is not a valid header", v)));
                    }
                    c.add_headers.extend_from_slice(format!("{}: {}\r\n", name, value).as_bytes());
                }
                "http-keepalive" => {
                    if let Some(v) = o.value.as_deref().filter(|v| parse_bool(v).is_err()) {
                        c.http_keepalive_timeout = v.trim().parse().map_err(|_| err(format!("http-keepalive takes a number of seconds, not '{}'", v)))?;
                    }
                }
                "http-timeout" => c.http_timeout = Some(num(o, 1)?),
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
                    // As in uWSGI, any size: it bounds an HTTP request head;
                    // a uwsgi packet cannot pass 65535 bytes whatever it is.
                    c.buffer_size = num(o, 512)?;
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
                "threads" => {
                    // uWSGI reads `threads = true` as 0 threads (atoi): one
                    // per worker, with the GIL released (enable-threads).
                    let v = o.value.as_deref().unwrap_or("").trim();
                    c.threads = match v.parse::<usize>() {
                        Err(_) if parse_bool(v).is_ok() => {
                            c.warnings.push(format!(
                                "{}: threads takes a number, not '{}': one thread per worker, as in uWSGI; give threads = N",
                                o.origin,
                                o.value.as_deref().unwrap_or("")
                            ));
                            1
                        }
                        _ => num(o, 1)?,
                    }
                }
                "threads-stacksize" => c.threads_stacksize_kb = Some(num(o, 64)?),
                "max-fd" => c.max_fd = Some(num(o, 16)?),
                "max-requests" => c.max_requests = num(o, 0)?,
                "max-requests-delta" => c.max_requests_delta = num(o, 0)?,
                "min-worker-lifetime" => c.min_worker_lifetime = num(o, 0)?,
                "max-worker-lifetime" => {
                    c.max_worker_lifetime = num(o, 0)?;
                    needs_master.get_or_insert("max-worker-lifetime");
                }
                "max-worker-lifetime-delta" => c.max_worker_lifetime_delta = num(o, 0)?,
                "harakiri-verbose" => c.harakiri_verbose = flag(),
                "reload-on-rss" => c.reload_on_rss_mb = num(o, 1)?,
                "reload-on-as" => c.reload_on_as_mb = num(o, 1)?,
                "evil-reload-on-rss" | "evil-reload-on-as" => {
                    if o.spec.name == "evil-reload-on-rss" {
                        c.evil_reload_on_rss_mb = num(o, 1)?
                    } else {
                        c.evil_reload_on_as_mb = num(o, 1)?
                    }
                    needs_master.get_or_insert(o.spec.name);
                }
                "touch-reload" => {
                    c.touch_reload.push(PathBuf::from(val()));
                    needs_master.get_or_insert("touch-reload");
                }
                "harakiri" => {
                    c.harakiri = num(o, 0)?;
                    if c.harakiri > 0 {
                        needs_master.get_or_insert("harakiri");
                    }
                }
                "harakiri-graceful-timeout" => c.harakiri_graceful_timeout = num(o, 0)?,
                "harakiri-graceful-signal" => {
                    let n: i32 = num(o, 1)?;
                    if n > libc::SIGRTMAX() {
                        return Err(err(format!("--harakiri-graceful-signal {}: not a signal number (1 to {})", n, libc::SIGRTMAX())));
                    }
                    c.harakiri_graceful_signal = Some(n);
                }
                "limit-as" => c.limit_as_mb = Some(num(o, 1)?),
                "pidfile" => c.pidfile = Some(PathBuf::from(val())),
                "safe-pidfile" => c.safe_pidfile = Some(PathBuf::from(val())),
                "pidfile2" => c.pidfile2 = Some(PathBuf::from(val())),
                "safe-pidfile2" => c.safe_pidfile2 = Some(PathBuf::from(val())),
                "master-as-root" => c.master_as_root = flag(),
                "ignore-write-errors" => c.ignore_write_errors = flag(),
                "catch-exceptions" => c.catch_exceptions = flag(),
                name if crate::hooks::Phase::of_option(name).is_some() => {
                    let (phase, exec) = crate::hooks::Phase::of_option(name).unwrap_or((crate::hooks::Phase::Asap, false));
                    let hook = crate::hooks::Hook::parse(phase, exec, &val()).map_err(|e| err(format!("option '{}': {}", name, e)))?;
                    if phase == crate::hooks::Phase::MasterStart {
                        needs_master.get_or_insert("hook-master-start");
                    }
                    c.hooks.push(hook);
                }
                "master-fifo" => {
                    c.master_fifo.push(PathBuf::from(val()));
                    needs_master.get_or_insert("master-fifo");
                }
                "touch-chain-reload" => {
                    c.touch_chain_reload.push(PathBuf::from(val()));
                    needs_master.get_or_insert("touch-chain-reload");
                }
                "touch-workers-reload" => {
                    c.touch_workers_reload.push(PathBuf::from(val()));
                    needs_master.get_or_insert("touch-workers-reload");
                }
                "cheaper" => cheaper_min = Some((num(o, 0)?, o.origin.clone())),
                "cheaper-initial" => cheaper_initial = Some(num(o, 1)?),
                "cheaper-step" => ch.step = num(o, 1)?,
                "cheaper-overload" => ch.overload = num(o, 1)?,
                "cheaper-algo" => ch.algo = crate::master::cheaper::Algo::parse(&val()).map_err(|e| err(format!("option 'cheaper-algo': {}", e)))?,
                "cheaper-idle" => ch.idle = num(o, 1)?,
                "cheaper-rss-limit-soft" => ch.rss_soft = num(o, 0)?,
                "cheaper-rss-limit-hard" => ch.rss_hard = num(o, 0)?,
                "cheaper-busyness-max" => ch.busyness.max = num(o, 0)?,
                "cheaper-busyness-min" => ch.busyness.min = num(o, 0)?,
                "cheaper-busyness-multiplier" => ch.busyness.multiplier = num(o, 1)?,
                "cheaper-busyness-penalty" => ch.busyness.penalty = num(o, 0)?,
                "cheaper-busyness-backlog-alert" => ch.busyness.backlog_alert = num(o, 0)?,
                "cheaper-busyness-backlog-multiplier" => ch.busyness.backlog_multiplier = num(o, 1)?,
                "cheaper-busyness-backlog-step" => ch.busyness.backlog_step = num(o, 1)?,
                "cheaper-busyness-backlog-nonzero" => ch.busyness.backlog_nonzero = num(o, 1)?,
                "cheaper-busyness-verbose" => ch.busyness.verbose = flag(),
                "cheap" => {
                    c.cheap = flag();
                    needs_master.get_or_insert("cheap");
                }
                "idle" => {
                    c.idle = num(o, 0)?;
                    needs_master.get_or_insert("idle");
                }
                "die-on-idle" => c.die_on_idle = flag(),
                "attach-daemon" | "attach-control-daemon" | "smart-attach-daemon" | "smart-attach-daemon2" | "attach-daemon2" => {
                    let d = crate::master::daemons::DaemonSpec::parse(o.spec.name, &val()).map_err(|e| err(format!("option '{}': {}", o.spec.name, e)))?;
                    needs_master.get_or_insert("attach-daemon");
                    c.daemons.push(d);
                }
                "daemons-honour-stdin" => daemons_stdin = flag(),
                "binsh" => c.binsh.push(PathBuf::from(val())),
                "wait-for-fs" => c.wait_for_fs.push((PathBuf::from(val()), crate::hooks::WaitFor::Any)),
                "wait-for-file" => c.wait_for_fs.push((PathBuf::from(val()), crate::hooks::WaitFor::File)),
                "wait-for-dir" => c.wait_for_fs.push((PathBuf::from(val()), crate::hooks::WaitFor::Dir)),
                "wait-for-socket" => c.wait_for_socket.push(val()),
                "wait-for-fs-timeout" => c.wait_for_fs_timeout = num(o, 0)?,
                "wait-for-socket-timeout" => c.wait_for_socket_timeout = num(o, 0)?,
                "py-autoreload" => c.py_autoreload = num(o, 0)?,
                "py-auto-reload-ignore" => c.py_autoreload_ignore.push(val()),
                // Every name option implies --auto-procname, as in uWSGI.
                "auto-procname" => c.auto_procname = flag(),
                "procname" => (c.auto_procname, c.procname) = (true, Some(val())),
                "procname-master" => (c.auto_procname, c.procname_master) = (true, Some(val())),
                "procname-prefix" => (c.auto_procname, c.procname_prefix) = (true, val()),
                "procname-prefix-spaced" => (c.auto_procname, c.procname_prefix) = (true, format!("{} ", val())),
                "procname-append" => (c.auto_procname, c.procname_append) = (true, val()),
                "wsgi-env-behaviour" => {
                    if !matches!(val().trim(), "holy" | "cheat") {
                        return Err(err(format!("wsgi-env-behaviour takes holy or cheat, not '{}'", val())));
                    }
                }
                "disable-write-exception" => c.disable_write_exception = flag(),
                "binary-path" => c.binary_path = Some(PathBuf::from(val())),
                "uid" => c.uid = Some(val()),
                "gid" => c.gid = Some(val()),
                "reload-mercy" => c.reload_mercy = num(o, 0)?,
                "daemonize" => c.daemonize = Some(PathBuf::from(val())),
                "daemonize2" => c.daemonize2 = Some(PathBuf::from(val())),
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
                "static-skip-ext" => c.statics.skip_ext.push(val()),
                "mimefile" => c.statics.mime_files.push(PathBuf::from(val())),
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
                    if o.spec.name == "stats" {
                        needs_master.get_or_insert("stats");
                    }
                    if o.spec.name == "stats" { c.stats = Some(addr) } else { c.metrics = Some(addr) }
                }
                "stats-http" => c.stats_http = flag(),
                "memory-report" => c.memory_report = flag(),
                "emperor" => c.emperor = Some(val()),
                "emperor-tyrant" => c.emperor_tyrant = flag(),
                "emperor-tyrant-nofollow" => c.emperor_tyrant_nofollow = flag(),
                "emperor-tyrant-initgroups" => c.emperor_tyrant_initgroups = flag(),
                "emperor-tyrant-min-id" => c.emperor_tyrant_min_id = num(o, 0u32)?,
                "emperor-pidfile" => c.emperor_pidfile = Some(PathBuf::from(val())),
                "emperor-stats" => c.emperor_stats = Some(parse_listen_addr(&val()).map_err(|e| err(format!("option 'emperor-stats': {}", e)))?),
                "emperor-on-demand-directory" => c.emperor_on_demand_dir = Some(PathBuf::from(val())),
                "emperor-on-demand-extension" => c.emperor_on_demand_ext = Some(val()),
                "vassal-set" => {
                    if !val().contains('=') {
                        return Err(err(format!("vassal-set takes KEY=VALUE, not '{}'", val())));
                    }
                    c.vassal_set.push(val())
                }
                "vassals-include" => c.vassals_include.push(val()),
                "vassals-include-before" => c.vassals_include_before.push(val()),
                "vassals-inherit" => c.vassals_inherit.push(val()),
                "vassals-inherit-before" => c.vassals_inherit_before.push(val()),
                "disable-logging" => c.disable_logging = flag(),
                "log-format" => {
                    crate::log::format::LogFormat::compile(&val(), false, None).map_err(err)?;
                    c.log.format = Some(val());
                }
                "log-format-strftime" => c.log.format_strftime = flag(),
                "log-date" => {
                    c.log.date = match o.value.as_deref() {
                        None => Some(None),
                        Some(v) => match parse_bool(v) {
                            Ok(true) => Some(None),
                            Ok(false) => None,
                            Err(_) => Some(Some(v.to_string())),
                        },
                    }
                }
                "log-micros" => c.log.micros = flag(),
                "log-x-forwarded-for" => c.log.x_forwarded_for = flag(),
                "log-prefix" => c.log.prefix = Some(val()),
                "log-4xx" => c.log.only.c4xx = flag(),
                "log-5xx" => c.log.only.c5xx = flag(),
                "log-slow" => c.log.only.slow_ms = num(o, 1)?,
                "log-big" => c.log.only.big = num(o, 1)?,
                "log-zero" => c.log.only.zero = flag(),
                "log-sendfile" => c.log.only.sendfile = flag(),
                "log-ioerror" => c.log.only.ioerror = flag(),
                "log-master" => c.log.master = flag(),
                "log-master-bufsize" => c.log.bufsize = num(o, 4096)?,
                "logger" | "log-socket" | "log-syslog" => {
                    let spec = match o.spec.name {
                        "log-socket" => format!("socket:{}", val()),
                        "log-syslog" => match o.value.as_deref().filter(|v| parse_bool(v).is_err()) {
                            Some(ident) => format!("syslog:{}", ident),
                            None => "syslog".to_string(),
                        },
                        _ => val(),
                    };
                    c.log.loggers.push(spec);
                    log_master.get_or_insert(o.spec.name);
                }
                "req-logger" => {
                    c.log.req_loggers.push(val());
                    log_master.get_or_insert("req-logger");
                }
                "log-route" | "log-req-route" => {
                    let v = val();
                    let Some((id, re)) = v.trim().split_once(char::is_whitespace) else {
                        return Err(err(format!("{} takes NAME REGEXP (the logger's name, then the pattern), not '{}'", o.spec.name, v)));
                    };
                    let route = (re.trim().to_string(), id.to_string());
                    if o.spec.name == "log-route" {
                        c.log.routes.push(route)
                    } else {
                        c.log.req_routes.push(route)
                    }
                    log_master.get_or_insert(o.spec.name);
                }
                "log-encoder" => {
                    c.log.encoders.push(val());
                    log_master.get_or_insert("log-encoder");
                }
                "log-req-encoder" => {
                    c.log.req_encoders.push(val());
                    log_master.get_or_insert("log-req-encoder");
                }
                "log-drain" | "log-filter" => {
                    if o.spec.name == "log-drain" {
                        c.log.drain.push(val())
                    } else {
                        c.log.filter.push(val())
                    }
                    log_master.get_or_insert(o.spec.name);
                }
                "log-maxsize" => {
                    c.log.maxsize = num(o, 1)?;
                    log_master.get_or_insert("log-maxsize");
                }
                "log-backupname" => c.log.backupname = Some(PathBuf::from(val())),
                "touch-logrotate" | "touch-logreopen" => {
                    if o.spec.name == "touch-logrotate" {
                        c.log.touch_rotate.push(PathBuf::from(val()))
                    } else {
                        c.log.touch_reopen.push(PathBuf::from(val()))
                    }
                    log_master.get_or_insert(o.spec.name);
                }
                "logfile-chmod" => {
                    c.log.chmod =
                        Some(u32::from_str_radix(val().trim(), 8).map_err(|_| err(format!("logfile-chmod takes an octal mode such as 640, not '{}'", val())))?)
                }
                "logfile-chown" => c.log.chown = flag(),
                "log-truncate" => c.log.truncate = flag(),
                "log-reopen" => c.log.reopen = flag(),
                "logto" => c.logto = Some(PathBuf::from(val())),
                "logto2" => c.logto2 = Some(PathBuf::from(val())),
                "print" => c.prints.push(val()),
                "check-config" => c.check_config = flag(),
                "plugins" => {
                    for p in val().split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        if !super::config::builtin_plugin(p) {
                            return Err(err(format!("plugin '{}' is not available in oxwsgi (python and http are built in)", p)));
                        }
                    }
                }
                // Handled while reading, or documented no-ops.
                "show-config" => c.show_config = flag(),
                "ini"
                | "yaml"
                | "json"
                | "include"
                | "inherit"
                | "config"
                | "help"
                | "version"
                | "reload"
                | "stop"
                | "set-placeholder"
                | "set"
                | "declare-option"
                | "strict"
                | "need-app"
                | "enable-threads"
                | "single-interpreter"
                | "die-on-term"
                | "no-orphans"
                | "tcp-nodelay"
                | "thunder-lock"
                | "offload-threads"
                | "close-on-exec"
                | "http-auto-chunked"
                | "py-call-osafterfork"
                | "plugins-dir"
                | "log-master-stream"
                | "log-master-req-stream"
                | "threaded-logger"
                | "no-default-app" => {}
                other => return Err(err(format!("option '{}' is not supported yet by oxwsgi", other))),
            }
        }
        if let Some((min, origin)) = cheaper_min.filter(|(m, _)| *m > 0) {
            if min >= c.processes {
                return Err(ConfigError::new(
                    Some(origin),
                    format!("--cheaper {} must be lower than --processes ({}): it is the fewest workers, --processes the most", min, c.processes),
                ));
            }
            ch.min = min;
            ch.initial = cheaper_initial.unwrap_or(min).clamp(min, c.processes);
            needs_master.get_or_insert("cheaper");
            c.cheaper = Some(ch);
        } else if let Some(o) = opts.iter().find(|o| o.spec.name.starts_with("cheaper-")) {
            c.warnings.push(format!("--{} does nothing without --cheaper N (the fewest workers)", o.spec.name));
        }
        // Options of one kind of process given to the other: said, never
        // silently ignored.
        let emperor_only = |n: &str| {
            n.starts_with("vassal") || (n.starts_with("emperor-") && n != "emperor") || matches!(crate::hooks::Phase::of_option(n), Some((p, _)) if p.emperor())
        };
        let instance_only = |n: &str| matches!(crate::hooks::Phase::of_option(n), Some((p, _)) if !p.emperor() && p != crate::hooks::Phase::Asap);
        let misplaced = if c.emperor.is_some() {
            opts.iter()
                .find(|o| instance_only(o.spec.name))
                .map(|o| format!("--{} is an instance's hook: the Emperor does not run it (put it in the vassals' configs)", o.spec.name))
        } else {
            opts.iter().find(|o| emperor_only(o.spec.name)).map(|o| format!("--{} does nothing without --emperor", o.spec.name))
        };
        c.warnings.extend(misplaced);
        if c.die_on_idle && c.idle == 0 {
            c.warnings.push("--die-on-idle does nothing without --idle N (the seconds without a request)".into());
        }
        if daemons_stdin {
            for d in c.daemons.iter_mut() {
                d.stdin = true;
            }
        }
        for i in default_sockets {
            c.listeners[i].proto = protocol;
        }
        c.stdin_protocol = protocol;
        // As in uWSGI: these need the log master, which needs a master.
        if let Some(opt) = log_master {
            c.log.master = true;
            needs_master.get_or_insert(opt);
        }
        if c.log.master {
            needs_master.get_or_insert("log-master");
        }
        if let Some(opt) = needs_master
            && !c.master
        {
            c.master = true;
            c.warnings.push(format!("--{} needs a master process: running one (as uWSGI does); add --master to say so", opt));
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
        if let Some(uri) = paste {
            // `paste = /path/app.ini` as well as PasteDeploy's config:/path.
            let uri = if uri.contains(':') { uri } else { format!("config:{}", uri) };
            c.apps.push(AppSpec { mountpoint: String::new(), source: AppSource::Paste { uri } });
        }
        Ok(c)
    }
}

fn app_source_file(f: &str, callable: &str) -> AppSource {
    AppSource::File { path: PathBuf::from(f), callable: callable.to_string() }
}
