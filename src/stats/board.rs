//! The scoreboard: counters in memory shared by the master and its workers
//! (one anonymous shared mapping made before the first fork), so the
//! master can answer --stats and --metrics without asking busy workers.
//! Workers only add to their own slot; the master writes a slot's identity
//! (pid, spawn time) and a snapshot of its counters when it spawns a worker
//! into it, so "since this worker started" is a subtraction, and the
//! lifetime totals that Prometheus wants never go backwards.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Upper bounds of the latency histogram, in microseconds (+Inf implied).
pub const BUCKETS_US: [u64; 13] = [1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000];

/// Why a worker was replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Cause {
    /// Exited on its own with a failure status.
    Error = 1,
    /// Killed by a signal it did not ask for (a crash, the OOM killer).
    Signal = 2,
    MaxRequests = 3,
    ReloadOnRss = 4,
    Harakiri = 5,
    /// Could not load the app or start serving.
    StartFailure = 6,
    /// Stopped cleanly without the master asking (a SIGTERM sent to it).
    Stopped = 7,
    /// --max-worker-lifetime.
    Lifetime = 8,
    ReloadOnAs = 9,
    /// --evil-reload-on-rss/-as: the master killed it.
    EvilReload = 10,
}

pub const CAUSES: [Cause; 10] = [
    Cause::Error,
    Cause::Signal,
    Cause::MaxRequests,
    Cause::ReloadOnRss,
    Cause::Harakiri,
    Cause::StartFailure,
    Cause::Stopped,
    Cause::Lifetime,
    Cause::ReloadOnAs,
    Cause::EvilReload,
];

impl Cause {
    pub fn name(self) -> &'static str {
        match self {
            Cause::Error => "error",
            Cause::Signal => "signal",
            Cause::MaxRequests => "max-requests",
            Cause::ReloadOnRss => "reload-on-rss",
            Cause::Harakiri => "harakiri",
            Cause::StartFailure => "start-failure",
            Cause::Stopped => "stopped",
            Cause::Lifetime => "max-worker-lifetime",
            Cause::ReloadOnAs => "reload-on-as",
            Cause::EvilReload => "evil-reload",
        }
    }

    /// The cause a worker recorded in its slot (`retire`), if any.
    pub fn from_code(code: u64) -> Option<Cause> {
        CAUSES.into_iter().find(|c| *c as u64 == code)
    }
}

/// One worker's counters. Lifetime totals (of every worker that has used
/// the slot) unless noted.
#[repr(C)]
#[derive(Default)]
pub struct WorkerSlot {
    // Written by the master.
    pub pid: AtomicU64,
    /// Unix time of the last spawn.
    pub last_spawn: AtomicU64,
    pub respawn_count: AtomicU64,
    /// `requests`, `tx`, `rt_us`, `exceptions` when the current worker started.
    pub base: [AtomicU64; 4],
    // Written by the worker.
    /// 1 while the worker takes new connections.
    pub accepting: AtomicU64,
    pub in_flight: AtomicU64,
    pub requests: AtomicU64,
    /// Response bytes written (head and body).
    pub tx: AtomicU64,
    /// Time spent on requests, in microseconds.
    pub rt_us: AtomicU64,
    pub exceptions: AtomicU64,
    pub harakiri: AtomicU64,
    pub static_requests: AtomicU64,
    pub gil_wait_ns: AtomicU64,
    /// uWSGI signals handled.
    pub signals: AtomicU64,
    /// Set just before a planned exit: a `Cause`.
    pub retire: AtomicU64,
    /// Memory as the worker last measured it (--memory-report), else 0.
    pub rss: AtomicU64,
    pub vsz: AtomicU64,
    /// Responses by status class: [0] none (connection lost), [1..=5] 1xx..5xx.
    pub status: [AtomicU64; 6],
    pub hist: [AtomicU64; BUCKETS_US.len() + 1],
}

/// One Python thread of a worker (uWSGI's "core").
#[repr(C)]
#[derive(Default)]
pub struct CoreSlot {
    pub requests: AtomicU64,
    pub in_request: AtomicU64,
    _pad: [u64; 6],
}

#[repr(C)]
struct Header {
    /// Workers configured now (--processes, moved by SIGTTIN/SIGTTOU).
    active: AtomicU64,
    respawns: [AtomicU64; CAUSES.len() + 1],
}

/// The shared mapping.
pub struct Board {
    base: *mut u8,
    pub capacity: usize,
    pub cores: usize,
}

// SAFETY: every field behind `base` is an atomic; the mapping lives until
// the process exits.
unsafe impl Send for Board {}
unsafe impl Sync for Board {}

static BOARD: OnceLock<Board> = OnceLock::new();
/// This process's slot index, once it is a worker.
static ME: AtomicUsize = AtomicUsize::new(usize::MAX);

impl Board {
    fn size(capacity: usize, cores: usize) -> usize {
        size_of::<Header>() + capacity * size_of::<WorkerSlot>() + capacity * cores * size_of::<CoreSlot>()
    }

