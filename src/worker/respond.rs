//! Writing the app's response to the client: framing (Content-Length,
//! chunked, or close-delimited), HEAD, and sendfile. The events come from
//! the executor (pool.rs), whichever thread runs the app; while a slow
//! client reads, only this task waits.

use super::pool::Responses;
use super::stream::Stream;
use crate::proto::http::{self, BodyFraming};
use crate::wsgi::{RespEvent, ResponseHead};
use std::io::IoSlice;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// How the request constrains the response.
pub struct ReqMeta<'a> {
    pub http11: bool,
    pub keep_alive: bool,
    pub is_head: bool,
    /// Chunked framing is allowed (HTTP/1.1 clients; not the uwsgi protocol,
    /// whose responses end when the connection closes).
    pub allow_chunked: bool,
    pub write_timeout: Duration,
    /// The worker is stopping: the answer says `Connection: close`, so a
    /// keep-alive client reconnects (to another worker) instead of racing
    /// our close with its next request.
    pub stopping: &'a tokio::sync::watch::Receiver<bool>,
    /// --add-header lines, for every response to this request.
    pub add_headers: &'a [u8],
}

/// What happened, for the log and the keep-alive decision.
pub struct Outcome {
    pub status: Vec<u8>,
    pub body_bytes: u64,
    pub headers: usize,
    pub headers_bytes: usize,
    /// The connection can serve another request.
    pub reusable: bool,
    /// Why the response could not be delivered in full, if it could not.
    pub broken: Option<&'static str>,
    /// The body went out with sendfile (--log-sendfile).
    pub sendfile: bool,
}

const INTERNAL_ERROR: &[u8] = b"Internal Server Error\n";
const GATEWAY_TIMEOUT: &[u8] = b"Gateway Timeout: the request ran past --harakiri\n";

/// Most parts a response write takes (head, body, chunk trailer).
const MAX_PARTS: usize = 3;

/// The slices of `parts` not yet written after `written` bytes, in `out`
/// (on the stack: this runs for every response); returns how many.
fn remaining<'a>(parts: &[&'a [u8]], written: usize, out: &mut [IoSlice<'a>; MAX_PARTS]) -> usize {
    let mut skip = written;
    let mut n = 0;
    for p in parts {
        if skip >= p.len() {
            skip -= p.len();
            continue;
        }
        out[n] = IoSlice::new(&p[skip..]);
        n += 1;
        skip = 0;
    }
    n
}

async fn write_timed(s: &mut Stream, parts: &[&[u8]], t: Duration) -> std::io::Result<()> {
    assert!(parts.len() <= MAX_PARTS);
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut written = 0;
    let mut slices = [IoSlice::new(&[]); MAX_PARTS];
    // Usually the socket takes the whole response at once: no timer to arm.
    while written < total {
        let n = remaining(parts, written, &mut slices);
        match s.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if written == total {
        return Ok(());
    }
    let fut = async {
        while written < total {
            let k = remaining(parts, written, &mut slices);
            let n = s.write_vectored(&slices[..k]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            written += n;
        }
        Ok(())
    };
    match tokio::time::timeout(t, fut).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "client stopped reading")),
    }
}

fn why(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::TimedOut => "the client stopped reading (--socket-timeout)",
        _ => "the client disconnected",
    }
}

/// Writes a response we make ourselves (errors, 100 Continue refusals).
pub async fn write_simple(s: &mut Stream, http11: bool, status: &str, body: &[u8], keep_alive: bool, t: Duration) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(128);
    let hdrs = b"Content-Type: text/plain\r\n";
    http::encode_head(&mut head, http11, status.as_bytes(), hdrs, b"", BodyFraming::Length, Some(body.len() as u64), keep_alive);
    write_timed(s, &[&head, body], t).await
}

fn choose_framing(meta: &ReqMeta<'_>, head: &ResponseHead, complete_len: Option<usize>) -> (BodyFraming, Option<u64>) {
    if http::status_has_no_body(&head.status) {
        return (BodyFraming::Empty, None);
    }
    let framing = if meta.is_head { BodyFraming::Empty } else { BodyFraming::Length };
    match (head.content_length, complete_len) {
        (Some(_), _) => (framing, None),
        (None, Some(n)) => (framing, Some(n as u64)),
        (None, None) if meta.is_head => (BodyFraming::Empty, None),
        (None, None) if meta.allow_chunked && meta.http11 => (BodyFraming::Chunked, None),
        (None, None) => (BodyFraming::Close, None),
    }
}

