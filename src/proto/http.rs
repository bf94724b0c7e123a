//! HTTP/1.x for the server side: the request head into CGI variables, the
//! chunked body decoder, and response heads. No I/O here.

use super::vars::Vars;

/// Default for the most request headers we accept (RFC 9110 sets no
/// limit; 431 past it): --http-max-headers.
pub const MAX_HEADERS: usize = 100;
/// The largest --http-max-headers we allow.
pub const MAX_HEADERS_LIMIT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
}

#[derive(Debug, Clone, Copy)]
pub struct Request {
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
    pub framing: Framing,
    pub keep_alive: bool,
    pub expect_continue: bool,
    pub http11: bool,
    pub is_head: bool,
}

/// A request we refuse: the status line to send, and why (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpError {
    pub status: &'static str,
    pub reason: &'static str,
}

pub(crate) const fn bad(reason: &'static str) -> HttpError {
    HttpError { status: "400 Bad Request", reason }
}

/// What the connection knows that the head does not.
pub struct ConnInfo<'a> {
    pub remote_addr: &'a [u8],
    pub remote_port: &'a [u8],
    pub server_name: &'a [u8],
    pub server_port: &'a [u8],
    pub url_scheme_https: bool,
}

/// Parses a request head from `buf` into `vars`. `Ok(None)` means more
/// bytes are needed.
pub fn parse_request(buf: &[u8], conn: &ConnInfo, vars: &mut Vars, max_headers: usize) -> Result<Option<Request>, HttpError> {
    let mut stack = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut heap = Vec::new();
    let headers: &mut [httparse::Header] = if max_headers <= MAX_HEADERS {
        &mut stack[..max_headers]
    } else {
        heap.resize(max_headers.min(MAX_HEADERS_LIMIT), httparse::EMPTY_HEADER);
        &mut heap
    };
    let mut req = httparse::Request::new(headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(head_error(e, buf)),
    };
    // httparse accepts bare LF line endings; RFC 9112 section 2.2 lets a
    // server reject them, and smuggling defences require it.
    let head = &buf[..head_len];
    for i in memchr::memchr_iter(b'\n', head) {
        if i == 0 || head[i - 1] != b'\r' {
            return Err(bad("bare LF in request head"));
        }
    }
    let method = req.method.unwrap_or("GET");
    let target = req.path.unwrap_or("/");
    let http11 = req.version == Some(1);
    vars.clear();
    vars.push(b"REQUEST_METHOD", method.as_bytes());
    vars.push(b"REQUEST_URI", target.as_bytes());
    let super::target::Target { path, query, authority } = super::target::split(method, target)?;
    if memchr::memchr(b'%', path.as_bytes()).is_none() {
        vars.push(b"PATH_INFO", path.as_bytes());
    } else {
        let mut decoded = Vec::with_capacity(path.len());
        percent_decode(path.as_bytes(), &mut decoded);
        vars.push(b"PATH_INFO", &decoded);
    }
    vars.push(b"QUERY_STRING", query.as_bytes());
    vars.push(b"SERVER_PROTOCOL", if http11 { b"HTTP/1.1" } else { b"HTTP/1.0" });
    vars.push(b"SCRIPT_NAME", b"");
    vars.push(b"REMOTE_ADDR", conn.remote_addr);
    vars.push(b"REMOTE_PORT", conn.remote_port);
    vars.push(b"SERVER_PORT", conn.server_port);
    if conn.url_scheme_https {
        vars.push(b"HTTPS", b"on");
    }

    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut te_seen = false;
    let mut other_coding = false;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    let mut host: Option<&[u8]> = None;
    // A repeated header: (its variable's index, the value, a cookie).
    let mut repeats: Vec<(usize, &[u8], bool)> = Vec::new();
    for h in req.headers.iter() {
        let name = h.name;
        let value = h.value;
        if name.eq_ignore_ascii_case("content-length") {
            let n = parse_content_length(value)?;
            if content_length.is_some_and(|c| c != n) {
                return Err(bad("conflicting Content-Length headers"));
            }
            if content_length.is_none() {
                // The number, not the raw value (which may be "5, 5").
                vars.push(b"CONTENT_LENGTH", n.to_string().as_bytes());
            }
            content_length = Some(n);
            continue;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            te_seen = true;
            // Empty list elements are ignored (RFC 9110 5.6.1), but a line
            // with no coding at all is refused: a peer that drops it would
            // frame the body differently.
            if value.split(|&c| c == b',').all(|c| trim(c).is_empty()) {
                return Err(bad("empty Transfer-Encoding"));
            }
            for coding in value.split(|&c| c == b',').map(trim).filter(|c| !c.is_empty()) {
                if chunked {
                    // RFC 9112 6.1: chunked must be the final coding, and only once.
                    return Err(bad("chunked is not the last transfer coding"));
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else {
                    other_coding = true;
                }
            }
            continue;
        }
        if name.eq_ignore_ascii_case("content-type") {
            vars.push(b"CONTENT_TYPE", value);
            continue;
        }
        if name.eq_ignore_ascii_case("connection") {
            for tok in value.split(|&c| c == b',').map(trim) {
                conn_close |= tok.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= tok.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            if trim(value).eq_ignore_ascii_case(b"100-continue") {
                expect_continue = true;
            } else {
                return Err(HttpError { status: "417 Expectation Failed", reason: "unsupported Expect" });
            }
        } else if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(bad("more than one Host header"));
            }
            host = Some(value);
        }
        // A header name with '_' would become the same CGI variable as one
        // with '-': drop it so a client cannot spoof a proxy's header.
        if name.as_bytes().contains(&b'_') {
            continue;
        }
        let existing = vars.iter().position(|(k, _)| k.len() == name.len() + 5 && k.starts_with(b"HTTP_") && header_matches(&k[5..], name.as_bytes()));
        match existing {
            // Joined once all are seen: joining as they come would copy the
            // value again for every repeat.
            Some(i) => repeats.push((i, value, name.eq_ignore_ascii_case("cookie"))),
            None => vars.push_with(|b| write_http_key(b, name.as_bytes()), value),
        }
    }
    join_repeats(vars, &repeats);
    if te_seen {
        // RFC 9112 6.3: a request whose last coding is not chunked has no
        // reliable length, and one with both is a smuggling attempt.
        if !chunked {
            return Err(bad("Transfer-Encoding that does not end in chunked"));
        }
        if content_length.is_some() {
            return Err(bad("both Content-Length and Transfer-Encoding"));
        }
        // RFC 9112 6.1: in HTTP/1.0 the framing is faulty; nothing between
        // an old client and us can be trusted to have framed it the same.
        if !http11 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if other_coding {
            return Err(HttpError { status: "501 Not Implemented", reason: "unsupported Transfer-Encoding" });
        }
    }
    if http11 && host.is_none() {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    // RFC 9112 3.2.2: an absolute-form target's authority replaces Host.
    if let Some(auth) = authority {
        let existing = vars.iter().position(|(k, _)| k == b"HTTP_HOST");
        match existing {
            Some(i) => vars.set_at(i, auth.as_bytes()),
            None => vars.push(b"HTTP_HOST", auth.as_bytes()),
        }
        host = Some(auth.as_bytes());
    }
    let server_name = host.map(strip_port).unwrap_or(conn.server_name);
    vars.push(b"SERVER_NAME", server_name);
    let framing = if chunked {
        Framing::Chunked
    } else {
        match content_length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    let keep_alive = if http11 { !conn_close } else { conn_keep_alive && !conn_close };
    Ok(Some(Request {
        head_len,
        framing,
        keep_alive,
        expect_continue: expect_continue && http11 && framing != Framing::None,
        http11,
        is_head: method == "HEAD",
    }))
}

/// Reading a request head that arrives in pieces (a slow client, a
/// slowloris) without parsing it all again after every read: the first
/// look parses the whole buffer (usually the whole head is there); after
/// that each line is checked once as it completes, so a bad line is still
/// refused at once, and the head is parsed in full only when its blank
/// line has come.
#[derive(Debug, Default)]
pub struct HeadScan {
    /// Bytes checked so far: complete lines only.
    checked: usize,
    lines: usize,
    /// The first full parse found the head incomplete.
    partial: bool,
    /// Full parses done (for tests).
    pub parses: usize,
}

impl HeadScan {
    /// Parses the head in `buf` if it is complete; Ok(None) to wait for more.
    pub fn parse(&mut self, buf: &[u8], conn: &ConnInfo, vars: &mut Vars, max_headers: usize) -> Result<Option<Request>, HttpError> {
        if self.partial && !self.check_lines(buf, max_headers)? {
            return Ok(None);
        }
        self.parses += 1;
        let r = parse_request(buf, conn, vars, max_headers)?;
        if r.is_none() && !self.partial {
            self.partial = true;
            self.check_lines(buf, max_headers)?;
        }
        Ok(r)
    }

    /// Checks the lines completed since the last call; true once the blank
    /// line that ends the head is in.
    fn check_lines(&mut self, buf: &[u8], max_headers: usize) -> Result<bool, HttpError> {
        while let Some(i) = memchr::memchr(b'\n', &buf[self.checked..]) {
            let end = self.checked + i;
            let line = &buf[self.checked..end];
            let Some(line) = line.strip_suffix(b"\r") else {
                return Err(bad("bare LF in request head"));
            };
            if line.is_empty() {
                // RFC 9112 2.2: empty lines before the request line are ignored.
                if self.lines > 0 {
                    return Ok(true);
                }
            } else if self.lines == 0 {
                let mut none = [];
                match httparse::Request::new(&mut none).parse(&buf[..=end]) {
                    Ok(_) | Err(httparse::Error::TooManyHeaders) => {}
                    Err(e) => return Err(head_error(e, buf)),
                }
                self.lines = 1;
            } else {
                if self.lines > max_headers {
                    return Err(TOO_MANY_HEADERS);
                }
                let mut one = [httparse::EMPTY_HEADER; 1];
                match httparse::parse_headers(&buf[self.checked..=end], &mut one) {
                    Ok(_) | Err(httparse::Error::TooManyHeaders) => {}
                    Err(e) => return Err(head_error(e, buf)),
                }
                self.lines += 1;
            }
            self.checked = end + 1;
        }
        Ok(false)
    }
}

const TOO_MANY_HEADERS: HttpError = HttpError { status: "431 Request Header Fields Too Large", reason: "too many headers" };

/// What an httparse error means for the client.
fn head_error(e: httparse::Error, buf: &[u8]) -> HttpError {
    match e {
        httparse::Error::TooManyHeaders => TOO_MANY_HEADERS,
        httparse::Error::Version => version_error(buf),
        httparse::Error::HeaderName => bad("invalid header name"),
        httparse::Error::HeaderValue => bad("invalid header value"),
        httparse::Error::NewLine | httparse::Error::Status => bad("malformed request line"),
        httparse::Error::Token => bad("invalid method"),
    }
}

/// 505 is for a well-formed version we do not speak (HTTP/2.0 on an
/// HTTP/1 connection, HTTP/9.9); anything else in its place is a 400.
fn version_error(buf: &[u8]) -> HttpError {
    let line = buf.split(|&c| c == b'\n').next().unwrap_or(b"");
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let last = line.rsplit(|&c| c == b' ').next().unwrap_or(b"");
    // httparse gives up at the major digit, so when bytes trickle in the
    // version may be cut anywhere after it ("HTTP/2", "HTTP/2."); a line
    // that has ended must carry it whole ("HTTP/2.0").
    let terminated = buf.contains(&b'\n');
    let well_formed = last.len() >= 6 && last.starts_with(b"HTTP/") && last[5].is_ascii_digit() && {
        let rest = &last[6..];
        (rest.len() == 2 && rest[0] == b'.' && rest[1].is_ascii_digit()) || (!terminated && (rest.is_empty() || rest == b"."))
    };
    if well_formed && line.split(|&c| c == b' ').count() == 3 {
        HttpError { status: "505 HTTP Version Not Supported", reason: "unsupported HTTP version" }
    } else {
        bad("malformed request line")
    }
}

fn parse_content_length(v: &[u8]) -> Result<u64, HttpError> {
    // RFC 9110 8.6: 1*DIGIT; a list of equal values is tolerated.
    let mut result: Option<u64> = None;
    for part in v.split(|&c| c == b',').map(trim) {
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("invalid Content-Length"));
        }
        let n = super::vars::parse_decimal(part).ok_or(bad("invalid Content-Length"))?;
        if result.is_some_and(|r| r != n) {
            return Err(bad("conflicting Content-Length values"));
        }
        result = Some(n);
    }
    result.ok_or(bad("invalid Content-Length"))
}