    /// Makes the board (once per process, before any fork).
    pub fn create(capacity: usize, cores: usize, active: usize) -> Result<&'static Board, String> {
        let len = Self::size(capacity, cores);
        // SAFETY: a fresh anonymous mapping, zeroed by the kernel; all-zero
        // is a valid value for every atomic in it.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
        if p == libc::MAP_FAILED {
            return Err(format!("cannot map the stats scoreboard ({} bytes): {}", len, std::io::Error::last_os_error()));
        }
        let b = BOARD.get_or_init(|| Board { base: p as *mut u8, capacity, cores });
        b.header().active.store(active as u64, Relaxed);
        Ok(b)
    }

    fn header(&self) -> &Header {
        unsafe { &*(self.base as *const Header) }
    }

    pub fn worker(&self, i: usize) -> &WorkerSlot {
        assert!(i < self.capacity);
        unsafe { &*(self.base.add(size_of::<Header>() + i * size_of::<WorkerSlot>()) as *const WorkerSlot) }
    }

    pub fn core(&self, worker: usize, core: usize) -> Option<&CoreSlot> {
        (worker < self.capacity && core < self.cores).then(|| unsafe {
            let off = size_of::<Header>() + self.capacity * size_of::<WorkerSlot>() + (worker * self.cores + core) * size_of::<CoreSlot>();
            &*(self.base.add(off) as *const CoreSlot)
        })
    }

    pub fn active(&self) -> usize {
        (self.header().active.load(Relaxed) as usize).min(self.capacity)
    }

    pub fn set_active(&self, n: usize) {
        self.header().active.store(n as u64, Relaxed);
    }

    pub fn count_respawn(&self, cause: Cause) {
        self.header().respawns[cause as usize].fetch_add(1, Relaxed);
    }

    pub fn respawns(&self, cause: Cause) -> u64 {
        self.header().respawns[cause as usize].load(Relaxed)
    }

    /// The master, before forking a worker into slot `i`.
    pub fn prepare_spawn(&self, i: usize) {
        let w = self.worker(i);
        for (b, v) in w.base.iter().zip([&w.requests, &w.tx, &w.rt_us, &w.exceptions]) {
            b.store(v.load(Relaxed), Relaxed);
        }
        for f in [&w.accepting, &w.in_flight, &w.retire, &w.rss, &w.vsz, &w.pid, &w.signals] {
            f.store(0, Relaxed);
        }
        for c in (0..self.cores).filter_map(|c| self.core(i, c)) {
            c.in_request.store(0, Relaxed);
        }
        w.respawn_count.fetch_add(1, Relaxed);
        w.last_spawn.store(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs(), Relaxed);
    }
}

impl WorkerSlot {
    /// A counter since the current worker started (`which` indexes `base`).
    pub fn since_spawn(&self, which: usize) -> u64 {
        let now = [&self.requests, &self.tx, &self.rt_us, &self.exceptions][which].load(Relaxed);
        now.saturating_sub(self.base[which].load(Relaxed))
    }

    /// A finished request that was counted in flight.
    pub fn finish(&self, status: u16, tx: u64, elapsed_us: u64, is_static: bool) {
        self.in_flight.fetch_sub(1, Relaxed);
        self.record(status, tx, elapsed_us, is_static);
    }

    /// An answered request: `status` is the HTTP code (0 if none was sent).
    pub fn record(&self, status: u16, tx: u64, elapsed_us: u64, is_static: bool) {
        self.requests.fetch_add(1, Relaxed);
        self.tx.fetch_add(tx, Relaxed);
        self.rt_us.fetch_add(elapsed_us, Relaxed);
        let class = (status / 100) as usize;
        self.status[if (1..=5).contains(&class) { class } else { 0 }].fetch_add(1, Relaxed);
        let bucket = BUCKETS_US.iter().position(|&b| elapsed_us <= b).unwrap_or(BUCKETS_US.len());
        self.hist[bucket].fetch_add(1, Relaxed);
        if is_static {
            self.static_requests.fetch_add(1, Relaxed);
        }
    }
}

/// The board (made before the first fork; None only in tools and tests).
pub fn board() -> Option<&'static Board> {
    BOARD.get()
}

/// Whether request and GIL-wait times are taken for the stats (--stats or
/// --metrics): they cost clock readings on every request.
static TIMING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_timing(on: bool) {
    TIMING.store(on, Relaxed);
}

#[inline]
pub fn timing() -> bool {
    TIMING.load(Relaxed)
}

/// Called in a worker after the fork: which slot is ours (worker id - 1).
pub fn set_me(worker_id: usize) {
    ME.store(worker_id.wrapping_sub(1), Relaxed);
}

/// This worker's slot, if there is a board.
#[inline]
pub fn me() -> Option<&'static WorkerSlot> {
    let b = BOARD.get()?;
    let i = ME.load(Relaxed);
    (i < b.capacity).then(|| b.worker(i))
}

/// One of this worker's Python threads.
#[inline]
pub fn my_core(core: usize) -> Option<&'static CoreSlot> {
    BOARD.get()?.core(ME.load(Relaxed), core)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_since_spawn_and_buckets() {
        let b = Board::create(4, 2, 2).unwrap();
        b.prepare_spawn(1);
        let w = b.worker(1);
        w.in_flight.fetch_add(1, Relaxed);
        w.finish(200, 100, 1_500, false);
        w.in_flight.fetch_add(1, Relaxed);
        w.finish(503, 50, 20_000_000, true);
        assert_eq!(w.status[2].load(Relaxed), 1);
        assert_eq!(w.status[5].load(Relaxed), 1);
        assert_eq!(w.hist[1].load(Relaxed), 1);
        assert_eq!(w.hist[BUCKETS_US.len()].load(Relaxed), 1);
        assert_eq!(w.since_spawn(0), 2);
        assert_eq!(w.in_flight.load(Relaxed), 0);
        b.prepare_spawn(1);
        assert_eq!((w.since_spawn(0), w.requests.load(Relaxed), w.respawn_count.load(Relaxed)), (0, 2, 2));
        assert!(b.core(1, 1).is_some() && b.core(1, 2).is_none() && b.core(4, 0).is_none());
        b.count_respawn(Cause::Harakiri);
        assert_eq!(b.respawns(Cause::Harakiri), 1);
    }
}
