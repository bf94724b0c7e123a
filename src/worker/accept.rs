//! Accepting connections on the worker's own event loop: one accept loop
//! for all the worker's listening sockets, taking a connection only when a
//! Python thread can start on it (admission.rs), and, on HTTP listeners,
//! letting a less loaded worker take it first (balance.rs). A connection
//! costs no hand-off between threads: for short connections, such as
//! nginx's uwsgi_pass (one connection per request), that hand-off was
//! most of the cost.
//!
//! How an idle worker learns that a connection is waiting:
//! - HTTP sockets, and any socket of a lone worker: the runtime watches
//!   them. With several workers every idle one is woken per connection;
//!   HTTP connections are long-lived (keep-alive), so that is rare, and it
//!   is what lets the less loaded worker win the race (balance.rs).
//! - uwsgi sockets shared by several workers: nginx opens a connection per
//!   request, and waking every idle worker for each (8.5 wake-ups per
//!   connection with 8 idle workers; uWSGI 2.0 does the same) is wasted
//!   work. So each worker has a watcher thread waiting on those sockets
//!   with EPOLLEXCLUSIVE, which makes the kernel wake one waiter per
//!   connection (2 wake-ups: the watcher and its worker), and only while
//!   the worker has room: the sockets are in the watcher's epoll only
//!   while the accept loop waits (`arm`), and are taken out when the
//!   watcher wakes or the worker becomes full (`disarm`), so a busy worker
//!   is never the one woken; taking them out and back puts the worker at
//!   the end of the kernel's queue, so the workers take turns.

use super::admission::Admission;
use super::balance;
use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A listening socket and what its connections are.
pub struct Listening {
    pub fd: OwnedFd,
    /// HTTP: connections stay open for more requests, so they are spread
    /// over the workers (balance.rs) and registered with the reactor at
    /// once. uwsgi: each connection carries one request (nginx opens one
    /// per request), there is no pool to spread (waiting a millisecond per
    /// connection cost a quarter of nginx + Django's throughput), and a
    /// connection is registered only if a call on it would block.
    pub keep_alive: bool,
    /// A unix socket: its peer address is never used, so the kernel is not
    /// asked for it (unix_getname showed in nginx + hello profiles).
    pub unix: bool,
}

/// How the accept loop waits for one socket.
enum Wait {
    Runtime(AsyncFd<Raw>),
    Watcher,
}

/// A descriptor owned by a `Listening` (or the watcher), to poll.
struct Raw(RawFd);

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

pub struct Acceptor {
    // Dropped before the sockets they poll.
    waits: Vec<Wait>,
    watcher: Option<Rc<Watcher>>,
    listening: Vec<Listening>,
}

impl Acceptor {
    /// `shared`: other workers accept on the same sockets.
    pub fn new(listening: Vec<Listening>, shared: bool, admission: &Admission) -> std::io::Result<Acceptor> {
        for l in &listening {
            // The socket's file description is shared with the master and the
            // other workers: they all use it non-blocking.
            let fd = l.fd.as_raw_fd();
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let watched = |l: &Listening| shared && !l.keep_alive;
        let mut waits = Vec::new();
        for l in &listening {
            waits.push(if watched(l) {
                Wait::Watcher
            } else {
                // SAFETY: the Raw is deregistered when the Acceptor drops,
                // before the Listening (and its fd) do.
                Wait::Runtime(unsafe { AsyncFd::register_with_interest(Raw(l.fd.as_raw_fd()), Interest::READABLE) }.map_err(|e| e.into_parts().1)?)
            });
        }
        let mine: Vec<RawFd> = listening.iter().filter(|l| watched(l)).map(|l| l.fd.as_raw_fd()).collect();
        let watcher = if mine.is_empty() {
            None
        } else {
            let w = Watcher::start(mine)?;
            let w2 = w.clone();
            admission.on_full(Box::new(move || w2.disarm()));
            Some(w)
        };
        Ok(Acceptor { waits, watcher, listening })
    }

    pub fn listening(&self) -> &[Listening] {
        &self.listening
    }

    /// The next connection: which socket, the connection, and the peer's
    /// address for TCP. Only with room for a request.
    pub async fn accept(&self, conn_closed: &tokio::sync::Notify, admission: &Admission) -> std::io::Result<(usize, OwnedFd, Option<std::net::SocketAddr>)> {
        let keep_alive = self.listening.iter().any(|l| l.keep_alive);
        loop {
            admission.room().await;
            // When another worker holds fewer connections, an HTTP
            // connection is left to it for up to a millisecond (less if one
            // of ours closes meanwhile).
            let defer = keep_alive && balance::should_defer();
            if !defer && let Some(c) = self.try_all()? {
                return Ok(c);
            }
            self.ready().await?;
            if defer {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                    _ = conn_closed.notified() => {}
                }
            }
            if !admission.has_room() {
                continue;
            }
            if let Some(c) = self.try_all()? {
                return Ok(c);
            }
            // Another worker took it.
        }
    }

