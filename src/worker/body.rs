//! Reading a request body in full before the app runs: small bodies in
//! memory, larger ones (past --post-buffering) spooled to an unlinked temp
//! file, as uWSGI's post-buffering does. Chunked bodies are decoded here.

use crate::proto::chunked::ChunkedDecoder;
use crate::proto::http::{Framing, HttpError};
use crate::wsgi::Body;
use bytes::{Buf, BytesMut};
use std::io::{Seek, Write};
use std::time::Duration;
use tokio::io::AsyncRead;

#[derive(Debug)]
pub enum BodyError {
    /// Refuse with this status (413, 400, 408); the connection is closed.
    Refuse(&'static str, &'static str),
    /// The client went away or stalled past --socket-timeout (which); the
    /// connection is dropped.
    Gone(&'static str),
}

impl From<HttpError> for BodyError {
    fn from(e: HttpError) -> Self {
        BodyError::Refuse(e.status, e.reason)
    }
}

pub struct Limits {
    pub post_buffering: usize,
    pub limit_post: u64,
    pub read_timeout: Duration,
}

/// Accumulates body bytes, switching from memory to a temp file.
struct Sink {
    mem: Vec<u8>,
    file: Option<std::fs::File>,
    total: u64,
    threshold: usize,
}

impl Sink {
    fn new(threshold: usize, hint: u64) -> Self {
        let cap = if hint as usize <= threshold { hint as usize } else { 0 };
        Sink { mem: Vec::with_capacity(cap), file: None, total: 0, threshold }
    }

    fn put(&mut self, data: &[u8]) -> Result<(), BodyError> {
        self.total += data.len() as u64;
        if self.file.is_none() && self.mem.len() + data.len() > self.threshold {
            let mut f = spool_file().map_err(|e| {
                crate::logln!("oxwsgi: cannot create a temp file for a request body: {}", e);
                BodyError::Refuse("500 Internal Server Error", "cannot spool the request body")
            })?;
            f.write_all(&self.mem).map_err(spool_err)?;
            self.mem = Vec::new();
            self.file = Some(f);
        }
        match &mut self.file {
            Some(f) => f.write_all(data).map_err(spool_err),
            None => {
                self.mem.extend_from_slice(data);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<Body, BodyError> {
        match self.file {
            Some(mut f) => {
                f.rewind().map_err(spool_err)?;
                Ok(Body::File(f))
            }
            None if self.mem.is_empty() => Ok(Body::Empty),
            None => Ok(Body::Memory(self.mem)),
        }
    }
}

fn spool_err(e: std::io::Error) -> BodyError {
    crate::logln!("oxwsgi: cannot write a request body to its temp file: {}", e);
    if e.raw_os_error() == Some(libc::ENOSPC) {
        BodyError::Refuse("507 Insufficient Storage", "no space left to spool the request body")
    } else {
        BodyError::Refuse("500 Internal Server Error", "cannot spool the request body")
    }
}

/// An anonymous file in $TMPDIR (O_TMPFILE: nothing to clean up, ever).
fn spool_file() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().read(true).write(true).custom_flags(libc::O_TMPFILE).mode(0o600).open(std::env::temp_dir())
}

async fn read_more<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut, t: Duration) -> Result<(), BodyError> {
    if buf.capacity() - buf.len() < 16384 {
        buf.reserve(65536);
    }
    match super::stream::read_within(s, buf, t).await {
        Some(Ok(n)) if n > 0 => Ok(()),
        Some(_) => Err(BodyError::Gone("the client disconnected in the middle of its body")),
        None => Err(BodyError::Gone("no body bytes within --socket-timeout")),
    }
}

/// Reads the body framed by `framing`, first from what is already in
/// `buf` (leaving any pipelined bytes after it there), then from `s`.
pub async fn read_body<S: AsyncRead + Unpin>(s: &mut S, buf: &mut BytesMut, framing: Framing, lim: &Limits) -> Result<Body, BodyError> {
    match framing {
        Framing::None => Ok(Body::Empty),
        Framing::Length(n) => {
            if lim.limit_post > 0 && n > lim.limit_post {
                return Err(BodyError::Refuse("413 Content Too Large", "request body larger than --limit-post"));
            }
            if n as usize <= lim.post_buffering && buf.len() as u64 >= n {
                // The whole body is already here: one copy, no sink.
                let body = buf.split_to(n as usize).to_vec();
                return Ok(Body::Memory(body));
            }
            let mut sink = Sink::new(lim.post_buffering, n);
            let mut left = n;
            loop {
                let take = (buf.len() as u64).min(left) as usize;
                if take > 0 {
                    sink.put(&buf[..take])?;
                    buf.advance(take);
                    left -= take as u64;
                }
                if left == 0 {
                    return sink.finish();
                }
                read_more(s, buf, lim.read_timeout).await?;
            }
        }
        Framing::Chunked => {
            let mut sink = Sink::new(lim.post_buffering, 0);
            let mut dec = ChunkedDecoder::default();
            loop {
                let mut err = None;
                let used = dec.decode(buf, &mut |d| {
                    if err.is_none()
                        && let Err(e) = sink.put(d)
                    {
                        err = Some(e);
                    }
                })?;
                buf.advance(used);
                if let Some(e) = err {
                    return Err(e);
                }
                if lim.limit_post > 0 && sink.total > lim.limit_post {
                    return Err(BodyError::Refuse("413 Content Too Large", "request body larger than --limit-post"));
                }
                if dec.is_done() {
                    return sink.finish();
                }
                read_more(s, buf, lim.read_timeout).await?;
            }
        }
    }
}
