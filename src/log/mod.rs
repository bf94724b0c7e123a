//! Logging as uWSGI users configure it. Every process writes its lines at
//! once (one write per line: master, workers and vassals may share a
//! file). Request lines are uWSGI's default line (`line.rs`) or a
//! --log-format (`format.rs`). With --log-master (implied by --logger,
//! --req-logger, --log-maxsize...), each worker's output goes to the master
//! through socket pairs, and the master alone writes the destinations
//! (`master.rs`, through the loggers and encoders of `sinks.rs`), so a
//! file can be rotated without losing or cutting a line. A line (or a
//! traceback, one record of several lines) is always handed on in one
//! piece, by one write(2) or one message, and a worker never waits for
//! a log master that does not keep up: what does not fit is counted.

pub mod format;
pub mod line;
pub mod master;
pub mod sinks;
pub mod tracebacks;

pub use line::RequestLog;

use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The logging options (the `log-*`, `logger`, `req-logger`... family).
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// --log-format / --logformat.
    pub format: Option<String>,
    /// --log-format-strftime: %(ftime) uses --log-date's format.
    pub format_strftime: bool,
    /// --log-date / --logdate: date our own lines (ctime, or this strftime format).
    pub date: Option<Option<String>>,
    /// --log-micros: the default line says micros, not msecs.
    pub micros: bool,
    pub x_forwarded_for: bool,
    pub prefix: Option<String>,
    /// Requests logged even with --disable-logging.
    pub only: Selective,
    /// --log-master: the master writes every destination.
    pub master: bool,
    pub loggers: Vec<String>,
    pub req_loggers: Vec<String>,
    /// (regexp, logger id): --log-route, --log-req-route.
    pub routes: Vec<(String, String)>,
    pub req_routes: Vec<(String, String)>,
    pub encoders: Vec<String>,
    pub req_encoders: Vec<String>,
    /// --log-drain / --log-filter: regexps lines are dropped by / kept by.
    pub drain: Vec<String>,
    pub filter: Vec<String>,
    /// --log-maxsize and --log-backupname: rotation of the log file.
    pub maxsize: u64,
    pub backupname: Option<std::path::PathBuf>,
    pub touch_rotate: Vec<std::path::PathBuf>,
    pub touch_reopen: Vec<std::path::PathBuf>,
    /// --logfile-chmod, --logfile-chown (the --logto/--daemonize file).
    pub chmod: Option<u32>,
    pub chown: bool,
    /// --log-truncate: the log file is emptied when opened.
    pub truncate: bool,
    /// --log-reopen: a reload opens the log file again (by its name).
    pub reopen: bool,
    /// --log-master-bufsize: the most the master reads of a stream at once.
    pub bufsize: usize,
}

impl LogOptions {
    /// %(ftime)'s format: --log-date's, with --log-format-strftime.
    pub fn ftime_format(&self) -> Option<&str> {
        match &self.date {
            Some(Some(f)) if self.format_strftime => Some(f),
            _ => None,
        }
    }
}

/// --log-4xx, --log-5xx, --log-slow, --log-big, --log-zero,
/// --log-sendfile, --log-ioerror.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selective {
    pub c4xx: bool,
    pub c5xx: bool,
    pub slow_ms: u64,
    pub big: u64,
    pub zero: bool,
    pub sendfile: bool,
    pub ioerror: bool,
}

impl Selective {
    pub fn any(&self) -> bool {
        self.c4xx || self.c5xx || self.slow_ms > 0 || self.big > 0 || self.zero || self.sendfile || self.ioerror
    }

    /// Whether a request is logged although --disable-logging is on.
    pub fn wants(&self, status: u16, msecs: u64, body_bytes: u64, sendfile: bool, io_error: bool) -> bool {
        (self.c4xx && (400..500).contains(&status))
            || (self.c5xx && (500..600).contains(&status))
            || (self.slow_ms > 0 && msecs >= self.slow_ms)
            || (self.big > 0 && body_bytes >= self.big)
            || (self.zero && body_bytes == 0)
            || (self.sendfile && sendfile)
            || (self.ioerror && io_error)
    }
}

