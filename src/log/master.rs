//! --log-master: each worker has socket pairs of its own to the master:
//! a byte stream its stdout and stderr point at (the app's prints), and
//! two message sockets (SOCK_SEQPACKET) for the lines oxwsgi writes, one
//! for requests. A message is queued whole or not at all, so a worker
//! never waits on a stalled master (a line that does not fit is dropped
//! and counted) and a multi-line record, a Python traceback, stays one
//! record. The master reads them all in its poll loop, cuts the stream
//! and the request messages into lines, and writes each line or record,
//! whole, through the loggers (sinks.rs) or to the log file, which it
//! alone rotates (--log-maxsize) and reopens. The master's own lines go
//! straight to the loggers; what Python prints in the master comes back
//! to it through a stream of its own.

use super::LogOptions;
use super::sinks::{Chain, LogFile};
use super::tracebacks::{Joiner, PATIENCE};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// What a worker's socket carries.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// Its stdout and stderr: bytes, cut into lines here.
    Output,
    /// Its own log messages, each one record (maybe several lines).
    Records,
    /// Its request lines, in messages of one or more whole lines.
    Requests,
}

impl Kind {
    /// Its letter in OXWSGI_LOG_STREAMS (`pass_on`, `take_passed`).
    const TAGS: [(Kind, &'static str); 3] = [(Kind::Output, "o"), (Kind::Records, "r"), (Kind::Requests, "q")];

    fn tag(self) -> &'static str {
        Kind::TAGS.iter().find(|(k, _)| *k == self).map_or("o", |(_, t)| t)
    }

    fn from_tag(tag: &str) -> Option<Kind> {
        Kind::TAGS.iter().find(|(_, t)| *t == tag).map(|(k, _)| *k)
    }
}

struct Stream {
    fd: OwnedFd,
    partial: Vec<u8>,
    kind: Kind,
    /// An output stream's Python tracebacks, joined into records.
    tracebacks: Joiner,
}

impl Stream {
    fn new(fd: OwnedFd, kind: Kind) -> Stream {
        Stream { fd, partial: Vec::new(), kind, tracebacks: Joiner::default() }
    }
}

/// The largest message a worker sends; a longer one goes in pieces.
pub const RECORD_MAX: usize = 128 * 1024;

pub struct LogMaster {
    general: Chain,
    req: Chain,
    /// Request lines have streams of their own (there are --req-loggers).
    req_streams: bool,
    file: Option<LogFile>,
    /// Where lines go that no logger takes: the original stderr.
    fallback: RawFd,
    /// The original stdout (the `stdio` logger).
    stdout: RawFd,
    streams: Vec<Stream>,
    drain: Vec<regex::bytes::Regex>,
    filter: Vec<regex::bytes::Regex>,
    bufsize: usize,
    /// What the streams are read into.
    buf: Vec<u8>,
    touch_rotate: Vec<(PathBuf, Option<SystemTime>)>,
    touch_reopen: Vec<(PathBuf, Option<SystemTime>)>,
}

static MASTER: Mutex<Option<LogMaster>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<LogMaster>> {
    MASTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn pair(kind: Kind) -> Result<(OwnedFd, OwnedFd), String> {
    use nix::sys::socket::SockType;
    let ty = if kind == Kind::Output { SockType::Stream } else { SockType::SeqPacket };
    let (r, w) = nix::sys::socket::socketpair(nix::sys::socket::AddressFamily::Unix, ty, None, nix::sys::socket::SockFlag::SOCK_CLOEXEC)
        .map_err(|e| format!("--log-master: cannot create a log stream: {}", e))?;
    nix::fcntl::fcntl(&r, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).map_err(|e| e.to_string())?;
    // Workers write with MSG_DONTWAIT; a larger buffer rides out bursts.
    let _ = nix::sys::socket::setsockopt(&w, nix::sys::socket::sockopt::SndBuf, &(1 << 20));
    Ok((r, w))
}

fn mtime(p: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn regexes(list: &[String], what: &str) -> Result<Vec<regex::bytes::Regex>, String> {
    list.iter().map(|r| regex::bytes::Regex::new(r).map_err(|e| format!("--{} '{}': not a regular expression: {}", what, r, e))).collect()
}

/// Becomes the log master: from now on stdout and stderr are read back by
/// this process. `logfile` is the --logto/--daemonize file stderr writes.
pub fn start(o: &LogOptions, logfile: Option<PathBuf>) -> Result<(), String> {
    // SAFETY: duplicates our own standard descriptors.
    let (fallback, stdout) = unsafe { (libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3), libc::fcntl(1, libc::F_DUPFD_CLOEXEC, 3)) };
    if fallback < 0 || stdout < 0 {
        return Err(format!("--log-master: cannot keep the log descriptors: {}", std::io::Error::last_os_error()));
    }
    let general = Chain::new(&o.loggers, &o.routes, &o.encoders, stdout)?;
    let req = Chain::new(&o.req_loggers, &o.req_routes, &o.req_encoders, stdout)?;
    let file = logfile.map(|path| {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        LogFile { path, fd: fallback, size, maxsize: o.maxsize, backupname: o.backupname.clone() }
    });
    let (r, w) = pair(Kind::Output)?;
    let lm = LogMaster {
        req_streams: !o.req_loggers.is_empty(),
        general,
        req,
        file,
        fallback,
        stdout,
        streams: vec![Stream::new(r, Kind::Output)],
        drain: regexes(&o.drain, "log-drain")?,
        filter: regexes(&o.filter, "log-filter")?,
        bufsize: o.bufsize.max(4096),
        buf: Vec::new(),
        touch_rotate: o.touch_rotate.iter().map(|p| (p.clone(), mtime(p))).collect(),
        touch_reopen: o.touch_reopen.iter().map(|p| (p.clone(), mtime(p))).collect(),
    };
    // SAFETY: points our own stdout and stderr at the stream.
    unsafe {
        libc::dup2(w.as_raw_fd(), 1);
        libc::dup2(w.as_raw_fd(), 2);
    }
    *lock() = Some(lm);
    Ok(())
}

/// Whether this process is the log master.
pub fn active() -> bool {
    lock().is_some()
}

/// In the log master: routes a line of its own at once. False elsewhere.
pub fn dispatch_here(line: &[u8], request: bool) -> bool {
    let Ok(mut g) = MASTER.try_lock() else { return false };
    match g.as_mut() {
        Some(lm) => {
            lm.route(line, request);
            true
        }
        None => false,
    }
}

/// A forked worker's ends of its sockets to the log master.
pub struct WorkerEnds {
    pub output: OwnedFd,
    pub records: OwnedFd,
    pub requests: OwnedFd,
}

/// The sockets of a worker about to be forked.
pub fn for_worker() -> Result<Option<WorkerEnds>, String> {
    let mut g = lock();
    let Some(lm) = g.as_mut() else { return Ok(None) };
    let mut end = |kind| -> Result<OwnedFd, String> {
        let (r, w) = pair(kind)?;
        lm.streams.push(Stream::new(r, kind));
        Ok(w)
    };
    Ok(Some(WorkerEnds { output: end(Kind::Output)?, records: end(Kind::Records)?, requests: end(Kind::Requests)? }))
}

/// In a forked worker: the master's ends are not ours.
pub fn close_in_child() {
    if let Some(lm) = lock().take() {
        // The descriptors the master writes stay open in the master only.
        // SAFETY: these are this process's copies.
        unsafe {
            libc::close(lm.fallback);
            libc::close(lm.stdout);
        }
        drop(lm);
    }
}

/// What the master's poll loop waits on.
pub fn poll_fds() -> Vec<RawFd> {
    lock().as_ref().map(|lm| lm.streams.iter().map(|s| s.fd.as_raw_fd()).collect()).unwrap_or_default()
}

/// Reads what the streams hold and writes it on; checks the touch files.
pub fn service() {
    if let Some(lm) = lock().as_mut() {
        lm.read_all();
        lm.flush_tracebacks(Some(Instant::now()));
        lm.check_touches();
    }
}

/// When `service` must run again although no stream has more to read: a
/// traceback is held for its next line.
pub fn next_deadline() -> Option<Duration> {
    let g = lock();
    let last = g.as_ref()?.streams.iter().filter_map(|s| s.tracebacks.holding()).min()?;
    Some((last + PATIENCE).saturating_duration_since(Instant::now()))
}

/// The master FIFO's `l` (reopen) and `L` (rotate): false without a log
/// master writing a file.
pub fn reopen_or_rotate(rotate: bool) -> bool {
    let mut g = lock();
    let Some(f) = g.as_mut().and_then(|lm| lm.file.as_mut()) else { return false };
    if rotate {
        f.rotate()
    } else {
        f.reopen()
    }
    true
}

/// Before a reload or exit: every line still in a stream is written, and
/// stdout/stderr point at the log destination again.
pub fn finish() {
    stop_reading_meanwhile();
    let mut g = lock();
    if let Some(lm) = g.as_mut() {
        lm.drain();
        // SAFETY: our own descriptors.
        unsafe {
            libc::dup2(lm.stdout, 1);
            libc::dup2(lm.fallback, 2);
        }
    }
    *g = None;
}

/// Reads the streams on a thread of its own while the master cannot (it
/// imports the app after a reload, while the old workers still serve and
/// log); stopped and joined before the master forks (it must not fork
/// with a thread running).
static MEANWHILE: Mutex<Option<(std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<()>)>> = Mutex::new(None);

/// Starts reading on a thread, if there is anything to read yet: the
/// sockets of workers a previous master passed on.
pub fn read_meanwhile() {
    if lock().as_ref().is_none_or(|lm| lm.streams.len() <= 1) {
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let reader = std::thread::spawn(move || {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let mut fds: Vec<libc::pollfd> = poll_fds().into_iter().map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
            // SAFETY: pollfds we own; the log master keeps the fds open.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
            service();
        }
    });
    *MEANWHILE.lock().unwrap_or_else(|e| e.into_inner()) = Some((stop, reader));
}

/// Stops the reading thread, if one runs, and waits for it to end.
pub fn stop_reading_meanwhile() {
    let taken = MEANWHILE.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some((stop, reader)) = taken {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = reader.join();
    }
}

/// The workers' sockets a re-executed master takes over (kind:fd,...).
const PASSED: &str = "OXWSGI_LOG_STREAMS";

/// Before a reload whose workers go on serving (master/handover.rs): what
/// is in their sockets is written, and the sockets stay open across the
/// exec for the next master, which reads them until those workers retire.
pub fn pass_on() {
    let mut g = lock();
    let Some(lm) = g.as_mut() else { return };
    lm.drain();
    let mut list = Vec::new();
    // The first stream is this master's own output: not passed.
    for s in lm.streams.drain(1..) {
        let tag = s.kind.tag();
        let fd = std::os::fd::IntoRawFd::into_raw_fd(s.fd);
        // SAFETY: clears close-on-exec on a descriptor we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
        list.push(format!("{}:{}", tag, fd));
    }
    // SAFETY: the master runs no threads; this is just before the exec.
    unsafe { std::env::set_var(PASSED, list.join(",")) };
}

/// In a master just started: takes over the sockets a previous master
/// passed on, or, without a log master now, closes them (their workers'
/// lines go nowhere until they retire).
pub fn take_passed() {
    let Ok(list) = std::env::var(PASSED) else { return };
    // SAFETY: read at the master's start, before it forks or starts anything.
    unsafe { std::env::remove_var(PASSED) };
    let mut g = lock();
    for item in list.split(',') {
        let Some((tag, fd)) = item.split_once(':') else { continue };
        let (Some(kind), Ok(fd)) = (Kind::from_tag(tag), fd.parse::<RawFd>()) else { continue };
        // Only a socket, never stdio: a stale list must never make us read
        // or close a stranger.
        // SAFETY: fstat only looks at the descriptor, open or not.
        let is_socket =
            fd > 2 && nix::sys::stat::fstat(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFSOCK);
        if !is_socket {
            continue;
        }
        // SAFETY: the previous master left this descriptor to us.
        let owned = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        let _ = nix::fcntl::fcntl(&owned, nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC));
        match g.as_mut() {
            Some(lm) => lm.streams.push(Stream::new(owned, kind)),
            None => drop(owned),
        }
    }
}

impl LogMaster {
    fn route(&mut self, line: &[u8], request: bool) {
        if !request {
            if self.drain.iter().any(|r| r.is_match(line)) {
                return;
            }
            if !self.filter.is_empty() && !self.filter.iter().any(|r| r.is_match(line)) {
                return;
            }
        }
        let (file, fallback) = (&mut self.file, self.fallback);
        let mut out = |l: &[u8]| match file {
            Some(f) => f.write(l),
            None => {
                // SAFETY: writes a buffer we own.
                unsafe { libc::write(fallback, l.as_ptr() as *const _, l.len()) };
            }
        };
        // Request lines arrive apart only when there are --req-loggers;
        // otherwise they go with the rest, as in uWSGI.
        if request { self.req.send(line, &mut out) } else { self.general.send(line, &mut out) }
    }

