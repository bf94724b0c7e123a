//! The Emperor (`--emperor DIR` or `--emperor 'DIR/*.ini'`): one oxwsgi
//! instance (a vassal) per config file in a directory. A new file starts a
//! vassal, touching or amending it reloads it (SIGHUP, graceful), removing
//! it stops it (SIGTERM, graceful); a vassal that dies is respawned with a
//! back-off, one that cannot start waits for its file to change.
//!
//! Changes are noticed through inotify (the notify crate) and a scan every
//! second as a fallback. Signals: SIGHUP reloads every vassal;
//! SIGTERM/SIGINT/SIGQUIT stop them all, and the Emperor exits when they
//! are gone.

mod stats;
pub mod tyrant;
mod vassal;

use crate::options::Config;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vassal::{Launch, Stamp, State, Vassal};

/// The directory and the file-name pattern of the vassals.
pub struct Scope {
    pub dir: PathBuf,
    pattern: String,
}

impl Scope {
    pub fn parse(spec: &str) -> Scope {
        let p = Path::new(spec);
        match p.file_name().map(|f| f.to_string_lossy().into_owned()) {
            Some(f) if f.contains('*') || f.contains('?') => Scope { dir: p.parent().unwrap_or(Path::new(".")).to_path_buf(), pattern: f },
            _ => Scope { dir: p.to_path_buf(), pattern: "*".into() },
        }
    }

    /// Whether the vassals were given as a pattern (`dir/*.ini`).
    pub fn is_glob(&self) -> bool {
        self.pattern != "*"
    }

    /// Why the directory cannot be read, if it cannot.
    pub fn missing(&self) -> Option<std::io::Error> {
        std::fs::read_dir(&self.dir).err()
    }

    /// The config files now present, by name.
    fn scan(&self) -> BTreeMap<String, PathBuf> {
        let mut out = BTreeMap::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let path = e.path();
                // Follows symlinks: a dangling link is no vassal.
                // Config files only: ini, yaml, json (what `oxwsgi FILE` reads).
                let config = crate::options::config_format(&name).is_some();
                if config && wildcard(&self.pattern, &name) && std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                    out.insert(name, path);
                }
            }
        }
        out
    }
}

