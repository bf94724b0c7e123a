//! Where the log master sends lines: uWSGI's loggers (`file:`, `stdio`,
//! `fd:`, `syslog`, `rsyslog:`, `socket:`), named ones reached by
//! --log-route, and the encoders (`prefix`, `suffix`, `nl`, `format`,
//! `json`) applied on the way, as uWSGI chains them.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

/// Where one logger writes.
enum Dest {
    File(std::fs::File),
    /// A descriptor we do not own (the master's original stdout: `stdio`).
    Fd(RawFd),
    /// syslog over a unix datagram socket (/dev/log) or UDP (rsyslog).
    Syslog {
        sock: Datagram,
        ident: String,
        facility: u8,
    },
    /// `socket:`: each line as a datagram.
    Socket(Datagram),
}

enum Datagram {
    Unix(std::os::unix::net::UnixDatagram),
    Udp(std::net::UdpSocket),
}

impl Datagram {
    fn open(addr: &str) -> std::io::Result<Datagram> {
        if addr.starts_with('/') || addr.starts_with('@') {
            let s = std::os::unix::net::UnixDatagram::unbound()?;
            s.connect(addr)?;
            s.set_nonblocking(true)?;
            return Ok(Datagram::Unix(s));
        }
        let target: std::net::SocketAddr =
            std::net::ToSocketAddrs::to_socket_addrs(addr)?.next().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address"))?;
        let s = std::net::UdpSocket::bind(if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
        s.connect(target)?;
        s.set_nonblocking(true)?;
        Ok(Datagram::Udp(s))
    }

    /// Never waits: a datagram the receiver cannot take is dropped.
    fn send(&self, data: &[u8]) {
        let _ = match self {
            Datagram::Unix(s) => s.send(data),
            Datagram::Udp(s) => s.send(data),
        };
    }
}

pub struct Logger {
    /// A named logger only gets the lines a route sends it.
    id: Option<String>,
    dest: Dest,
}

/// The facilities syslog knows, by name.
fn facility(name: &str) -> Option<u8> {
    let names = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2",
        "local3", "local4", "local5", "local6", "local7",
    ];
    names.iter().position(|n| !n.is_empty() && *n == name).map(|i| i as u8)
}

impl Logger {
    /// `[id ]plugin[:args]`, as uWSGI's --logger takes it.
    pub fn parse(spec: &str, stdout: RawFd) -> Result<Logger, String> {
        let (id, rest) = match spec.split_once(' ') {
            Some((id, rest)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) => (Some(id.to_string()), rest.trim()),
            _ => (None, spec.trim()),
        };
        let (plugin, arg) = match rest.split_once(':') {
            Some((p, a)) => (p, Some(a).filter(|a| !a.is_empty())),
            None => (rest, None),
        };
        let bad = |why: String| format!("logger '{}': {}", spec, why);
        let dest = match plugin {
            "file" => {
                let arg = arg.ok_or_else(|| bad("file: needs a path (file:/var/log/app.log)".into()))?;
                // file:/path, or uWSGI 2.0's keyval form file:filename=/path
                let path = arg.split(',').find_map(|kv| kv.strip_prefix("filename=")).unwrap_or(arg);
                let f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| bad(format!("cannot open {}: {}", path, e)))?;
                Dest::File(f)
            }
            "stdio" => Dest::Fd(stdout),
            "fd" => Dest::Fd(arg.and_then(|a| a.parse().ok()).ok_or_else(|| bad("fd: needs a descriptor number".into()))?),
            "syslog" => {
                let mut parts = arg.unwrap_or("").splitn(2, ',');
                let ident = parts.next().filter(|i| !i.is_empty()).unwrap_or("oxwsgi").to_string();
                let fac = match parts.next() {
                    Some(f) => facility(f).ok_or_else(|| bad(format!("unknown syslog facility '{}'", f)))?,
                    None => 1,
                };
                let sock = Datagram::open("/dev/log").map_err(|e| bad(format!("cannot reach syslog at /dev/log: {}", e)))?;
                Dest::Syslog { sock, ident, facility: fac }
            }
            "rsyslog" => {
                let arg = arg.ok_or_else(|| bad("rsyslog: needs HOST:PORT".into()))?;
                let mut parts = arg.splitn(3, ',');
                let addr = parts.next().unwrap_or("");
                let ident = parts.next().filter(|i| !i.is_empty()).unwrap_or("oxwsgi").to_string();
                let fac = match parts.next() {
                    Some(f) => facility(f).ok_or_else(|| bad(format!("unknown syslog facility '{}'", f)))?,
                    None => 1,
                };
                let sock = Datagram::open(addr).map_err(|e| bad(format!("cannot reach {}: {}", addr, e)))?;
                Dest::Syslog { sock, ident, facility: fac }
            }
            "socket" => {
                let addr = arg.ok_or_else(|| bad("socket: needs an address (HOST:PORT or a unix socket path)".into()))?;
                Dest::Socket(Datagram::open(addr).map_err(|e| bad(format!("cannot reach {}: {}", addr, e)))?)
            }
            other => return Err(bad(format!("the '{}' logger is not provided by oxwsgi; it has file:, stdio, fd:, syslog, rsyslog: and socket:", other))),
        };
        Ok(Logger { id, dest })
    }

    fn write(&mut self, line: &[u8]) {
        match &mut self.dest {
            Dest::File(f) => {
                let _ = f.write_all(line);
            }
            Dest::Fd(fd) => {
                // SAFETY: writes a buffer we own.
                let _ = unsafe { libc::write(*fd, line.as_ptr() as *const _, line.len()) };
            }
            Dest::Syslog { sock, ident, facility } => {
                let msg = line.strip_suffix(b"\n").unwrap_or(line);
                // Priority: the facility, severity info (6).
                let mut d = format!("<{}>{}: ", *facility as u32 * 8 + 6, ident).into_bytes();
                d.extend_from_slice(msg);
                sock.send(&d);
            }
            Dest::Socket(sock) => sock.send(line),
        }
    }
}

