//! Static files (--static-map, --static-map2, --check-static,
//! --static-index, --static-safe, --static-expires*, --static-gzip*),
//! served by the I/O side with sendfile and no Python call. This file decides; worker/conn.rs sends. Never outside a
//! mapped directory: `..` segments are refused, and a symlink may only lead
//! into the directory itself or a --static-safe one.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One mapping: requests under `prefix` come from `dir`.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticMap {
    pub prefix: String,
    pub dir: PathBuf,
    /// --static-map2: the whole request path is appended to `dir`, prefix
    /// included.
    pub keep_prefix: bool,
}

#[derive(Debug, Clone, Default)]
pub struct StaticConfig {
    /// Longest prefix first.
    pub maps: Vec<StaticMap>,
    pub check: Vec<PathBuf>,
    pub index: Vec<String>,
    pub safe: Vec<PathBuf>,
    /// --static-expires* rules, in the order uWSGI checks them.
    pub expires: Vec<Expires>,
    pub gzip: Gzip,
    /// --static-skip-ext: paths ending with these are the app's.
    pub skip_ext: Vec<String>,
    /// --mimefile: mime.types files read instead of /etc/mime.types.
    pub mime_files: Vec<PathBuf>,
}

/// What an --static-expires* rule matches.
#[derive(Debug, Clone)]
pub enum ExpiresOn {
    /// --static-expires: a regexp on the file's path.
    File(regex::Regex),
    /// --static-expires-path-info: a regexp on PATH_INFO.
    PathInfo(regex::Regex),
    /// --static-expires-uri: a regexp on REQUEST_URI.
    Uri(regex::Regex),
    /// --static-expires-type: the content type, exactly.
    Type(String),
}

/// One rule: `Expires` is the request's time (or with `-mtime`, the
/// file's modification time) plus `seconds`.
#[derive(Debug, Clone)]
pub struct Expires {
    pub on: ExpiresOn,
    pub from_mtime: bool,
    pub seconds: u64,
}

impl Expires {
    /// uWSGI's order of checking: file path, PATH_INFO, REQUEST_URI, type;
    /// the now-based rule of a kind before the mtime-based one.
    pub fn rank(&self) -> u8 {
        let kind = match self.on {
            ExpiresOn::File(_) => 0,
            ExpiresOn::PathInfo(_) => 2,
            ExpiresOn::Uri(_) => 4,
            ExpiresOn::Type(_) => 6,
        };
        kind + self.from_mtime as u8
    }

    /// Reads an option's value: `TYPE=SECONDS` for the -type options,
    /// `REGEXP SECONDS` for the others (uWSGI's forms).
    pub fn parse(option: &str, value: &str) -> Result<Expires, String> {
        let from_mtime = option.ends_with("-mtime");
        let kind = option.trim_end_matches("-mtime");
        let (key, secs) = if kind == "static-expires-type" {
            value.rsplit_once('=').ok_or_else(|| format!("{} takes TYPE=SECONDS (e.g. text/css=86400), not '{}'", option, value))?
        } else {
            value.trim().rsplit_once(char::is_whitespace).ok_or_else(|| format!("{} takes 'REGEXP SECONDS' (e.g. '\\.css$ 86400'), not '{}'", option, value))?
        };
        let seconds = secs.trim().parse().map_err(|_| format!("{}: '{}' is not a number of seconds", option, secs.trim()))?;
        let key = key.trim();
        let re = || regex::Regex::new(key).map_err(|e| format!("{}: bad regexp '{}': {}", option, key, e));
        let on = match kind {
            "static-expires-type" => ExpiresOn::Type(key.to_string()),
            "static-expires" => ExpiresOn::File(re()?),
            "static-expires-path-info" => ExpiresOn::PathInfo(re()?),
            "static-expires-uri" => ExpiresOn::Uri(re()?),
            _ => return Err(format!("{} is not an expires option", option)),
        };
        Ok(Expires { on, from_mtime, seconds })
    }
}

