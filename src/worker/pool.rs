//! Where a worker runs the app, chosen once (`Executor`, in worker::run):
//! on `--threads` Python threads fed by a queue, or, with one thread, on
//! the I/O thread itself. Either way a request goes in as a `Job` and its
//! response comes out as `RespEvent`s pulled from `Responses`, so the
//! connection code never knows which, and never holds a Python object.
//!
//! Python threads hold the GIL only while they run the app; they wait on
//! the queue without it. The first Python thread is the process's main
//! thread (see harakiri.rs for why).

use super::admission::Ticket;
use super::harakiri;
use crate::wsgi::call::{self, Continuation, PyApps, handle};
use crate::wsgi::responder::{Queue, Sink};
use crate::wsgi::{Job, RespEvent};
use pyo3::prelude::*;
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;

/// What the Python threads are given to do.
pub enum Work {
    Request(Job, Sink),
    /// Run the handler of a uWSGI signal (uwsgi_signals/).
    Signal(u8),
}

pub enum Executor {
    Threads(Submitter),
    Inline(Inline),
}

impl Executor {
    /// Hands a request to the app. `ticket` is the claim on a Python
    /// thread (admission.rs): given back once the app is done with it.
    pub fn call(&self, job: Job, ticket: Ticket) -> Responses<'_> {
        match self {
            Executor::Threads(s) => {
                let (tx, rx) = mpsc::channel(8);
                s.submit(Work::Request(job, Sink::Channel(tx)));
                Responses { from: From::Thread(rx), ticket }
            }
            Executor::Inline(inline) => {
                let (queue, paused) = inline.call(job);
                // The call has returned and this thread is free again: a
                // paused body is resumed only as the socket takes it.
                drop(ticket);
                Responses { from: From::Inline { inline, queue: Some(queue), paused }, ticket: Ticket::default() }
            }
        }
    }

    /// Runs the handler of uWSGI signal `num` on a Python thread.
    pub fn signal(&self, num: u8) {
        match self {
            Executor::Threads(s) => s.submit(Work::Signal(num)),
            Executor::Inline(inline) => inline.signal(num),
        }
    }
}

/// One response, as the app produces it.
pub struct Responses<'a> {
    from: From<'a>,
    ticket: Ticket,
}

enum From<'a> {
    Thread(mpsc::Receiver<RespEvent>),
    /// The app ran on this thread: its events are in `queue`, and a body
    /// not finished yet is `paused` (an index into the Inline's table).
    Inline {
        inline: &'a Inline,
        queue: Option<Queue>,
        paused: Option<usize>,
    },
}

impl Responses<'_> {
    /// The next event; None if the app's side is gone.
    pub async fn next(&mut self) -> Option<RespEvent> {
        match &mut self.from {
            From::Thread(rx) => {
                let ev = rx.recv().await;
                // The Python thread is done with this request after its
                // last event: it may take the next one.
                if !matches!(ev, Some(RespEvent::Head(_) | RespEvent::Data(_) | RespEvent::File { .. })) {
                    self.ticket.release();
                }
                ev
            }
            From::Inline { inline, queue, paused } => loop {
                let q = queue.as_ref()?;
                if let Some(ev) = q.lock().unwrap_or_else(|e| e.into_inner()).pop_front() {
                    return Some(ev);
                }
                *paused = inline.resume(paused.take()?);
            },
        }
    }
}

impl Drop for Responses<'_> {
    fn drop(&mut self) {
        if let From::Inline { inline, queue, paused } = &mut self.from {
            // The client went away before the body was finished: PEP 3333
            // still wants close() called.
            if let Some(p) = paused.take() {
                inline.abandon(p);
            }
            if let Some(q) = queue.take() {
                inline.recycle(q);
            }
        }
    }
}

/// The I/O side's end of the Python threads' queue.
#[derive(Clone)]
pub struct Submitter(crossbeam_channel::Sender<Work>);

impl Submitter {
    fn submit(&self, work: Work) {
        // The receivers live until every Submitter is gone: cannot fail.
        let _ = self.0.send(work);
    }
}

/// The Python threads of a worker.
pub struct PyPool {
    rx: crossbeam_channel::Receiver<Work>,
    apps: Arc<PyApps>,
}

