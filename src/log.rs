//! The request log line, in uWSGI's default format so that existing log
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
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr() as *mut _, buf.len(), c"%a %b %e %H:%M:%S %Y".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl RequestLog<'_> {
    pub fn format(&self) -> Vec<u8> {
        let mut l = Vec::with_capacity(256);
        let s = String::from_utf8_lossy;
        let status_code = self.status.get(..3).unwrap_or(self.status);
        if let Some((vsz, rss)) = self.memory {
            let _ = write!(l, "{{address space usage: {} bytes/{}MB}} {{rss usage: {} bytes/{}MB}} ", vsz, vsz >> 20, rss, rss >> 20);
        }
        let _ = writeln!(
            l,
            "[pid: {}|app: {}|req: {}/{}] {} ({}) {{{} vars in {} bytes}} [{}] {} {} => generated {} bytes in {} msecs ({} {}) {} headers in {} bytes (1 switches on core {})",
            self.pid,
            self.app,
            self.worker_requests,
            self.total_requests,
            s(self.remote_addr),
            s(self.remote_user),
            self.vars,
            self.vars_bytes,
            ctime_now(),
            s(self.method),
            s(self.uri),
            self.body_bytes,
            self.msecs,
            s(self.protocol),
            s(status_code),
            self.headers,
            self.headers_bytes,
            self.core,
        );
        l
    }

    pub fn write(&self) {
        let _ = std::io::stderr().write_all(&self.format());
    }
}

/// Writes one log line with a single write(2): several processes (master,
/// workers, vassals) share stderr, and a line written in pieces would
/// interleave with theirs.
pub fn write_line(mut s: String) {
    s.push('\n');
    let _ = std::io::stderr().write_all(s.as_bytes());
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
    fn uwsgi_format() {
        let line = RequestLog {
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
            protocol: b"HTTP/1.1",
            status: b"200 OK",
            headers: 1,
            headers_bytes: 44,
            core: 0,
            memory: None,
        }
        .format();
        let line = String::from_utf8(line).unwrap();
        assert!(line.starts_with("[pid: 42|app: 0|req: 3/7] 127.0.0.1 () {20 vars in 300 bytes} ["), "{line}");
        assert!(line.ends_with("] GET /x?y => generated 11 bytes in 2 msecs (HTTP/1.1 200) 1 headers in 44 bytes (1 switches on core 0)\n"), "{line}");
    }
}
