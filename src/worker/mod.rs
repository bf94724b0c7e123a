//! One worker process: a single-threaded tokio runtime doing all network
//! I/O, and `--threads` Python threads running the app (pool.rs). The
//! runtime starts only after the fork (a forked process must not have
//! threads), in `run`.

mod accept;
pub mod admission;
pub mod balance;
mod body;
mod conn;
mod contain;
#[doc(hidden)]
pub mod drive;
pub mod harakiri;
pub mod pool;
mod request_log;
mod respond;
mod static_files;
mod stream;

use crate::net::Bound;
use crate::options::{Config, ListenAddr, Proto};
use crate::python::loader::App;
use crate::wsgi::call::PyApps;
use admission::{Admission, Ticket};
use pool::{Executor, PyPool};
use pyo3::prelude::*;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use stream::Stream;
use tokio::sync::watch;

/// What the connections of one worker share.
pub struct Shared {
    pub cfg: Arc<Config>,
    pub timeouts: conn::Timeouts,
    /// Where the app runs (pool.rs).
    pub executor: Executor,
    /// How many requests may be inside the app at once (admission.rs).
    pub admission: Rc<Admission>,
    pub pid: u32,
    pub worker_id: usize,
    requests: Cell<u64>,
    /// Becomes true when the worker stops taking new requests.
    pub stopping: watch::Receiver<bool>,
    stop_tx: watch::Sender<bool>,
    active: Cell<usize>,
    idle: tokio::sync::Notify,
    /// Signalled whenever a connection closes (see accept.rs).
    conn_closed: tokio::sync::Notify,
    started: std::time::Instant,
    /// Whether anyone reads a request's duration (the request log or the
    /// stats board): if not, the clock is not read for it.
    pub timed: bool,
    /// Some request may be logged (logging on, or a --log-4xx... rule).
    pub log_any: bool,
    /// --log-format, compiled.
    pub log_format: Option<crate::log::format::LogFormat>,
    /// The test hook PANIC_PATH_ENV names (None unless it is set).
    pub panic_path: Option<Vec<u8>>,
}

/// A test hook: a request for this PATH_INFO panics inside the connection
/// code, so a test can show that the panic costs that connection only
/// (contain.rs). Unset, it costs one comparison of an Option per request.
pub const PANIC_PATH_ENV: &str = "OXWSGI_TEST_PANIC_PATH";

impl Shared {
    /// A worker's shared state, in its I/O thread (the runtime exists).
    pub(crate) fn new(cfg: Arc<Config>, executor: Executor, worker_id: usize) -> Rc<Shared> {
        let (stop_tx, stopping) = watch::channel(false);
        let log_any = !cfg.disable_logging || cfg.log.only.any();
        let timed = log_any || crate::stats::timing();
        let log_format =
            cfg.log.format.as_deref().and_then(|f| crate::log::format::LogFormat::compile(f, cfg.log.x_forwarded_for, cfg.log.ftime_format()).ok());
        Rc::new(Shared {
            timeouts: conn::Timeouts::from_config(&cfg),
            admission: Admission::new(cfg.threads),
            cfg,
            executor,
            pid: std::process::id(),
            worker_id,
            requests: Cell::new(0),
            stopping,
            stop_tx,
            active: Cell::new(0),
            idle: tokio::sync::Notify::new(),
            conn_closed: tokio::sync::Notify::new(),
            started: std::time::Instant::now(),
            timed,
            log_any,
            log_format,
            panic_path: std::env::var_os(PANIC_PATH_ENV).map(|p| std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()).to_vec()),
        })
    }

    /// Counts a finished request; past --max-requests the worker retires
    /// (its connections finish, the master starts a fresh one).
    pub fn count_request(&self) -> u64 {
        let n = self.requests.get() + 1;
        self.requests.set(n);
        if *self.stopping.borrow() {
            return n;
        }
        // The clock is read only when a limit is reached: this runs for
        // every request.
        let young = || self.started.elapsed().as_secs() < self.cfg.min_worker_lifetime;
        let max = self.cfg.max_requests + self.worker_id as u64 * self.cfg.max_requests_delta;
        if self.cfg.max_requests > 0 && n >= max {
            if young() {
                return n;
            }
            crate::logln!("oxwsgi: worker {} (pid {}) served --max-requests {}, retiring", self.worker_id, self.pid, max);
            crate::stats::retiring(crate::stats::Cause::MaxRequests);
            let _ = self.stop_tx.send(true);
        } else if (self.cfg.reload_on_rss_mb > 0 || self.cfg.reload_on_as_mb > 0) && !young() {
            let (rss, vsz) = crate::stats::own_memory();
            let over = |limit_mb: u64, have: u64| limit_mb > 0 && have > limit_mb * 1024 * 1024;
            let hit = if over(self.cfg.reload_on_rss_mb, rss) {
                Some(("resident", rss, "--reload-on-rss", self.cfg.reload_on_rss_mb, crate::stats::Cause::ReloadOnRss))
            } else if over(self.cfg.reload_on_as_mb, vsz) {
                Some(("of address space", vsz, "--reload-on-as", self.cfg.reload_on_as_mb, crate::stats::Cause::ReloadOnAs))
            } else {
                None
            };
            if let Some((what, have, opt, limit, cause)) = hit {
                crate::logln!("oxwsgi: worker {} (pid {}) has {} MB {}, past {} {}: retiring", self.worker_id, self.pid, have >> 20, what, opt, limit);
                crate::stats::retiring(cause);
                let _ = self.stop_tx.send(true);
            }
        }
        n
    }
}