/// Shell-style matching of `*` and `?`.
fn wildcard(pat: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pat.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

pub fn run(cfg: &Config, spec: &str) -> Result<i32, String> {
    let scope = Scope::parse(spec);
    if let Some(e) = scope.missing() {
        // As uWSGI: a glob waits for its directory to appear; a directory
        // given as such must exist.
        if !scope.is_glob() {
            return Err(format!("--emperor {}: the vassals directory cannot be entered (chdir(): {})", spec, e));
        }
        crate::logln!("oxwsgi emperor: *** WARNING: {} does not exist ({}): no vassal runs until it does ***", scope.dir.display(), e);
    }
    let launch = launch_of(cfg)?;
    let stats = cfg.emperor_stats.as_ref().map(stats::StatsServer::bind).transpose()?;
    let mut sigs = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP] {
        sigs.add(s);
    }
    // Blocked before the watcher's thread starts, so it inherits the mask.
    sigs.thread_block().map_err(|e| e.to_string())?;
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).map_err(|e| e.to_string())?;
    let (wake_r, wake_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| e.to_string())?;
    let _watcher = watch(&scope.dir, wake_w);
    crate::logln!("oxwsgi emperor: watching {} for {} (pid {})", scope.dir.display(), scope.pattern, std::process::id());
    crate::master::daemon::sd_notify(&format!("STATUS=watching {}", scope.dir.display()));
    crate::master::daemon::report_ready();
    crate::procname::name_as(cfg, crate::procname::Role::Emperor);
    let _ = crate::hooks::run(crate::hooks::Phase::EmperorStart);

    let mut vassals: BTreeMap<String, Vassal> = BTreeMap::new();
    let mut stopping: Option<Instant> = None;
    loop {
        let mut fds =
            vec![nix::poll::PollFd::new(sfd.as_fd(), nix::poll::PollFlags::POLLIN), nix::poll::PollFd::new(wake_r.as_fd(), nix::poll::PollFlags::POLLIN)];
        if let Some(s) = &stats {
            fds.push(nix::poll::PollFd::new(s.fd(), nix::poll::PollFlags::POLLIN));
        }
        // On-demand vassals: the first connection to their socket starts them.
        let waiting: Vec<&String> = vassals.iter().filter(|(_, v)| matches!(v.state, State::OnDemand) && v.on_demand.is_some()).map(|(n, _)| n).collect();
        let first = fds.len();
        for name in &waiting {
            if let Some((fd, _)) = &vassals[*name].on_demand {
                fds.push(nix::poll::PollFd::new(fd.as_fd(), nix::poll::PollFlags::POLLIN));
            }
        }
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(250u16));
        let knocked: Vec<String> = fds[first..]
            .iter()
            .zip(&waiting)
            .filter(|(p, _)| p.revents().is_some_and(|r| r.contains(nix::poll::PollFlags::POLLIN)))
            .map(|(_, n)| (*n).clone())
            .collect();
        drop(fds);
        if let Some(s) = &stats {
            s.serve(&scope.dir, cfg.emperor_tyrant, &vassals);
        }
        for name in knocked {
            if let Some(v) = vassals.get_mut(&name)
                && stopping.is_none()
            {
                crate::logln!("oxwsgi emperor: vassal {}: a connection is waiting on its socket: starting it", name);
                start_vassal(v, &launch);
            }
        }
        let mut drain = [0u8; 256];
        while nix::unistd::read(&wake_r, &mut drain).is_ok_and(|n| n > 0) {}
        while let Ok(Some(si)) = sfd.read_signal() {
            match Signal::try_from(si.ssi_signo as i32) {
                Ok(Signal::SIGHUP) if stopping.is_none() => {
                    crate::logln!("oxwsgi emperor: SIGHUP: reloading every vassal");
                    for v in vassals.values().filter(|v| matches!(v.state, State::Running)) {
                        crate::logln!("oxwsgi emperor: vassal {} (pid: {}) reloading", v.name, v.pid().unwrap_or(0));
                        tell(v, libc::SIGHUP);
                    }
                }
                Ok(sig @ (Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT)) if stopping.is_none() => {
                    crate::logln!("oxwsgi emperor: {}: stopping every vassal", sig);
                    let to = if sig == Signal::SIGTERM { libc::SIGTERM } else { libc::SIGINT };
                    for v in vassals.values_mut() {
                        tell(v, to);
                        v.state = State::Stopping;
                    }
                    stopping = Some(Instant::now() + Duration::from_secs(cfg.reload_mercy + 5));
                }
                _ => {}
            }
        }
        for v in vassals.values_mut() {
            v.reap();
        }
        if let Some(deadline) = stopping {
            vassals.retain(|_, v| v.child.is_some() || !forget(v));
            if vassals.is_empty() {
                crate::logln!("oxwsgi emperor: every vassal stopped, goodbye");
                return Ok(0);
            }
            if Instant::now() > deadline {
                for v in vassals.values() {
                    crate::logln!("oxwsgi emperor: vassal {} (pid: {}) did not stop in time: killing it", v.name, v.pid().unwrap_or(0));
                    v.signal(libc::SIGKILL);
                }
            }
            continue;
        }
        let present = scope.scan();
        for (name, v) in vassals.iter_mut() {
            if !present.contains_key(name) && !matches!(v.state, State::Stopping) {
                if v.child.is_some() {
                    crate::logln!("oxwsgi emperor: vassal {} (pid: {}) removed: stopping it", name, v.pid().unwrap_or(0));
                    tell(v, libc::SIGTERM);
                }
                v.state = State::Stopping;
            }
        }
        vassals.retain(|_, v| !(matches!(v.state, State::Stopping) && v.child.is_none() && forget(v)));
        for (name, path) in present {
            let now = Stamp::of(&path);
            if !now.settled() {
                continue; // still being written: look again next round
            }
            let v = vassals.entry(name.clone()).or_insert_with(|| new_vassal(cfg, &name, &path));
            if now != v.stamp {
                v.stamp = now;
                match v.state {
                    State::Running => {
                        crate::logln!("oxwsgi emperor: vassal {} (pid: {}) changed: reloading it", name, v.pid().unwrap_or(0));
                        tell(v, libc::SIGHUP);
                    }
                    State::Broken(_) | State::Respawn(_) if v.on_demand.is_some() => v.state = State::OnDemand,
                    State::Broken(_) | State::Respawn(_) => start_vassal(v, &launch),
                    State::Stopping | State::OnDemand => {}
                }
            }
            if let State::Respawn(at) | State::Broken(at) = v.state
                && Instant::now() >= at
            {
                if v.on_demand.is_some() {
                    v.state = State::OnDemand;
                } else {
                    start_vassal(v, &launch);
                }
            }
        }
    }
}