/// How this process writes: set once, from the options (every process)
/// and, in a worker of a log master, to its streams.
struct Setup {
    date: Option<Option<String>>,
    prefix: Option<String>,
}

static SETUP: OnceLock<Setup> = OnceLock::new();

/// A worker's message sockets to the log master (its lines, its requests').
static TO_MASTER: OnceLock<(RawFd, RawFd)> = OnceLock::new();

/// Lines a worker could not hand to a log master that was not keeping up.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Applies the options that shape every line (call once, early).
pub fn configure(o: &LogOptions) {
    let _ = SETUP.set(Setup { date: o.date.clone(), prefix: o.prefix.clone() });
}

/// In a worker of a log master: its stdout and stderr (and so the app's
/// prints) go to the output stream, our lines to the message sockets.
pub fn become_worker(ends: &master::WorkerEnds) {
    use std::os::fd::AsRawFd;
    // SAFETY: the fds are this process's own.
    unsafe {
        libc::dup2(ends.output.as_raw_fd(), 1);
        libc::dup2(ends.output.as_raw_fd(), 2);
    }
    let _ = TO_MASTER.set((ends.records.as_raw_fd(), ends.requests.as_raw_fd()));
}

/// Writes one log line with a single write(2): several processes (master,
/// workers, vassals) share stderr, and a line written in pieces would
/// interleave with theirs.
pub fn write_line(s: String) {
    let setup = SETUP.get();
    let mut line = String::with_capacity(s.len() + 40);
    if let Some(Some(p)) = setup.map(|s| &s.prefix) {
        line.push_str(p);
    }
    match setup.map(|s| &s.date) {
        Some(Some(None)) => {
            line.push_str(&format::strftime(format::unix_now() as i64 / 1_000_000, "%a %b %e %H:%M:%S %Y"));
            line.push_str(" - ");
        }
        Some(Some(Some(f))) => {
            line.push_str(&format::strftime(format::unix_now() as i64 / 1_000_000, f));
            line.push_str(" - ");
        }
        _ => {}
    }
    line.push_str(&s);
    line.push('\n');
    emit(line.as_bytes(), false);
}

thread_local! {
    /// Request lines a worker's I/O thread has not written yet: it writes
    /// them together when it runs out of work (see `flush_batch`), one
    /// write for many lines instead of one each.
    static BATCH: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// The most a batch holds before it is written anyway.
const BATCH_MAX: usize = 32 * 1024;

/// Request lines written on this thread are batched from now on; the
/// caller calls `flush_batch` whenever it is about to wait.
pub fn batch_here() {
    BATCH.with(|b| *b.borrow_mut() = Some(Vec::with_capacity(8192)));
}

/// Writes the batched lines, in pieces of whole lines of at most
/// PIPE_BUF (4096) bytes: a pipe (journald, a container's log driver)
/// keeps a write that small in one piece, however many processes share it.
pub fn flush_batch() {
    let Some(data) = BATCH.with(|b| b.borrow_mut().as_mut().filter(|v| !v.is_empty()).map(std::mem::take)) else { return };
    for r in pieces(&data, 4096) {
        emit(&data[r], true);
    }
    BATCH.with(|b| {
        if let Some(v) = b.borrow_mut().as_mut()
            && v.is_empty()
        {
            // Keep the allocation for the next batch.
            *v = data;
            v.clear();
        }
    });
}

/// `data` cut at line ends into pieces of at most `max` bytes (a longer
/// line is a piece of its own).
fn pieces(data: &[u8], max: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let mut end = start;
        while end < data.len() {
            let next = memchr::memchr(b'\n', &data[end..]).map_or(data.len(), |i| end + i + 1);
            if next - start > max && end > start {
                break;
            }
            end = next;
        }
        out.push(start..end);
        start = end;
    }
    out
}

