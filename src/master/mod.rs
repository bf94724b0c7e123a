//! Process lifecycle: start-up (here), the supervising master
//! (supervisor.rs), detaching and pidfiles (daemon.rs), attached daemons
//! (daemons.rs), privileges.

pub mod cheaper;
pub mod daemon;
pub mod daemons;
pub mod fifo;
mod handover;
pub mod privileges;
mod slots;
pub mod supervisor;

use crate::hooks::Phase;
use crate::net;
use crate::options::Config;
use std::path::PathBuf;
use std::sync::Arc;

/// Set in the environment of the process `check_app_loads` starts.
const CHECK_APP_ENV: &str = "OXWSGI_CHECK_APP";

/// Before a reload: loads the app, as the new master would, in a process
/// of its own (its errors and traceback go to our log), so a broken
/// deploy never replaces working workers. The master waits for it; the
/// workers serve meanwhile.
pub fn check_app_loads(cfg: &Config) -> Result<(), String> {
    let mut cmd = crate::python::host::command_for(cfg).map_err(|e| format!("cannot find our own binary: {}", e))?;
    let exe = PathBuf::from(cmd.get_program());
    cmd.args(&cfg.argv).env(CHECK_APP_ENV, "1").stdin(std::process::Stdio::null());
    // SAFETY: only sigprocmask(2) between fork and exec: the app it imports
    // must not inherit the signals the master holds.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&nix::sys::signal::SigSet::empty()), None);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {}", exe.display(), e))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        match child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("loading it failed: {}", st)),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("loading it took more than 120s".into());
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// In the process `check_app_loads` started: the interpreter and the app,
/// nothing else (no socket, no hook, no pidfile).
fn check_app(cfg: Config) -> i32 {
    let loaded = (|| -> Result<(), String> {
        enter(&cfg)?;
        crate::python::interp::start(&cfg).map_err(|e| e.0)?;
        pyo3::Python::attach(|py| crate::python::loader::load_apps(py, &cfg.apps, &cfg.imports)).map(|_| ())
    })();
    match loaded {
        Ok(()) => 0,
        Err(e) => {
            crate::logln!("oxwsgi: {}", e);
            1
        }
    }
}

/// --chdir, --env and --unenv: where the app starts and what it sees.
fn enter(cfg: &Config) -> Result<(), String> {
    if let Some(dir) = &cfg.chdir {
        std::env::set_current_dir(dir).map_err(|e| format!("--chdir {}: {}", dir.display(), e))?;
    }
    for (k, v) in &cfg.env {
        // SAFETY: no thread runs yet.
        unsafe { std::env::set_var(k, v) };
    }
    for k in &cfg.unenv {
        // SAFETY: no thread runs yet.
        unsafe { std::env::remove_var(k) };
    }
    Ok(())
}

/// Runs a configured server to the end; returns the exit status.
pub fn run(cfg: Config) -> i32 {
    if std::env::var_os(CHECK_APP_ENV).is_some() {
        return check_app(cfg);
    }
    let result = start(cfg);
    // Whatever the log master still holds is written before we go.
    crate::log::master::finish();
    match result {
        Ok(code) => code,
        Err(e) => {
            crate::logln!("oxwsgi: {}", e);
            daemon::report_failure(&e);
            1
        }
    }
}

fn start(cfg: Config) -> Result<i32, String> {
    // Signals wait (blocked) until whoever handles them is ready: a SIGTERM
    // that arrives while the app loads then stops us cleanly, with --vacuum,
    // instead of killing us with the default action.
    crate::unix_signals::hold();
    crate::unix_signals::children_start_clean(cfg.ignore_sigpipe);
    crate::log::configure(&cfg.log);
    // A reload re-executes this process: it is already detached, logging
    // where it should, its pidfiles hold this same PID, and it may no
    // longer have the rights to redo any of that.
    let reloaded = std::env::var_os(net::INHERIT_ENV).is_some();
    crate::hooks::configure(&cfg.hooks, reloaded);
    // A vassal runs its Emperor's as-vassal hooks first.
    crate::hooks::run_as_vassal()?;
    crate::hooks::set_shells(&cfg.binsh);
    crate::hooks::set_wait_timeouts(cfg.wait_for_fs_timeout, cfg.wait_for_socket_timeout);
    crate::hooks::run(Phase::Asap)?;
    crate::statics::set_mime_files(&cfg.statics.mime_files);
    daemon::set_logfile_mode(&cfg);
    // Before any thread: the environment is moved to make room for titles.
    crate::procname::init();
    // Every connection is a descriptor; 1024 is a small soft limit for a
    // server that keeps slow and idle clients waiting without threads.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match cfg.max_fd {
        Some(n) => setrlimit(Resource::RLIMIT_NOFILE, n, n).map_err(|e| format!("--max-fd {}: {} (past the hard limit it needs root)", n, e))?,
        None => {
            if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
                let _ = setrlimit(Resource::RLIMIT_NOFILE, hard.min(1 << 20), hard);
            }
        }
    }
    if let Some(mask) = cfg.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    if let Some(spec) = cfg.emperor.clone() {
        return start_emperor(cfg, &spec);
    }
    if cfg.apps.is_empty() {
        return Err("no application configured: give --wsgi-file FILE, --module MODULE or --mount /prefix=APP".into());
    }
    // A listening socket as fd 0 (inetd, systemd, an on-demand Emperor) is
    // served too, as uWSGI always does: with --protocol, or uwsgi.
    let stdin_socket = net::stdin_listener(cfg.stdin_protocol);
    if cfg.listeners.is_empty() && stdin_socket.is_none() {
        return Err("no socket configured: give --http :8000, --http-socket ADDR or --socket ADDR (for nginx uwsgi_pass)".into());
    }
    crate::emperor::tyrant::refuse_ids_in_vassal(cfg.uid.as_deref(), cfg.gid.as_deref())?;
    if let Some(d) = cfg.daemonize.as_ref().filter(|_| !reloaded) {
        daemon::daemonize(d)?;
    }
    if let Some(l) = cfg.logto.as_ref().filter(|_| !reloaded) {
        daemon::log_to(l)?;
    }
    if reloaded && cfg.log.reopen {
        reopen_log(&cfg);
    }
    enter(&cfg)?;
    let mut bound = net::bind_all(&cfg.listeners, &net::BindOptions::from_config(&cfg))?;
    bound.extend(stdin_socket);
    for b in &bound {
        let what = match b.spec.proto {
            crate::options::Proto::Http => "HTTP",
            crate::options::Proto::Uwsgi => "uwsgi",
        };
        crate::logln!("oxwsgi: {} socket bound to {} (fd {})", what, b.spec.addr, std::os::fd::AsRawFd::as_raw_fd(&b.fd));
    }
    let multi = cfg.master || cfg.processes > 1;
    // The shared tables exist before the first fork, so every worker
    // shares them.
    if multi {
        crate::worker::balance::create(worker_capacity(&cfg))?;
        crate::uwsgi_signals::create()?;
    }
    crate::locks::create(cfg.locks)?;
    // The scoreboard always exists (uwsgi.workers() reads it); the clock
    // is read for it only when the stats are served.
    let board = crate::stats::Board::create(if multi { worker_capacity(&cfg) } else { 1 }, cfg.threads, cfg.processes)?;
    let serve_stats = cfg.stats.is_some() || cfg.metrics.is_some();
    // The busyness algorithm reads how long requests take.
    let busyness = cfg.cheaper.as_ref().is_some_and(|c| c.algo == crate::master::cheaper::Algo::Busyness);
    crate::stats::set_timing(serve_stats || busyness);
    let stats = if serve_stats { crate::stats::server::Server::bind(&cfg, &bound, board)? } else { None };
    for (p, atomic) in [(&cfg.pidfile, false), (&cfg.safe_pidfile, true)] {
        if let Some(p) = p.as_ref().filter(|_| !reloaded) {
            daemon::write_pidfile(p, atomic)?;
        }
    }
    for (p, kind) in &cfg.wait_for_fs {
        crate::hooks::wait_for_fs(p, *kind).map_err(|e| format!("--wait-for-fs: {}", e))?;
    }
    for phase in [Phase::PreJail, Phase::PostJail, Phase::InJail, Phase::AsRoot] {
        crate::hooks::run(phase)?;
    }
    if cfg.uid.is_some() || cfg.gid.is_some() {
        if cfg.master_as_root && multi {
            crate::logln!("oxwsgi: --master-as-root: the master stays root; each worker drops to --uid/--gid when forked");
        } else {
            privileges::drop_privileges(cfg.uid.as_deref(), cfg.gid.as_deref())?;
        }
    } else if nix::unistd::geteuid().is_root() {
        crate::logln!("oxwsgi: *** WARNING: the app runs as root; give --uid and --gid to drop privileges after binding ***");
    }
    // With --master-as-root, each worker runs them once it has dropped.
    if !(cfg.master_as_root && multi) {
        crate::hooks::run(Phase::AsUser)?;
    }
    // The *2 forms: after the privileges are dropped.
    for (p, atomic) in [(&cfg.pidfile2, false), (&cfg.safe_pidfile2, true)] {
        if let Some(p) = p.as_ref().filter(|_| !reloaded) {
            daemon::write_pidfile(p, atomic)?;
        }
    }
    if let Some(l) = cfg.logto2.as_ref().filter(|_| !reloaded) {
        daemon::log_to(l)?;
    }
    if cfg.log.master {
        // Before the interpreter starts, so what the app prints as it loads
        // goes through the loggers too.
        let file = cfg.logto2.clone().or_else(|| cfg.logto.clone()).or_else(|| cfg.daemonize.clone());
        crate::log::master::start(&cfg.log, file)?;
    }
    // A reload whose old workers still serve passed their log sockets on:
    // read while the app loads, until the first fork.
    crate::log::master::take_passed();
    crate::log::master::read_meanwhile();
    crate::python::interp::start(&cfg).map_err(|e| e.0)?;
    let cfg = Arc::new(cfg);
    // The processes the app starts while it loads must not inherit the
    // signals the master holds.
    if !cfg.lazy_apps {
        before_apps(&cfg)?;
    }
    let apps = if cfg.lazy_apps {
        None
    } else {
        Some(crate::unix_signals::with_clean_mask(|| pyo3::Python::attach(|py| crate::python::loader::load_apps(py, &cfg.apps, &cfg.imports)))?)
    };
    if !cfg.lazy_apps {
        after_apps(&cfg)?;
    }
    // Nothing forks with a thread running.
    crate::log::master::stop_reading_meanwhile();
    if let Some(d) = cfg.daemonize2.as_ref().filter(|_| !reloaded) {
        daemon::daemonize(d)?;
        // The master's PID is the detached one's now.
        for (p, atomic) in [(&cfg.pidfile, false), (&cfg.safe_pidfile, true), (&cfg.pidfile2, false), (&cfg.safe_pidfile2, true)] {
            if let Some(p) = p
                && let Err(e) = daemon::write_pidfile(p, atomic)
            {
                crate::logln!("oxwsgi: --daemonize2: cannot write the new PID: {}", e);
            }
        }
    }
    let reload = if multi {
        match supervisor::run(cfg.clone(), &bound, apps, stats) {
            supervisor::MasterExit::Reload(serving) => {
                if !serving.is_empty() {
                    crate::log::master::pass_on();
                }
                handover::pass_on(&serving);
                true
            }
            supervisor::MasterExit::Stop => false,
            supervisor::MasterExit::Failed(e) => {
                cleanup(&cfg, &bound);
                return Err(e);
            }
        }
    } else {
        board.prepare_spawn(0);
        board.worker(0).pid.store(std::process::id() as u64, std::sync::atomic::Ordering::Relaxed);
        if let Some(server) = stats {
            crate::stats::server::spawn_thread(server);
        }
        daemon::report_ready();
        // An immediate stop of the lone worker is the server's stop: vacuum, exit.
        fn abandon() -> ! {
            remove_all(VACUUM.get().map(|v| v.as_slice()).unwrap_or_default());
            std::process::exit(0)
        }
        let _ = VACUUM.set(vacuum_paths(&cfg, &bound));
        crate::procname::name_as(&cfg, crate::procname::Role::Worker(1));
        crate::hooks::run(Phase::PostFork)?;
        match crate::worker::run(cfg.clone(), &bound, apps, 1, abandon) {
            crate::worker::Exit::Graceful { reload } => reload,
            crate::worker::Exit::Failed(e) => return Err(e),
        }
    };
    if reload {
        reexec(&cfg, &bound);
    }
    let _ = crate::hooks::run(Phase::AsUserAtexit);
    cleanup(&cfg, &bound);
    crate::logln!("oxwsgi: goodbye");
    Ok(0)
}