    /// Everything the streams hold, written now (a line cut short too).
    fn drain(&mut self) {
        self.read_all();
        self.flush_tracebacks(None);
        for i in 0..self.streams.len() {
            let mut part = std::mem::take(&mut self.streams[i].partial);
            if !part.is_empty() {
                part.push(b'\n');
                self.route(&part, false);
            }
        }
    }

    fn read_all(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        buf.resize(self.bufsize.max(RECORD_MAX), 0);
        let mut i = 0;
        while i < self.streams.len() {
            let kind = self.streams[i].kind;
            // A message is read whole: the buffer holds the largest one.
            let room = if kind == Kind::Output { self.bufsize } else { buf.len() };
            let mut closed = false;
            let mut budget = 64;
            loop {
                // SAFETY: reads into a buffer we own.
                let n = unsafe { libc::read(self.streams[i].fd.as_raw_fd(), buf.as_mut_ptr() as *mut _, room) };
                if n == 0 {
                    closed = true;
                    break;
                }
                if n < 0 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    break;
                }
                let got = &buf[..n as usize];
                match kind {
                    Kind::Records => self.route(got, false),
                    Kind::Requests => {
                        let as_request = self.req_streams;
                        for line in got.split_inclusive(|&b| b == b'\n') {
                            self.route(line, as_request);
                        }
                    }
                    Kind::Output => self.output(i, n as usize, &buf),
                }
                budget -= 1;
                if budget == 0 {
                    break;
                }
            }
            if closed {
                let mut s = self.streams.remove(i);
                s.tracebacks.flush(&mut |r| self.route(r, false));
                if !s.partial.is_empty() {
                    let mut last = s.partial;
                    last.push(b'\n');
                    self.route(&last, false);
                }
                continue;
            }
            i += 1;
        }
        self.buf = buf;
    }

