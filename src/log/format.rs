//! --log-format: uWSGI's custom request line, compiled once at start-up
//! into pieces. `%(name)` is a request variable, a value of the request
//! (status, sizes, times...), `%(var.NAME)` any CGI variable, and any other
//! name a log variable the app set with uwsgi.set_logvar(). An empty value
//! prints as `-`, as in uWSGI. A request pays only for what the format
//! names: the CGI variables it needs are copied before the request goes to
//! the app, and nothing else is.

use std::io::Write;

/// What a `%(name)` stands for.
#[derive(Debug, Clone, PartialEq)]
enum Var {
    /// A CGI variable of the request, by its index in `Needs::vars`.
    Request(usize),
    /// REMOTE_ADDR, or X-Forwarded-For's first address with
    /// --log-x-forwarded-for: indexes of both.
    Addr(usize, Option<usize>),
    Status,
    Rsize,
    Hsize,
    Size,
    Cl,
    Micros,
    Msecs,
    Secs,
    Tmsecs,
    Tmicros,
    Time,
    Ltime,
    Ftime,
    Ctime,
    Epoch,
    Pid,
    Wid,
    Switches,
    Vars,
    Core,
    Vsz,
    Rss,
    VszM,
    RssM,
    Pktsize,
    Modifier1,
    Modifier2,
    Headers,
    Werr,
    Rerr,
    Ioerr,
    Logged(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(Vec<u8>),
    Var(Var),
    /// A JSON string's contents (`--log-format json`): escaped, and empty
    /// when empty.
    Json(Var),
}

/// `--log-format json`: one JSON object per line, numbers as numbers.
const JSON: &[(&str, &str, bool)] = &[
    ("timestamp", "ftime", true),
    ("addr", "addr", true),
    ("method", "method", true),
    ("uri", "uri", true),
    ("proto", "proto", true),
    ("status", "status", false),
    ("size", "size", false),
    ("rsize", "rsize", false),
    ("hsize", "hsize", false),
    ("cl", "cl", false),
    ("micros", "micros", false),
    ("msecs", "msecs", false),
    ("host", "host", true),
    ("referer", "referer", true),
    ("uagent", "uagent", true),
    ("pid", "pid", false),
    ("wid", "wid", false),
];

/// A compiled --log-format.
#[derive(Debug, Clone)]
pub struct LogFormat {
    pieces: Vec<Piece>,
    /// The CGI variables to copy before the request is handed to the app.
    pub vars: Vec<Vec<u8>>,
    /// It names log variables (uwsgi.set_logvar).
    pub logvars: bool,
    /// It names vsz/rss: the worker's memory is read for each line.
    pub memory: bool,
    /// %(ftime)'s strftime format (--log-format-strftime with --log-date).
    strftime: Option<String>,
}

/// The values of the request variables a format names, copied before the
/// request goes to the app: into one buffer (two allocations for all of
/// them, not one each).
#[derive(Debug, Default)]
pub struct Captures {
    text: Vec<u8>,
    spans: Vec<Option<(usize, usize)>>,
}

impl Captures {
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.spans.get(i).copied().flatten().map(|(a, b)| &self.text[a..b])
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl<'v> FromIterator<Option<&'v [u8]>> for Captures {
    fn from_iter<I: IntoIterator<Item = Option<&'v [u8]>>>(values: I) -> Self {
        let mut c = Captures { text: Vec::with_capacity(256), spans: Vec::new() };
        for v in values {
            c.spans.push(v.map(|v| {
                c.text.extend_from_slice(v);
                (c.text.len() - v.len(), c.text.len())
            }));
        }
        c
    }
}

/// One finished request, as a log line sees it.
pub struct Entry<'a> {
    /// The values of `LogFormat::vars`, in order.
    pub vars: &'a Captures,
    pub status: u16,
    pub body_bytes: u64,
    pub headers_bytes: u64,
    pub headers: usize,
    pub content_length: u64,
    /// When the request started, in microseconds since the epoch.
    pub started_us: u64,
    pub micros: u64,
    pub pid: u32,
    pub wid: usize,
    pub core: usize,
    pub vars_count: usize,
    pub vars_bytes: usize,
    pub modifiers: (u8, u8),
    /// (vsz, rss) in bytes, when the format asks for them.
    pub memory: (u64, u64),
    pub logvars: &'a [(String, String)],
    pub write_errors: u64,
}

