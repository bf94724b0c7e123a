//! A client connection over TCP or a unix socket, with sendfile.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// A uwsgi-protocol connection not registered with the reactor yet.
    /// nginx opens one connection per request and has usually sent the
    /// whole packet by the time we accept: it is read, answered and closed
    /// with plain non-blocking calls, saving the two epoll_ctl calls (and
    /// the reactor's bookkeeping) that registering costs. The first call
    /// that would block registers it, and it goes on as a `Tcp` or `Unix`.
    Raw(Raw),
}

pub struct Raw {
    /// None only for the moment of the upgrade.
    fd: Option<OwnedFd>,
    unix: bool,
}

impl Raw {
    fn fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, |f| f.as_raw_fd())
    }
}

/// Reads into `buf`, waiting at most `limit`; None if the wait ran out.
/// The timer, and the clock reading it starts with, are set up only if the
/// read must wait: usually the bytes are already there (nginx sends a
/// whole packet before we accept it).
pub async fn read_within<S: AsyncRead + Unpin>(s: &mut S, buf: &mut bytes::BytesMut, limit: std::time::Duration) -> Option<io::Result<usize>> {
    let mut read = std::pin::pin!(s.read_buf(buf));
    if let Poll::Ready(r) = super::poll_once(read.as_mut()).await {
        return Some(r);
    }
    tokio::time::timeout(limit, read).await.ok()
}

/// The result of a raw read(2)/writev(2) call.
fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

fn raw_writev(fd: RawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: IoSlice is ABI-compatible with iovec; the slices outlive the call.
    cvt(unsafe { libc::writev(fd, bufs.as_ptr() as *const libc::iovec, bufs.len().min(1024) as libc::c_int) })
}

impl Stream {
    /// A freshly accepted non-blocking socket, registered with the reactor
    /// now or only when a call on it would block.
    pub fn accepted(fd: OwnedFd, unix: bool, register: bool) -> io::Result<Stream> {
        let mut s = Stream::Raw(Raw { fd: Some(fd), unix });
        if register {
            s.register()?;
        }
        Ok(s)
    }

    /// One non-blocking vectored write, without waiting for readiness.
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write_vectored(bufs),
            Stream::Unix(s) => s.try_write_vectored(bufs),
            Stream::Raw(r) => raw_writev(r.fd(), bufs),
        }
    }

    /// Registers a `Raw` stream with the reactor (a no-op for the others).
    fn register(&mut self) -> io::Result<()> {
        if let Stream::Raw(r) = self {
            let fd = r.fd.take().ok_or_else(|| io::Error::other("stream lost in registration"))?;
            *self = if r.unix {
                Stream::Unix(UnixStream::from_std(std::os::unix::net::UnixStream::from(fd))?)
            } else {
                Stream::Tcp(TcpStream::from_std(std::net::TcpStream::from(fd))?)
            };
        }
        Ok(())
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2). `idle`
    /// bounds each wait for the client to take more (--socket-timeout), not
    /// the whole transfer: a slow download that progresses is not cut.
    pub async fn sendfile(&mut self, file: &std::fs::File, offset: u64, len: u64, idle: std::time::Duration) -> io::Result<()> {
        self.register()?;
        let mut off = offset as i64;
        let end = offset + len;
        while (off as u64) < end {
            let want = ((end - off as u64) as usize).min(1 << 30);
            let fd = match self {
                Stream::Tcp(s) => s.as_raw_fd(),
                Stream::Unix(s) => s.as_raw_fd(),
                Stream::Raw(r) => r.fd(),
            };
            let io = || {
                let n = unsafe { libc::sendfile(fd, file.as_raw_fd(), &mut off, want) };
                if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
            };
            let stalled = || io::Error::new(io::ErrorKind::TimedOut, "client stopped reading");
            let r = match self {
                Stream::Tcp(s) => {
                    tokio::time::timeout(idle, s.writable()).await.map_err(|_| stalled())??;
                    s.try_io(Interest::WRITABLE, io)
                }
                Stream::Unix(s) => {
                    tokio::time::timeout(idle, s.writable()).await.map_err(|_| stalled())??;
                    s.try_io(Interest::WRITABLE, io)
                }
                Stream::Raw(_) => unreachable!("registered above"),
            };
            match r {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being sent")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if let Stream::Raw(r) = me {
            loop {
                // SAFETY: read(2) writes at most `len` bytes into the
                // unfilled part, which are then initialised.
                let dst = unsafe { buf.unfilled_mut() };
                match cvt(unsafe { libc::read(r.fd(), dst.as_mut_ptr() as *mut libc::c_void, dst.len()) }) {
                    Ok(n) => {
                        unsafe { buf.assume_init(n) };
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            me.register()?;
        }
        match me {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Raw(_) => unreachable!("registered above"),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if let Stream::Raw(r) = me {
            loop {
                match raw_writev(r.fd(), bufs) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    other => return Poll::Ready(other),
                }
            }
            me.register()?;
        }
        match me {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Raw(_) => unreachable!("registered above"),
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Raw(_) => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            // SAFETY: shutdown(2) on a descriptor we own.
            Stream::Raw(r) => Poll::Ready(cvt(unsafe { libc::shutdown(r.fd(), libc::SHUT_WR) } as isize).map(|_| ())),
        }
    }
}