/// How vassals are run: our binary, and what --vassal-set,
/// --vassals-include and --vassals-inherit add around each file.
fn launch_of(cfg: &Config) -> Result<Launch, String> {
    let exe = crate::python::host::binary_for(cfg).map_err(|e| format!("cannot find our own binary: {}", e))?;
    let pairs = |flag: &str, values: &[String]| values.iter().flat_map(|v| [flag.to_string(), v.clone()]).collect::<Vec<_>>();
    let mut before = pairs("--inherit", &cfg.vassals_inherit_before);
    before.extend(pairs("--include", &cfg.vassals_include_before));
    let mut after = pairs("--set", &cfg.vassal_set);
    after.extend(pairs("--inherit", &cfg.vassals_inherit));
    after.extend(pairs("--include", &cfg.vassals_include));
    let prefix = if cfg.binary_path.is_none() { crate::python::host::command_prefix().to_vec() } else { Vec::new() };
    let tyrant = cfg.emperor_tyrant.then_some(tyrant::Rules {
        nofollow: cfg.emperor_tyrant_nofollow,
        initgroups: cfg.emperor_tyrant_initgroups,
        min_id: cfg.emperor_tyrant_min_id,
    });
    Ok(Launch { exe, prefix, tyrant, before, after, vassal_hooks: crate::hooks::as_vassal_lines() })
}

/// Starts a vassal, then the Emperor's as-emperor hooks for it.
fn start_vassal(v: &mut Vassal, launch: &Launch) {
    v.start(launch);
    if matches!(v.state, State::Running) {
        let _ = crate::hooks::run_in(crate::hooks::Phase::AsEmperor, Some(&v.name));
    }
}

/// Sends a vassal its stop or reload signal, after the Emperor's hooks.
fn tell(v: &Vassal, sig: i32) {
    let phase = if sig == libc::SIGHUP { crate::hooks::Phase::EmperorReload } else { crate::hooks::Phase::EmperorStop };
    let _ = crate::hooks::run_in(phase, Some(&v.name));
    v.signal(sig);
}

/// Where an on-demand vassal's socket is: DIR/NAME.socket
/// (--emperor-on-demand-directory), or what the file NAME.ini+EXT says
/// (--emperor-on-demand-extension).
fn on_demand_socket(cfg: &Config, name: &str, path: &Path) -> Option<String> {
    if let Some(dir) = &cfg.emperor_on_demand_dir {
        let stem = Path::new(name).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| name.to_string());
        return Some(dir.join(format!("{}.socket", stem)).display().to_string());
    }
    let ext = cfg.emperor_on_demand_ext.as_ref()?;
    let file = PathBuf::from(format!("{}{}", path.display(), ext));
    std::fs::read_to_string(file).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn new_vassal(cfg: &Config, name: &str, path: &Path) -> Vassal {
    let mut v = Vassal::new(name.to_string(), path.to_path_buf());
    if let Some(addr) = on_demand_socket(cfg, name, path) {
        let bound = crate::options::parse_listen_addr(&addr).and_then(|a| {
            crate::net::bind_one(&crate::options::Listener { addr: a, proto: crate::options::Proto::Uwsgi }, &crate::net::BindOptions::plain(100))
        });
        match bound {
            Ok(b) => {
                crate::logln!("oxwsgi emperor: vassal {} is on demand: started by the first connection to {}", name, addr);
                v.on_demand = Some((b.fd, PathBuf::from(&addr)));
                v.state = State::OnDemand;
            }
            Err(e) => crate::logln!("oxwsgi emperor: vassal {}: cannot bind its on-demand socket ({}): starting it now", name, e),
        }
    }
    v
}

/// A vassal leaves the Emperor: its on-demand socket file goes too.
/// (Returns true, for use in `retain`.)
fn forget(v: &mut Vassal) -> bool {
    if let Some((_, p)) = v.on_demand.take()
        && p.is_absolute()
    {
        let _ = std::fs::remove_file(p);
    }
    true
}

/// Wakes the loop through `wake` when the directory changes.
fn watch(dir: &Path, wake: std::os::fd::OwnedFd) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut w = notify::recommended_watcher(move |_: notify::Result<notify::Event>| {
        let _ = nix::unistd::write(&wake, b"x");
    })
    .map_err(|e| crate::logln!("oxwsgi emperor: inotify unavailable ({}), scanning every 250 ms", e))
    .ok()?;
    if let Err(e) = w.watch(dir, notify::RecursiveMode::NonRecursive) {
        crate::logln!("oxwsgi emperor: cannot watch {} ({}), scanning every 250 ms", dir.display(), e);
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("*.ini", "mysite_uwsgi.ini"));
        assert!(!wildcard("*.ini", "mysite_uwsgi.ini.bak"));
        assert!(wildcard("site?.ini", "site1.ini"));
        assert!(!wildcard("site?.ini", "site12.ini"));
        assert!(wildcard("*", "anything"));
    }

    #[test]
    fn scopes() {
        let s = Scope::parse("/etc/uwsgi/vassals");
        assert_eq!((s.dir, s.pattern), (PathBuf::from("/etc/uwsgi/vassals"), "*".to_string()));
        let s = Scope::parse("/etc/uwsgi/vassals/*.ini");
        assert_eq!((s.dir, s.pattern), (PathBuf::from("/etc/uwsgi/vassals"), "*.ini".to_string()));
    }
}