fn trim(v: &[u8]) -> &[u8] {
    let s = v.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(v.len());
    let e = v.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(s, |e| e + 1);
    &v[s..e]
}

fn strip_port(host: &[u8]) -> &[u8] {
    if host.starts_with(b"[") {
        return match host.iter().position(|&c| c == b']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.iter().rposition(|&c| c == b':') {
        Some(i) => &host[..i],
        None => host,
    }
}

fn header_matches(key: &[u8], name: &[u8]) -> bool {
    key.iter().zip(name).all(|(&k, &n)| k == if n == b'-' { b'_' } else { n.to_ascii_uppercase() })
}

fn write_http_key(b: &mut Vec<u8>, name: &[u8]) {
    b.extend_from_slice(b"HTTP_");
    b.extend(name.iter().map(|&c| if c == b'-' { b'_' } else { c.to_ascii_uppercase() }));
}

/// CGI joins a repeated header into one variable: values in order, with
/// "; " between cookies and ", " between anything else (RFC 9110 5.3).
fn join_repeats(vars: &mut Vars, repeats: &[(usize, &[u8], bool)]) {
    let mut done: Vec<usize> = Vec::new();
    for &(i, _, cookie) in repeats {
        if done.contains(&i) {
            continue;
        }
        done.push(i);
        let sep: &[u8] = if cookie { b"; " } else { b", " };
        let mut joined = vars.value_at(i).to_vec();
        for (_, v, _) in repeats.iter().filter(|r| r.0 == i) {
            joined.extend_from_slice(sep);
            joined.extend_from_slice(v);
        }
        vars.set_at(i, &joined);
    }
}

/// Percent-decodes a path; an invalid escape is kept as it is.
pub fn percent_decode(src: &[u8], out: &mut Vec<u8>) {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut i = 0;
    while i < src.len() {
        if src[i] == b'%'
            && i + 2 < src.len()
            && let (Some(a), Some(b)) = (hex(src[i + 1]), hex(src[i + 2]))
        {
            out.push(a << 4 | b);
            i += 3;
            continue;
        }
        out.push(src[i]);
        i += 1;
    }
}

/// How a response body is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// The app's Content-Length (or ours, when we saw the whole body).
    Length,
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 without a length).
    Close,
    /// No body may follow (HEAD, 1xx, 204, 304).
    Empty,
}

