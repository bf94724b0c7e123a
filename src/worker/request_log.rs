//! A request's log line: what it needs of the request, copied before the
//! request goes to the app (the default line's four values, or the ones a
//! --log-format names), and the line written once the response is out.

use super::Shared;
use super::respond::Outcome;
use crate::log::RequestLog;
use crate::proto::vars::Vars;
use std::time::Duration;

/// What a request's log line needs, copied before the request goes to
/// the app: the default line's few variables, or those the --log-format names.
pub(super) enum Captured {
    /// The default line's method, URI, address and protocol.
    Default {
        vars: usize,
        vars_bytes: usize,
        fields: Fields<4>,
    },
    Format {
        values: crate::log::format::Captures,
        vars: usize,
        vars_bytes: usize,
        content_length: u64,
    },
}

/// N byte strings copied into one buffer (one allocation, not N).
pub(super) struct Fields<const N: usize> {
    text: Vec<u8>,
    ends: [usize; N],
}

impl<const N: usize> Fields<N> {
    fn new(parts: [&[u8]; N]) -> Self {
        let mut text = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
        let ends = parts.map(|p| {
            text.extend_from_slice(p);
            text.len()
        });
        Fields { text, ends }
    }

    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

impl Captured {
    /// What the line will need of `vars`. Out of line, as `write` is, so
    /// that a profile (bench/log_cost.py --profile) sees what logging costs.
    #[inline(never)]
    pub(super) fn take(sh: &Shared, vars: &Vars) -> Captured {
        match &sh.log_format {
            Some(f) => Captured::Format {
                values: f.captured().map(|name| vars.get(name)).collect(),
                vars: vars.len(),
                vars_bytes: vars.byte_len(),
                content_length: vars.get(b"CONTENT_LENGTH").and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok()).unwrap_or(0),
            },
            None => {
                // --log-x-forwarded-for: the first address the proxies saw.
                let forwarded = sh
                    .cfg
                    .log
                    .x_forwarded_for
                    .then(|| vars.get(b"HTTP_X_FORWARDED_FOR"))
                    .flatten()
                    .map(|v| v.split(|&b| b == b',').next().unwrap_or(v).trim_ascii())
                    .filter(|v| !v.is_empty());
                Captured::Default {
                    vars: vars.len(),
                    vars_bytes: vars.byte_len(),
                    fields: Fields::new([
                        vars.get(b"REQUEST_METHOD").unwrap_or(b""),
                        vars.get(b"REQUEST_URI").or(vars.get(b"PATH_INFO")).unwrap_or(b""),
                        forwarded.or(vars.get(b"REMOTE_ADDR")).unwrap_or(b""),
                        vars.get(b"SERVER_PROTOCOL").unwrap_or(b"HTTP/1.0"),
                    ]),
                }
            }
        }
    }

    /// Writes the request's line, now that its outcome is known.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    pub(super) fn write(
        self,
        sh: &Shared,
        out: &Outcome,
        status: u16,
        n: u64,
        elapsed: Duration,
        slot: Option<&crate::stats::board::WorkerSlot>,
        logvars: Option<crate::wsgi::LogVars>,
    ) {
        match self {
            Captured::Default { vars, vars_bytes, fields } => RequestLog {
                pid: sh.pid,
                app: 0,
                worker_requests: n,
                total_requests: n,
                remote_addr: fields.get(2),
                remote_user: b"",
                vars,
                vars_bytes,
                method: fields.get(0),
                uri: fields.get(1),
                body_bytes: out.body_bytes,
                msecs: elapsed.as_millis(),
                micros: sh.cfg.log.micros.then_some(elapsed.as_micros()),
                protocol: fields.get(3),
                status: &out.status,
                headers: out.headers,
                headers_bytes: out.headers_bytes,
                core: 0,
                memory: sh.cfg.memory_report.then(|| memory_report(slot)),
            }
            .write(),
            Captured::Format { values, vars, vars_bytes, content_length } => {
                let Some(f) = &sh.log_format else { return };
                let lv = logvars.map(|l| std::mem::take(&mut *l.lock().unwrap_or_else(|e| e.into_inner()))).unwrap_or_default();
                let micros = elapsed.as_micros() as u64;
                let memory = if f.memory {
                    let (rss, vsz) = crate::stats::own_memory();
                    (vsz, rss)
                } else {
                    (0, 0)
                };
                let entry = crate::log::format::Entry {
                    vars: &values,
                    status,
                    body_bytes: out.body_bytes,
                    headers_bytes: out.headers_bytes as u64,
                    headers: out.headers,
                    content_length,
                    started_us: crate::log::format::unix_now().saturating_sub(micros),
                    micros,
                    pid: sh.pid,
                    wid: sh.worker_id,
                    core: 0,
                    vars_count: vars,
                    vars_bytes,
                    modifiers: (0, 0),
                    memory,
                    logvars: &lv,
                    write_errors: out.broken.is_some() as u64,
                };
                crate::log::write_request_with(|l| f.render(&entry, l));
            }
        }
    }

    /// "METHOD URI" of the request, for a log line about it.
    pub(super) fn request(&self) -> Option<String> {
        match self {
            Captured::Default { fields, .. } => Some(format!("{} {}", String::from_utf8_lossy(fields.get(0)), String::from_utf8_lossy(fields.get(1)))),
            Captured::Format { .. } => None,
        }
    }
}

/// --memory-report: (vsz, rss) for the request log line, kept for the
/// stats too.
fn memory_report(slot: Option<&crate::stats::board::WorkerSlot>) -> (u64, u64) {
    let (rss, vsz) = crate::stats::own_memory();
    if let Some(w) = slot {
        w.rss.store(rss, std::sync::atomic::Ordering::Relaxed);
        w.vsz.store(vsz, std::sync::atomic::Ordering::Relaxed);
    }
    (vsz, rss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_share_one_buffer() {
        let f = Fields::new([&b"GET"[..], b"/x?y=1", b"", b"HTTP/1.1"]);
        assert_eq!((f.get(0), f.get(1), f.get(2), f.get(3)), (&b"GET"[..], &b"/x?y=1"[..], &b""[..], &b"HTTP/1.1"[..]));
        assert_eq!(f.text.len(), 3 + 6 + 8);
        let empty = Fields::new([&b""[..], b""]);
        assert_eq!((empty.get(0), empty.get(1)), (&b""[..], &b""[..]));
    }
}
