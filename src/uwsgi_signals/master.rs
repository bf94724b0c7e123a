//! The master's side of the signal framework: it reads the workers'
//! requests, keeps the timers and the file monitors, and routes each
//! signal to the workers its target names. Driven by the supervisor's poll
//! loop: the master runs no thread.

use super::table::{self, Target};
use super::{CHANNELS, EARLY, Request, pair};
use nix::poll::{PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

struct Timer {
    signal: u8,
    every: Duration,
    next: Instant,
    /// Raises left; None: forever.
    left: Option<u64>,
}

#[derive(Default)]
pub struct Master {
    timers: Vec<Timer>,
    inotify: Option<Inotify>,
    monitors: HashMap<WatchDescriptor, u8>,
    /// The master's end of each worker's own socket, by worker id - 1.
    workers: Vec<Option<OwnedFd>>,
}

impl Master {
    /// The master's state, with what the app asked for while it loaded.
    pub fn new() -> Master {
        let mut m = Master::default();
        for r in std::mem::take(&mut *EARLY.lock().unwrap_or_else(|e| e.into_inner())) {
            m.apply(r, &|_| false);
        }
        m
    }

    /// Before forking worker `id`: its own socket. The child keeps the
    /// returned end (`become_worker`); the master keeps the other.
    pub fn prepare_worker(&mut self, id: usize) -> Option<OwnedFd> {
        CHANNELS.get()?;
        let [ours, theirs] = match pair() {
            Ok(p) => p,
            Err(e) => {
                crate::logln!("oxwsgi: worker {} gets no uWSGI signals: {}", id, e);
                return None;
            }
        };
        if self.workers.len() < id {
            self.workers.resize_with(id, || None);
        }
        self.workers[id - 1] = Some(ours);
        Some(theirs)
    }

    /// In a worker just forked: the master's descriptors are not its own.
    pub fn close_in_child(&mut self) {
        self.workers.clear();
        self.inotify = None;
    }

    /// What the poll loop waits on for us.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut v = Vec::new();
        if let Some(ch) = CHANNELS.get() {
            v.push(PollFd::new(ch.up[0].as_fd(), PollFlags::POLLIN));
        }
        if let Some(i) = &self.inotify {
            v.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
        }
        v
    }

    /// How long the poll loop may sleep before a timer is due.
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        self.timers.iter().map(|t| t.next.saturating_duration_since(now)).min()
    }

    /// Takes the workers' requests, file changes and due timers; routes
    /// the signals. `alive(id)` says whether worker `id` runs now.
    pub fn service(&mut self, alive: &dyn Fn(usize) -> bool) {
        if let Some(ch) = CHANNELS.get() {
            let mut buf = [0u8; 4096];
            loop {
                match nix::unistd::read(&ch.up[0], &mut buf) {
                    Ok(n) if n > 0 => match std::str::from_utf8(&buf[..n]).ok().and_then(Request::decode) {
                        Some(r) => self.apply(r, alive),
                        None => crate::logln!("oxwsgi: a worker sent a malformed signal request; ignored"),
                    },
                    _ => break,
                }
            }
        }
        let changed: Vec<u8> = match &self.inotify {
            Some(i) => {
                let mut v: Vec<u8> = i.read_events().unwrap_or_default().iter().filter_map(|e| self.monitors.get(&e.wd).copied()).collect();
                v.dedup();
                v
            }
            None => Vec::new(),
        };
        for s in changed {
            self.route(s, alive);
        }
        let now = Instant::now();
        let mut due = Vec::new();
        for t in self.timers.iter_mut().filter(|t| t.next <= now) {
            due.push(t.signal);
            t.next = now + t.every;
            if let Some(l) = &mut t.left {
                *l -= 1;
            }
        }
        self.timers.retain(|t| t.left != Some(0));
        for s in due {
            self.route(s, alive);
        }
    }

    fn apply(&mut self, r: Request, alive: &dyn Fn(usize) -> bool) {
        match r {
            Request::Raise(n) => self.route(n, alive),
            Request::Timer { signal, every, times } => {
                // With --lazy-apps every worker imports the app and asks for
                // the same timer: one is kept per signal.
                if self.timers.iter().any(|t| t.signal == signal) {
                    return;
                }
                let every = Duration::from_secs(every.max(1));
                self.timers.push(Timer { signal, every, next: Instant::now() + every, left: (times > 0).then_some(times) });
            }
            Request::FileMonitor { signal, path } => {
                if self.inotify.is_none() {
                    match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
                        Ok(i) => self.inotify = Some(i),
                        Err(e) => {
                            crate::logln!("oxwsgi: cannot monitor {} for uWSGI signal {}: inotify: {}", path, signal, e);
                            return;
                        }
                    }
                }
                let flags = AddWatchFlags::IN_ATTRIB
                    | AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_MODIFY
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO;
                match self.inotify.as_ref().map(|i| i.add_watch(path.as_str(), flags)) {
                    Some(Ok(wd)) => {
                        self.monitors.insert(wd, signal);
                    }
                    Some(Err(e)) => crate::logln!("oxwsgi: cannot monitor {} for uWSGI signal {}: {}", path, signal, e),
                    None => {}
                }
            }
        }
    }

    /// Sends signal `n` where its table entry says.
    fn route(&self, n: u8, alive: &dyn Fn(usize) -> bool) {
        // Not registered anywhere: the first free worker, as in uWSGI (it
        // logs that it has no handler).
        let target = table::target(n).unwrap_or(Target::AnyWorker);
        let send = |fd: &OwnedFd, who: &str| {
            if nix::unistd::write(fd, &[n]).is_err() {
                crate::logln!("oxwsgi: uWSGI signal {} not delivered to {}: its queue is full", n, who);
            }
        };
        match target {
            Target::AnyWorker => {
                if let Some(ch) = CHANNELS.get() {
                    send(&ch.any[0], "the workers");
                }
            }
            Target::AllWorkers | Target::ActiveWorkers => {
                for (i, fd) in self.workers.iter().enumerate() {
                    if let Some(fd) = fd.as_ref().filter(|_| alive(i + 1)) {
                        send(fd, &format!("worker {}", i + 1));
                    }
                }
            }
            Target::Worker(id) => match self.workers.get((id as usize).wrapping_sub(1)).and_then(Option::as_ref) {
                Some(fd) if alive(id as usize) => send(fd, &format!("worker {}", id)),
                _ => crate::logln!("oxwsgi: uWSGI signal {} is for worker {}, which does not run; dropped", n, id),
            },
        }
    }
}
