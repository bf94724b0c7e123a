//! uWSGI's signal framework (not POSIX signals: see unix_signals.rs): 256
//! numbered events that the master routes to workers, raised by the app
//! (`uwsgi.signal`), by timers (`uwsgi.add_timer`, `add_rb_timer`) and by
//! file changes (`uwsgi.add_file_monitor`), each run by the Python handler
//! registered for it (`uwsgi.register_signal`, uwsgidecorators' @signal,
//! @timer, @rbtimer, @filemon).
//!
//! Like uWSGI's, signals are one-byte datagrams on unix socket pairs, made
//! before the first fork: `up` carries the workers' requests to the master
//! (raise a signal, add a timer or a file monitor), `any` the signals for
//! whichever worker reads one first (the "worker" target: the first free
//! worker), and each worker has a socket of its own (made when it is
//! spawned) for the signals meant for it. The master does the routing and
//! the timing in its poll loop (master.rs), with no thread.

mod master;
pub mod table;

pub use master::Master;
pub use table::Target;

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, OnceLock};

/// What a process asks of the master.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Raise(u8),
    /// Raise `signal` every `every` seconds, `times` times (0: forever).
    Timer {
        signal: u8,
        every: u64,
        times: u64,
    },
    FileMonitor {
        signal: u8,
        path: String,
    },
}

impl Request {
    fn encode(&self) -> String {
        match self {
            Request::Raise(n) => format!("raise {}", n),
            Request::Timer { signal, every, times } => format!("timer {} {} {}", signal, every, times),
            Request::FileMonitor { signal, path } => format!("filemon {} {}", signal, path),
        }
    }

    fn decode(s: &str) -> Option<Request> {
        let mut w = s.splitn(4, ' ');
        let (kind, num) = (w.next()?, w.next()?.parse().ok()?);
        match kind {
            "raise" => Some(Request::Raise(num)),
            "timer" => Some(Request::Timer { signal: num, every: w.next()?.parse().ok()?, times: w.next()?.parse().ok()? }),
            "filemon" => Some(Request::FileMonitor { signal: num, path: s.splitn(3, ' ').nth(2)?.to_string() }),
            _ => None,
        }
    }
}

struct Channels {
    /// [0] the master reads, [1] the workers write.
    up: [OwnedFd; 2],
    /// [0] the master writes, [1] the workers read.
    any: [OwnedFd; 2],
}

static CHANNELS: OnceLock<Channels> = OnceLock::new();
/// Requests made in the master before its loop runs (the app asking for a
/// timer while it is imported): the loop takes them at its start.
static EARLY: Mutex<Vec<Request>> = Mutex::new(Vec::new());
/// In a worker: its own socket's end.
static MINE: OnceLock<OwnedFd> = OnceLock::new();

fn pair() -> Result<[OwnedFd; 2], String> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    let (a, b) = socketpair(AddressFamily::Unix, SockType::Datagram, None, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC)
        .map_err(|e| format!("cannot make a socket pair for the signal framework: {}", e))?;
    Ok([a, b])
}

/// Makes the table and the sockets, in the master before the first fork.
pub fn create() -> Result<(), String> {
    table::create()?;
    let _ = CHANNELS.set(Channels { up: pair()?, any: pair()? });
    Ok(())
}

/// Whether there is a master to route signals (uWSGI's framework needs one).
pub fn available() -> bool {
    CHANNELS.get().is_some()
}

/// Asks the master for `req`: through `up` from a worker, directly in the
/// master itself.
pub fn request(req: Request) -> Result<(), String> {
    let Some(ch) = CHANNELS.get() else {
        return Err("uWSGI signals need a master process: add --master (as uWSGI requires)".into());
    };
    if MINE.get().is_none() {
        EARLY.lock().unwrap_or_else(|e| e.into_inner()).push(req);
        return Ok(());
    }
    let msg = req.encode();
    // A full queue means the master is not reading: a second's wait at most.
    for _ in 0..100 {
        match nix::unistd::write(&ch.up[1], msg.as_bytes()) {
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EAGAIN) => std::thread::sleep(std::time::Duration::from_millis(10)),
            Err(e) => return Err(format!("cannot reach the master: {}", e)),
        }
    }
    Err("the master does not take signal requests (its queue is full)".into())
}

/// In a worker after the fork: its own socket, and the master's ends closed.
pub fn become_worker(mine: OwnedFd) {
    let _ = MINE.set(mine);
}

/// The sockets a worker reads signals from: the shared one (the first
/// worker to read takes the signal) and its own.
pub fn worker_sockets() -> Option<(RawFd, RawFd)> {
    Some((CHANNELS.get()?.any[1].as_raw_fd(), MINE.get()?.as_raw_fd()))
}

/// Reads one signal number from a worker socket, if one is waiting.
pub fn read_signal(fd: RawFd) -> std::io::Result<Option<u8>> {
    let mut b = [0u8; 64];
    // SAFETY: recv(2) into a buffer we own.
    let n = unsafe { libc::recv(fd, b.as_mut_ptr() as *mut libc::c_void, b.len(), libc::MSG_DONTWAIT) };
    match n {
        1.. => Ok(Some(b[0])),
        0 => Ok(None),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for r in
            [Request::Raise(17), Request::Timer { signal: 3, every: 5, times: 0 }, Request::FileMonitor { signal: 255, path: "/srv/a dir/with spaces".into() }]
        {
            assert_eq!(Request::decode(&r.encode()), Some(r));
        }
        assert_eq!(Request::decode("raise 256"), None);
        assert_eq!(Request::decode("timer 1 x 0"), None);
        assert_eq!(Request::decode("nonsense"), None);
    }
}