/// Pulls the app's response events and writes the response.
pub async fn write_response(s: &mut Stream, rx: &mut Responses<'_>, meta: &ReqMeta<'_>) -> Outcome {
    let mut out = Outcome { status: Vec::new(), body_bytes: 0, headers: 0, headers_bytes: 0, reusable: false, broken: None, sendfile: false };
    let first = rx.next().await;
    let (head, complete) = match first {
        Some(RespEvent::Complete(h, b)) => (h, Some(b)),
        Some(RespEvent::Head(h)) => (h, None),
        other => {
            let (status, body) = match other {
                Some(RespEvent::TimedOut) => ("504 Gateway Timeout", GATEWAY_TIMEOUT),
                _ => ("500 Internal Server Error", INTERNAL_ERROR),
            };
            out.status = status.as_bytes().to_vec();
            out.reusable = meta.keep_alive && !*meta.stopping.borrow();
            let ok = write_simple(s, meta.http11, status, body, out.reusable, meta.write_timeout).await.is_ok();
            out.reusable &= ok;
            out.body_bytes = body.len() as u64;
            return out;
        }
    };
    let (framing, add_len) = choose_framing(meta, &head, complete.as_ref().map(|b| b.len()));
    let mut keep_alive = meta.keep_alive && !head.close && framing != BodyFraming::Close && !*meta.stopping.borrow();
    // A body shorter than the app's Content-Length would leave the client
    // waiting for bytes that never come: close instead of reusing.
    if let (Some(cl), Some(b)) = (head.content_length, &complete)
        && (b.len() as u64) < cl
    {
        keep_alive = false;
    }
    let mut h = Vec::with_capacity(128 + head.headers.len());
    http::encode_head(&mut h, meta.http11, &head.status, &head.headers, meta.add_headers, framing, add_len, keep_alive);
    out.status = head.status;
    out.headers = head.header_count;
    out.headers_bytes = h.len();
    let send_body = !matches!(framing, BodyFraming::Empty);
    if let Some(body) = complete {
        let body: &[u8] = if send_body { &body } else { &[] };
        if let Err(e) = write_timed(s, &[&h, body], meta.write_timeout).await {
            out.broken = Some(why(&e));
            return out;
        }
        out.body_bytes = body.len() as u64;
        out.reusable = keep_alive;
        return out;
    }
    if let Err(e) = write_timed(s, &[&h], meta.write_timeout).await {
        out.broken = Some(why(&e));
        return out;
    }
    let chunked = framing == BodyFraming::Chunked;
    loop {
        match rx.next().await {
            Some(RespEvent::Data(d)) => {
                if !send_body || d.is_empty() {
                    continue;
                }
                let r = if chunked {
                    let size = format!("{:x}\r\n", d.len());
                    write_timed(s, &[size.as_bytes(), &d, b"\r\n"], meta.write_timeout).await
                } else {
                    write_timed(s, &[&d], meta.write_timeout).await
                };
                if let Err(e) = r {
                    out.broken = Some(why(&e));
                    return out;
                }
                out.body_bytes += d.len() as u64;
            }
            Some(RespEvent::File { file, offset, len }) => {
                if !send_body {
                    continue;
                }
                if let Err(e) = s.sendfile(&file, offset, len, meta.write_timeout).await {
                    out.broken = Some(why(&e));
                    return out;
                }
                out.body_bytes += len;
                out.sendfile = true;
            }
            Some(RespEvent::End) => {
                if chunked && let Err(e) = write_timed(s, &[http::LAST_CHUNK], meta.write_timeout).await {
                    out.broken = Some(why(&e));
                    return out;
                }
                if let Some(cl) = head.content_length {
                    keep_alive &= out.body_bytes >= cl || !send_body;
                }
                let _ = s.flush().await;
                out.reusable = keep_alive;
                return out;
            }
            // The app failed mid-body, or its thread is gone: cut the
            // connection so the client sees a truncated response.
            _ => {
                out.broken = Some("the app failed in the middle of the body");
                return out;
            }
        }
    }
}