impl LogFormat {
    /// Compiles `format`; `x_forwarded_for` is --log-x-forwarded-for.
    pub fn compile(format: &str, x_forwarded_for: bool, strftime: Option<&str>) -> Result<LogFormat, String> {
        if format.trim() == "json" {
            return Self::json(x_forwarded_for, strftime);
        }
        let mut f = LogFormat { pieces: Vec::new(), vars: Vec::new(), logvars: false, memory: false, strftime: strftime.map(str::to_string) };
        let mut text = Vec::new();
        let mut rest = format;
        while let Some(at) = rest.find("%(") {
            let Some(len) = rest[at + 2..].find(')') else { break };
            text.extend_from_slice(&rest.as_bytes()[..at]);
            let name = &rest[at + 2..at + 2 + len];
            rest = &rest[at + 2 + len + 1..];
            if !text.is_empty() {
                f.pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            let var = f.var(name, x_forwarded_for)?;
            f.pieces.push(Piece::Var(var));
        }
        text.extend_from_slice(rest.as_bytes());
        text.push(b'\n');
        f.pieces.push(Piece::Text(text));
        Ok(f)
    }

    /// The JSON line: uWSGI's variables as typed fields, the time in ISO 8601.
    fn json(x_forwarded_for: bool, strftime: Option<&str>) -> Result<LogFormat, String> {
        let mut f = LogFormat {
            pieces: Vec::new(),
            vars: Vec::new(),
            logvars: false,
            memory: false,
            strftime: Some(strftime.unwrap_or("%Y-%m-%dT%H:%M:%S%z").to_string()),
        };
        for (i, (key, var, string)) in JSON.iter().enumerate() {
            let sep = if i == 0 { "{" } else { ", " };
            let q = if *string { "\"" } else { "" };
            f.pieces.push(Piece::Text(format!("{}\"{}\": {}", sep, key, q).into_bytes()));
            let v = f.var(var, x_forwarded_for)?;
            f.pieces.push(if *string { Piece::Json(v) } else { Piece::Var(v) });
            if *string {
                f.pieces.push(Piece::Text(b"\"".to_vec()));
            }
        }
        f.pieces.push(Piece::Text(b"}\n".to_vec()));
        Ok(f)
    }

    fn need(&mut self, name: &[u8]) -> usize {
        match self.vars.iter().position(|v| v == name) {
            Some(i) => i,
            None => {
                self.vars.push(name.to_vec());
                self.vars.len() - 1
            }
        }
    }

    fn var(&mut self, name: &str, xff: bool) -> Result<Var, String> {
        let request: Option<&'static [u8]> = match name {
            "uri" => Some(b"REQUEST_URI"),
            "method" => Some(b"REQUEST_METHOD"),
            "user" => Some(b"REMOTE_USER"),
            "host" => Some(b"HTTP_HOST"),
            "proto" => Some(b"SERVER_PROTOCOL"),
            "uagent" => Some(b"HTTP_USER_AGENT"),
            "referer" => Some(b"HTTP_REFERER"),
            _ => None,
        };
        if let Some(r) = request {
            return Ok(Var::Request(self.need(r)));
        }
        Ok(match name {
            "addr" => {
                let a = self.need(b"REMOTE_ADDR");
                Var::Addr(a, xff.then(|| self.need(b"HTTP_X_FORWARDED_FOR")))
            }
            "status" => Var::Status,
            "rsize" => Var::Rsize,
            "hsize" => Var::Hsize,
            "size" => Var::Size,
            "cl" => Var::Cl,
            "micros" => Var::Micros,
            "msecs" => Var::Msecs,
            "secs" => Var::Secs,
            "tmsecs" => Var::Tmsecs,
            "tmicros" => Var::Tmicros,
            "time" => Var::Time,
            "ltime" => Var::Ltime,
            "ftime" => Var::Ftime,
            "ctime" => Var::Ctime,
            "epoch" => Var::Epoch,
            "pid" => Var::Pid,
            "wid" => Var::Wid,
            "switches" => Var::Switches,
            "vars" => Var::Vars,
            "core" => Var::Core,
            "vsz" | "rss" | "vszM" | "rssM" => {
                self.memory = true;
                match name {
                    "vsz" => Var::Vsz,
                    "rss" => Var::Rss,
                    "vszM" => Var::VszM,
                    _ => Var::RssM,
                }
            }
            "pktsize" => Var::Pktsize,
            "modifier1" => Var::Modifier1,
            "modifier2" => Var::Modifier2,
            "headers" => Var::Headers,
            "werr" => Var::Werr,
            "rerr" => Var::Rerr,
            "ioerr" => Var::Ioerr,
            n if n.starts_with("metric.") => {
                return Err(format!("log-format: %({}) names a uWSGI metric; uWSGI's metrics subsystem is not provided by oxwsgi", n));
            }
            n if n.starts_with("var.") => Var::Request(self.need(&n.as_bytes()[4..])),
            n => {
                self.logvars = true;
                Var::Logged(n.to_string())
            }
        })
    }