/// --log-reopen, in a reloaded master: the log file by its name again (a
/// logrotate may have moved it). A file that cannot be opened now keeps
/// the one we have: a reload must not stop the instance over its log.
fn reopen_log(cfg: &Config) {
    let Some(path) = cfg.logto2.as_ref().or(cfg.logto.as_ref()).or(cfg.daemonize.as_ref()) else { return };
    match daemon::log_to_again(path) {
        Ok(()) => crate::logln!("oxwsgi: --log-reopen: {} opened again", path.display()),
        Err(e) => crate::logln!("oxwsgi: --log-reopen: {}; still writing the file opened before", e),
    }
}

/// What comes before the app is loaded (in the master, or with
/// --lazy-apps in each worker): --wait-for-socket, the pre-app hooks.
pub fn before_apps(cfg: &Config) -> Result<(), String> {
    for a in &cfg.wait_for_socket {
        crate::hooks::wait_for_socket(a).map_err(|e| format!("--wait-for-socket: {}", e))?;
    }
    crate::hooks::run(Phase::PreApp)
}

/// What comes once the app is loaded (in the master, or with --lazy-apps
/// in each worker): --chdir2, the post-app hooks.
pub fn after_apps(cfg: &Config) -> Result<(), String> {
    crate::hooks::run(Phase::PostApp)?;
    if let Some(dir) = &cfg.chdir2 {
        std::env::set_current_dir(dir).map_err(|e| format!("--chdir2 {}: {}", dir.display(), e))?;
    }
    Ok(())
}

