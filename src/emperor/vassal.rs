//! One vassal: a config file in the Emperor's directory and the oxwsgi
//! instance started from it.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

/// What tells us a vassal's file changed: the mtime of the entry itself
/// (a symlink's own) and of what it points to (touching the target of a
/// symlinked config, as the tutorial sets up, must reload too).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Stamp(Option<SystemTime>, Option<SystemTime>);

impl Stamp {
    /// Whether the file has not changed for a moment: an editor (or
    /// `echo > f`) writes in several steps, and a vassal started or reloaded
    /// between them would read half a config and reload again.
    pub fn settled(&self) -> bool {
        let quiet = |t: Option<SystemTime>| t.is_none_or(|t| t.elapsed().is_ok_and(|e| e > Duration::from_millis(200)));
        quiet(self.0) && quiet(self.1)
    }

    pub fn of(path: &Path) -> Stamp {
        Stamp(std::fs::symlink_metadata(path).and_then(|m| m.modified()).ok(), std::fs::metadata(path).and_then(|m| m.modified()).ok())
    }
}

pub enum State {
    Running,
    /// On demand: its socket is bound, and the first connection starts it.
    OnDemand,
    /// Asked to stop (its file is gone, or the Emperor is stopping).
    Stopping,
    /// Died; starts again at this time.
    Respawn(Instant),
    /// Failed to start: tried again when its file changes, or at this
    /// time (a port still held by a dying predecessor frees up), with a
    /// growing delay, never in a tight loop.
    Broken(Instant),
}

pub struct Vassal {
    pub name: String,
    pub path: PathBuf,
    pub stamp: Stamp,
    pub child: Option<Child>,
    pub state: State,
    started: Instant,
    quick_deaths: u32,
    /// Unix time of the last start, and how many times it was started.
    pub born: u64,
    pub starts: u64,
    /// --emperor-on-demand-*: the socket the Emperor holds for it (given
    /// to the vassal as its fd 0), and its path.
    pub on_demand: Option<(std::os::fd::OwnedFd, PathBuf)>,
}

/// How a vassal runs: the Emperor's binary, and what it adds to the config.
pub struct Launch {
    pub exe: PathBuf,
    /// `-m oxwsgi` when exe is the python of an installed wheel.
    pub prefix: Vec<String>,
    /// --emperor-tyrant: each vassal runs as its file's owner.
    pub tyrant: Option<super::tyrant::Rules>,
    /// Arguments before the vassal's file (--vassals-include-before...)
    /// and after it (--vassal-set, --vassals-include...).
    pub before: Vec<String>,
    pub after: Vec<String>,
    /// The Emperor's as-vassal hooks, run by each vassal as it starts.
    pub vassal_hooks: Option<String>,
}

