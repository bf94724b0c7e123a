//! The master's worker slots and what acts on them besides the loop in
//! supervisor.rs: chain reloads, cheaper mode's samples and stops, the
//! evil memory limits, and how a worker ended.

use crate::net::Bound;
use crate::options::Config;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

pub(super) struct Slot {
    pub(super) id: usize,
    pub(super) pid: Option<Pid>,
    pub(super) started: Instant,
    /// Consecutive quick deaths, for the respawn back-off.
    pub(super) quick_deaths: u32,
    pub(super) respawn_at: Option<Instant>,
    /// A worker was spawned in this slot before (the -once hooks ran).
    pub(super) spawned: bool,
    /// Cheaper mode (or --cheap, --idle) keeps this slot without a worker.
    pub(super) cheap: bool,
}

impl Slot {
    pub(super) fn new(id: usize) -> Slot {
        Slot { id, pid: None, started: Instant::now(), quick_deaths: 0, respawn_at: None, spawned: false, cheap: false }
    }
}

/// What the cheaper algorithms look at, this second.
pub(super) fn cheaper_sample(slots: &[Slot], bound: &[Bound], spec: &super::cheaper::CheaperSpec) -> super::cheaper::Sample {
    use std::sync::atomic::Ordering::Relaxed;
    let Some(board) = crate::stats::board() else { return Default::default() };
    let active: Vec<_> = slots.iter().filter(|s| !s.cheap && s.pid.is_some()).collect();
    let queue = matches!(spec.algo, super::cheaper::Algo::Backlog | super::cheaper::Algo::Busyness);
    let rss = spec.rss_soft > 0 || spec.rss_hard > 0;
    super::cheaper::Sample {
        active: active
            .iter()
            .map(|s| {
                let w = board.worker(s.id - 1);
                super::cheaper::WorkerView { id: s.id, busy: w.in_flight.load(Relaxed) > 0, busy_us: w.rt_us.load(Relaxed) }
            })
            .collect(),
        cheaped: slots.iter().filter(|s| s.cheap && s.pid.is_none()).count(),
        backlog: if queue { bound.iter().filter_map(|b| crate::stats::queue::depth(std::os::fd::AsRawFd::as_raw_fd(&b.fd))).map(|(n, _)| n).sum() } else { 0 },
        rss: if rss { active.iter().filter_map(|s| s.pid).map(|p| crate::stats::memory(Some(p.as_raw() as u64)).0).sum() } else { 0 },
    }
}

pub(super) fn describe(st: WaitStatus) -> String {
    match st {
        WaitStatus::Exited(_, c) => format!("exit status {}", c),
        WaitStatus::Signaled(_, s, core) => format!("killed by signal {}{}", s, if core { " (core dumped)" } else { "" }),
        other => format!("{:?}", other),
    }
}

/// A chain reload: the workers are replaced one at a time, each new one
/// accepting before the next old one is asked to stop, so all but one
/// keep serving throughout.
pub(super) struct Chain {
    queue: std::collections::VecDeque<usize>,
    /// The slot being replaced, the pid it had, and since when.
    current: Option<(usize, Option<Pid>, Instant)>,
}

impl Chain {
    pub(super) fn start(cfg: &Config, slots: &[Slot], why: &str) -> Chain {
        let queue: std::collections::VecDeque<usize> = slots.iter().filter(|s| !s.cheap && s.pid.is_some()).map(|s| s.id).collect();
        crate::logln!("oxwsgi: {}: chain reload of {} worker(s), one at a time", why, queue.len());
        if !cfg.lazy_apps {
            crate::logln!("oxwsgi: chain reload without --lazy-apps: the new workers run the code the master loaded (add --lazy-apps to load new code)");
        }
        Chain { queue, current: None }
    }

    /// Moves on when the current worker's successor accepts; true when done.
    pub(super) fn step(&mut self, slots: &[Slot]) -> bool {
        if let Some((id, old, since)) = self.current {
            let Some(s) = slots.iter().find(|s| s.id == id) else {
                self.current = None;
                return false;
            };
            let accepting = crate::stats::board().is_some_and(|b| b.worker(id - 1).accepting.load(std::sync::atomic::Ordering::Relaxed) == 1);
            let replaced = s.pid.is_some() && s.pid != old && accepting;
            if !replaced && since.elapsed() < Duration::from_secs(120) {
                return false;
            }
            if !replaced {
                crate::logln!("oxwsgi: chain reload: worker {} is not accepting after 120s; going on", id);
            }
            self.current = None;
        }
        while let Some(id) = self.queue.pop_front() {
            let Some(s) = slots.iter().find(|s| s.id == id && !s.cheap) else { continue };
            let Some(pid) = s.pid else { continue };
            crate::logln!("oxwsgi: chain reload: replacing worker {} (pid: {})", id, pid);
            let _ = kill(pid, Signal::SIGTERM);
            self.current = Some((id, Some(pid), Instant::now()));
            return false;
        }
        crate::logln!("oxwsgi: chain reload done");
        true
    }
}

/// --evil-reload-on-rss/-as: a worker past the limit is killed now, even
/// mid-request, and respawned (the reap loop does it).
pub(super) fn evil_reload(cfg: &Config, slots: &[Slot]) {
    for s in slots {
        let Some(pid) = s.pid else { continue };
        let (rss, vsz) = crate::stats::memory(Some(pid.as_raw() as u64));
        let over = |limit_mb: u64, have: u64| limit_mb > 0 && have > limit_mb * 1024 * 1024;
        let hit = if over(cfg.evil_reload_on_rss_mb, rss) {
            Some(("resident", rss, "--evil-reload-on-rss", cfg.evil_reload_on_rss_mb))
        } else if over(cfg.evil_reload_on_as_mb, vsz) {
            Some(("of address space", vsz, "--evil-reload-on-as", cfg.evil_reload_on_as_mb))
        } else {
            None
        };
        if let Some((what, have, opt, limit)) = hit {
            crate::logln!("oxwsgi: worker {} (pid: {}) has {} MB {}, past {} {}: killing it", s.id, pid, have >> 20, what, opt, limit);
            if let Some(b) = crate::stats::board() {
                b.worker(s.id - 1).retire.store(crate::stats::Cause::EvilReload as u64, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Stops a worker gracefully and keeps its slot empty.
pub(super) fn cheap_worker(slots: &mut [Slot], id: usize, why: &str) {
    let Some(s) = slots.iter_mut().find(|s| s.id == id) else { return };
    s.cheap = true;
    if let Some(p) = s.pid {
        crate::logln!("oxwsgi: {}: stopping worker {} (pid: {})", why, id, p);
        let _ = kill(p, Signal::SIGTERM);
    }
}

/// Why a worker that is being replaced ended: what it said before a
/// planned exit, else how it died.
pub(super) fn respawn_cause(w: &crate::stats::board::WorkerSlot, st: WaitStatus) -> crate::stats::Cause {
    use crate::stats::Cause;
    match (Cause::from_code(w.retire.load(std::sync::atomic::Ordering::Relaxed)), st) {
        (Some(c), _) => c,
        (None, WaitStatus::Exited(_, 22)) => Cause::StartFailure,
        (None, WaitStatus::Exited(_, 0)) => Cause::Stopped,
        (None, WaitStatus::Signaled(..)) => Cause::Signal,
        _ => Cause::Error,
    }
}

pub(super) fn signal_all(slots: &[Slot], sig: Signal) {
    for p in slots.iter().filter_map(|s| s.pid) {
        let _ = kill(p, sig);
    }
}