/// One --log-encoder: what it does, and the logger it is for (`name:id`).
pub struct Encoder {
    kind: EncoderKind,
    for_id: Option<String>,
}

enum EncoderKind {
    Prefix(String),
    Suffix(String),
    Nl,
    /// `format` and `json`: a template of text and `${...}` variables.
    Template {
        json: bool,
        parts: Vec<TemplatePart>,
    },
}

enum TemplatePart {
    Text(String),
    Msg,
    MsgNl,
    Unix,
    Micros,
    Millis,
    Strftime(String),
}

impl Encoder {
    /// `name[:logger] [args]`, as uWSGI's --log-encoder takes it.
    pub fn parse(spec: &str) -> Result<Encoder, String> {
        let (head, args) = spec.split_once(' ').unwrap_or((spec, ""));
        let (name, for_id) = match head.split_once(':') {
            Some((n, id)) => (n, Some(id.to_string())),
            None => (head, None),
        };
        let kind = match name {
            "prefix" => EncoderKind::Prefix(args.to_string()),
            "suffix" => EncoderKind::Suffix(args.to_string()),
            "nl" => EncoderKind::Nl,
            "format" | "json" => EncoderKind::Template { json: name == "json", parts: template(args) },
            other => return Err(format!("log encoder '{}' is not provided by oxwsgi; it has prefix, suffix, nl, format and json", other)),
        };
        Ok(Encoder { kind, for_id })
    }

    fn applies_to(&self, logger: Option<&str>) -> bool {
        match &self.for_id {
            None => true,
            Some(id) => logger == Some(id.as_str()),
        }
    }

    fn encode(&self, msg: &[u8]) -> Vec<u8> {
        match &self.kind {
            EncoderKind::Prefix(p) => [p.as_bytes(), msg].concat(),
            EncoderKind::Suffix(s) => [msg, s.as_bytes()].concat(),
            EncoderKind::Nl => [msg, b"\n"].concat(),
            EncoderKind::Template { json, parts } => {
                let mut out = Vec::with_capacity(msg.len() + 64);
                let now = super::format::unix_now();
                let bare = msg.strip_suffix(b"\n").unwrap_or(msg);
                for p in parts {
                    match p {
                        TemplatePart::Text(t) => out.extend_from_slice(t.as_bytes()),
                        TemplatePart::Msg if *json => json_escape(bare, &mut out),
                        TemplatePart::Msg => out.extend_from_slice(bare),
                        TemplatePart::MsgNl if *json => json_escape(msg, &mut out),
                        TemplatePart::MsgNl => out.extend_from_slice(msg),
                        TemplatePart::Unix => out.extend_from_slice((now / 1_000_000).to_string().as_bytes()),
                        TemplatePart::Micros => out.extend_from_slice(now.to_string().as_bytes()),
                        TemplatePart::Millis => out.extend_from_slice((now / 1000).to_string().as_bytes()),
                        TemplatePart::Strftime(f) => {
                            let t = super::format::strftime(now as i64 / 1_000_000, f);
                            if *json { json_escape(t.as_bytes(), &mut out) } else { out.extend_from_slice(t.as_bytes()) }
                        }
                    }
                }
                out
            }
        }
    }
}