/// A request line (with its newline), to the request logger if there is one.
pub fn write_request(line: &[u8]) {
    write_request_with(|l| l.extend_from_slice(line));
}

/// A request line that `put` appends (with its newline) to a buffer: the
/// batch itself when lines are batched, so a line is not copied again.
pub fn write_request_with(put: impl FnOnce(&mut Vec<u8>)) {
    let prefix = SETUP.get().and_then(|s| s.prefix.as_deref());
    let full = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        let Some(v) = b.as_mut() else {
            drop(b);
            let mut line = Vec::with_capacity(256);
            line.extend_from_slice(prefix.unwrap_or("").as_bytes());
            put(&mut line);
            emit(&line, true);
            return false;
        };
        v.extend_from_slice(prefix.unwrap_or("").as_bytes());
        put(v);
        v.len() >= BATCH_MAX
    });
    if full {
        flush_batch();
    }
}

fn emit(line: &[u8], request: bool) {
    if let Some(&(records, requests)) = TO_MASTER.get() {
        send_to_master(if request { requests } else { records }, line);
        return;
    }
    if master::dispatch_here(line, request) {
        return;
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(line);
}

/// Hands a line to the log master without waiting: if its socket is full
/// the line is counted as dropped, and the count reported with the next
/// line that gets through.
fn send_to_master(fd: RawFd, line: &[u8]) {
    let dropped = DROPPED.load(Ordering::Relaxed);
    if dropped > 0 {
        let note = format!("oxwsgi: worker (pid {}): {} log line(s) dropped: the log master could not keep up\n", std::process::id(), dropped);
        if try_send(fd, note.as_bytes()) {
            DROPPED.fetch_sub(dropped, Ordering::Relaxed);
        }
    }
    if !try_send(fd, line) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// One message, queued whole or not at all (a message socket never takes
/// part of one), so no line is ever cut and nothing waits. A record longer
/// than the master reads at once goes in pieces.
fn try_send(fd: RawFd, data: &[u8]) -> bool {
    data.chunks(master::RECORD_MAX).all(|piece| {
        loop {
            // SAFETY: sends from a buffer we own.
            let n = unsafe { libc::send(fd, piece.as_ptr() as *const _, piece.len(), libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
            if n >= 0 {
                break true;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break false;
            }
        }
    })
}

/// `eprintln!` that writes the line at once (see `write_line`).
#[macro_export]
macro_rules! logln {
    ($($t:tt)*) => { $crate::log::write_line(format!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_go_out_in_whole_lines_of_pipe_size() {
        let line = |n: usize| [vec![b'x'; n - 1], vec![b'\n']].concat();
        let data = [line(3000), line(1000), line(200), line(5000), line(10)].concat();
        let p = pieces(&data, 4096);
        let lens: Vec<usize> = p.iter().map(|r| r.len()).collect();
        assert_eq!(lens, vec![4000, 200, 5000, 10]);
        assert!(p.iter().all(|r| data[r.end - 1] == b'\n'));
        assert_eq!(pieces(b"a\nb", 4096), vec![0..3]);
    }

    #[test]
    fn selective_rules() {
        let s = Selective { c5xx: true, slow_ms: 500, ..Default::default() };
        assert!(s.any());
        assert!(s.wants(502, 3, 10, false, false));
        assert!(!s.wants(404, 3, 10, false, false));
        assert!(s.wants(200, 700, 10, false, false));
        let s = Selective { c4xx: true, big: 1000, zero: true, ioerror: true, ..Default::default() };
        assert!(s.wants(404, 0, 5, false, false) && s.wants(200, 0, 1000, false, false) && s.wants(200, 0, 0, false, false));
        assert!(s.wants(200, 0, 5, false, true) && !s.wants(200, 0, 5, false, false));
        assert!(!Selective::default().any());
    }
}