impl Shared {
    /// SIGUSR1: one line of this worker's numbers.
    fn log_stats(&self) {
        crate::logln!(
            "oxwsgi: worker {} (pid {}): {} requests, {} open connections, {} MB resident, up {}s",
            self.worker_id,
            self.pid,
            self.requests.get(),
            self.active.get(),
            rss_bytes() >> 20,
            self.started.elapsed().as_secs()
        );
    }
}

/// This process's resident memory.
fn rss_bytes() -> u64 {
    crate::stats::own_memory().0
}

/// Keeps the count of open connections, so a stop can wait for them.
struct ConnGuard(Rc<Shared>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        balance::closed();
        // A listener deferring to less loaded workers looks again now.
        self.0.conn_closed.notify_waiters();
        self.0.active.set(self.0.active.get() - 1);
        if self.0.active.get() == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// How a worker ended.
pub enum Exit {
    /// Stopped gracefully (signal or max-requests): status 0. `reload`:
    /// SIGHUP asked for a reload (acted on when this worker is the whole
    /// server; a master reloads on its own).
    Graceful { reload: bool },
    /// Could not start.
    Failed(String),
}

/// A listening socket handed to the I/O thread.
struct Listen {
    fd: std::os::fd::OwnedFd,
    spec: crate::options::Listener,
    port: String,
}

/// Runs a worker until it is told to stop. `apps` is None with
/// --lazy-apps: they are loaded here, after the fork. `abandon` ends the
/// process when requests are abandoned (an immediate stop): it must not
/// return.
pub fn run(cfg: Arc<Config>, bound: &[Bound], apps: Option<Vec<App>>, worker_id: usize, abandon: fn() -> !) -> Exit {
    if let Some(mb) = cfg.limit_as_mb {
        // --limit-as: an allocation past it fails inside the app (MemoryError,
        // a 500), and this worker lives on.
        let bytes = mb.saturating_mul(1024 * 1024);
        if let Err(e) = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_AS, bytes, bytes) {
            return Exit::Failed(format!("--limit-as {}: {}", mb, e));
        }
    }
    crate::python::uwsgi_module::set_worker(worker_id);
    crate::stats::set_me(worker_id);
    balance::set_me(worker_id);
    let multiprocess = cfg.processes > 1;
    let ctx = Python::attach(|py| -> Result<PyApps, String> {
        let apps = match apps {
            Some(a) => a,
            // --lazy-apps: the processes the app starts while it loads
            // must not inherit the signals held until the I/O loop runs.
            None => {
                py.detach(|| crate::master::before_apps(&cfg))?;
                let apps = crate::unix_signals::with_clean_mask(|| crate::python::loader::load_apps(py, &cfg.apps, &cfg.imports))?;
                py.detach(|| crate::master::after_apps(&cfg))?;
                apps
            }
        };
        // uwsgi.post_fork_hook (uwsgidecorators' @postfork): once the app
        // is loaded in this worker, whether it was forked or is the server.
        crate::unix_signals::with_clean_mask(|| crate::python::uwsgi_events::run_post_fork_hook(py));
        if cfg.harakiri > 0 {
            harakiri::install_main_handler(py).map_err(|e| format!("cannot install the harakiri handler: {}", e))?;
        }
        crate::wsgi::responder::set_write_exceptions(!cfg.disable_write_exception);
        crate::wsgi::call::set_catch_exceptions(cfg.catch_exceptions);
        PyApps::new(py, apps, cfg.manage_script_name, cfg.threads > 1, multiprocess, cfg.file_wrapper).map_err(|e| e.to_string())
    });
    let ctx = match ctx {
        Ok(c) => c,
        Err(e) => return Exit::Failed(e),
    };
    let mut listen = Vec::new();
    for b in bound {
        match b.fd.try_clone() {
            Ok(fd) => listen.push(Listen { fd, spec: b.spec.clone(), port: b.port.clone() }),
            Err(e) => return Exit::Failed(format!("cannot use listening socket {}: {}", b.spec.addr, e)),
        }
    }
    // Before this worker starts threads of its own (a hook may putenv).
    if let Err(e) = crate::hooks::run_accepting(worker_id) {
        crate::hooks::fail_in_worker(&e);
    }
    if cfg.py_autoreload > 0 {
        crate::python::autoreload::start(Duration::from_secs(cfg.py_autoreload), cfg.py_autoreload_ignore.clone(), worker_id);
    }
    if cfg.harakiri > 0 {
        let main = unsafe { libc::pthread_self() };
        harakiri::start_watchdog(
            Duration::from_secs(cfg.harakiri),
            Duration::from_secs(cfg.harakiri_graceful_timeout),
            cfg.harakiri_graceful_signal,
            cfg.harakiri_verbose,
            worker_id,
            main,
        );
    }
    let ctx = Arc::new(ctx);
    let io_cfg = cfg.clone();
    // The I/O loop; `executor` says where the app runs.
    // `ready` hears when the loop's signal handlers are in place.
    let io_loop = move |executor: Executor, ready: Option<std::sync::mpsc::SyncSender<()>>| -> Result<bool, String> {
        // Request lines are written together when the loop runs out of work.
        crate::log::batch_here();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(crate::log::flush_batch)
            .build()
            .map_err(|e| format!("cannot start the I/O runtime: {}", e))?;
        let sh = Shared::new(io_cfg, executor, worker_id);
        let local = tokio::task::LocalSet::new();
        let how = local.block_on(&rt, serve(sh, listen, ready));
        crate::log::flush_batch();
        if how == Stop::Abandon {
            // Stopping now (SIGINT, SIGQUIT, or past --reload-mercy): a Python
            // thread may still be inside the app.
            abandon();
        }
        Ok(how == Stop::Reload)
    };
    let result = if cfg.threads == 1 {
        // One Python thread: call the app on the I/O thread, the main thread.
        io_loop(Executor::Inline(pool::Inline::new(ctx)), None)
    } else {
        let (pool, submitter) = PyPool::new(ctx);
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let io = match std::thread::Builder::new().name("io".into()).spawn(move || io_loop(Executor::Threads(submitter), Some(ready_tx))) {
            Ok(h) => h,
            Err(e) => return Exit::Failed(format!("cannot start the I/O thread: {}", e)),
        };
        // The Python threads run with nothing blocked, so the processes the
        // app starts do too; safe once the I/O thread handles the signals
        // (or has ended, and with it the queue).
        let _ = ready_rx.recv();
        crate::unix_signals::clear_mask();
        // The main thread serves Python until the I/O thread drops its end.
        pool.run_here(cfg.threads, cfg.threads_stacksize_kb);
        io.join().unwrap_or_else(|_| Err("the I/O thread panicked".into()))
    };
    Python::attach(|py| {
        if let Ok(sys) = py.import("sys") {
            for s in ["stdout", "stderr"] {
                let _ = sys.getattr(s).and_then(|f| f.call_method0("flush"));
            }
        }
    });
    match result {
        Ok(reload) => Exit::Graceful { reload },
        Err(e) => Exit::Failed(e),
    }
}