    /// `n` more bytes of stream `i`'s output, in `buf`: its whole lines are
    /// written, the rest kept for the next read.
    fn output(&mut self, i: usize, n: usize, buf: &[u8]) {
        let mut data = std::mem::take(&mut self.streams[i].partial);
        let mut tracebacks = std::mem::take(&mut self.streams[i].tracebacks);
        data.extend_from_slice(&buf[..n]);
        let now = Instant::now();
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &data[start..]) {
            let end = start + nl + 1;
            tracebacks.line(&data[start..end], now, &mut |r| self.route(r, false));
            start = end;
        }
        data.drain(..start);
        // A line longer than the buffer is written in pieces rather than held.
        if data.len() > self.bufsize {
            tracebacks.flush(&mut |r| self.route(r, false));
            self.route(&data, false);
            data.clear();
        }
        self.streams[i].partial = data;
        self.streams[i].tracebacks = tracebacks;
    }

    /// Writes the tracebacks held longer than PATIENCE (all with `None`).
    fn flush_tracebacks(&mut self, now: Option<Instant>) {
        for i in 0..self.streams.len() {
            let due = self.streams[i].tracebacks.holding().is_some_and(|last| now.is_none_or(|now| now >= last + PATIENCE));
            if due {
                let mut t = std::mem::take(&mut self.streams[i].tracebacks);
                t.flush(&mut |r| self.route(r, false));
                self.streams[i].tracebacks = t;
            }
        }
    }

    fn check_touches(&mut self) {
        let changed = |list: &mut Vec<(PathBuf, Option<SystemTime>)>| {
            let mut any = false;
            for (p, seen) in list.iter_mut() {
                let now = mtime(p);
                if now != *seen {
                    *seen = now;
                    any = true;
                }
            }
            any
        };
        let rotate = changed(&mut self.touch_rotate);
        let reopen = changed(&mut self.touch_reopen);
        if let Some(f) = self.file.as_mut() {
            if rotate {
                f.rotate();
            } else if reopen {
                f.reopen();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_kind_survives_the_exec_by_its_tag() {
        for k in [Kind::Output, Kind::Records, Kind::Requests] {
            assert_eq!(Kind::from_tag(k.tag()), Some(k));
        }
        assert_eq!(Kind::from_tag("x"), None);
        assert_eq!(Kind::from_tag(""), None);
    }
}