/// `text ${var} text`; an unknown `${...}` is dropped, as in uWSGI.
fn template(args: &str) -> Vec<TemplatePart> {
    let mut parts = Vec::new();
    let mut rest = args;
    while let Some(at) = rest.find("${") {
        let Some(end) = rest[at..].find('}') else { break };
        if at > 0 {
            parts.push(TemplatePart::Text(rest[..at].to_string()));
        }
        let var = &rest[at + 2..at + end];
        match var {
            "msg" => parts.push(TemplatePart::Msg),
            "msgnl" => parts.push(TemplatePart::MsgNl),
            "unix" => parts.push(TemplatePart::Unix),
            "micros" => parts.push(TemplatePart::Micros),
            "millis" => parts.push(TemplatePart::Millis),
            v if v.starts_with("strftime:") => parts.push(TemplatePart::Strftime(v[9..].to_string())),
            _ => {}
        }
        rest = &rest[at + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(TemplatePart::Text(rest.to_string()));
    }
    parts
}

/// JSON string escaping (without the quotes).
pub fn json_escape(s: &[u8], out: &mut Vec<u8>) {
    for ch in String::from_utf8_lossy(s).chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// One family of lines (general or requests): its loggers, routes and encoders.
#[derive(Default)]
pub struct Chain {
    loggers: Vec<Logger>,
    routes: Vec<(regex::bytes::Regex, String)>,
    encoders: Vec<Encoder>,
}

impl Chain {
    pub fn new(loggers: &[String], routes: &[(String, String)], encoders: &[String], stdout: RawFd) -> Result<Chain, String> {
        let loggers = loggers.iter().map(|l| Logger::parse(l, stdout)).collect::<Result<Vec<_>, _>>()?;
        let mut r = Vec::new();
        for (re, id) in routes {
            if !loggers.iter().any(|l| l.id.as_deref() == Some(id)) {
                return Err(format!("log-route to '{}': no logger is named so (logger = {} file:...)", id, id));
            }
            r.push((regex::bytes::Regex::new(re).map_err(|e| format!("log-route '{}': not a regular expression: {}", re, e))?, id.clone()));
        }
        let encoders = encoders.iter().map(|e| Encoder::parse(e)).collect::<Result<Vec<_>, _>>()?;
        Ok(Chain { loggers, routes: r, encoders })
    }

    /// Sends a line on: to the loggers its routes name, else to every
    /// unnamed logger, else to `fallback`.
    pub fn send(&mut self, line: &[u8], fallback: &mut dyn FnMut(&[u8])) {
        let mut routed = false;
        for i in 0..self.routes.len() {
            if self.routes[i].0.is_match(line) {
                let id = self.routes[i].1.clone();
                for l in self.loggers.iter_mut().filter(|l| l.id.as_deref() == Some(id.as_str())) {
                    let data = encode(&self.encoders, Some(&id), line);
                    l.write(&data);
                }
                routed = true;
            }
        }
        if routed {
            return;
        }
        let mut any = false;
        for l in self.loggers.iter_mut().filter(|l| l.id.is_none()) {
            let data = encode(&self.encoders, None, line);
            l.write(&data);
            any = true;
        }
        if !any {
            fallback(&encode(&self.encoders, None, line));
        }
    }
}

fn encode(encoders: &[Encoder], logger: Option<&str>, line: &[u8]) -> Vec<u8> {
    let mut msg = line.to_vec();
    for e in encoders.iter().filter(|e| e.applies_to(logger)) {
        msg = e.encode(&msg);
    }
    msg
}

/// The --logto / --daemonize file the master writes when no logger
/// takes a line: rotated at --log-maxsize, reopened on request.
pub struct LogFile {
    pub path: PathBuf,
    pub fd: RawFd,
    pub size: u64,
    pub maxsize: u64,
    pub backupname: Option<PathBuf>,
}

impl LogFile {
    pub fn write(&mut self, line: &[u8]) {
        // SAFETY: writes a buffer we own to a descriptor we keep open.
        let n = unsafe { libc::write(self.fd, line.as_ptr() as *const _, line.len()) };
        if n > 0 {
            self.size += n as u64;
        }
        if self.maxsize > 0 && self.size > self.maxsize {
            self.rotate();
        }
    }

    /// Renames the file to --log-backupname (or FILE.<unix time>, with a
    /// counter if that is taken: two rotations in one second keep both)
    /// and starts a new one under the same descriptor: every later line
    /// goes to the new file, and none is cut (only the master writes it).
    pub fn rotate(&mut self) {
        let to = self.backupname.clone().unwrap_or_else(|| {
            let base = format!("{}.{}", self.path.display(), super::format::unix_now() / 1_000_000);
            let mut to = PathBuf::from(&base);
            let mut n = 1;
            while to.exists() {
                to = PathBuf::from(format!("{}.{}", base, n));
                n += 1;
            }
            to
        });
        let note = format!(
            "{} - logsize: {}, triggering rotation to {}...\n",
            super::format::strftime(super::format::unix_now() as i64 / 1_000_000, "%a %b %e %H:%M:%S %Y"),
            self.size,
            to.display()
        );
        // SAFETY: as in write().
        unsafe { libc::write(self.fd, note.as_ptr() as *const _, note.len()) };
        if let Err(e) = std::fs::rename(&self.path, &to) {
            let msg = format!("oxwsgi: cannot rotate {} to {}: {}\n", self.path.display(), to.display(), e);
            // SAFETY: as in write().
            unsafe { libc::write(self.fd, msg.as_ptr() as *const _, msg.len()) };
            self.size = 0;
            return;
        }
        self.reopen();
    }

    /// Opens the path again onto the same descriptor (after logrotate
    /// moved the file, or a rotation).
    pub fn reopen(&mut self) {
        match std::fs::OpenOptions::new().create(true).append(true).open(&self.path) {
            Ok(f) => {
                // SAFETY: replaces our own descriptor.
                unsafe { libc::dup2(f.as_raw_fd(), self.fd) };
                self.size = f.metadata().map(|m| m.len()).unwrap_or(0);
            }
            Err(e) => {
                let msg = format!("oxwsgi: cannot reopen {}: {}\n", self.path.display(), e);
                // SAFETY: as in write().
                unsafe { libc::write(self.fd, msg.as_ptr() as *const _, msg.len()) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoders_as_uwsgi_chains_them() {
        let e = |s: &str, m: &str| String::from_utf8(Encoder::parse(s).unwrap().encode(m.as_bytes())).unwrap();
        assert_eq!(e("prefix [app] ", "hi\n"), "[app] hi\n");
        assert_eq!(e("suffix  !", "hi"), "hi !");
        assert_eq!(e("nl", "hi"), "hi\n");
        assert_eq!(e("format <${msg}|${unknown}>", "hi\n"), "<hi|>");
        assert_eq!(e("json {\"m\": \"${msg}\"}", "say \"hi\"\tnow\n"), "{\"m\": \"say \\\"hi\\\"\\tnow\"}");
        let t = e("json {\"t\": ${unix}, \"d\": \"${strftime:%Y}\"}", "x");
        let v: serde_json::Value = serde_json::from_str(&t).unwrap();
        assert!(v["t"].as_u64().unwrap() > 1_700_000_000 && v["d"].as_str().unwrap().len() == 4, "{t}");
        assert!(Encoder::parse("gzip").is_err());
        let scoped = Encoder::parse("prefix:applog A ").unwrap();
        assert!(scoped.applies_to(Some("applog")) && !scoped.applies_to(None));
    }

    #[test]
    fn routes_named_loggers_and_fallback() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-sinks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.log"), dir.join("b.log"));
        let loggers = vec![format!("file:{}", a.display()), format!("slow file:filename={}", b.display())];
        let mut c = Chain::new(&loggers, &[("SLOW".into(), "slow".into())], &["nl:slow".into()], 1).unwrap();
        let mut fell = Vec::new();
        c.send(b"normal line\n", &mut |l| fell.extend_from_slice(l));
        c.send(b"a SLOW one", &mut |l| fell.extend_from_slice(l));
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "normal line\n");
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "a SLOW one\n");
        assert!(fell.is_empty());
        let mut none = Chain::new(&[], &[], &["prefix > ".into()], 1).unwrap();
        none.send(b"x\n", &mut |l| fell.extend_from_slice(l));
        assert_eq!(fell, b"> x\n");
        assert!(Chain::new(&[], &[("x".into(), "nobody".into())], &[], 1).err().unwrap().contains("no logger is named so"));
        assert!(Logger::parse("zeromq:tcp://x", 1).err().unwrap().contains("not provided"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn syslog_lines_over_a_unix_socket() {
        let path = std::env::temp_dir().join(format!("oxwsgi-syslog-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let rx = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let mut l = Logger {
            id: None,
            dest: Dest::Syslog { sock: Datagram::open(path.to_str().unwrap()).unwrap(), ident: "shop".into(), facility: facility("local0").unwrap() },
        };
        l.write(b"hello\n");
        let mut buf = [0u8; 100];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<134>shop: hello");
        std::fs::remove_file(path).unwrap();
    }
}