fn serve_jobs(rx: crossbeam_channel::Receiver<Work>, apps: Arc<PyApps>, is_main: bool) {
    let board = harakiri::board();
    let slot = board.register(is_main);
    let core = crate::stats::my_core(slot);
    let me = crate::stats::me().filter(|_| crate::stats::timing());
    Python::attach(|py| {
        loop {
            // The GIL wait: from the job's arrival to holding the GIL again.
            let Ok((work, arrived)) = py.detach(|| rx.recv().map(|j| (j, me.map(|_| std::time::Instant::now())))) else { break };
            if let (Some(w), Some(t)) = (me, arrived) {
                w.gil_wait_ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
            }
            let (job, sink) = match work {
                Work::Request(job, sink) => (job, sink),
                Work::Signal(num) => {
                    board.begin(slot, || format!("the handler of uWSGI signal {}", num));
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| crate::python::uwsgi_events::run_handler(py, num)));
                    if board.end(slot) {
                        harakiri::clear_pending(py);
                    }
                    continue;
                }
            };
            if let Some(c) = core {
                c.in_request.store(1, Relaxed);
            }
            let fallback = sink.clone();
            board.begin(slot, || describe(&job));
            // A Channel sink runs the body to its end: no continuation.
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(py, &apps, job, sink)));
            if board.end(slot) {
                harakiri::clear_pending(py);
            }
            if let Some(c) = core {
                c.in_request.store(0, Relaxed);
                c.requests.fetch_add(1, Relaxed);
            }
            if r.is_err() {
                fallback.send_now(RespEvent::Failed);
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
    /// The queue; no thread runs yet (see `run_here`).
    pub fn new(apps: Arc<PyApps>) -> (PyPool, Submitter) {
        let (tx, rx) = crossbeam_channel::unbounded::<Work>();
        (PyPool { rx, apps }, Submitter(tx))
    }

    /// Starts `n - 1` Python threads (with the caller's signal mask, and
    /// `stack_kb` of stack if given: --threads-stacksize), and serves jobs
    /// on the calling (main) thread as the n-th until every Submitter is
    /// dropped; then joins the others.
    pub fn run_here(self, n: usize, stack_kb: Option<usize>) {
        let PyPool { rx, apps } = self;
        let threads: Vec<_> = (1..n)
            .map(|i| {
                let rx = rx.clone();
                let apps = apps.clone();
                let mut b = std::thread::Builder::new().name(format!("python-{}", i));
                if let Some(kb) = stack_kb {
                    b = b.stack_size(kb * 1024);
                }
                b.spawn(move || serve_jobs(rx, apps, false)).expect("cannot start a Python thread")
            })
            .collect();
        serve_jobs(rx, apps, true);
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The app called on the I/O thread itself, with `--threads 1`: no
/// hand-off between threads, and the I/O thread is the process's main
/// thread, so --harakiri can still interrupt it. A long body is produced in
/// pieces as the socket drains, so a slow client holds nothing but its own
/// connection; the paused iterations stay here, on the Python side.
pub struct Inline {
    apps: Arc<PyApps>,
    slot: usize,
    paused: RefCell<Vec<Option<Continuation>>>,
    /// Response queues to reuse: one allocation per worker, not per request.
    queues: RefCell<Vec<Queue>>,
}

impl Inline {
    pub fn new(apps: Arc<PyApps>) -> Inline {
        Inline { apps, slot: harakiri::board().register(true), paused: RefCell::new(Vec::new()), queues: RefCell::new(Vec::new()) }
    }

    /// Runs `f` with the GIL, counted by the harakiri watchdog.
    fn run<T>(&self, what: impl FnOnce() -> String, f: impl FnOnce(Python<'_>) -> T) -> Option<T> {
        let board = harakiri::board();
        // The GIL wait is timed only when the stats are served.
        let asked = crate::stats::me().filter(|_| crate::stats::timing()).map(|w| (w, std::time::Instant::now()));
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

    fn call(&self, job: Job) -> (Queue, Option<usize>) {
        let queue = self.queues.borrow_mut().pop().unwrap_or_default();
        // Described only if the harakiri watchdog asks (see Board::begin).
        let what = if harakiri::enabled() { describe(&job) } else { String::new() };
        let core = crate::stats::my_core(self.slot);
        if let Some(c) = core {
            c.in_request.store(1, Relaxed);
            c.requests.fetch_add(1, Relaxed);
        }
        let sink = Sink::Local(queue.clone());
        let r = self.run(|| what, |py| handle(py, &self.apps, job, sink));
        if let Some(c) = core {
            c.in_request.store(0, Relaxed);
        }
        let paused = match r {
            Some(Some(c)) => Some(self.park(c)),
            Some(None) => None,
            None => {
                queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(RespEvent::Failed);
                None
            }
        };
        (queue, paused)
    }

    fn park(&self, c: Continuation) -> usize {
        let mut p = self.paused.borrow_mut();
        match p.iter().position(Option::is_none) {
            Some(i) => {
                p[i] = Some(c);
                i
            }
            None => {
                p.push(Some(c));
                p.len() - 1
            }
        }
    }

    fn unpark(&self, i: usize) -> Option<Continuation> {
        self.paused.borrow_mut().get_mut(i).and_then(Option::take)
    }

    /// Produces more of a paused body; Some(i) while it is not finished.
    fn resume(&self, i: usize) -> Option<usize> {
        let c = self.unpark(i)?;
        let more = self.run(|| "a streamed body".into(), |py| call::resume(py, c)).flatten()?;
        self.paused.borrow_mut()[i] = Some(more);
        Some(i)
    }

    fn abandon(&self, i: usize) {
        if let Some(c) = self.unpark(i) {
            self.run(|| "close()".into(), |py| call::abandon(py, c));
        }
    }

    fn signal(&self, num: u8) {
        self.run(|| format!("the handler of uWSGI signal {}", num), |py| crate::python::uwsgi_events::run_handler(py, num));
    }

    fn recycle(&self, q: Queue) {
        q.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.queues.borrow_mut().push(q);
    }
}
