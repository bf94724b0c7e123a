//! Accepting connections on the worker's own event loop. Every worker
//! polls the shared listening socket; one that is busy inside the app (with
//! --threads 1 the app runs on this loop) is not polling, so connections go
//! to the workers that can take them now. A connection costs no hand-off
//! between threads: for short connections, such as nginx's uwsgi_pass
//! (one connection per request), that hand-off was most of the cost.

use std::os::fd::OwnedFd;

pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener),
}

pub enum Accepted {
    Tcp(tokio::net::TcpStream, std::net::SocketAddr),
    Unix(tokio::net::UnixStream),
}

impl Listener {
    /// Registers a listening socket with the current runtime.
    pub fn new(fd: OwnedFd, unix: bool) -> std::io::Result<Listener> {
        // The socket's file description is shared with the master and the
        // other workers: they all use it non-blocking.
        if unix {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true)?;
            Ok(Listener::Unix(tokio::net::UnixListener::from_std(l)?))
        } else {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true)?;
            Ok(Listener::Tcp(tokio::net::TcpListener::from_std(l)?))
        }
    }

    pub async fn accept(&self) -> std::io::Result<Accepted> {
        match self {
            Listener::Tcp(l) => {
                let (s, addr) = l.accept().await?;
                Ok(Accepted::Tcp(s, addr))
            }
            Listener::Unix(l) => Ok(Accepted::Unix(l.accept().await?.0)),
        }
    }
}

/// Errors after which accepting again at once would spin: out of
/// descriptors or memory. Anything else (a client that reset before we
/// took it) is retried immediately.
pub fn needs_pause(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM))
}
