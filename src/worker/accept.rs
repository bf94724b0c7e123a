//! Accepting connections. Each listening socket gets a thread blocked in
//! accept(): the kernel wakes exactly one waiter per connection, in turn,
//! so workers share connections fairly and without the thundering herd
//! that every worker's epoll on one shared socket would cause. Accepted
//! sockets go to the worker's runtime over a channel.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

pub enum Accepted {
    Tcp(std::net::TcpStream, std::net::SocketAddr),
    Unix(std::os::unix::net::UnixStream),
}

/// Starts the accept thread for `fd`. It ends, closing the channel, at most
/// half a second after `stop` is set; connections it accepted until then
/// still arrive.
pub fn start(fd: OwnedFd, unix: bool, stop: Arc<AtomicBool>) -> std::io::Result<mpsc::UnboundedReceiver<Accepted>> {
    let sock = socket2::Socket::from(fd);
    sock.set_nonblocking(false)?;
    // accept() honours SO_RCVTIMEO: the thread looks at `stop` twice a second.
    sock.set_read_timeout(Some(Duration::from_millis(500)))?;
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::Builder::new().name("accept".into()).spawn(move || {
        while !stop.load(Ordering::Acquire) {
            match sock.accept() {
                Ok((s, addr)) => {
                    let a = if unix {
                        Accepted::Unix(std::os::unix::net::UnixStream::from(OwnedFd::from(s)))
                    } else {
                        let peer = addr.as_socket().unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
                        Accepted::Tcp(std::net::TcpStream::from(OwnedFd::from(s)), peer)
                    };
                    if tx.send(a).is_err() {
                        break;
                    }
                }
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut) => {}
                Err(e) => {
                    // EMFILE and friends: wait a little instead of spinning.
                    crate::logln!("oxwsgi: accept() failed: {}", e);
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })?;
    Ok(rx)
}