    /// One non-blocking accept on each socket, until one gives a connection.
    fn try_all(&self) -> std::io::Result<Option<(usize, OwnedFd, Option<std::net::SocketAddr>)>> {
        for (i, l) in self.listening.iter().enumerate() {
            let r = match &self.waits[i] {
                // Through the registration, so that a would-block clears
                // the readiness the runtime remembers.
                Wait::Runtime(fd) => fd.try_io(Interest::READABLE, |fd| accept_raw(fd.0, !l.unix)),
                Wait::Watcher => accept_raw(l.fd.as_raw_fd(), !l.unix),
            };
            match r {
                Ok((fd, addr)) => return Ok(Some((i, fd, addr))),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    /// Until a socket may have a connection waiting.
    async fn ready(&self) -> std::io::Result<()> {
        let runtime = std::future::poll_fn(|cx| {
            for w in &self.waits {
                if let Wait::Runtime(fd) = w
                    && let std::task::Poll::Ready(r) = fd.poll_read_ready(cx)
                {
                    return std::task::Poll::Ready(r.map(|_| ()));
                }
            }
            std::task::Poll::Pending
        });
        match &self.watcher {
            None => runtime.await,
            Some(w) => tokio::select! {
                r = runtime => r,
                r = w.wait() => r,
            },
        }
    }
}

/// The thread that waits on the listening sockets with EPOLLEXCLUSIVE for
/// a worker sharing them (see the top of this file).
struct Watcher {
    epoll: OwnedFd,
    listening: Vec<RawFd>,
    /// Written by the thread when a socket became readable.
    woken: AsyncFd<OwnedFd>,
    /// Written to end the thread.
    stop: OwnedFd,
    /// The sockets are in `epoll` (as far as this thread knows).
    armed: Cell<bool>,
    /// The accept loop, parked in `wait`: woken when the worker becomes
    /// full, to arm again once it has room.
    parked: Cell<Option<std::task::Waker>>,
    thread: Cell<Option<std::thread::JoinHandle<()>>>,
}

const STOP_TOKEN: u64 = 0;
const SOCKET_TOKEN: u64 = 1;

fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: eventfd(2) returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 { Err(std::io::Error::last_os_error()) } else { Ok(unsafe { OwnedFd::from_raw_fd(fd) }) }
}

fn ctl(epoll: RawFd, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> std::io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: epoll_ctl(2) on descriptors we hold, with an event we own.
    if unsafe { libc::epoll_ctl(epoll, op, fd, &mut ev) } < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) }
}

fn bump(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: an 8-byte write to an eventfd we hold.
    unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
}