/// --static-gzip-all, --static-gzip-dir, --static-gzip-ext: which files may
/// be answered with a precompressed FILE.br or FILE.gz next to them.
#[derive(Debug, Clone, Default)]
pub struct Gzip {
    pub all: bool,
    pub dirs: Vec<String>,
    pub exts: Vec<String>,
}

impl Gzip {
    fn applies(&self, file: &Path) -> bool {
        let name = file.to_string_lossy();
        self.all || self.dirs.iter().any(|d| name.starts_with(d.as_str())) || self.exts.iter().any(|e| name.ends_with(e.as_str()))
    }
}

/// A precompressed variant to send instead of the file itself.
#[derive(Debug)]
pub struct Variant {
    pub path: PathBuf,
    pub meta: std::fs::Metadata,
    pub encoding: &'static str,
}

/// Whether `coding` is acceptable per an Accept-Encoding value (a q of 0
/// refuses it).
fn accepts(accept_encoding: &[u8], coding: &str) -> bool {
    let Ok(v) = std::str::from_utf8(accept_encoding) else { return false };
    v.split(',').any(|item| {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts.filter_map(|p| p.trim().strip_prefix("q=")).next().and_then(|q| q.trim().parse::<f32>().ok()).unwrap_or(1.0);
        name.eq_ignore_ascii_case(coding) && q > 0.0
    })
}

/// The .br or .gz file to send for `file`, if the gzip options cover it,
/// the client accepts the coding, and the variant exists within `root` (or
/// a --static-safe directory). `None` also for the `Vary` decision's
/// second value: whether a variant could apply to this file at all.
pub fn compressed_variant(cfg: &StaticConfig, file: &Path, root: &Path, accept_encoding: Option<&[u8]>) -> (Option<Variant>, bool) {
    if !cfg.gzip.applies(file) {
        return (None, false);
    }
    for (ext, coding) in [("br", "br"), ("gz", "gzip")] {
        let mut p = file.as_os_str().to_owned();
        p.push(".");
        p.push(ext);
        let path = PathBuf::from(p);
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if !meta.is_file() || !accept_encoding.is_some_and(|a| accepts(a, coding)) || !inside(cfg, &path, root) {
            continue;
        }
        return (Some(Variant { path, meta, encoding: coding }), true);
    }
    (None, true)
}

/// The Expires date the first matching rule gives, if any.
pub fn expires(cfg: &StaticConfig, file: &Path, path_info: &[u8], uri: &[u8], content_type: &str, mtime: SystemTime, now: SystemTime) -> Option<String> {
    let name = file.to_string_lossy();
    let ctype = content_type.split(';').next().unwrap_or("").trim();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let rule = cfg.expires.iter().find(|r| match &r.on {
        ExpiresOn::File(re) => re.is_match(&name),
        ExpiresOn::PathInfo(re) => re.is_match(&text(path_info)),
        ExpiresOn::Uri(re) => re.is_match(&text(uri)),
        ExpiresOn::Type(t) => t == ctype,
    })?;
    Some(http_date((if rule.from_mtime { mtime } else { now }) + Duration::from_secs(rule.seconds)))
}

/// Whether `file`'s real path lies under `root`'s, or a --static-safe one.
fn inside(cfg: &StaticConfig, file: &Path, root: &Path) -> bool {
    let (Ok(real), Ok(real_root)) = (std::fs::canonicalize(file), std::fs::canonicalize(root)) else {
        return false;
    };
    real.starts_with(&real_root) || cfg.safe.iter().any(|s| std::fs::canonicalize(s).is_ok_and(|s| real.starts_with(s)))
}

impl StaticConfig {
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty() && self.check.is_empty()
    }
}

#[derive(Debug)]
pub enum Lookup {
    /// Serve this regular file (found under this root).
    File(Box<(PathBuf, std::fs::Metadata, PathBuf)>),
    /// Refused: a `..` segment, a NUL, or a symlink out of the root.
    Forbidden,
    /// A directory without an index file.
    NotFound,
    /// Not a static file: the app answers.
    Pass,
}