    /// Every CGI variable to copy for a line, in `Entry::vars` order.
    pub fn captured(&self) -> impl Iterator<Item = &[u8]> {
        self.vars.iter().map(|v| v.as_slice())
    }

    fn value<'e>(&self, e: &'e Entry<'_>, i: usize) -> Option<&'e [u8]> {
        e.vars.get(i).filter(|v| !v.is_empty())
    }

    /// Writes the line for `e` into `out`.
    pub fn render(&self, e: &Entry<'_>, out: &mut Vec<u8>) {
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.extend_from_slice(t),
                Piece::Var(v) => {
                    let start = out.len();
                    self.render_var(v, e, out);
                    if out.len() == start {
                        out.push(b'-');
                    }
                }
                Piece::Json(v) => {
                    let mut raw = Vec::new();
                    self.render_var(v, e, &mut raw);
                    super::sinks::json_escape(&raw, out);
                }
            }
        }
    }

    fn render_var(&self, v: &Var, e: &Entry<'_>, out: &mut Vec<u8>) {
        let secs = (e.started_us / 1_000_000) as i64;
        let n: u64 = match v {
            Var::Request(i) => return super::line::put(out, self.value(e, *i).unwrap_or(b"")),
            Var::Addr(a, x) => {
                let forwarded = x.and_then(|x| self.value(e, x)).map(|v| v.split(|&b| b == b',').next().unwrap_or(v).trim_ascii());
                return super::line::put(out, forwarded.filter(|v| !v.is_empty()).or(self.value(e, *a)).unwrap_or(b""));
            }
            Var::Secs => {
                let _ = write!(out, "{:.6}", e.micros as f64 / 1e6);
                return;
            }
            Var::Ltime => return put_time(0, secs, "%d/%b/%Y:%H:%M:%S %z", out),
            Var::Ftime => return put_time(1, secs, self.strftime.as_deref().unwrap_or("%d/%b/%Y:%H:%M:%S %z"), out),
            Var::Ctime => return put_time(2, secs, "%a %b %e %H:%M:%S %Y", out),
            Var::Logged(name) => {
                if let Some((_, v)) = e.logvars.iter().rev().find(|(k, _)| k == name) {
                    super::line::put(out, v.as_bytes());
                }
                return;
            }
            Var::Status => e.status.into(),
            Var::Rsize => e.body_bytes,
            Var::Hsize => e.headers_bytes,
            Var::Size => e.body_bytes + e.headers_bytes,
            Var::Cl => e.content_length,
            Var::Micros => e.micros,
            Var::Msecs => e.micros / 1000,
            Var::Tmsecs => e.started_us / 1000,
            Var::Tmicros => e.started_us,
            Var::Time => secs as u64,
            Var::Epoch => unix_now() / 1_000_000,
            Var::Pid => e.pid.into(),
            Var::Wid => e.wid as u64,
            Var::Switches => 1,
            Var::Vars => e.vars_count as u64,
            Var::Core => e.core as u64,
            Var::Vsz => e.memory.0,
            Var::Rss => e.memory.1,
            Var::VszM => e.memory.0 >> 20,
            Var::RssM => e.memory.1 >> 20,
            Var::Pktsize => e.vars_bytes as u64,
            Var::Modifier1 => e.modifiers.0.into(),
            Var::Modifier2 => e.modifiers.1.into(),
            Var::Headers => e.headers as u64,
            Var::Werr | Var::Ioerr => e.write_errors,
            Var::Rerr => 0,
        };
        // Numbers without the formatting machinery: a line may have ten.
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

thread_local! {
    /// The last second each time variable (ltime, ftime, ctime) was
    /// formatted for, its format and its text: strftime and the time zone
    /// lookup cost more than the rest of a line, and a busy worker logs many
    /// lines a second.
    static TIMES: std::cell::RefCell<[(i64, String, Vec<u8>); 3]> = const { std::cell::RefCell::new([(i64::MIN, String::new(), Vec::new()), (i64::MIN, String::new(), Vec::new()), (i64::MIN, String::new(), Vec::new())]) };
}

fn put_time(slot: usize, secs: i64, format: &str, out: &mut Vec<u8>) {
    TIMES.with(|t| {
        let mut t = t.borrow_mut();
        let c = &mut t[slot];
        if c.0 != secs || c.1 != format {
            *c = (secs, format.to_string(), strftime(secs, format).into_bytes());
        }
        out.extend_from_slice(&c.2);
    })
}

/// Microseconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// `secs` in local time, formatted by strftime(3).
pub fn strftime(secs: i64, format: &str) -> String {
    let Ok(fmt) = std::ffi::CString::new(format) else { return String::new() };
    // SAFETY: localtime_r fills the zeroed tm; strftime writes at most buf.len().
    unsafe {
        let t = secs as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&t, &mut tm);
        let mut buf = [0u8; 256];
        let n = libc::strftime(buf.as_mut_ptr() as *mut _, buf.len(), fmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(vars: &'a Captures, logvars: &'a [(String, String)]) -> Entry<'a> {
        Entry {
            vars,
            status: 404,
            body_bytes: 120,
            headers_bytes: 80,
            headers: 3,
            content_length: 17,
            started_us: 1_764_590_400_123_456,
            micros: 2_345,
            pid: 4242,
            wid: 2,
            core: 1,
            vars_count: 21,
            vars_bytes: 600,
            modifiers: (0, 0),
            memory: (300 << 20, 40 << 20),
            logvars,
            write_errors: 0,
        }
    }

    fn line(fmt: &str, xff: bool, values: &[(&[u8], &[u8])], logvars: &[(String, String)]) -> String {
        let f = LogFormat::compile(fmt, xff, Some("%Y")).unwrap();
        let vars: Captures = f.captured().map(|name| values.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)).collect();
        let mut out = Vec::new();
        f.render(&entry(&vars, logvars), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cached_times_follow_their_format() {
        let none = Captures::default();
        let e = entry(&none, &[]);
        let secs = (e.started_us / 1_000_000) as i64;
        for fmt in ["%Y", "%H:%M", "%Y"] {
            let f = LogFormat::compile("%(ftime) %(ltime)", false, Some(fmt)).unwrap();
            let mut out = Vec::new();
            f.render(&e, &mut out);
            assert_eq!(String::from_utf8(out).unwrap(), format!("{} {}\n", strftime(secs, fmt), strftime(secs, "%d/%b/%Y:%H:%M:%S %z")));
        }
    }

    #[test]
    fn captures_keep_absent_empty_and_present_apart() {
        let c: Captures = [Some(&b"GET"[..]), None, Some(b""), Some(b"/x")].into_iter().collect();
        assert_eq!((c.len(), c.get(0), c.get(1), c.get(2), c.get(3), c.get(4)), (4, Some(&b"GET"[..]), None, Some(&b""[..]), Some(&b"/x"[..]), None));
        assert!(Captures::default().is_empty() && Captures::default().get(0).is_none());
    }

    #[test]
    fn every_variable() {
        let vars: &[(&[u8], &[u8])] = &[
            (b"REQUEST_URI", b"/shop?x=1"),
            (b"REQUEST_METHOD", b"POST"),
            (b"REMOTE_ADDR", b"10.0.0.9"),
            (b"HTTP_HOST", b"shop.example"),
            (b"SERVER_PROTOCOL", b"HTTP/1.1"),
            (b"HTTP_USER_AGENT", b"curl/8"),
            (b"HTTP_X_FORWARDED_FOR", b"203.0.113.5, 10.0.0.1"),
            (b"HTTP_X_REQUEST_ID", b"abc"),
        ];
        assert_eq!(
            line("%(method) %(uri) %(proto) %(status) %(addr) %(host) %(uagent) [%(referer)] %(user) %(var.HTTP_X_REQUEST_ID) %(var.NOPE)", false, vars, &[]),
            "POST /shop?x=1 HTTP/1.1 404 10.0.0.9 shop.example curl/8 [-] - abc -\n"
        );
        assert_eq!(line("%(addr)", true, vars, &[]), "203.0.113.5\n");
        assert_eq!(line("%(addr)", true, &[(b"REMOTE_ADDR", b"10.0.0.9")], &[]), "10.0.0.9\n");
        assert_eq!(
            line(
                "%(rsize) %(hsize) %(size) %(cl) %(micros) %(msecs) %(secs) %(pid) %(wid) %(core) %(switches) %(vars) %(pktsize) %(headers)",
                false,
                vars,
                &[]
            ),
            "120 80 200 17 2345 2 0.002345 4242 2 1 1 21 600 3\n"
        );
        assert_eq!(line("%(time) %(tmsecs) %(tmicros)", false, vars, &[]), "1764590400 1764590400123 1764590400123456\n");
        assert_eq!(line("%(vszM) %(rssM) %(rss)", false, vars, &[]), format!("300 40 {}\n", 40 << 20));
        assert_eq!(line("%(werr) %(rerr) %(ioerr) %(modifier1)", false, vars, &[]), "0 0 0 0\n");
        let ctime = line("%(ctime)", false, vars, &[]);
        assert!(ctime.len() == 25 && ctime.contains(" 2025"), "{ctime}");
        let ltime = line("%(ltime)", false, vars, &[]);
        assert!(ltime.contains("/Dec/2025:") || ltime.contains("/Nov/2025:"), "{ltime}");
        assert_eq!(line("%(ftime)", false, vars, &[]), "2025\n");
    }

    #[test]
    fn json_lines_with_types() {
        let vars: &[(&[u8], &[u8])] = &[(b"REQUEST_URI", b"/a\"b"), (b"REQUEST_METHOD", b"GET"), (b"REMOTE_ADDR", b"10.0.0.9")];
        let l = line("json", false, vars, &[]);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["uri"], "/a\"b");
        assert_eq!(v["status"], 404);
        assert_eq!(v["size"], 200);
        assert_eq!(v["referer"], "");
        // The helper gives --log-date %Y (with --log-format-strftime); ISO 8601 otherwise.
        assert_eq!(v["timestamp"], "2025");
        let iso = LogFormat::compile("json", false, None).unwrap();
        let mut out = Vec::new();
        iso.render(&entry(&Captures::default(), &[]), &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["timestamp"].as_str().unwrap().len(), 24, "{v}");
        assert!(l.ends_with("}\n"));
    }

    #[test]
    fn log_variables_and_text() {
        let lv = vec![("user_id".to_string(), "7".to_string())];
        assert_eq!(line("a %(user_id) b %(missing) 100%% %(", false, &[], &lv), "a 7 b - 100%% %(\n");
        let f = LogFormat::compile("%(user_id)", false, None).unwrap();
        assert!(f.logvars && !f.memory && f.vars.is_empty());
        assert!(LogFormat::compile("%(metric.core.busy)", false, None).unwrap_err().contains("metrics subsystem is not provided"));
        // Only the named variables are copied.
        let f = LogFormat::compile("%(uri) %(uri) %(status)", false, None).unwrap();
        assert_eq!(f.captured().collect::<Vec<_>>(), vec![&b"REQUEST_URI"[..]]);
    }
}