/// How many workers the shared tables have room for: --processes, and
/// as many again as SIGTTIN may add (up to 64 more).
pub fn worker_capacity(cfg: &Config) -> usize {
    cfg.processes + 64
}

/// The Emperor: no app and no socket of its own; vassals inherit its
/// --uid/--gid (it drops them itself), unless --emperor-tyrant.
fn start_emperor(cfg: Config, spec: &str) -> Result<i32, String> {
    if !cfg.apps.is_empty() || !cfg.listeners.is_empty() {
        return Err("--emperor runs vassals from their own configs: give it no app and no socket".into());
    }
    if cfg.stats.is_some() || cfg.metrics.is_some() {
        return Err("--stats and --metrics are per instance: put them in each vassal's config, not the Emperor's".into());
    }
    if let Some(d) = &cfg.daemonize {
        daemon::daemonize(d)?;
    }
    if let Some(l) = &cfg.logto {
        daemon::log_to(l)?;
    }
    for (p, atomic) in [(&cfg.pidfile, false), (&cfg.safe_pidfile, true), (&cfg.emperor_pidfile, false)] {
        if let Some(p) = p {
            daemon::write_pidfile(p, atomic)?;
        }
    }
    if !cfg.emperor_tyrant && (cfg.uid.is_some() || cfg.gid.is_some()) {
        privileges::drop_privileges(cfg.uid.as_deref(), cfg.gid.as_deref())?;
    }
    let code = crate::emperor::run(&cfg, spec)?;
    remove_all(&vacuum_paths(&cfg, &[]));
    Ok(code)
}