pub fn resolve(cfg: &StaticConfig, path: &[u8]) -> Lookup {
    if cfg.skip_ext.iter().any(|e| path.ends_with(e.as_bytes())) {
        return Lookup::Pass;
    }
    if path.contains(&0) || path.split(|&c| c == b'/').any(|seg| seg == b"..") {
        return if cfg.is_empty() { Lookup::Pass } else { Lookup::Forbidden };
    }
    let rel = |p: &[u8]| -> PathBuf { PathBuf::from(std::ffi::OsStr::from_bytes(p.strip_prefix(b"/").unwrap_or(p))) };
    let mut candidates: Vec<(PathBuf, &Path)> = Vec::new();
    for m in &cfg.maps {
        let pre = m.prefix.as_bytes();
        if path.starts_with(pre) && (path.len() == pre.len() || path[pre.len()] == b'/' || pre.ends_with(b"/")) {
            let rest = if m.keep_prefix { path } else { &path[pre.len()..] };
            candidates.push((m.dir.join(rel(rest)), &m.dir));
        }
    }
    for d in &cfg.check {
        candidates.push((d.join(rel(path)), d));
    }
    for (candidate, root) in candidates {
        let Ok(meta) = std::fs::metadata(&candidate) else { continue };
        let (file, meta) = if meta.is_dir() {
            let found = cfg.index.iter().map(|i| candidate.join(i)).find_map(|p| std::fs::metadata(&p).ok().filter(|m| m.is_file()).map(|m| (p, m)));
            match found {
                Some(f) => f,
                None => return Lookup::NotFound,
            }
        } else if meta.is_file() {
            (candidate, meta)
        } else {
            continue;
        };
        // Symlinks may not lead out of the root, unless into --static-safe.
        return if inside(cfg, &file, root) { Lookup::File(Box::new((file, meta, root.to_path_buf()))) } else { Lookup::Forbidden };
    }
    Lookup::Pass
}

fn builtin_types() -> HashMap<String, String> {
    [
        ("html", "text/html"),
        ("htm", "text/html"),
        ("css", "text/css"),
        ("js", "text/javascript"),
        ("mjs", "text/javascript"),
        ("json", "application/json"),
        ("txt", "text/plain"),
        ("xml", "application/xml"),
        ("svg", "image/svg+xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("webp", "image/webp"),
        ("ico", "image/vnd.microsoft.icon"),
        ("woff", "font/woff"),
        ("woff2", "font/woff2"),
        ("ttf", "font/ttf"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
        ("wasm", "application/wasm"),
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("mp3", "audio/mpeg"),
        ("csv", "text/csv"),
        ("map", "application/json"),
    ]
    .into_iter()
    .map(|(e, t)| (e.to_string(), t.to_string()))
    .collect()
}

/// --mimefile: the mime.types files to read instead of /etc/mime.types.
static MIME_FILES: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Sets the --mimefile list (before the first static file is served).
pub fn set_mime_files(files: &[PathBuf]) {
    let _ = MIME_FILES.set(files.to_vec());
}

/// Reads mime.types lines (`type ext ext...`) into `t`; `over` lets them
/// replace what is there.
fn read_mime_types(text: &str, t: &mut HashMap<String, String>, over: bool) {
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let mut words = line.split_whitespace();
        if let Some(ty) = words.next() {
            for ext in words {
                let ext = ext.trim_start_matches('.').to_ascii_lowercase();
                if over {
                    t.insert(ext, ty.to_string());
                } else {
                    t.entry(ext).or_insert_with(|| ty.to_string());
                }
            }
        }
    }
}

/// The Content-Type of a file, from the system's mime.types (or the
/// --mimefile files, which win) with a built-in fallback for the common
/// web types.
pub fn content_type(path: &Path) -> String {
    static TYPES: OnceLock<HashMap<String, String>> = OnceLock::new();
    let types = TYPES.get_or_init(|| {
        let mut t = builtin_types();
        match MIME_FILES.get().filter(|f| !f.is_empty()) {
            Some(files) => {
                for f in files {
                    match std::fs::read_to_string(f) {
                        Ok(text) => read_mime_types(&text, &mut t, true),
                        Err(e) => crate::logln!("oxwsgi: --mimefile {}: {}", f.display(), e),
                    }
                }
            }
            None => {
                if let Ok(text) = std::fs::read_to_string("/etc/mime.types") {
                    read_mime_types(&text, &mut t, false);
                }
            }
        }
        t
    });
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let ty = types.get(&ext).cloned().unwrap_or_else(|| "application/octet-stream".into());
    if ty.starts_with("text/") || ty == "application/javascript" { format!("{}; charset=utf-8", ty) } else { ty }
}

/// An HTTP date (RFC 9110 5.6.7) for a time.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() as libc::time_t;
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::gmtime_r(&secs, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr() as *mut _, buf.len(), c"%a, %d %b %Y %H:%M:%S GMT".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Parses an IMF-fixdate (the form every current client sends).
pub fn parse_http_date(s: &[u8]) -> Option<SystemTime> {
    let s = std::ffi::CString::new(s).ok()?;
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        let end = libc::strptime(s.as_ptr(), c"%a, %d %b %Y %H:%M:%S GMT".as_ptr(), &mut tm);
        if end.is_null() {
            return None;
        }
        let t = libc::timegm(&mut tm);
        (t >= 0).then(|| UNIX_EPOCH + Duration::from_secs(t as u64))
    }
}

/// What to send for a file, given the request's conditional and range
/// headers.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub status: &'static str,
    /// Extra header lines (`Name: value\r\n`).
    pub headers: String,
    /// The byte range of the file to send (none for 304 and 416).
    pub body: Option<(u64, u64)>,
}

