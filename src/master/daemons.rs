//! Attached daemons (--attach-daemon, --smart-attach-daemon[2],
//! --attach-daemon2, --attach-control-daemon): programs the master starts
//! and keeps running, as uWSGI's do. A plain one is a child of the master,
//! respawned when it exits and stopped with the instance (and on a reload,
//! when the new master starts it again). A smart one is governed by its
//! pidfile: started only when the pidfile names no live process, checked
//! every second, and left running across stops and reloads.
//!
//! The master has no threads, so a daemon is started with a plain fork and
//! the shell exec'd in the child.

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

#[derive(Debug, Clone, PartialEq)]
pub struct DaemonSpec {
    pub command: String,
    /// Smart: the pidfile that says whether it runs.
    pub pidfile: Option<PathBuf>,
    /// Failed pidfile checks before a smart daemon just started is respawned.
    pub freq: u32,
    /// The master daemonizes it and writes its pidfile (smart-attach-daemon2).
    pub daemonize: bool,
    /// If it dies, the instance stops.
    pub control: bool,
    /// Restart it when one of these files is touched.
    pub touch: Vec<PathBuf>,
    pub stop_signal: i32,
    pub reload_signal: Option<i32>,
    /// Keep the master's stdin instead of /dev/null.
    pub stdin: bool,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub chdir: Option<PathBuf>,
    /// The longest wait, in seconds, between respawns of a daemon that keeps dying.
    pub max_throttle: u64,
}

impl DaemonSpec {
    fn new(command: &str) -> DaemonSpec {
        DaemonSpec {
            command: command.to_string(),
            pidfile: None,
            freq: 10,
            daemonize: false,
            control: false,
            touch: Vec::new(),
            stop_signal: libc::SIGTERM,
            reload_signal: None,
            stdin: false,
            uid: None,
            gid: None,
            chdir: None,
            max_throttle: 60,
        }
    }

    /// Reads the value of one of the attach options.
    pub fn parse(option: &str, value: &str) -> Result<DaemonSpec, String> {
        let value = value.trim();
        match option {
            "attach-daemon" | "attach-control-daemon" => {
                if value.is_empty() {
                    return Err("give the command to run".into());
                }
                Ok(DaemonSpec { control: option == "attach-control-daemon", ..DaemonSpec::new(value) })
            }
            "smart-attach-daemon" | "smart-attach-daemon2" => {
                let (pidfile, command) = value.split_once(' ').ok_or("write: PIDFILE COMMAND")?;
                // PIDFILE,FREQ as in uWSGI.
                let (pidfile, freq) = match pidfile.split_once(',') {
                    Some((p, f)) => (p, f.parse().map_err(|_| format!("'{}' is not a number of checks", f))?),
                    None => (pidfile, 10),
                };
                Ok(DaemonSpec { pidfile: Some(PathBuf::from(pidfile)), freq, daemonize: option == "smart-attach-daemon2", ..DaemonSpec::new(command.trim()) })
            }
            "attach-daemon2" => Self::parse_keyval(value),
            other => Err(format!("{} is not an attach option", other)),
        }
    }

    /// attach-daemon2's key=value list: cmd=...,pidfile=...,stopsignal=...
    fn parse_keyval(value: &str) -> Result<DaemonSpec, String> {
        let mut d = DaemonSpec::new("");
        let signal = |k: &str, v: &str| -> Result<i32, String> {
            v.parse::<i32>()
                .ok()
                .filter(|n| (1..=64).contains(n))
                .or_else(|| format!("SIG{}", v.trim_start_matches("SIG").to_ascii_uppercase()).parse::<Signal>().ok().map(|s| s as i32))
                .ok_or_else(|| format!("{}={}: not a signal", k, v))
        };
        let flag = |v: &str| !matches!(v, "0" | "false" | "no" | "off");
        for item in split_keyval(value) {
            let (k, v) = item.split_once('=').unwrap_or((item.as_str(), "1"));
            match k.trim() {
                "command" | "cmd" | "exec" => d.command = v.to_string(),
                "pidfile" => d.pidfile = Some(PathBuf::from(v)),
                "freq" => d.freq = v.parse().map_err(|_| format!("freq={}: not a number", v))?,
                "control" => d.control = flag(v),
                "daemonize" | "daemon" => d.daemonize = flag(v),
                "touch" => d.touch.extend(v.split(';').filter(|s| !s.is_empty()).map(PathBuf::from)),
                "stopsignal" | "stop_signal" => d.stop_signal = signal(k, v)?,
                "reloadsignal" | "reload_signal" => d.reload_signal = Some(signal(k, v)?),
                "stdin" => d.stdin = flag(v),
                "uid" => d.uid = Some(v.to_string()),
                "gid" => d.gid = Some(v.to_string()),
                "chdir" => d.chdir = Some(PathBuf::from(v)),
                "max_throttle" => d.max_throttle = v.parse().map_err(|_| format!("max_throttle={}: not a number", v))?,
                "ns" | "namespace" => return Err("ns: Linux namespaces are not provided by oxwsgi".into()),
                "legion" => return Err("legion: uWSGI's Legion subsystem is not provided by oxwsgi".into()),
                other => {
                    return Err(format!(
                        "unknown key '{}' (attach-daemon2 has cmd, pidfile, freq, control, daemonize, touch, stopsignal, reloadsignal, stdin, uid, gid, chdir, max_throttle)",
                        other
                    ));
                }
            }
        }
        if d.command.is_empty() {
            return Err("give the command: attach-daemon2 = cmd=COMMAND,...".into());
        }
        if d.daemonize && d.pidfile.is_none() {
            return Err("daemonize needs a pidfile= to write".into());
        }
        Ok(d)
    }
}

