//! Accepting connections on the worker's own event loop. Every worker
//! polls the shared listening socket; one that is busy inside the app (with
//! --threads 1 the app runs on this loop) is not polling, so connections go
//! to the workers that can take them now, and balance.rs keeps keep-alive
//! connections spread. A connection costs no hand-off between threads: for
//! short connections, such as nginx's uwsgi_pass (one connection per
//! request), that hand-off was most of the cost.

use super::admission::Admission;
use super::balance;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;

pub struct Listener {
    fd: AsyncFd<OwnedFd>,
    /// HTTP: connections stay open for more requests, so they are spread
    /// over the workers (balance.rs) and registered with the reactor at
    /// once. uwsgi: each connection carries one request (nginx opens one
    /// per request), there is no pool to spread (waiting a millisecond per
    /// connection cost a quarter of nginx + Django's throughput: 1.8-1.9k
    /// rps against 2.6k without the wait), and a connection is registered
    /// only if a call on it would block (Stream::Raw).
    keep_alive: bool,
    /// A unix socket: its peer address is never used, so the kernel is not
    /// asked for it (unix_getname showed in nginx + hello profiles).
    unix: bool,
}

impl Listener {
    /// Registers a listening socket with the current runtime.
    pub fn new(fd: OwnedFd, keep_alive: bool, unix: bool) -> std::io::Result<Listener> {
        // The socket's file description is shared with the master and the
        // other workers: they all use it non-blocking.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd is moved into the AsyncFd, which deregisters
        // it before dropping (closing) it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.map_err(|e| e.into_parts().1)?;
        Ok(Listener { fd, keep_alive, unix })
    }

    pub fn keep_alive(&self) -> bool {
        self.keep_alive
    }

    /// The next connection, non-blocking, with the peer's address for TCP.
    /// When another worker holds fewer connections, a keep-alive listener
    /// first lets up to a millisecond pass (once per connection), less if
    /// one of ours closes meanwhile.
    /// Only with room for a request (admission.rs): a worker whose Python
    /// threads are all taken leaves the connection to another.
    pub async fn accept(&self, conn_closed: &tokio::sync::Notify, admission: &Admission) -> std::io::Result<(OwnedFd, Option<std::net::SocketAddr>)> {
        let mut defer_until = None;
        loop {
            admission.room().await;
            let mut ready = self.fd.readable().await?;
            // Another listener's connection may have taken the room meanwhile.
            if !admission.has_room() {
                continue;
            }
            if self.keep_alive && balance::should_defer() {
                let until = *defer_until.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_millis(1));
                if tokio::time::Instant::now() < until {
                    drop(ready);
                    // Our own connections may close first: then look again
                    // at once rather than idle out the millisecond while new
                    // connections wait.
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = conn_closed.notified() => {}
                    }
                    continue;
                }
            }
            match ready.try_io(|fd| accept_raw(fd.get_ref().as_raw_fd(), !self.unix)) {
                Ok(r) => return r,
                Err(_would_block) => continue,
            }
        }
    }
}

/// accept4() with the new socket non-blocking and close-on-exec in the
/// same call, and the peer's address if asked for (TCP).
fn accept_raw(fd: std::os::fd::RawFd, with_addr: bool) -> std::io::Result<(OwnedFd, Option<std::net::SocketAddr>)> {
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
