//! --harakiri, done gentler than uWSGI's: a request running past the limit
//! is first interrupted inside Python (HarakiriError, a BaseException so
//! frameworks do not turn it into their own 500 page), answered 504 if
//! nothing was sent yet; only a worker still stuck after
//! --harakiri-graceful-timeout is killed (the master respawns it). With
//! --harakiri-graceful-signal the worker gets that signal instead of the
//! interruption, as uWSGI's graceful harakiri sends it.
//!
//! The thread that runs the first Python thread is the process's main
//! thread, so it can be interrupted even inside time.sleep() or a blocking
//! read: a signal makes the call fail with EINTR and CPython runs our
//! handler there. Other threads get an asynchronous exception, which fires
//! at their next Python instruction.

use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pyo3::create_exception!(_oxwsgi, HarakiriError, pyo3::exceptions::PyBaseException, "A request ran past --harakiri.");

/// What one Python thread is doing, as the watchdog sees it.
#[derive(Default)]
struct Running {
    started: Option<Instant>,
    what: String,
    interrupted: bool,
    /// threading.get_ident() of the thread (its pthread id).
    ident: u64,
    /// The kernel's id of the thread, for /proc (--harakiri-verbose).
    tid: i32,
    is_main: bool,
}

/// The table of running requests, one slot per Python thread.
#[derive(Clone, Default)]
pub struct Board(Arc<Mutex<Vec<Running>>>);

impl Board {
    /// The table, even if a thread panicked while holding it: the
    /// watchdog must outlive any one request.
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Running>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the calling Python thread; returns its slot.
    pub fn register(&self, is_main: bool) -> usize {
        let mut v = self.lock();
        v.push(Running { ident: unsafe { libc::pthread_self() } as u64, tid: unsafe { libc::gettid() }, is_main, ..Default::default() });
        v.len() - 1
    }

    pub fn begin(&self, slot: usize, what: impl FnOnce() -> String) {
        if !enabled() {
            return;
        }
        let mut v = self.lock();
        v[slot].started = Some(Instant::now());
        v[slot].what = what();
        v[slot].interrupted = false;
    }

    /// Marks the request done; returns whether it had been interrupted (the
    /// caller then clears any exception still pending for the thread).
    pub fn end(&self, slot: usize) -> bool {
        if !enabled() {
            return false;
        }
        let mut v = self.lock();
        v[slot].started = None;
        std::mem::take(&mut v[slot].interrupted)
    }

    /// For the main thread's signal handler: is its request being interrupted?
    fn main_interrupted(&self) -> bool {
        self.lock().iter().any(|r| r.is_main && r.interrupted && r.started.is_some())
    }
}

static BOARD: std::sync::OnceLock<Board> = std::sync::OnceLock::new();
/// Set once the watchdog runs: without --harakiri, requests are not
/// tracked at all (no lock, no clock read on the hot path).
static ENABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn enabled() -> bool {
    ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn board() -> Board {
    BOARD.get_or_init(Board::default).clone()
}

#[pyfunction]
fn _harakiri_signal(_signum: i32, _frame: Bound<'_, PyAny>) -> PyResult<()> {
    if board().main_interrupted() {
        return Err(HarakiriError::new_err("request ran past --harakiri"));
    }
    Ok(())
}

/// Installs the SIGALRM handler that interrupts the main thread's request.
/// Must run on the main thread, with the GIL.
pub fn install_main_handler(py: Python<'_>) -> PyResult<()> {
    // Created now, while nothing else runs, rather than on the first
    // interruption (see the watchdog's helper threads).
    py.get_type::<HarakiriError>();
    let f = wrap_pyfunction!(_harakiri_signal, py)?;
    py.import("signal")?.call_method1("signal", (libc::SIGALRM, f))?;
    Ok(())
}

/// Clears an asynchronous exception still pending for this thread (the
/// request it was meant for has ended).
pub fn clear_pending(_py: Python<'_>) {
    unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(libc::pthread_self() as _, std::ptr::null_mut()) };
}

/// --harakiri-verbose: what the kernel says the stuck thread is doing (the
/// system call it is in, and where it sleeps), as uWSGI logs it.
fn log_where(tid: i32) {
    for what in ["syscall", "wchan"] {
        if let Ok(text) = std::fs::read_to_string(format!("/proc/self/task/{}/{}", tid, what)) {
            crate::logln!("oxwsgi: HARAKIRI: -- {}> {}", what, text.trim_end());
        }
    }
}

/// Starts the watchdog thread of a worker.
pub fn start_watchdog(limit: Duration, grace: Duration, signal: Option<i32>, verbose: bool, worker_id: usize, main: libc::pthread_t) {
    let board = board();
    ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
    std::thread::Builder::new()
        .name("harakiri".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            let mut v = board.lock();
            for (slot, r) in v.iter_mut().enumerate() {
                let Some(started) = r.started else { continue };
                let ran = started.elapsed();
                if ran > limit + grace {
                    crate::logln!(
                        "oxwsgi: HARAKIRI: worker {} (pid {}) is still stuck in {} {:.1}s after it was interrupted (--harakiri-graceful-timeout {}): killing it",
                        worker_id,
                        std::process::id(),
                        r.what,
                        (ran - limit).as_secs_f64(),
                        grace.as_secs()
                    );
                    if verbose {
                        log_where(r.tid);
                    }
                    crate::stats::retiring(crate::stats::Cause::Harakiri);
                    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
                }
                if ran > limit && !r.interrupted {
                    r.interrupted = true;
                    if let Some(w) = crate::stats::me() {
                        w.harakiri.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    crate::logln!(
                        "oxwsgi: HARAKIRI: {} on worker {} (pid {}) ran past --harakiri {}s: {}",
                        r.what,
                        worker_id,
                        std::process::id(),
                        limit.as_secs(),
                        if signal.is_some() { "signalling the worker" } else { "interrupting it" }
                    );
                    if verbose {
                        log_where(r.tid);
                    }
                    if let Some(sig) = signal {
                        // uWSGI's graceful harakiri: the signal the user chose, to the whole worker.
                        crate::logln!("oxwsgi: HARAKIRI: sending signal {} to worker {} (--harakiri-graceful-signal)", sig, worker_id);
                        // SAFETY: signals this process.
                        unsafe { libc::kill(libc::getpid(), sig) };
                    } else if r.is_main {
                        unsafe { libc::pthread_kill(main, libc::SIGALRM) };
                    } else {
                        // Taking the GIL may wait; never in the watchdog itself.
                        let ident = r.ident;
                        let board = board.clone();
                        std::thread::spawn(move || {
                            Python::attach(|py| {
                                // Fetched before the board is locked: the type's
                                // first use creates it, and PyO3 lets go of the
                                // GIL meanwhile; holding the board then would
                                // deadlock with a second helper that takes the
                                // GIL and waits for the board.
                                let exc = py.get_type::<HarakiriError>();
                                // With the GIL held the target thread cannot
                                // move on to another request under our feet.
                                let v = board.lock();
                                if v[slot].interrupted && v[slot].started.is_some() {
                                    unsafe { pyo3::ffi::PyThreadState_SetAsyncExc(ident as _, exc.as_ptr()) };
                                }
                            })
                        });
                    }
                }
            }
        })
        .expect("cannot start the harakiri watchdog");
}