/// Splits `a=1,b=x\,y` on the commas that are not escaped.
fn split_keyval(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().unwrap().extend(chars.next()),
            ',' => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The pid a pidfile names, if that process is alive.
fn live_pid(pidfile: &Path) -> Option<i32> {
    let pid = crate::master::daemon::read_pidfile(pidfile).filter(|p| *p > 0)?;
    kill(Pid::from_raw(pid), None).ok().map(|_| pid)
}

struct Daemon {
    spec: DaemonSpec,
    /// The child we forked (plain daemons), or what the pidfile names.
    pid: Option<i32>,
    /// Smart: the pidfile named a live process since the spawn.
    monitored: bool,
    pidfile_checks: u32,
    respawns: u32,
    last_spawn: Option<Instant>,
    quick_deaths: u32,
    respawn_at: Option<Instant>,
    touched: Vec<Option<SystemTime>>,
}

pub struct Daemons {
    list: Vec<Daemon>,
    last_check: Instant,
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

impl Daemons {
    /// Starts them (smart ones only if their pidfile names no live process).
    pub fn start(specs: &[DaemonSpec]) -> Daemons {
        let list = specs
            .iter()
            .map(|s| Daemon {
                spec: s.clone(),
                pid: None,
                monitored: false,
                pidfile_checks: 0,
                respawns: 0,
                last_spawn: None,
                quick_deaths: 0,
                respawn_at: None,
                touched: s.touch.iter().map(|p| mtime(p)).collect(),
            })
            .collect();
        let mut d = Daemons { list, last_check: Instant::now() };
        for daemon in d.list.iter_mut() {
            match daemon.spec.pidfile.as_deref().and_then(live_pid) {
                Some(pid) => {
                    crate::logln!("oxwsgi: [daemons] found valid/active pidfile for \"{}\" (pid: {})", daemon.spec.command, pid);
                    daemon.pid = Some(pid);
                    daemon.monitored = true;
                }
                None => daemon.spawn(),
            }
        }
        d
    }

    /// A child exited: one of our plain daemons is respawned (unless the
    /// instance is ending); a control one stops the instance (the reason
    /// is returned). Other children (a smart daemon's first process) are
    /// not tracked.
    pub fn reaped(&mut self, pid: i32, how: &str, ending: bool) -> Option<String> {
        let d = self.list.iter_mut().find(|d| d.pid == Some(pid) && d.spec.pidfile.is_none())?;
        d.pid = None;
        // What it left behind in its process group (the shell's children,
        // when the shell itself was killed) would run twice after a respawn.
        unsafe { libc::kill(-pid, d.spec.stop_signal) };
        if ending {
            return None;
        }
        crate::logln!("oxwsgi: [daemons] \"{}\" (pid: {}) exited ({})", d.spec.command, pid, how);
        if d.spec.control {
            return Some(format!("the control daemon \"{}\" exited", d.spec.command));
        }
        let quick = d.last_spawn.is_some_and(|t| t.elapsed() < Duration::from_secs(3));
        d.quick_deaths = if quick { d.quick_deaths + 1 } else { 0 };
        let throttle = (d.quick_deaths as u64).min(d.spec.max_throttle);
        if throttle > 0 {
            crate::logln!("oxwsgi: [daemons] throttling \"{}\" for {} seconds", d.spec.command, throttle);
        }
        d.respawn_at = Some(Instant::now() + Duration::from_secs(throttle));
        None
    }

    /// When the master must look again (a respawn is due).
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        self.list.iter().filter_map(|d| d.respawn_at).min().map(|t| t.saturating_duration_since(now))
    }

    /// Respawns that are due; once a second, the pidfiles and touch files.
    pub fn service(&mut self) {
        let now = Instant::now();
        for d in self.list.iter_mut() {
            if d.respawn_at.is_some_and(|t| t <= now) {
                d.respawn_at = None;
                d.spawn();
            }
        }
        if now.duration_since(self.last_check) < Duration::from_secs(1) {
            return;
        }
        self.last_check = now;
        for d in self.list.iter_mut() {
            d.check_touch();
            d.check_pidfile();
        }
    }

    /// The instance stops or reloads: plain daemons get their stop (or
    /// reload) signal, and SIGKILL if still there after `mercy`.
    pub fn stop(&mut self, reloading: bool, mercy: Duration) {
        let mut waiting = Vec::new();
        for d in self.list.iter_mut().filter(|d| d.spec.pidfile.is_none()) {
            let Some(pid) = d.pid.take() else { continue };
            let sig = if reloading { d.spec.reload_signal.unwrap_or(d.spec.stop_signal) } else { d.spec.stop_signal };
            crate::logln!("oxwsgi: [daemons] stopping \"{}\" (pid: {})", d.spec.command, pid);
            // The daemon leads its own process group: its children get it too.
            unsafe { libc::kill(-pid, sig) };
            waiting.push((pid, d.spec.command.clone()));
        }
        let deadline = Instant::now() + mercy;
        while !waiting.is_empty() {
            waiting.retain(|(pid, _)| {
                matches!(nix::sys::wait::waitpid(Pid::from_raw(*pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG)), Ok(nix::sys::wait::WaitStatus::StillAlive))
            });
            if waiting.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for (pid, command) in &waiting {
                    crate::logln!("oxwsgi: [daemons] \"{}\" did not stop in time, killing it (pid: {})", command, pid);
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    let _ = nix::sys::wait::waitpid(Pid::from_raw(*pid), None);
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Daemon {
    fn check_touch(&mut self) {
        let mut touched = None;
        for (p, seen) in self.spec.touch.iter().zip(self.touched.iter_mut()) {
            let now = mtime(p);
            if now != *seen {
                *seen = now;
                touched = Some(p.clone());
            }
        }
        let Some(p) = touched else { return };
        crate::logln!("oxwsgi: [daemons] {} touched: restarting \"{}\"", p.display(), self.spec.command);
        match (self.spec.pidfile.as_deref(), self.pid) {
            // Plain: it is respawned when it exits.
            (None, Some(pid)) => unsafe {
                libc::kill(-pid, self.spec.stop_signal);
            },
            (None, None) => {}
            // Smart: stopped, and started again by the pidfile check.
            (Some(_), pid) => {
                if let Some(pid) = pid {
                    unsafe { libc::kill(pid, self.spec.stop_signal) };
                }
                self.monitored = true;
            }
        }
    }

    fn check_pidfile(&mut self) {
        let Some(pidfile) = self.spec.pidfile.clone() else { return };
        match live_pid(&pidfile) {
            Some(pid) => {
                if self.pid != Some(pid) {
                    crate::logln!("oxwsgi: [daemons] \"{}\" now runs as pid {} (from {})", self.spec.command, pid, pidfile.display());
                    self.pid = Some(pid);
                }
                self.monitored = true;
            }
            None if self.monitored => {
                crate::logln!("oxwsgi: [daemons] \"{}\" is gone ({} names no live process): respawning", self.spec.command, pidfile.display());
                self.spawn();
            }
            None => {
                self.pidfile_checks += 1;
                if self.pidfile_checks >= self.spec.freq {
                    crate::logln!("oxwsgi: [daemons] \"{}\" wrote no live pid to {}: respawning", self.spec.command, pidfile.display());
                    self.spawn();
                }
            }
        }
    }

    fn spawn(&mut self) {
        self.monitored = false;
        self.pidfile_checks = 0;
        self.last_spawn = Some(Instant::now());
        let again = if self.respawns > 0 { "re" } else { "" };
        self.respawns += 1;
        // SAFETY: the master runs no threads; the child only execs or exits.
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                crate::logln!("oxwsgi: [daemons] {}spawning \"{}\" (pid: {})", again, self.spec.command, child);
                self.pid = if self.spec.pidfile.is_none() { Some(child.as_raw()) } else { None };
            }
            Ok(nix::unistd::ForkResult::Child) => {
                let e = exec_daemon(&self.spec);
                crate::logln!("oxwsgi: [daemons] cannot start \"{}\": {}", self.spec.command, e);
                unsafe { libc::_exit(1) };
            }
            Err(e) => {
                crate::logln!("oxwsgi: [daemons] cannot fork for \"{}\": {}; retrying in 1s", self.spec.command, e);
                self.respawn_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }
}

/// In the forked child: become the daemon. Returns only on failure.
fn exec_daemon(spec: &DaemonSpec) -> String {
    use std::os::fd::AsRawFd;
    // Nothing blocked, default dispositions come with exec.
    let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&nix::sys::signal::SigSet::empty()), None);
    // The listening sockets and the master's other descriptors stay behind.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if spec.daemonize {
        match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Parent { .. }) => unsafe { libc::_exit(0) },
            Ok(nix::unistd::ForkResult::Child) => {}
            Err(e) => return format!("fork: {}", e),
        }
        if let Some(p) = &spec.pidfile
            && let Err(e) = std::fs::write(p, format!("{}\n", std::process::id()))
        {
            return format!("cannot write {}: {}", p.display(), e);
        }
    }
    if !spec.stdin
        && let Ok(null) = std::fs::File::open("/dev/null")
    {
        unsafe { libc::dup2(null.as_raw_fd(), 0) };
    }
    let _ = nix::unistd::setsid();
    if spec.pidfile.is_none() {
        // A plain daemon does not outlive its master.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    }
    if let Some(d) = &spec.chdir
        && let Err(e) = std::env::set_current_dir(d)
    {
        return format!("chdir {}: {}", d.display(), e);
    }
    if (spec.uid.is_some() || spec.gid.is_some())
        && nix::unistd::geteuid().is_root()
        && let Err(e) = super::privileges::drop_privileges(spec.uid.as_deref(), spec.gid.as_deref())
    {
        return e;
    }
    let sh = std::ffi::CString::new("/bin/sh").unwrap();
    let Ok(cmd) = std::ffi::CString::new(spec.command.as_str()) else { return "the command holds a NUL byte".into() };
    let args = [sh.clone(), std::ffi::CString::new("-c").unwrap(), cmd];
    match nix::unistd::execv(&sh, &args) {
        Err(e) => format!("exec /bin/sh: {}", e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_attach_options_as_uwsgi_writes_them() {
        let d = DaemonSpec::parse("attach-daemon", "./manage.py qcluster").unwrap();
        assert_eq!((d.command.as_str(), d.pidfile.is_none(), d.control), ("./manage.py qcluster", true, false));
        let d = DaemonSpec::parse("smart-attach-daemon", "/tmp/celery.pid celery -A tasks worker --pidfile=/tmp/celery.pid").unwrap();
        assert_eq!(d.pidfile, Some(PathBuf::from("/tmp/celery.pid")));
        assert_eq!(d.command, "celery -A tasks worker --pidfile=/tmp/celery.pid");
        let d = DaemonSpec::parse("smart-attach-daemon2", "/tmp/x.pid,3 sleep 100").unwrap();
        assert!(d.daemonize && d.freq == 3);
        assert!(DaemonSpec::parse("smart-attach-daemon", "/tmp/only-a-pidfile").is_err());
        assert!(DaemonSpec::parse("attach-control-daemon", "sleep 5").unwrap().control);
    }

    #[test]
    fn attach_daemon2_keys() {
        let d = DaemonSpec::parse("attach-daemon2", "cmd=echo a\\,b,stopsignal=QUIT,reloadsignal=1,touch=/a;/b,max_throttle=5,control=1").unwrap();
        assert_eq!(d.command, "echo a,b");
        assert_eq!((d.stop_signal, d.reload_signal, d.max_throttle, d.control), (libc::SIGQUIT, Some(1), 5, true));
        assert_eq!(d.touch, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert!(DaemonSpec::parse("attach-daemon2", "pidfile=/x").unwrap_err().contains("give the command"));
        assert!(DaemonSpec::parse("attach-daemon2", "cmd=x,daemonize=1").unwrap_err().contains("pidfile"));
        assert!(DaemonSpec::parse("attach-daemon2", "cmd=x,colour=red").unwrap_err().contains("unknown key 'colour'"));
        assert!(DaemonSpec::parse("attach-daemon2", "cmd=x,ns=/ns").unwrap_err().contains("namespaces"));
    }
}