/// How serving ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Graceful,
    /// SIGHUP: graceful, then the caller reloads.
    Reload,
    /// In-flight requests abandoned (an immediate stop, or past --reload-mercy).
    Abandon,
}

/// Accepts and serves until a stop.
async fn serve(sh: Rc<Shared>, listen: Vec<Listen>, ready: Option<std::sync::mpsc::SyncSender<()>>) -> Stop {
    use tokio::signal::unix::{SignalKind, signal};
    // Registered before they are unblocked below (SIGUSR1 too).
    let term = signal(SignalKind::terminate()).expect("signal handler");
    let hup = signal(SignalKind::hangup()).expect("signal handler");
    let int = signal(SignalKind::interrupt()).expect("signal handler");
    let quit = signal(SignalKind::quit()).expect("signal handler");
    let usr1 = signal(SignalKind::user_defined1()).expect("signal handler");
    // Only now, with the handlers in place, may signals reach this thread
    // (start-up holds them), and then the Python threads (unix_signals.rs).
    crate::unix_signals::clear_mask();
    if let Some(r) = ready {
        let _ = r.send(());
    }
    // What each listening socket's connections are told (SERVER_NAME,
    // SERVER_PORT), by the socket's index in the acceptor.
    let mut sockets = Vec::new();
    let mut listening = Vec::new();
    for b in listen {
        let unix = matches!(b.spec.addr, ListenAddr::Unix(_));
        // A listener bound to one address: SERVER_NAME without a
        // getsockname() per connection.
        let fixed_ip = match &b.spec.addr {
            ListenAddr::Tcp(a) if !a.ip().is_unspecified() => Some(a.ip().to_string().into_bytes()),
            _ => None,
        };
        sockets.push(SocketInfo { proto: b.spec.proto, port: b.port.into_bytes(), name: b.spec.addr.to_string().into_bytes(), fixed_ip });
        listening.push(accept::Listening { fd: b.fd, keep_alive: matches!(b.spec.proto, Proto::Http), unix });
    }
    // Several workers share the sockets: wake one of them per connection.
    let shared = sh.cfg.processes > 1;
    match accept::Acceptor::new(listening, shared, &sh.admission) {
        Ok(acceptor) => {
            tokio::task::spawn_local(accept_loop(sh.clone(), acceptor, sockets));
        }
        Err(e) => crate::logln!("oxwsgi: worker {} cannot accept connections: {}", sh.worker_id, e),
    }

    if sh.cfg.max_worker_lifetime > 0 && sh.cfg.master {
        tokio::task::spawn_local(retire_at_lifetime(sh.clone()));
    }

    if let Some((any, mine)) = crate::uwsgi_signals::worker_sockets() {
        tokio::task::spawn_local(uwsgi_signals(sh.clone(), any, mine));
    }

    // The signals are watched by a task of their own: LocalSet polls the
    // root future on every wake-up of any connection, and polling six
    // signal and watch futures per request is measurable; a oneshot is not.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let sh2 = sh.clone();
    tokio::task::spawn_local(async move {
        let how = watch_signals(sh2, term, hup, int, quit, usr1).await;
        let _ = done_tx.send(how);
    });
    done_rx.await.unwrap_or(Stop::Abandon)
}