pub fn plan(size: u64, mtime: SystemTime, if_none_match: Option<&[u8]>, if_modified_since: Option<&[u8]>, range: Option<&[u8]>) -> Plan {
    let secs = mtime.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let etag = format!("\"{:x}-{:x}\"", secs, size);
    let mut headers = format!("Last-Modified: {}\r\nETag: {}\r\nAccept-Ranges: bytes\r\n", http_date(mtime), etag);
    // RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it.
    let not_modified = match (if_none_match, if_modified_since) {
        (Some(inm), _) => {
            inm == b"*"
                || inm.split(|&c| c == b',').any(|t| {
                    let t = t.trim_ascii();
                    t.strip_prefix(b"W/").unwrap_or(t) == etag.as_bytes()
                })
        }
        (None, Some(ims)) => parse_http_date(ims).is_some_and(|t| t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() >= secs),
        _ => false,
    };
    if not_modified {
        return Plan { status: "304 Not Modified", headers, body: None };
    }
    if let Some(r) = range.and_then(|r| r.strip_prefix(b"bytes=")) {
        // One range only; a list of ranges is answered with the whole file
        // (RFC 9110 14.2 lets a server ignore Range).
        if !r.contains(&b',') {
            match parse_range(r, size) {
                Some((start, end)) => {
                    headers.push_str(&format!("Content-Range: bytes {}-{}/{}\r\n", start, end, size));
                    return Plan { status: "206 Partial Content", headers, body: Some((start, end - start + 1)) };
                }
                None => {
                    headers.push_str(&format!("Content-Range: bytes */{}\r\n", size));
                    return Plan { status: "416 Range Not Satisfiable", headers, body: None };
                }
            }
        }
    }
    Plan { status: "200 OK", headers, body: Some((0, size)) }
}

