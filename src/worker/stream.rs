//! A client connection over TCP or a unix socket, with sendfile.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// One non-blocking vectored write, without waiting for readiness.
    pub fn try_write_vectored(&self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.try_write_vectored(bufs),
            Stream::Unix(s) => s.try_write_vectored(bufs),
        }
    }

    /// Sends `len` bytes of `file` from `offset` with sendfile(2). `idle`
    /// bounds each wait for the client to take more (--socket-timeout), not
    /// the whole transfer: a slow download that progresses is not cut.
    pub async fn sendfile(&mut self, file: &std::fs::File, offset: u64, len: u64, idle: std::time::Duration) -> io::Result<()> {
        let mut off = offset as i64;
        let end = offset + len;
        while (off as u64) < end {
            let want = ((end - off as u64) as usize).min(1 << 30);
            let fd = match self {
                Stream::Tcp(s) => s.as_raw_fd(),
                Stream::Unix(s) => s.as_raw_fd(),
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
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
