//! The signal table: for each of uWSGI's 256 signals, whether a handler is
//! registered and who runs it. Shared by the master and its workers (one
//! anonymous shared mapping made before the first fork), so the master
//! routes a signal that a worker registered, and a worker sees what the
//! master registered before forking it. The handlers themselves are
//! Python callables, known only to the processes that registered them or
//! were forked after (python/uwsgi_api.rs).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering::Relaxed};

/// Who runs a signal's handler (uWSGI's `register_signal` targets that
/// oxwsgi has processes for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `worker`, `worker0` or "": the first worker free to take it.
    AnyWorker,
    /// `workers`: every worker.
    AllWorkers,
    /// `active-workers`: every worker currently serving.
    ActiveWorkers,
    /// `workerN`.
    Worker(u16),
}

impl Target {
    /// uWSGI's target names; the subsystems oxwsgi lacks are named in the error.
    pub fn parse(s: &str) -> Result<Target, String> {
        match s {
            "" | "worker" | "worker0" => return Ok(Target::AnyWorker),
            "workers" => return Ok(Target::AllWorkers),
            "active-workers" => return Ok(Target::ActiveWorkers),
            _ => {}
        }
        if let Some(n) = s.strip_prefix("worker").and_then(|n| n.parse::<u16>().ok()) {
            return Ok(Target::Worker(n));
        }
        let what = if s.starts_with("mule") {
            "mules"
        } else if s.starts_with("spooler") {
            "the spooler"
        } else if s == "cluster" || s == "subscribed" {
            "clustering and subscriptions"
        } else {
            return Err(format!("unknown signal target {:?}: use \"worker\", \"workers\", \"active-workers\" or \"workerN\"", s));
        };
        Err(format!("signal target {:?}: {} are not provided by oxwsgi; use \"worker\", \"workers\" or \"workerN\"", s, what))
    }

    fn encode(self) -> (u8, u16) {
        match self {
            Target::AnyWorker => (1, 0),
            Target::AllWorkers => (2, 0),
            Target::ActiveWorkers => (3, 0),
            Target::Worker(n) => (4, n),
        }
    }

    fn decode(kind: u8, n: u16) -> Option<Target> {
        match kind {
            1 => Some(Target::AnyWorker),
            2 => Some(Target::AllWorkers),
            3 => Some(Target::ActiveWorkers),
            4 => Some(Target::Worker(n)),
            _ => None,
        }
    }
}

#[repr(C)]
struct Entry {
    /// 0: not registered; else a Target's code.
    kind: AtomicU8,
    worker: AtomicU16,
}

struct Table(&'static [Entry]);

static TABLE: OnceLock<Table> = OnceLock::new();

/// Makes the table (once per process, before any fork).
pub fn create() -> Result<(), String> {
    let len = 256 * size_of::<Entry>();
    // SAFETY: a fresh zeroed shared mapping; all-zero atomics are valid.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("cannot map the signal table: {}", std::io::Error::last_os_error()));
    }
    let _ = TABLE.set(Table(unsafe { std::slice::from_raw_parts(p as *const Entry, 256) }));
    Ok(())
}

pub fn register(num: u8, target: Target) {
    if let Some(t) = TABLE.get() {
        let (kind, n) = target.encode();
        t.0[num as usize].worker.store(n, Relaxed);
        t.0[num as usize].kind.store(kind, Relaxed);
    }
}

/// Who runs signal `num`, if anyone registered it.
pub fn target(num: u8) -> Option<Target> {
    let e = &TABLE.get()?.0[num as usize];
    Target::decode(e.kind.load(Relaxed), e.worker.load(Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_as_uwsgi_names_them() {
        assert_eq!(Target::parse("").unwrap(), Target::AnyWorker);
        assert_eq!(Target::parse("worker0").unwrap(), Target::AnyWorker);
        assert_eq!(Target::parse("workers").unwrap(), Target::AllWorkers);
        assert_eq!(Target::parse("active-workers").unwrap(), Target::ActiveWorkers);
        assert_eq!(Target::parse("worker3").unwrap(), Target::Worker(3));
        let e = Target::parse("mule2").unwrap_err();
        assert!(e.contains("mules are not provided by oxwsgi"), "{e}");
        assert!(Target::parse("spooler").unwrap_err().contains("the spooler"));
        assert!(Target::parse("bogus").unwrap_err().contains("unknown signal target"));
    }

    #[test]
    fn registered_entries_round_trip() {
        create().unwrap();
        assert_eq!(target(9), None);
        register(9, Target::Worker(2));
        register(10, Target::AllWorkers);
        assert_eq!(target(9), Some(Target::Worker(2)));
        assert_eq!(target(10), Some(Target::AllWorkers));
    }
}
