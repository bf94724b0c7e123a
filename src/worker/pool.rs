//! The hand-off between the I/O thread and the Python threads: jobs go
//! into a queue that `--threads` Python threads take from. Each thread
//! holds the GIL only while it runs the app; it waits on the queue without
//! it. The first Python thread is the process's main thread (see
//! harakiri.rs for why). Keeping this behind `Submitter` lets a future mode
//! call the app on the I/O thread itself without touching the connections.

use super::harakiri;
use crate::wsgi::call::{self, Continuation, PyApps, handle};
use crate::wsgi::{Job, RespEvent};
use pyo3::prelude::*;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// The I/O side's end of the queue.
#[derive(Clone)]
pub struct Submitter(crossbeam_channel::Sender<Job>);

impl Submitter {
    /// Queues a job; the response comes back on the job's channel.
    pub fn submit(&self, job: Job) {
        // The receivers live until every Submitter is gone: cannot fail.
        let _ = self.0.send(job);
    }
}

/// The Python threads of a worker.
pub struct PyPool {
    rx: crossbeam_channel::Receiver<Job>,
    apps: Arc<PyApps>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn serve_jobs(rx: crossbeam_channel::Receiver<Job>, apps: Arc<PyApps>, is_main: bool) {
    let board = harakiri::board();
    let slot = board.register(is_main);
    let core = crate::stats::my_core(slot);
    let me = crate::stats::me();
    Python::attach(|py| {
        loop {
            // The GIL wait: from the job's arrival to holding the GIL again.
            let Ok((job, arrived)) = py.detach(|| rx.recv().map(|j| (j, me.map(|_| std::time::Instant::now())))) else { break };
            if let (Some(w), Some(t)) = (me, arrived) {
                w.gil_wait_ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            }
            if let Some(c) = core {
                c.in_request.store(1, Relaxed);
            }
            let sink = job.sink.clone();
            board.begin(slot, || describe(&job));
            // A Channel sink runs the body to its end: no continuation.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(py, &apps, job)));
            if board.end(slot) {
                harakiri::clear_pending(py);
            }
            if let Some(c) = core {
                c.in_request.store(0, Relaxed);
                c.requests.fetch_add(1, Relaxed);
            }
            if r.is_err() {
                sink.send_now(RespEvent::Failed);
            }
        }
    })
}

fn describe(job: &Job) -> String {
    let m = job.vars.get(b"REQUEST_METHOD").unwrap_or(b"?");
    let p = job.vars.get(b"REQUEST_URI").or(job.vars.get(b"PATH_INFO")).unwrap_or(b"?");
    format!("{} {}", String::from_utf8_lossy(m), String::from_utf8_lossy(p))
}

impl PyPool {
    /// Starts `n - 1` Python threads; the caller becomes the n-th with
    /// `run_here`.
    pub fn start(n: usize, apps: Arc<PyApps>) -> (PyPool, Submitter) {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = (1..n)
            .map(|i| {
                let rx = rx.clone();
                let apps = apps.clone();
                std::thread::Builder::new().name(format!("python-{}", i)).spawn(move || serve_jobs(rx, apps, false)).expect("cannot start a Python thread")
            })
            .collect();
        (PyPool { rx, apps, threads }, Submitter(tx))
    }

    /// Serves jobs on the calling (main) thread until every Submitter is
    /// dropped, then joins the other Python threads.
    pub fn run_here(self) {
        let PyPool { rx, apps, threads } = self;
        serve_jobs(rx, apps, true);
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The app called on the I/O thread itself, with `--threads 1`: no
/// hand-off between threads, and the I/O thread is the process's main
/// thread, so --harakiri can still interrupt it. A long body is produced in
/// pieces as the socket drains (`Continuation`), so a slow client holds
/// nothing but its own connection.
pub struct Inline {
    apps: Arc<PyApps>,
    slot: usize,
}

impl Inline {
    pub fn new(apps: Arc<PyApps>) -> Inline {
        Inline { apps, slot: harakiri::board().register(true) }
    }

    /// Runs `f` with the GIL, counted by the harakiri watchdog.
    fn run<T>(&self, what: impl FnOnce() -> String, f: impl FnOnce(Python<'_>) -> T) -> Option<T> {
        let board = harakiri::board();
        // The GIL wait is timed only when the stats are kept.
        let asked = crate::stats::me().map(|w| (w, std::time::Instant::now()));
        Python::attach(|py| {
            if let Some((w, t)) = asked {
                w.gil_wait_ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            }
            board.begin(self.slot, what);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(py)));
            if board.end(self.slot) {
                harakiri::clear_pending(py);
            }
            r.ok()
        })
    }

    pub fn call(&self, job: Job) -> Option<Continuation> {
        // Described only if the harakiri watchdog asks (see Board::begin).
        let what = if harakiri::enabled() { describe(&job) } else { String::new() };
        let fallback = job.sink.clone();
        let core = crate::stats::my_core(self.slot);
        if let Some(c) = core {
            c.in_request.store(1, Relaxed);
            c.requests.fetch_add(1, Relaxed);
        }
        let r = self.run(|| what, |py| handle(py, &self.apps, job));
        if let Some(c) = core {
            c.in_request.store(0, Relaxed);
        }
        match r {
            Some(c) => c,
            None => {
                fallback.send_now(RespEvent::Failed);
                None
            }
        }
    }

    pub fn resume(&self, c: Continuation) -> Option<Continuation> {
        self.run(|| "a streamed body".into(), |py| call::resume(py, c)).flatten()
    }

    pub fn abandon(&self, c: Continuation) {
        self.run(|| "close()".into(), |py| call::abandon(py, c));
    }
}