impl Watcher {
    fn start(listening: Vec<RawFd>) -> std::io::Result<Rc<Watcher>> {
        // SAFETY: epoll_create1(2) returns a new descriptor or -1.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
        let stop = eventfd()?;
        ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, stop.as_raw_fd(), libc::EPOLLIN as u32, STOP_TOKEN)?;
        let woken_fd = eventfd()?;
        let (ep, woken_raw) = (epoll.as_raw_fd(), woken_fd.as_raw_fd());
        let socks = listening.clone();
        let thread = std::thread::Builder::new().name("accept-watch".into()).spawn(move || watch(ep, woken_raw, &socks))?;
        // SAFETY: the eventfd is owned by the AsyncFd, which deregisters it
        // before closing it.
        let woken = unsafe { AsyncFd::register_with_interest(woken_fd, Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
        Ok(Rc::new(Watcher { epoll, listening, woken, stop, armed: Cell::new(false), parked: Cell::new(None), thread: Cell::new(Some(thread)) }))
    }

    fn arm(&self) {
        if self.armed.replace(true) {
            return;
        }
        for &fd in &self.listening {
            // Level-triggered: a socket with connections already queued
            // wakes the watcher at once.
            let _ = ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, (libc::EPOLLIN | libc::EPOLLEXCLUSIVE) as u32, SOCKET_TOKEN);
        }
    }

    /// The worker cannot take a connection now: it must not be the waiter
    /// the kernel wakes.
    fn disarm(&self) {
        if self.armed.replace(false) {
            for &fd in &self.listening {
                // ENOENT if the watcher took them out first: fine.
                let _ = ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0);
            }
            if let Some(w) = self.parked.take() {
                w.wake();
            }
        }
    }

    /// Arms, and waits for the watcher's word (it takes the sockets out),
    /// or for the worker to become full (then the caller waits for room).
    async fn wait(&self) -> std::io::Result<()> {
        self.arm();
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(g) = self.woken.poll_read_ready(cx) {
                let mut g = g?;
                let mut n = [0u8; 8];
                let _ = nix::unistd::read(self.woken.get_ref(), &mut n);
                g.clear_ready();
                self.armed.set(false);
                return std::task::Poll::Ready(Ok(()));
            }
            if !self.armed.get() {
                return std::task::Poll::Ready(Ok(()));
            }
            self.parked.set(Some(cx.waker().clone()));
            std::task::Poll::Pending
        })
        .await
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        bump(self.stop.as_raw_fd());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The watcher thread: sleeps in epoll_wait; when a socket is readable it
/// takes the sockets out (so this worker stops being a candidate) and
/// tells the accept loop.
fn watch(epoll: RawFd, woken: RawFd, listening: &[RawFd]) {
    // Not a thread for signals: they go to the runtime's.
    let _ = nix::sys::signal::SigSet::all().thread_block();
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    loop {
        // SAFETY: epoll_wait(2) into a buffer we own.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as libc::c_int, -1) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        let evs = &events[..n as usize];
        if evs.iter().any(|e| e.u64 == STOP_TOKEN) {
            return;
        }
        for &fd in listening {
            let _ = ctl(epoll, libc::EPOLL_CTL_DEL, fd, 0, 0);
        }
        bump(woken);
    }
}

/// accept4() with the new socket non-blocking and close-on-exec in the
/// same call, and the peer's address if asked for (TCP).
fn accept_raw(fd: RawFd, with_addr: bool) -> std::io::Result<(OwnedFd, Option<std::net::SocketAddr>)> {
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let done = |r: libc::c_int| if r < 0 { Err(std::io::Error::last_os_error()) } else { Ok(unsafe { OwnedFd::from_raw_fd(r) }) };
    // SAFETY (both calls): accept4 writes at most `len` bytes into the
    // zeroed storage that try_init hands us, or nothing without a buffer;
    // the new descriptor is ours alone.
    if !with_addr {
        return Ok((done(unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), flags) })?, None));
    }
    let (s, addr) = unsafe { socket2::SockAddr::try_init(|storage, len| done(libc::accept4(fd, storage as *mut libc::sockaddr, len, flags)))? };
    Ok((s, addr.as_socket()))
}

/// Errors after which accepting again at once would spin: out of
/// descriptors or memory. Anything else (a client that reset before we
/// took it) is retried immediately.
pub fn needs_pause(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM))
}
