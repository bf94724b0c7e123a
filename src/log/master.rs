//! --log-master: each worker writes its output (its own lines, the app's
//! prints and tracebacks) into a stream of its own, a socket pair; the
//! master reads them in its poll loop, cuts them into lines, and writes
//! each line, whole, through the loggers (sinks.rs) or to the log file,
//! which it alone rotates (--log-maxsize) and reopens. One stream per
//! worker keeps two workers' lines from ever interleaving. The master's
//! own lines go straight to the loggers; what Python prints in the master
//! comes back to it through a stream of its own.

use super::LogOptions;
use super::sinks::{Chain, LogFile};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::SystemTime;

struct Stream {
    fd: OwnedFd,
    partial: Vec<u8>,
    req: bool,
}

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
    touch_rotate: Vec<(PathBuf, Option<SystemTime>)>,
    touch_reopen: Vec<(PathBuf, Option<SystemTime>)>,
}

static MASTER: Mutex<Option<LogMaster>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<LogMaster>> {
    MASTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn pair() -> Result<(OwnedFd, OwnedFd), String> {
    let (r, w) =
        nix::sys::socket::socketpair(nix::sys::socket::AddressFamily::Unix, nix::sys::socket::SockType::Stream, None, nix::sys::socket::SockFlag::SOCK_CLOEXEC)
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
    let (r, w) = pair()?;
    let lm = LogMaster {
        req_streams: !o.req_loggers.is_empty(),
        general,
        req,
        file,
        fallback,
        stdout,
        streams: vec![Stream { fd: r, partial: Vec::new(), req: false }],
        drain: regexes(&o.drain, "log-drain")?,
        filter: regexes(&o.filter, "log-filter")?,
        bufsize: o.bufsize.max(4096),
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

/// The streams of a worker about to be forked: (general, requests).
pub fn for_worker() -> Result<Option<(OwnedFd, Option<OwnedFd>)>, String> {
    let mut g = lock();
    let Some(lm) = g.as_mut() else { return Ok(None) };
    let (r, w) = pair()?;
    lm.streams.push(Stream { fd: r, partial: Vec::new(), req: false });
    let req = if lm.req_streams {
        let (r, w) = pair()?;
        lm.streams.push(Stream { fd: r, partial: Vec::new(), req: true });
        Some(w)
    } else {
        None
    };
    Ok(Some((w, req)))
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
        lm.check_touches();
    }
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
    let mut g = lock();
    if let Some(lm) = g.as_mut() {
        lm.read_all();
        // SAFETY: our own descriptors.
        unsafe {
            libc::dup2(lm.stdout, 1);
            libc::dup2(lm.fallback, 2);
        }
    }
    *g = None;
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

    fn read_all(&mut self) {
        let mut buf = vec![0u8; self.bufsize];
        let mut i = 0;
        while i < self.streams.len() {
            let mut closed = false;
            let mut budget = 64;
            loop {
                // SAFETY: reads into a buffer we own.
                let n = unsafe { libc::read(self.streams[i].fd.as_raw_fd(), buf.as_mut_ptr() as *mut _, buf.len()) };
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
                let s = &mut self.streams[i];
                s.partial.extend_from_slice(&buf[..n as usize]);
                let req = s.req;
                let mut data = std::mem::take(&mut s.partial);
                let mut start = 0;
                while let Some(nl) = memchr::memchr(b'\n', &data[start..]) {
                    let end = start + nl + 1;
                    self.route(&data[start..end], req);
                    start = end;
                }
                data.drain(..start);
                // A line longer than the buffer is written in pieces rather than held.
                if data.len() > self.bufsize {
                    self.route(&data, req);
                    data.clear();
                }
                self.streams[i].partial = data;
                budget -= 1;
                if budget == 0 {
                    break;
                }
            }
            if closed {
                let s = self.streams.remove(i);
                if !s.partial.is_empty() {
                    let mut last = s.partial;
                    last.push(b'\n');
                    self.route(&last, s.req);
                }
                continue;
            }
            i += 1;
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