/// `a-b`, `a-` or `-n` against a file of `size` bytes: inclusive bounds.
fn parse_range(r: &[u8], size: u64) -> Option<(u64, u64)> {
    let r = std::str::from_utf8(r).ok()?.trim();
    let (a, b) = r.split_once('-')?;
    let num = |s: &str| if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) { s.parse::<u64>().ok() } else { None };
    if a.is_empty() {
        let n = num(b)?.min(size);
        return (n > 0).then(|| (size - n, size - 1));
    }
    let start = num(a)?;
    let end = if b.is_empty() { size.saturating_sub(1) } else { num(b)?.min(size.saturating_sub(1)) };
    (start < size && start <= end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> PathBuf {
        let d = std::env::temp_dir().join(format!("oxwsgi-static-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("root/sub")).unwrap();
        std::fs::create_dir_all(d.join("root/withindex")).unwrap();
        std::fs::create_dir_all(d.join("outside")).unwrap();
        std::fs::write(d.join("root/a.css"), "body{}").unwrap();
        std::fs::write(d.join("root/withindex/index.html"), "<p>").unwrap();
        std::fs::write(d.join("outside/secret.txt"), "secret").unwrap();
        std::os::unix::fs::symlink(d.join("outside/secret.txt"), d.join("root/link.txt")).unwrap();
        d
    }

    #[test]
    fn resolution_and_safety() {
        let d = tree();
        let cfg = StaticConfig {
            maps: vec![StaticMap { prefix: "/static".into(), dir: d.join("root"), keep_prefix: false }],
            index: vec!["index.html".into()],
            ..Default::default()
        };
        assert!(matches!(resolve(&cfg, b"/static/a.css"), Lookup::File(f) if f.0.ends_with("a.css")));
        assert!(matches!(resolve(&cfg, b"/static/withindex/"), Lookup::File(f) if f.0.ends_with("index.html")));
        assert!(matches!(resolve(&cfg, b"/static/sub"), Lookup::NotFound));
        assert!(matches!(resolve(&cfg, b"/static/missing.css"), Lookup::Pass));
        assert!(matches!(resolve(&cfg, b"/staticx/a.css"), Lookup::Pass));
        assert!(matches!(resolve(&cfg, b"/other"), Lookup::Pass));
        assert!(matches!(resolve(&cfg, b"/static/../outside/secret.txt"), Lookup::Forbidden));
        assert!(matches!(resolve(&cfg, b"/static/link.txt"), Lookup::Forbidden));
        let safe = StaticConfig { safe: vec![d.join("outside")], ..cfg.clone() };
        assert!(matches!(resolve(&safe, b"/static/link.txt"), Lookup::File(..)));
        let map2 = StaticConfig { maps: vec![StaticMap { prefix: "/root".into(), dir: d.clone(), keep_prefix: true }], ..Default::default() };
        assert!(matches!(resolve(&map2, b"/root/a.css"), Lookup::File(..)));
        let check = StaticConfig { check: vec![d.join("root")], ..Default::default() };
        assert!(matches!(resolve(&check, b"/a.css"), Lookup::File(..)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn conditionals_and_ranges() {
        let mtime = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let p = plan(100, mtime, None, None, None);
        assert_eq!(p.status, "200 OK");
        assert_eq!(p.body, Some((0, 100)));
        assert!(p.headers.contains("Last-Modified: Tue, 14 Nov 2023 22:13:20 GMT"));
        let etag = "\"6553f100-64\"";
        assert!(p.headers.contains(etag));
        assert_eq!(plan(100, mtime, Some(etag.as_bytes()), None, None).status, "304 Not Modified");
        assert_eq!(plan(100, mtime, Some(b"\"other\""), Some(b"Tue, 14 Nov 2023 22:13:20 GMT"), None).status, "200 OK");
        assert_eq!(plan(100, mtime, None, Some(b"Tue, 14 Nov 2023 22:13:20 GMT"), None).status, "304 Not Modified");
        assert_eq!(plan(100, mtime, None, Some(b"Tue, 14 Nov 2023 22:13:19 GMT"), None).status, "200 OK");
        let r = plan(100, mtime, None, None, Some(b"bytes=10-19"));
        assert_eq!((r.status, r.body), ("206 Partial Content", Some((10, 10))));
        assert!(r.headers.contains("Content-Range: bytes 10-19/100"));
        assert_eq!(plan(100, mtime, None, None, Some(b"bytes=90-")).body, Some((90, 10)));
        assert_eq!(plan(100, mtime, None, None, Some(b"bytes=-5")).body, Some((95, 5)));
        assert_eq!(plan(100, mtime, None, None, Some(b"bytes=50-500")).body, Some((50, 50)));
        let bad = plan(100, mtime, None, None, Some(b"bytes=100-"));
        assert_eq!(bad.status, "416 Range Not Satisfiable");
        assert!(bad.headers.contains("Content-Range: bytes */100"));
        assert_eq!(plan(100, mtime, None, None, Some(b"bytes=0-1,5-6")).status, "200 OK");
        assert_eq!(plan(100, mtime, None, None, Some(b"bytes=x-y")).status, "416 Range Not Satisfiable");
    }

    #[test]
    fn expires_rules() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mtime = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
        let cfg = StaticConfig {
            expires: vec![Expires::parse("static-expires", "\\.png$ 60").unwrap(), Expires::parse("static-expires-type-mtime", "text/css=3600").unwrap()],
            ..Default::default()
        };
        let f = |name: &str, ty: &str| expires(&cfg, Path::new(name), b"/x", b"/x", ty, mtime, now);
        assert_eq!(f("/s/a.png", "image/png").as_deref(), Some("Tue, 14 Nov 2023 22:14:20 GMT"));
        assert_eq!(f("/s/a.css", "text/css; charset=utf-8").as_deref(), Some("Sun, 13 Sep 2020 13:26:40 GMT"));
        assert_eq!(f("/s/a.js", "text/javascript"), None);
        assert!(Expires::parse("static-expires-type", "text/css").is_err());
        assert!(Expires::parse("static-expires", "([ 10").is_err());
        assert!(Expires::parse("static-expires-uri", "^/x abc").is_err());
    }

    #[test]
    fn mime_types_files() {
        let mut t = builtin_types();
        read_mime_types("# comment\napplication/x-shop   shop SHOP2\ntext/x-mine css\n", &mut t, false);
        assert_eq!(t["shop"], "application/x-shop");
        assert_eq!(t["shop2"], "application/x-shop");
        assert_eq!(t["css"], "text/css", "the system's file does not override what we know");
        read_mime_types("text/x-mine css\n", &mut t, true);
        assert_eq!(t["css"], "text/x-mine", "a --mimefile does");
    }

    #[test]
    fn expires_by_uri_and_path_info() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cfg = StaticConfig {
            expires: vec![Expires::parse("static-expires-uri", "\\?v=\\d+$ 10").unwrap(), Expires::parse("static-expires-path-info", "^/media/ 20").unwrap()],
            ..Default::default()
        };
        let f = |pi: &[u8], uri: &[u8]| expires(&cfg, Path::new("/x/a.js"), pi, uri, "text/javascript", now, now);
        assert_eq!(f(b"/s/a.js", b"/s/a.js?v=3").as_deref(), Some("Tue, 14 Nov 2023 22:13:30 GMT"));
        assert_eq!(f(b"/media/a.js", b"/media/a.js").as_deref(), Some("Tue, 14 Nov 2023 22:13:40 GMT"));
        assert_eq!(f(b"/s/a.js", b"/s/a.js"), None);
    }

    #[test]
    fn gzip_variants_by_dir_and_extension() {
        let d = std::env::temp_dir().join(format!("oxwsgi-gz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("css")).unwrap();
        for f in ["css/a.css", "css/a.css.gz", "b.js", "b.js.br", "c.txt", "c.txt.gz"] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        let cfg = StaticConfig { gzip: Gzip { all: false, dirs: vec![d.join("css").display().to_string()], exts: vec![".js".into()] }, ..Default::default() };
        let v = |f: &str, ae: &[u8]| compressed_variant(&cfg, &d.join(f), &d, Some(ae));
        assert_eq!(v("css/a.css", b"gzip").0.map(|v| v.encoding), Some("gzip"));
        assert_eq!(v("b.js", b"gzip, br").0.map(|v| v.encoding), Some("br"));
        assert!(v("b.js", b"gzip").0.is_none() && v("b.js", b"gzip").1);
        // Not covered by a dir or an extension: no variant, no Vary.
        assert!(matches!(v("c.txt", b"gzip"), (None, false)));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn encodings() {
        assert!(accepts(b"gzip, deflate, br", "gzip"));
        assert!(accepts(b"br;q=1.0, GZIP;q=0.5", "gzip"));
        assert!(!accepts(b"gzip;q=0, br", "gzip"));
        assert!(!accepts(b"identity", "gzip"));
        assert!(!accepts(b"xgzip", "gzip"));
    }

    #[test]
    fn types() {
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.PNG")), "image/png");
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
