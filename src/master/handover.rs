//! A graceful reload that never leaves the sockets without a worker: the
//! master re-executes itself while its workers go on serving, and the new
//! master retires them only once its own workers accept. The re-executed
//! master keeps the PID, so the old workers stay its children: it finds
//! them in OXWSGI_PREVIOUS_WORKERS, stops them gracefully (SIGTERM) when
//! the new generation is ready, and reaps them. No request waits for the
//! new master's import (issue 17; bench/reload_latency.py). With a log
//! master, the old workers' log sockets are passed on the same way
//! (log/master.rs `pass_on`), so their lines are still written.

use super::slots::Slot;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

const ENV: &str = "OXWSGI_PREVIOUS_WORKERS";

/// How long the new generation may take to accept before the old one is
/// retired anyway.
const PATIENCE: Duration = Duration::from_secs(60);

/// Before the re-exec: who the new master must retire (nobody, for a
/// reload that stopped its workers first).
pub fn pass_on(pids: &[Pid]) {
    let list: Vec<String> = pids.iter().map(|p| p.to_string()).collect();
    // SAFETY: the master runs no threads of its own; this is just before exec.
    unsafe {
        if list.is_empty() {
            std::env::remove_var(ENV);
        } else {
            std::env::set_var(ENV, list.join(","));
        }
    }
}

/// The previous generation, in the re-executed master.
pub struct Previous {
    /// Still serving: retired when ours accept.
    serving: Vec<Pid>,
    /// Told to stop, not reaped yet.
    retiring: Vec<Pid>,
    since: Instant,
}

impl Previous {
    /// Reads (and clears) what the previous master passed on, keeping only
    /// processes that really are our children (a stale list must never
    /// signal a stranger).
    pub fn take() -> Previous {
        let list = std::env::var(ENV).unwrap_or_default();
        // SAFETY: read at the master's start, before it forks or starts anything.
        unsafe { std::env::remove_var(ENV) };
        let me = std::process::id();
        let serving = list.split(',').filter_map(|p| p.trim().parse::<i32>().ok()).filter(|&p| parent_of(p) == Some(me)).map(Pid::from_raw).collect();
        Previous { serving, retiring: Vec::new(), since: Instant::now() }
    }

    /// Retires the previous generation once every worker of ours accepts
    /// (or after PATIENCE).
    pub fn step(&mut self, slots: &[Slot]) {
        if self.serving.is_empty() {
            return;
        }
        let ours: Vec<&Slot> = slots.iter().filter(|s| !s.cheap && s.pid.is_some()).collect();
        let accepting = |s: &&Slot| crate::stats::board().is_some_and(|b| b.worker(s.id - 1).accepting.load(std::sync::atomic::Ordering::Relaxed) == 1);
        let ready = !ours.is_empty() && ours.iter().all(accepting);
        if !ready && self.since.elapsed() < PATIENCE {
            return;
        }
        crate::logln!(
            "oxwsgi: {}: retiring the previous workers (pid: {}); they finish their requests",
            if ready { "the new workers accept" } else { "the new workers are not all accepting after 60s" },
            self.serving.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        );
        self.stop(Signal::SIGTERM);
    }

    /// Those of the previous generation not told to stop yet (a reload
    /// before they were retired passes them on again).
    pub fn still_serving(&mut self) -> Vec<Pid> {
        std::mem::take(&mut self.serving)
    }

    /// Stops whatever of the previous generation still serves.
    pub fn stop(&mut self, sig: Signal) {
        for p in self.serving.drain(..) {
            let _ = kill(p, sig);
            self.retiring.push(p);
        }
    }

    /// A child was reaped: true if it was one of the previous generation.
    pub fn reaped(&mut self, pid: Pid, how: &str) -> bool {
        let before = self.serving.len() + self.retiring.len();
        self.serving.retain(|&p| p != pid);
        self.retiring.retain(|&p| p != pid);
        let ours = self.serving.len() + self.retiring.len() < before;
        if ours {
            crate::logln!("oxwsgi: previous worker (pid: {}) stopped ({})", pid, how);
        }
        ours
    }
}

/// The parent of process `pid`, from /proc.
fn parent_of(pid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_children_are_taken_over() {
        let me = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        let kid = child.id() as i32;
        assert_eq!(parent_of(kid), Some(me as u32));
        assert_eq!(parent_of(1), Some(0));
        // SAFETY: this test's own variable, set and read on this thread.
        unsafe { std::env::set_var(ENV, format!("{},1,{},junk", kid, me)) };
        let mut p = Previous::take();
        assert_eq!(p.serving, vec![Pid::from_raw(kid)]);
        assert!(std::env::var_os(ENV).is_none());
        p.stop(Signal::SIGTERM);
        let _ = child.wait();
        assert!(p.reaped(Pid::from_raw(kid), "killed"));
        assert!(!p.reaped(Pid::from_raw(kid), "again"));
    }
}