/// --max-worker-lifetime (+ worker id x --max-worker-lifetime-delta): the
/// worker retires gracefully, as after --max-requests, and the master
/// starts a fresh one.
async fn retire_at_lifetime(sh: Rc<Shared>) {
    let secs = sh.cfg.max_worker_lifetime + sh.worker_id as u64 * sh.cfg.max_worker_lifetime_delta;
    let mut stop = sh.stopping.clone();
    tokio::select! {
        _ = tokio::time::sleep(std::time::Duration::from_secs(secs)) => {}
        _ = stop.wait_for(|s| *s) => return,
    }
    crate::logln!("oxwsgi: worker {} (pid {}) reached --max-worker-lifetime {}s, retiring", sh.worker_id, sh.pid, secs);
    crate::stats::retiring(crate::stats::Cause::Lifetime);
    let _ = sh.stop_tx.send(true);
}

/// What a listening socket tells its connections.
struct SocketInfo {
    proto: Proto,
    port: Vec<u8>,
    name: Vec<u8>,
    fixed_ip: Option<Vec<u8>>,
}

/// Takes connections while the worker has room, until it stops. Dropping
/// the acceptor at the end stops this worker taking connections; those
/// still queued go to other workers, or to the next generation after a
/// reload.
async fn accept_loop(sh: Rc<Shared>, acceptor: accept::Acceptor, sockets: Vec<SocketInfo>) {
    let mut stop = sh.stopping.clone();
    while !*stop.borrow() {
        let a = tokio::select! {
            biased;
            _ = stop.changed() => break,
            a = acceptor.accept(&sh.conn_closed, &sh.admission) => a,
        };
        let (i, fd, addr) = match a {
            Ok(c) => c,
            Err(e) if accept::needs_pause(&e) => {
                crate::logln!("oxwsgi: accept() failed: {}; pausing 100 ms", e);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(_) => continue,
        };
        let si = &sockets[i];
        let peer = match addr {
            Some(addr) => {
                let sock = socket2::SockRef::from(&fd);
                let _ = sock.set_tcp_nodelay(true);
                let server_name = match &si.fixed_ip {
                    Some(ip) => ip.clone(),
                    None => sock.local_addr().ok().and_then(|a| a.as_socket()).map(|a| a.ip().to_string()).unwrap_or_default().into_bytes(),
                };
                conn::Peer {
                    addr: addr.ip().to_string().into_bytes(),
                    port: addr.port().to_string().into_bytes(),
                    server_name,
                    server_port: si.port.clone(),
                    trace: Default::default(),
                }
            }
            None => conn::Peer { addr: Vec::new(), port: Vec::new(), server_name: si.name.clone(), server_port: Vec::new(), trace: Default::default() },
        };
        // Taken before anything can wait (the acceptor checked the room).
        let ticket = sh.admission.take();
        let l = &acceptor.listening()[i];
        match Stream::accepted(fd, l.unix, l.keep_alive) {
            Ok(s) => run_conn(&sh, s, peer, si.proto, ticket).await,
            Err(e) => crate::logln!("oxwsgi: cannot take a connection on {}: {}", String::from_utf8_lossy(&si.name), e),
        }
    }
}

/// A descriptor owned elsewhere (a static of uwsgi_signals), to poll.
struct Borrowed(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for Borrowed {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

/// Runs the uWSGI signals the master sends: those for this worker, and,
/// while a Python thread is free (as for a connection), those for the
/// first free worker.
async fn uwsgi_signals(sh: Rc<Shared>, any: std::os::fd::RawFd, mine: std::os::fd::RawFd) {
    use tokio::io::{Interest, unix::AsyncFd};
    // SAFETY: the descriptors stay open for the life of the process.
    let register = |fd| unsafe { AsyncFd::register_with_interest(Borrowed(fd), Interest::READABLE) };
    let (Ok(any_fd), Ok(mine_fd)) = (register(any), register(mine)) else {
        crate::logln!("oxwsgi: worker {} cannot wait for uWSGI signals", sh.worker_id);
        return;
    };
    let mut stop = sh.stopping.clone();
    loop {
        let (fd, mut ready) = tokio::select! {
            r = mine_fd.readable() => match r { Ok(g) => (mine, g), Err(_) => return },
            r = async { sh.admission.room().await; any_fd.readable().await } => match r { Ok(g) => (any, g), Err(_) => return },
            _ = stop.changed() => return,
        };
        match crate::uwsgi_signals::read_signal(fd) {
            Ok(Some(n)) => sh.executor.signal(n),
            Ok(None) => ready.clear_ready(),
            Err(_) => return,
        }
    }
}

/// Waits for a stop (signal or retirement), then for the connections to
/// finish, up to --reload-mercy.
async fn watch_signals(
    sh: Rc<Shared>,
    mut term: tokio::signal::unix::Signal,
    mut hup: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
    mut quit: tokio::signal::unix::Signal,
    mut usr1: tokio::signal::unix::Signal,
) -> Stop {
    let accepting = |on: bool| {
        if let Some(w) = crate::stats::me() {
            w.accepting.store(on as u64, Ordering::Relaxed);
        }
        balance::set_accepting(on);
    };
    accepting(true);
    let mut stop = sh.stopping.clone();
    let how = loop {
        tokio::select! {
            _ = usr1.recv() => sh.log_stats(),
            _ = term.recv() => break Stop::Graceful,
            _ = hup.recv() => break Stop::Reload,
            _ = stop.changed() => break Stop::Graceful,
            _ = int.recv() => return Stop::Abandon,
            _ = quit.recv() => return Stop::Abandon,
        }
    };
    let _ = sh.stop_tx.send(true);
    accepting(false);
    // In-flight requests finish; idle keep-alive connections close at once.
    let wait_idle = async {
        while sh.active.get() > 0 {
            let n = sh.idle.notified();
            if sh.active.get() == 0 {
                break;
            }
            n.await;
        }
    };
    tokio::select! {
        _ = wait_idle => how,
        _ = tokio::time::sleep(Duration::from_secs(sh.cfg.reload_mercy)) => {
            crate::logln!("oxwsgi: worker {} (pid {}): requests still running after --reload-mercy {}s, abandoning them", sh.worker_id, sh.pid, sh.cfg.reload_mercy);
            Stop::Abandon
        }
        _ = int.recv() => Stop::Abandon,
        _ = quit.recv() => Stop::Abandon,
    }
}

/// Serves a new connection as far as it goes without waiting, here in the
/// accept loop, and makes it a task of its own only if it must wait (for
/// more bytes, a slow client, the next keep-alive request). So a worker
/// takes one connection at a time while the app is busy: one back from a
/// slow app call would otherwise take every queued connection at once and
/// serve them one after the other while an idle worker finds the queue
/// empty (nginx + Django p99: 12.8 ms before, 9.8 after).
/// A uwsgi connection usually ends within this first poll, with no task.
async fn run_conn(sh: &Rc<Shared>, s: Stream, peer: conn::Peer, proto: Proto, ticket: Ticket) {
    sh.active.set(sh.active.get() + 1);
    balance::opened();
    let guard = ConnGuard(sh.clone());
    let sh = sh.clone();
    let trace = peer.trace.clone();
    let who = (sh.worker_id, sh.pid);
    let mut conn = contain::Contained::new(
        async move {
            let _guard = guard;
            match proto {
                Proto::Http => conn::serve_http(s, peer, sh, ticket).await,
                Proto::Uwsgi => conn::serve_uwsgi(s, peer, sh, ticket).await,
            }
        },
        trace,
        who,
    );
    // Polled with the accept loop's waker: a wake-up it registers there is
    // spurious for the loop, and the task's first poll registers its own.
    if poll_once(std::pin::Pin::new(&mut conn)).await.is_pending() {
        tokio::task::spawn_local(conn);
    }
}

/// Polls a future once with the calling task's waker and returns how it
/// stands: what can finish without waiting is done now, and the caller
/// decides what to do with the rest.
pub(crate) async fn poll_once<F: std::future::Future + ?Sized>(mut f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await
}