/// What --vacuum removes, for an exit that cannot unwind to `cleanup`.
static VACUUM: std::sync::OnceLock<Vec<PathBuf>> = std::sync::OnceLock::new();

/// --vacuum: the unix sockets and pidfiles we created (none without it).
fn vacuum_paths(cfg: &Config, bound: &[net::Bound]) -> Vec<PathBuf> {
    if !cfg.vacuum {
        return Vec::new();
    }
    let monitoring = [&cfg.stats, &cfg.metrics].into_iter().filter_map(|a| match a {
        Some(crate::options::ListenAddr::Unix(p)) => Some(p.clone()),
        _ => None,
    });
    bound
        .iter()
        // A socket inherited as fd 0 belongs to whoever made it (the Emperor).
        .filter(|b| std::os::fd::AsRawFd::as_raw_fd(&b.fd) != 0)
        .filter_map(|b| b.unix_path().cloned())
        .chain(monitoring)
        .chain(cfg.pidfile.iter().cloned())
        .chain(cfg.safe_pidfile.iter().cloned())
        .chain(cfg.emperor_pidfile.iter().cloned())
        .collect()
}

fn remove_all(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

fn cleanup(cfg: &Config, bound: &[net::Bound]) {
    remove_all(&vacuum_paths(cfg, bound));
}

/// The graceful reload: the same binary, the same arguments, the config
/// files read afresh, the listening sockets inherited.
fn reexec(cfg: &Config, bound: &[net::Bound]) -> ! {
    net::prepare_inherit(bound);
    crate::log::master::finish();
    let mut cmd = crate::python::host::command_for(cfg).unwrap_or_else(|_| std::process::Command::new("oxwsgi"));
    let exe = PathBuf::from(cmd.get_program());
    let prefix: Vec<String> = cmd.get_args().map(|a| format!(" {}", a.to_string_lossy())).collect();
    crate::logln!("oxwsgi: reloading: executing {}{} again", exe.display(), prefix.concat());
    let err = std::os::unix::process::CommandExt::exec(cmd.args(&cfg.argv));
    crate::logln!("oxwsgi: reload failed, cannot execute {}: {}", exe.display(), err);
    std::process::exit(1);
}