/// Writes a response head. `headers` are the app's, already validated and
/// serialised as `Name: value\r\n` lines; `added` are --add-header's, in
/// the same form.
#[allow(clippy::too_many_arguments)]
pub fn encode_head(
    out: &mut Vec<u8>,
    http11: bool,
    status: &[u8],
    headers: &[u8],
    added: &[u8],
    framing: BodyFraming,
    extra_length: Option<u64>,
    keep_alive: bool,
) {
    out.extend_from_slice(if http11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
    out.extend_from_slice(status);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(headers);
    out.extend_from_slice(added);
    if let Some(n) = extra_length {
        out.extend_from_slice(b"Content-Length: ");
        out.extend_from_slice(itoa_buf(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if framing == BodyFraming::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if !http11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

pub fn itoa_buf(n: u64) -> String {
    n.to_string()
}

/// Frames one chunk of a chunked body.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Whether a status forbids a body (RFC 9110 6.4.1).
pub fn status_has_no_body(status: &[u8]) -> bool {
    status.starts_with(b"1") || status.starts_with(b"204") || status.starts_with(b"304")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> ConnInfo<'static> {
        ConnInfo { remote_addr: b"127.0.0.1", remote_port: b"5555", server_name: b"localhost", server_port: b"8000", url_scheme_https: false }
    }

    fn parse(raw: &str) -> Result<Option<(Request, Vars)>, HttpError> {
        let mut v = Vars::default();
        parse_request(raw.as_bytes(), &conn(), &mut v, MAX_HEADERS).map(|r| r.map(|r| (r, v)))
    }

    fn get<'a>(v: &'a Vars, k: &str) -> Option<&'a str> {
        v.get(k.as_bytes()).map(|b| std::str::from_utf8(b).unwrap())
    }

    #[test]
    fn simple_get() {
        let (r, v) = parse("GET /a%20b/c?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8000\r\nX-Thing: 1\r\nx-thing: 2\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.framing, Framing::None);
        assert!(r.keep_alive && r.http11 && !r.is_head);
        assert_eq!(get(&v, "REQUEST_METHOD"), Some("GET"));
        assert_eq!(get(&v, "PATH_INFO"), Some("/a b/c"));
        assert_eq!(get(&v, "QUERY_STRING"), Some("x=1&y=%20"));
        assert_eq!(get(&v, "REQUEST_URI"), Some("/a%20b/c?x=1&y=%20"));
        assert_eq!(get(&v, "SERVER_NAME"), Some("example.com"));
        assert_eq!(get(&v, "SERVER_PORT"), Some("8000"));
        assert_eq!(get(&v, "HTTP_X_THING"), Some("1, 2"));
        assert_eq!(get(&v, "HTTP_COOKIE"), Some("a=1; b=2"));
        assert_eq!(get(&v, "SERVER_PROTOCOL"), Some("HTTP/1.1"));
    }

    #[test]
    fn partial_head() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn body_framing() {
        let (r, v) = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Type: text/plain\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.framing, Framing::Length(10));
        assert_eq!(get(&v, "CONTENT_LENGTH"), Some("10"));
        assert_eq!(get(&v, "CONTENT_TYPE"), Some("text/plain"));
        assert_eq!(get(&v, "HTTP_CONTENT_TYPE"), None);
        let (r, v) = parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n").unwrap().unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        assert!(r.expect_continue);
        assert_eq!(get(&v, "CONTENT_LENGTH"), None);
    }

    #[test]
    fn keep_alive_rules() {
        let (r, _) = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive && !r.http11);
        let (r, _) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap().unwrap();
        assert!(r.keep_alive);
        let (r, _) = parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn absolute_form_and_underscores() {
        let (_, v) = parse("GET http://evil/p?q=1 HTTP/1.1\r\nHost: x\r\nX_Forwarded_For: 1.2.3.4\r\n\r\n").unwrap().unwrap();
        assert_eq!(get(&v, "PATH_INFO"), Some("/p"));
        assert_eq!(get(&v, "QUERY_STRING"), Some("q=1"));
        assert_eq!(get(&v, "HTTP_X_FORWARDED_FOR"), None);
        // The target's authority replaces Host (RFC 9112 3.2.2).
        assert_eq!(get(&v, "HTTP_HOST"), Some("evil"));
        assert_eq!(get(&v, "SERVER_NAME"), Some("evil"));
        let (_, v) = parse("GET http://h:81?a=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap().unwrap();
        assert_eq!((get(&v, "PATH_INFO"), get(&v, "QUERY_STRING"), get(&v, "HTTP_HOST")), (Some("/"), Some("a=1"), Some("h:81")));
        // A list of equal lengths is one length (RFC 9110 8.6).
        let (r, v) = parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\n").unwrap().unwrap();
        assert_eq!((r.framing, get(&v, "CONTENT_LENGTH")), (Framing::Length(5), Some("5")));
    }

    #[test]
    fn rejections() {
        for (raw, status) in [
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "501"),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nContent-Length: 1\r\n\r\n", "400"),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n", "400"),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", "400"),
            ("GET foo/bar HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "400"),
            ("GET / HTTP/1.1\nHost: x\n\n", "400"),
            ("GET / HTTP/9.9\r\nHost: x\r\n\r\n", "505"),
            // Cut short while trickling in: still a version we do not speak.
            ("GET / HTTP/9", "505"),
            ("GET / HTTP/9.", "505"),
            ("GET / HTTP/9\r\nHost: x\r\n\r\n", "400"),
            ("GET / HTTP/9.x", "400"),
            ("GET / http/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GE T / HTTP/1.1\r\nHost: x\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", "400"),
            ("GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n", "400"),
        ] {
            let e = parse(raw).err().unwrap_or_else(|| panic!("accepted {raw:?}"));
            assert!(e.status.starts_with(status), "{raw:?} gave {e:?}");
        }
        let many: String = (0..MAX_HEADERS + 1).map(|i| format!("X-{i}: v\r\n")).collect();
        let e = parse(&format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n")).unwrap_err();
        assert!(e.status.starts_with("431"));
    }

    /// Feeds `raw` to a HeadScan `step` bytes at a time, as reads would.
    fn scan_in_pieces(raw: &[u8], step: usize) -> (Result<Option<(Request, Vars)>, HttpError>, usize) {
        scan_with(raw, step, MAX_HEADERS)
    }

    fn scan_with(raw: &[u8], step: usize, max: usize) -> (Result<Option<(Request, Vars)>, HttpError>, usize) {
        let mut scan = HeadScan::default();
        let mut v = Vars::default();
        let mut end = 0;
        loop {
            end = (end + step).min(raw.len());
            match scan.parse(&raw[..end], &conn(), &mut v, max) {
                Ok(Some(r)) => return (Ok(Some((r, v))), scan.parses),
                Err(e) => return (Err(e), scan.parses),
                Ok(None) if end == raw.len() => return (Ok(None), scan.parses),
                Ok(None) => {}
            }
        }
    }

    #[test]
    fn a_head_in_pieces_is_parsed_once_when_complete() {
        let mut raw = b"\r\nGET /a?b=1 HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n".to_vec();
        for i in 0..100 {
            raw.extend_from_slice(format!("X-Rep: v{}\r\nCookie: c{}=2\r\n", i, i).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        let (whole, _) = scan_with(&raw, raw.len(), MAX_HEADERS_LIMIT);
        let (whole, v) = whole.unwrap().unwrap();
        let rep: Vec<String> = (0..100).map(|i| format!("v{}", i)).collect();
        assert_eq!(get(&v, "HTTP_X_REP"), Some(rep.join(", ").as_str()));
        assert!(get(&v, "HTTP_COOKIE").unwrap().starts_with("a=1; c0=2; c1=2"));
        for step in [1, 2, 7, 64] {
            let (r, parses) = scan_with(&raw, step, MAX_HEADERS_LIMIT);
            let (r, v2) = r.unwrap().unwrap();
            assert_eq!(r.head_len, whole.head_len, "step {step}");
            assert_eq!(v2.iter().collect::<Vec<_>>(), v.iter().collect::<Vec<_>>(), "step {step}");
            // One look at the first piece, one parse of the whole head: not
            // one per read.
            assert!(parses <= 2, "step {step}: {parses} parses");
        }
    }

    /// Targets and Transfer-Encoding are judged the same wherever the
    /// reads cut the head.
    #[test]
    fn framing_and_target_rules_hold_at_every_split() {
        for (raw, want) in [
            (&b"GET http://h?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"[..], None),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked\r\n\r\n", None),
            (b"GET foo/bar HTTP/1.1\r\nHost: x\r\n\r\n", Some("request target is neither a path nor an absolute URI")),
            (b"PUT s://]ufd/: HTTP/1.1\r\nHost: x\r\n\r\n", Some("absolute-form target that is not an http(s) URI")),
            (b"GET /a?b#c HTTP/1.1\r\nHost: x\r\n\r\n", Some("fragment in request target")),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\n", Some("empty Transfer-Encoding")),
            (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", Some("Transfer-Encoding that does not end in chunked")),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Some("Transfer-Encoding in an HTTP/1.0 request")),
        ] {
            for step in 1..=raw.len() {
                let (r, _) = scan_in_pieces(raw, step);
                match want {
                    None => assert!(matches!(r, Ok(Some(_))), "{:?} step {step}: {r:?}", String::from_utf8_lossy(raw)),
                    Some(want) => assert_eq!(r.unwrap_err().reason, want, "{:?} step {step}", String::from_utf8_lossy(raw)),
                }
            }
        }
    }

    #[test]
    fn a_bad_line_is_refused_before_the_head_ends() {
        for (raw, want) in [
            (&b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n"[..], "invalid header name"),
            (b"GET / HTTP/1.1\r\nHost: x\n", "bare LF in request head"),
            (b"G@T / HTTP/1.1\r\n", "invalid method"),
            (b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n", "invalid header name"),
        ] {
            for step in [1, 3] {
                let (r, _) = scan_in_pieces(raw, step);
                assert_eq!(r.unwrap_err().reason, want, "{:?} step {step}", String::from_utf8_lossy(raw));
            }
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{}: 1\r\n", i).as_bytes());
        }
        assert_eq!(scan_in_pieces(&many, 5).0.unwrap_err().status, "431 Request Header Fields Too Large");
        assert!(matches!(scan_in_pieces(b"GET / HTTP/1.1\r\nHost: x\r\n", 4).0, Ok(None)));
    }

    #[test]
    fn response_heads() {
        let mut out = Vec::new();
        encode_head(&mut out, true, b"200 OK", b"Content-Type: text/html\r\n", b"", BodyFraming::Length, Some(11), true);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n");
        out.clear();
        encode_head(&mut out, true, b"200 OK", b"", b"X-Served-By: test\r\n", BodyFraming::Chunked, None, false);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nX-Served-By: test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        out.clear();
        encode_chunk(&mut out, b"hello world, this is long");
        assert_eq!(out, b"19\r\nhello world, this is long\r\n");
        assert!(status_has_no_body(b"304 Not Modified") && !status_has_no_body(b"200 OK"));
    }

    #[test]
    fn percent_decoding() {
        let mut o = Vec::new();
        percent_decode(b"/a%2Fb%zz%4", &mut o);
        assert_eq!(o, b"/a/b%zz%4");
    }
}
