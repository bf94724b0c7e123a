//! The default request log line, in uWSGI's format so that existing log
//! tooling keeps working:
//! `[pid: 1|app: 0|req: 1/1] 127.0.0.1 () {32 vars in 400 bytes} [Mon Nov 23 21:55:12 2026] GET / => generated 11 bytes in 0 msecs (HTTP/1.1 200) 1 headers in 44 bytes (1 switches on core 0)`

use std::io::Write;

pub struct RequestLog<'a> {
    pub pid: u32,
    pub app: usize,
    pub worker_requests: u64,
    pub total_requests: u64,
    pub remote_addr: &'a [u8],
    pub remote_user: &'a [u8],
    pub vars: usize,
    pub vars_bytes: usize,
    pub method: &'a [u8],
    pub uri: &'a [u8],
    pub body_bytes: u64,
    pub msecs: u128,
    /// --log-micros: the time in microseconds instead.
    pub micros: Option<u128>,
    pub protocol: &'a [u8],
    pub status: &'a [u8],
    pub headers: usize,
    pub headers_bytes: usize,
    pub core: usize,
    /// --memory-report: (vsz, rss) in bytes, printed before the line.
    pub memory: Option<(u64, u64)>,
}

/// The local time as uWSGI prints it (ctime without the newline).
pub fn ctime_now() -> String {
    let mut b = Vec::new();
    put_ctime(&mut b);
    String::from_utf8_lossy(&b).into_owned()
}

thread_local! {
    /// The last second formatted, and its text: a busy worker logs many
    /// lines a second, and formatting the time is most of a line's cost.
    static CTIME: std::cell::RefCell<(i64, Vec<u8>)> = const { std::cell::RefCell::new((-1, Vec::new())) };
}

fn put_ctime(l: &mut Vec<u8>) {
    // SAFETY: time(NULL) reads the clock.
    let now = unsafe { libc::time(std::ptr::null_mut()) } as i64;
    CTIME.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            *c = (now, super::format::strftime(now, "%a %b %e %H:%M:%S %Y").into_bytes());
        }
        l.extend_from_slice(&c.1);
    })
}

/// A number, without the formatting machinery (a line has eight).
fn num<N: itoa::Integer>(l: &mut Vec<u8>, n: N) {
    l.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Copies `b` into the line, with control characters (a newline in a URI
/// from a uwsgi packet) written as \xNN: a request cannot forge a line.
pub(super) fn put(l: &mut Vec<u8>, b: &[u8]) {
    if !b.iter().any(|&c| c < 0x20 || c == 0x7f) {
        l.extend_from_slice(b);
        return;
    }
    for &c in b {
        if c < 0x20 || c == 0x7f {
            let _ = write!(l, "\\x{:02x}", c);
        } else {
            l.push(c);
        }
    }
}

impl RequestLog<'_> {
    pub fn format(&self) -> Vec<u8> {
        let mut l = Vec::with_capacity(256);
        self.format_into(&mut l);
        l
    }

    /// Appends the line (with its newline) to `l`.
    pub fn format_into(&self, l: &mut Vec<u8>) {
        let status_code = self.status.get(..3).unwrap_or(self.status);
        if let Some((vsz, rss)) = self.memory {
            let _ = write!(l, "{{address space usage: {} bytes/{}MB}} {{rss usage: {} bytes/{}MB}} ", vsz, vsz >> 20, rss, rss >> 20);
        }
        l.extend_from_slice(b"[pid: ");
        num(l, self.pid);
        l.extend_from_slice(b"|app: ");
        num(l, self.app);
        l.extend_from_slice(b"|req: ");
        num(l, self.worker_requests);
        l.push(b'/');
        num(l, self.total_requests);
        l.extend_from_slice(b"] ");
        put(l, self.remote_addr);
        l.extend_from_slice(b" (");
        put(l, self.remote_user);
        l.extend_from_slice(b") {");
        num(l, self.vars);
        l.extend_from_slice(b" vars in ");
        num(l, self.vars_bytes);
        l.extend_from_slice(b" bytes} [");
        put_ctime(l);
        l.extend_from_slice(b"] ");
        put(l, self.method);
        l.push(b' ');
        put(l, self.uri);
        let (t, unit) = match self.micros {
            Some(us) => (us, &b" micros ("[..]),
            None => (self.msecs, &b" msecs ("[..]),
        };
        l.extend_from_slice(b" => generated ");
        num(l, self.body_bytes);
        l.extend_from_slice(b" bytes in ");
        num(l, t);
        l.extend_from_slice(unit);
        put(l, self.protocol);
        l.push(b' ');
        put(l, status_code);
        l.extend_from_slice(b") ");
        num(l, self.headers);
        l.extend_from_slice(b" headers in ");
        num(l, self.headers_bytes);
        l.extend_from_slice(b" bytes (1 switches on core ");
        num(l, self.core);
        l.extend_from_slice(b")\n");
    }

    pub fn write(&self) {
        super::write_request_with(|l| self.format_into(l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RequestLog<'static> {
        RequestLog {
            pid: 42,
            app: 0,
            worker_requests: 3,
            total_requests: 7,
            remote_addr: b"127.0.0.1",
            remote_user: b"",
            vars: 20,
            vars_bytes: 300,
            method: b"GET",
            uri: b"/x?y",
            body_bytes: 11,
            msecs: 2,
            micros: None,
            protocol: b"HTTP/1.1",
            status: b"200 OK",
            headers: 1,
            headers_bytes: 44,
            core: 0,
            memory: None,
        }
    }

    #[test]
    fn uwsgi_format() {
        let line = sample().format();
        let line = String::from_utf8(line).unwrap();
        assert!(line.starts_with("[pid: 42|app: 0|req: 3/7] 127.0.0.1 () {20 vars in 300 bytes} ["), "{line}");
        assert!(line.ends_with("] GET /x?y => generated 11 bytes in 2 msecs (HTTP/1.1 200) 1 headers in 44 bytes (1 switches on core 0)\n"), "{line}");
        let forged = RequestLog { uri: b"/a\n[pid: 1|app: 0|req: 1/1] fake", micros: Some(2500), ..sample() }.format();
        let forged = String::from_utf8(forged).unwrap();
        assert!(forged.contains("GET /a\\x0a[pid: 1|") && forged.contains(" in 2500 micros ") && forged.matches('\n').count() == 1, "{forged}");
    }
}
