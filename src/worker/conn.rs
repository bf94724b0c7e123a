//! One client connection: read a request (HTTP or a uwsgi packet) without
//! the GIL, hand it to the app, write the answer, repeat while keep-alive
//! allows.

use super::Shared;
use super::admission::{Admission, Ticket};
use super::body::{BodyError, Limits, read_body};
use super::request_log::Captured;
use super::respond::{Outcome, ReqMeta, write_response, write_simple};
use super::stream::Stream;
use crate::proto::http::{self, ConnInfo, Framing};
use crate::proto::proxy::{self, Proxy};
use crate::proto::uwsgi;
use crate::proto::vars::Vars;
use crate::wsgi::environ::ConnEnv;
use crate::wsgi::{Body, Job};
use bytes::BytesMut;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The connection timeouts, from the options of the same names.
pub struct Timeouts {
    /// --http-header-timeout: a whole request head (slowloris).
    pub head: Duration,
    /// --socket-timeout: between two reads of a body, or two writes.
    pub io: Duration,
    /// The same on HTTP sockets: --http-timeout, or --socket-timeout.
    pub http_io: Duration,
    /// --http-keepalive-timeout: idle between requests.
    pub idle: Duration,
}

impl Timeouts {
    pub fn from_config(c: &crate::options::Config) -> Self {
        Timeouts {
            head: Duration::from_secs(c.http_header_timeout),
            io: Duration::from_secs(c.socket_timeout),
            http_io: Duration::from_secs(c.http_timeout.unwrap_or(c.socket_timeout)),
            idle: Duration::from_secs(c.http_keepalive_timeout),
        }
    }
}

pub struct Peer {
    pub addr: Vec<u8>,
    pub port: Vec<u8>,
    pub server_name: Vec<u8>,
    pub server_port: Vec<u8>,
    /// Its last request line, for the log if serving it panics.
    pub trace: Rc<super::contain::Trace>,
}

/// What a connection's requests share, made on its first request.
#[derive(Default)]
struct Reuse {
    /// The previous request's environ (see ConnEnv).
    env: Option<Arc<Mutex<ConnEnv>>>,
}

impl Reuse {
    /// Only a connection that will see another request remembers its
    /// environ: the first request pays for the copy.
    fn env_memory(&mut self, keep_alive: bool) -> Option<Arc<Mutex<ConnEnv>>> {
        keep_alive.then(|| self.env.get_or_insert_with(Default::default).clone())
    }
}

/// The ticket of a connection just accepted (admission.rs): kept while its
/// request head arrives, for the admission's hold at most. `until` is set
/// when a read first has to wait.
struct Fresh {
    ticket: Ticket,
    until: Option<Instant>,
    admission: Rc<Admission>,
}

impl Fresh {
    fn new(ticket: Ticket, sh: &Shared) -> Fresh {
        Fresh { ticket, until: None, admission: sh.admission.clone() }
    }

    /// The deadline of a read that may wait: `limit`, or sooner while the
    /// ticket is held.
    fn deadline(&mut self, limit: Instant) -> Instant {
        if !self.ticket.held() {
            return limit;
        }
        let hold = self.admission.hold();
        limit.min(*self.until.get_or_insert_with(|| Instant::now() + hold))
    }

    /// A read ran out of time: if it was the hold that ran out, the ticket
    /// goes back and the caller waits on (true).
    fn expired(&mut self, limit: Instant) -> bool {
        if self.ticket.held() && Instant::now() < limit {
            self.ticket.release();
            self.admission.hold_expired();
            return true;
        }
        false
    }

    /// The request head is in.
    fn arrived(&mut self) {
        if self.ticket.held() && self.until.is_some() {
            self.admission.hold_met();
        }
    }
}