impl Vassal {
    pub fn new(name: String, path: PathBuf) -> Vassal {
        let stamp = Stamp::of(&path);
        Vassal {
            name,
            path,
            stamp,
            child: None,
            state: State::Respawn(Instant::now()),
            started: Instant::now(),
            quick_deaths: 0,
            born: 0,
            starts: 0,
            on_demand: None,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn start(&mut self, l: &Launch) {
        let mut cmd = Command::new(&l.exe);
        cmd.args(&l.prefix);
        // Decided before the fork: the child only makes the system calls.
        let identity = match &l.tyrant {
            Some(rules) => match super::tyrant::identity(&self.path, rules) {
                Ok(id) => {
                    cmd.env(super::tyrant::VASSAL_ENV, format!("uid {}, gid {}", id.uid, id.gid));
                    Some(id)
                }
                Err(e) => {
                    crate::logln!("oxwsgi emperor: [emperor-tyrant] vassal {} refused: {}", self.name, e);
                    self.state = State::Broken(Instant::now() + Duration::from_secs(60));
                    return;
                }
            },
            None => None,
        };
        // A bare file argument: its extension tells oxwsgi its format.
        cmd.args(&l.before).arg(&self.path).args(&l.after);
        let stdin_socket = self.on_demand.as_ref().map(|(fd, _)| std::os::fd::AsRawFd::as_raw_fd(fd));
        cmd.env("OXWSGI_VASSAL", &self.name);
        if let Some(lines) = &l.vassal_hooks {
            cmd.env(crate::hooks::AS_VASSAL_ENV, lines);
        }
        // systemd listens to the Emperor, not to its vassals.
        cmd.env_remove("NOTIFY_SOCKET");
        unsafe {
            cmd.pre_exec(move || {
                // The Emperor blocks its signals to read them from a signalfd;
                // the vassal must get them back. And if the Emperor dies, the
                // vassal stops gracefully rather than live on as an orphan.
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // Its own process group, so that workers left behind by a
                // master that died can be stopped with it.
                libc::setpgid(0, 0);
                if libc::getppid() == 1 {
                    libc::_exit(0);
                }
                // On demand: the socket is the vassal's fd 0, where oxwsgi
                // (as uWSGI) looks for an inherited listening socket.
                if let Some(fd) = stdin_socket {
                    libc::dup2(fd, 0);
                }
                // Tyrant: the vassal is its owner before our binary runs.
                match &identity {
                    Some(id) => super::tyrant::become_(id),
                    None => Ok(()),
                }
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                crate::logln!("oxwsgi emperor: vassal {} started (pid: {})", self.name, child.id());
                self.child = Some(child);
                self.state = State::Running;
                self.started = Instant::now();
                self.born = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                self.starts += 1;
            }
            Err(e) => {
                crate::logln!("oxwsgi emperor: vassal {}: cannot start {}: {}", self.name, l.exe.display(), e);
                self.state = State::Respawn(Instant::now() + Duration::from_secs(5));
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid as i32, sig) };
        }
    }

    /// A master that died leaves its workers holding the sockets: stop
    /// them now so the next instance can bind.
    fn stop_leftovers(&self, pid: u32) {
        unsafe { libc::kill(-(pid as i32), libc::SIGINT) };
    }

    /// Reaps the vassal if it exited; decides what comes next. Returns true
    /// when it has exited.
    pub fn reap(&mut self) -> bool {
        let Some(child) = &mut self.child else { return false };
        let Ok(Some(status)) = child.try_wait() else { return false };
        let pid = child.id();
        self.child = None;
        let lived = self.started.elapsed();
        match self.state {
            State::Stopping => {
                crate::logln!("oxwsgi emperor: vassal {} (pid: {}) stopped ({})", self.name, pid, status);
            }
            // An on-demand vassal that stopped on its own (--die-on-idle)
            // waits for the next connection.
            _ if self.on_demand.is_some() && status.success() => {
                self.stop_leftovers(pid);
                crate::logln!("oxwsgi emperor: vassal {} (pid: {}) exited ({}): back on demand", self.name, pid, status);
                self.state = State::OnDemand;
            }
            _ if !status.success() && lived < Duration::from_secs(5) => {
                self.stop_leftovers(pid);
                // It could not start (its error is printed above): a broken
                // config needs an edit, a busy port needs time.
                self.quick_deaths += 1;
                let delay = Duration::from_secs((5u64 << (self.quick_deaths - 1).min(4)).min(60));
                crate::logln!(
                    "oxwsgi emperor: vassal {} (pid: {}) failed to start ({}); retrying when {} changes or in {}s",
                    self.name,
                    pid,
                    status,
                    self.path.display(),
                    delay.as_secs()
                );
                self.state = State::Broken(Instant::now() + delay);
            }
            _ => {
                self.stop_leftovers(pid);
                self.quick_deaths = if lived < Duration::from_secs(10) { self.quick_deaths + 1 } else { 0 };
                let delay = Duration::from_millis(if self.quick_deaths == 0 { 0 } else { 500u64 << self.quick_deaths.min(6) });
                crate::logln!("oxwsgi emperor: vassal {} (pid: {}) died ({}), respawning in {:.1}s", self.name, pid, status, delay.as_secs_f64());
                self.state = State::Respawn(Instant::now() + delay);
            }
        }
        true
    }
}