/// Hands the request to the app and writes its response; logs the line.
/// `ticket` is the connection's claim on a Python thread, if it holds one.
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    sh: &Rc<Shared>,
    s: &mut Stream,
    peer: &Peer,
    vars: Vars,
    body: Body,
    meta: ReqMeta<'_>,
    started: Option<Instant>,
    reuse: &mut Reuse,
    ticket: &mut Ticket,
) -> Outcome {
    let captured = sh.log_any.then(|| Captured::take(sh, &vars));
    let logvars: Option<crate::wsgi::LogVars> = sh.log_format.as_ref().filter(|f| f.logvars).map(|_| Default::default());
    let slot = crate::stats::me();
    if let Some(w) = slot {
        w.in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let static_out = if sh.cfg.statics.is_empty() {
        None
    } else {
        // A file needs no Python thread, however slow its client.
        Box::pin(super::static_files::serve(sh, s, &vars, &meta, ticket)).await
    };
    let is_static = static_out.is_some();
    let out = match static_out {
        Some(out) => out,
        None => {
            ticket.ensure(&sh.admission);
            let job = Job { vars, body, https: false, conn: reuse.env_memory(meta.keep_alive), logvars: logvars.clone() };
            let mut responses = sh.executor.call(job, std::mem::take(ticket));
            write_response(s, &mut responses, &meta).await
        }
    };
    if let Some(why) = out.broken.filter(|_| !sh.cfg.ignore_write_errors) {
        let what = captured.as_ref().and_then(Captured::request).unwrap_or_else(|| "the request".to_string());
        log_refusal(peer, &format!("response to {} not delivered", what), why);
    }
    let elapsed = started.map_or(Duration::ZERO, |t| t.elapsed());
    if let Some(w) = slot {
        w.finish(status_code(&out.status), (out.headers_bytes as u64) + out.body_bytes, elapsed.as_micros() as u64, is_static);
    }
    let n = sh.count_request();
    if let Some(c) = captured {
        let status = status_code(&out.status);
        if !sh.cfg.disable_logging || sh.cfg.log.only.wants(status, elapsed.as_millis() as u64, out.body_bytes, out.sendfile, out.broken.is_some()) {
            c.write(sh, &out, status, n, elapsed, slot, logvars);
        }
    }
    out
}

/// Whether the whole body is already in `buf` (reading it will not wait).
fn body_is_in(framing: Framing, buf: &BytesMut) -> bool {
    match framing {
        Framing::None => true,
        Framing::Length(n) => buf.len() as u64 >= n,
        // Its end is known only by decoding it: treat it as on its way.
        Framing::Chunked => false,
    }
}

/// read_body, boxed unless there is no body: its spooling state is large.
async fn read_body_boxed(s: &mut Stream, buf: &mut BytesMut, framing: Framing, lim: &Limits) -> Result<Body, BodyError> {
    match framing {
        Framing::None => Ok(Body::Empty),
        f => Box::pin(read_body(s, buf, f, lim)).await,
    }
}

/// The code of a status line ("404 Not Found" -> 404); 0 if none.
pub(super) fn status_code(status: &[u8]) -> u16 {
    status.get(..3).and_then(|c| std::str::from_utf8(c).ok()).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// Answers a refused request and closes without a reset: if we closed with
/// unread input, the kernel would send RST and the client could lose our
/// answer, so we half-close and drain what is in flight for a moment.
/// Boxed: a rare path whose state would otherwise swell every connection's
/// future (spawning a connection copies its whole future).
fn refuse<'a>(
    s: &'a mut Stream,
    http11: bool,
    status: &'a str,
    why: &'a str,
    t: &'a Timeouts,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>> {
    Box::pin(refuse_now(s, http11, status, why, t))
}

async fn refuse_now(s: &mut Stream, http11: bool, status: &str, why: &str, t: &Timeouts) {
    if let Some(w) = crate::stats::me() {
        w.record(status_code(status.as_bytes()), 0, 0, false);
    }
    let body = format!("{}: {}\n", status, why);
    if write_simple(s, http11, status, body.as_bytes(), false, t.io).await.is_err() {
        return;
    }
    let _ = s.shutdown().await;
    let mut sink = [0u8; 16384];
    let drain = async {
        let mut total = 0usize;
        while total < (1 << 20) {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
}

fn log_refusal(peer: &Peer, what: &str, why: &str) {
    let who = if peer.addr.is_empty() {
        format!("a client of {}", String::from_utf8_lossy(&peer.server_name))
    } else {
        String::from_utf8_lossy(&peer.addr).into_owned()
    };
    crate::logln!("oxwsgi: {} from {}: {}", what, who, why);
}

/// Waits for more bytes: between keep-alive requests, an idle wait that a
/// graceful stop interrupts; for a connection's first request or inside a
/// head, the slowloris deadline (a client that connected just before a
/// stop still gets its answer).
async fn fill(s: &mut Stream, buf: &mut BytesMut, sh: &Shared, deadline: Option<Instant>, w: &mut Waits) -> Fill {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(8192);
    }
    let got = |r: std::io::Result<usize>| match r {
        Ok(n) if n > 0 => Fill::Data,
        _ => Fill::Closed,
    };
    if let Some(d) = deadline {
        return match tokio::time::timeout_at(d.into(), s.read_buf(buf)).await {
            Ok(r) => got(r),
            Err(_) => Fill::TimedOut,
        };
    }
    if !w.stopped {
        // The idle timer is armed once per connection and moved only when
        // it fires early: re-arming a timer for every request costs more
        // than the rest of the wait. The wait's start is read from the
        // coarse clock (a tick of a few ms, against a timeout in seconds):
        // the precise one costs more, and this runs for every request.
        // Read first: most wake-ups are data.
        let since = coarse_now();
        loop {
            tokio::select! {
                biased;
                r = s.read_buf(buf) => return got(r),
                _ = w.idle.as_mut() => {
                    let waited = coarse_now().saturating_sub(since);
                    if waited >= sh.timeouts.idle {
                        return Fill::Closed;
                    }
                    w.idle.as_mut().reset((Instant::now() + (sh.timeouts.idle - waited)).into());
                }
                _ = w.stop.as_mut() => {
                    w.stopped = true;
                    break;
                }
            }
        }
    }
    // Stopping: a request already on its way still gets an answer (with
    // Connection: close); an idle connection is closed after a moment.
    tokio::time::timeout(STOP_GRACE, s.read_buf(buf)).await.map_or(Fill::Closed, got)
}

/// CLOCK_MONOTONIC_COARSE: the kernel's last tick, read from the vDSO
/// without touching the TSC.
fn coarse_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What a keep-alive connection waits with between requests.
/// Both are made once per connection: a wait registered anew for every
/// request would cost a timer and a lock each time.
struct Waits {
    idle: std::pin::Pin<Box<tokio::time::Sleep>>,
    /// Ready once the worker stops; not polled again after that.
    stop: std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
    stopped: bool,
}

/// How long an idle keep-alive connection may still bring a request once
/// its worker is stopping.
const STOP_GRACE: Duration = Duration::from_secs(1);

enum Fill {
    Data,
    Closed,
    TimedOut,
}

/// --http-enable-proxy-protocol: the line a proxy sends before the first
/// request names the client, which becomes the peer. False: the
/// connection is to be closed (logged here).
async fn take_proxy_line(s: &mut Stream, buf: &mut BytesMut, peer: &mut Peer, sh: &Shared, fresh: &mut Fresh, w: &mut Waits) -> bool {
    let limit = Instant::now() + sh.timeouts.head;
    loop {
        match proxy::parse(buf) {
            Proxy::Partial => {}
            Proxy::Client { addr, port, len } => {
                peer.addr = addr.into_bytes();
                peer.port = port.into_bytes();
                bytes::Buf::advance(buf, len);
                return true;
            }
            Proxy::Unknown { len } => {
                bytes::Buf::advance(buf, len);
                return true;
            }
            Proxy::Invalid(why) => {
                log_refusal(peer, "connection refused (--http-enable-proxy-protocol)", why);
                return false;
            }
        }
        match fill(s, buf, sh, Some(fresh.deadline(limit)), w).await {
            Fill::Data => {}
            Fill::TimedOut if fresh.expired(limit) => {}
            Fill::TimedOut => {
                log_refusal(peer, "connection closed", "no PROXY line within --http-header-timeout");
                return false;
            }
            Fill::Closed => return false,
        }
    }
}

/// Remembers the request line for the log if serving it panics
/// (contain.rs); and the test hook that makes one panic on purpose.
fn note_request(sh: &Shared, peer: &Peer, vars: &Vars) {
    let method = vars.get(b"REQUEST_METHOD").unwrap_or(b"");
    let uri = vars.get(b"REQUEST_URI").or(vars.get(b"PATH_INFO")).unwrap_or(b"");
    peer.trace.note(&peer.addr, method, uri);
    if let Some(p) = &sh.panic_path
        && vars.get(b"PATH_INFO") == Some(p.as_slice())
    {
        panic!("{} asked for a panic at {}", super::PANIC_PATH_ENV, String::from_utf8_lossy(p));
    }
}

pub async fn serve_http(mut s: Stream, mut peer: Peer, sh: Rc<Shared>, ticket: Ticket) {
    let mut fresh = Fresh::new(ticket, &sh);
    let mut buf = BytesMut::with_capacity(8192);
    let t = &sh.timeouts;
    let limits = Limits { post_buffering: sh.cfg.post_buffering, limit_post: sh.cfg.limit_post, read_timeout: t.http_io };
    let mut stop_rx = sh.stopping.clone();
    let stopped = *stop_rx.borrow_and_update();
    let mut waits = Waits {
        idle: Box::pin(tokio::time::sleep(t.idle)),
        stop: Box::pin(async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        }),
        stopped,
    };
    if sh.cfg.proxy_protocol && !take_proxy_line(&mut s, &mut buf, &mut peer, &sh, &mut fresh, &mut waits).await {
        return;
    }
    let info =
        ConnInfo { remote_addr: &peer.addr, remote_port: &peer.port, server_name: &peer.server_name, server_port: &peer.server_port, url_scheme_https: false };
    let mut first = true;
    let mut served = 0u64;
    let mut reuse = Reuse::default();
    loop {
        let mut vars = Vars::with_capacity(1024, 32);
        let mut deadline: Option<Instant> = first.then(|| Instant::now() + t.head);
        first = false;
        let mut scan = http::HeadScan::default();
        let req = loop {
            if !buf.is_empty() {
                let parsed = scan.parse(&buf, &info, &mut vars, sh.cfg.http_max_headers);
                // The limit holds however the head arrived, in one read or many.
                let too_big = match &parsed {
                    Ok(Some(r)) => r.head_len > sh.cfg.buffer_size,
                    Ok(None) => buf.len() > sh.cfg.buffer_size,
                    Err(_) => false,
                };
                match parsed {
                    _ if too_big => {
                        fresh.ticket.release();
                        let line_len = memchr::memchr(b'\n', &buf).unwrap_or(buf.len());
                        let status = if line_len > sh.cfg.buffer_size { "414 URI Too Long" } else { "431 Request Header Fields Too Large" };
                        log_refusal(&peer, "request head too large", &format!("more than --buffer-size {} bytes", sh.cfg.buffer_size));
                        refuse(&mut s, true, status, "the request head is larger than --buffer-size", t).await;
                        return;
                    }
                    Ok(Some(r)) => break r,
                    Ok(None) => {}
                    Err(e) => {
                        fresh.ticket.release();
                        log_refusal(&peer, "bad request", e.reason);
                        refuse(&mut s, true, e.status, e.reason, t).await;
                        return;
                    }
                }
                deadline.get_or_insert_with(|| Instant::now() + t.head);
            }
            match fill(&mut s, &mut buf, &sh, deadline.map(|d| fresh.deadline(d)), &mut waits).await {
                Fill::Data => {}
                Fill::TimedOut if deadline.is_some_and(|d| fresh.expired(d)) => {}
                Fill::TimedOut => {
                    fresh.ticket.release();
                    log_refusal(&peer, "request timed out", "the head did not arrive within --http-header-timeout");
                    refuse(&mut s, true, "408 Request Timeout", "the request head did not arrive in time", t).await;
                    return;
                }
                Fill::Closed => {
                    if !buf.is_empty() {
                        log_refusal(&peer, "client disconnected", "in the middle of its request head");
                    }
                    return;
                }
            }
        };
        note_request(&sh, &peer, &vars);
        fresh.arrived();
        let started = sh.timed.then(Instant::now);
        bytes::Buf::advance(&mut buf, req.head_len);
        if req.expect_continue && buf.is_empty() {
            let too_big = matches!(req.framing, Framing::Length(n) if sh.cfg.limit_post > 0 && n > sh.cfg.limit_post);
            if !too_big && s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await.is_err() {
                return;
            }
        }
        if !body_is_in(req.framing, &buf) {
            // A body still on its way may take long: no claim on a thread meanwhile.
            fresh.ticket.release();
        }
        let body = match read_body_boxed(&mut s, &mut buf, req.framing, &limits).await {
            Ok(b) => b,
            Err(BodyError::Refuse(status, why)) => {
                fresh.ticket.release();
                log_refusal(&peer, "request body refused", why);
                refuse(&mut s, req.http11, status, why, t).await;
                return;
            }
            Err(BodyError::Gone(why)) => {
                log_refusal(&peer, "request body not received", why);
                return;
            }
        };
        served += 1;
        let last = sh.cfg.http_keepalive_requests > 0 && served >= sh.cfg.http_keepalive_requests;
        let meta = ReqMeta {
            http11: req.http11,
            keep_alive: req.keep_alive && !last && !super::balance::overloaded(),
            is_head: req.is_head,
            allow_chunked: true,
            write_timeout: t.http_io,
            stopping: &sh.stopping,
            add_headers: &sh.cfg.add_headers,
        };
        let out = dispatch(&sh, &mut s, &peer, vars, body, meta, started, &mut reuse, &mut fresh.ticket).await;
        if !out.reusable {
            let _ = s.shutdown().await;
            return;
        }
    }
}

pub async fn serve_uwsgi(mut s: Stream, peer: Peer, sh: Rc<Shared>, ticket: Ticket) {
    let mut fresh = Fresh::new(ticket, &sh);
    let t = &sh.timeouts;
    let limits = Limits { post_buffering: sh.cfg.post_buffering, limit_post: sh.cfg.limit_post, read_timeout: t.io };
    // One read usually brings the whole packet (header, vars and a small
    // body); what follows the vars stays in `buf` for read_body.
    let mut buf = BytesMut::with_capacity(8192);
    // An empty connection (a health check, a closed pool slot) ends
    // quietly; a truncated packet is worth a log line.
    let first = {
        let mut read = std::pin::pin!(s.read_buf(&mut buf));
        // No timer, nor a clock reading, when the packet is already here.
        match super::poll_once(read.as_mut()).await {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => {
                let limit = Instant::now() + t.idle;
                loop {
                    match tokio::time::timeout_at(fresh.deadline(limit).into(), read.as_mut()).await {
                        Ok(r) => break Some(r),
                        Err(_) if fresh.expired(limit) => {}
                        Err(_) => break None,
                    }
                }
            }
        }
    };
    match first {
        Some(Ok(n)) if n > 0 => {}
        _ => return,
    }
    // Set (a clock reading) only if the packet comes in pieces.
    let mut deadline = None;
    let mut need = uwsgi::HEADER_LEN;
    let mut header = None;
    loop {
        if header.is_none() && buf.len() >= uwsgi::HEADER_LEN {
            let h = uwsgi::parse_header([buf[0], buf[1], buf[2], buf[3]]);
            if let Err(e) = uwsgi::check_header(&h, sh.cfg.buffer_size) {
                log_refusal(&peer, "uwsgi request refused", &e.to_string());
                return;
            }
            need = uwsgi::HEADER_LEN + h.datasize as usize;
            header = Some(h);
        }
        if header.is_some() && buf.len() >= need {
            break;
        }
        if buf.capacity() - buf.len() < need.saturating_sub(buf.len()).max(1024) {
            buf.reserve(need.saturating_sub(buf.len()).max(4096));
        }
        let deadline = *deadline.get_or_insert_with(|| Instant::now() + t.head);
        let more = match tokio::time::timeout_at(fresh.deadline(deadline).into(), s.read_buf(&mut buf)).await {
            Ok(r) => matches!(r, Ok(n) if n > 0),
            Err(_) => fresh.expired(deadline),
        };
        if !more {
            let why = if header.is_none() { "truncated packet header" } else { "connection closed inside the vars block" };
            log_refusal(&peer, "uwsgi request refused", why);
            return;
        }
    }
    fresh.arrived();
    let started = sh.timed.then(Instant::now);
    let data = buf.split_to(need);
    let mut vars = Vars::with_capacity(data.len(), 32);
    let cl = uwsgi::parse_vars(&data[uwsgi::HEADER_LEN..], &mut vars).and_then(|_| uwsgi::content_length(&vars));
    let cl = match cl {
        Ok(n) => n,
        Err(e) => {
            log_refusal(&peer, "uwsgi request refused", &e.to_string());
            return;
        }
    };
    if vars.get(b"REQUEST_METHOD").is_none() {
        vars.push(b"REQUEST_METHOD", b"GET");
    }
    if vars.get(b"PATH_INFO").is_none() {
        vars.push(b"PATH_INFO", b"/");
    }
    note_request(&sh, &peer, &vars);
    let http11 = vars.get(b"SERVER_PROTOCOL") != Some(b"HTTP/1.0");
    let is_head = vars.get(b"REQUEST_METHOD") == Some(b"HEAD");
    let framing = if cl == 0 { Framing::None } else { Framing::Length(cl) };
    if !body_is_in(framing, &buf) {
        fresh.ticket.release();
    }
    let body = match read_body_boxed(&mut s, &mut buf, framing, &limits).await {
        Ok(b) => b,
        Err(BodyError::Refuse(status, why)) => {
            fresh.ticket.release();
            log_refusal(&peer, "request body refused", why);
            refuse(&mut s, http11, status, why, t).await;
            return;
        }
        Err(BodyError::Gone(why)) => {
            log_refusal(&peer, "request body not received", why);
            return;
        }
    };
    let meta =
        ReqMeta { http11, keep_alive: false, is_head, allow_chunked: false, write_timeout: t.io, stopping: &sh.stopping, add_headers: &sh.cfg.add_headers };
    dispatch(&sh, &mut s, &peer, vars, body, meta, started, &mut Reuse::default(), &mut fresh.ticket).await;
    // One request per connection: the whole packet and body were read, so
    // a plain close ends it cleanly (no shutdown() call needed).
}
