//! The request target (RFC 9112 3.2): which of its forms a server takes,
//! and the path, query and authority an app sees. No I/O here.

use super::http::{HttpError, bad};

/// A request target split for the environ.
#[derive(Debug, PartialEq, Eq)]
pub struct Target<'a> {
    /// Still percent-encoded.
    pub path: &'a str,
    pub query: &'a str,
    /// The host[:port] of an absolute-form target, which replaces the Host
    /// header (RFC 9112 3.2.2).
    pub authority: Option<&'a str>,
}

const NOT_IMPLEMENTED: HttpError = HttpError { status: "501 Not Implemented", reason: "CONNECT is a proxy's method" };

/// Splits `target` for `method`. httparse has already kept it to visible
/// ASCII; this checks its form.
pub fn split<'a>(method: &str, target: &'a str) -> Result<Target<'a>, HttpError> {
    // A client never sends a fragment (RFC 9110 4.2.5); one here would end
    // up in QUERY_STRING.
    if target.contains('#') {
        return Err(bad("fragment in request target"));
    }
    if method == "CONNECT" {
        return Err(NOT_IMPLEMENTED);
    }
    if target.starts_with('/') {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        return Ok(Target { path, query, authority: None });
    }
    if target == "*" {
        return if method == "OPTIONS" {
            Ok(Target { path: "*", query: "", authority: None })
        } else {
            Err(bad("asterisk-form target for a method other than OPTIONS"))
        };
    }
    absolute_form(target)
}

/// `http[s]://authority[path][?query]`; anything else (`foo/bar`, `!`) is
/// not a target an origin server takes.
fn absolute_form(target: &str) -> Result<Target<'_>, HttpError> {
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(bad("request target is neither a path nor an absolute URI"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("absolute-form target that is not an http(s) URI"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    check_authority(authority)?;
    let (path, query) = after.split_once('?').unwrap_or((after, ""));
    Ok(Target { path: if path.is_empty() { "/" } else { path }, query, authority: Some(authority) })
}

/// RFC 9110 4.2.1 and RFC 3986 3.2: a host that is not empty, an optional
/// numeric port, and no userinfo (RFC 9110 4.2.4 says to treat it as an error).
fn check_authority(authority: &str) -> Result<(), HttpError> {
    const INVALID: HttpError = bad("invalid authority in absolute-form target");
    let port = if let Some(v6) = authority.strip_prefix('[') {
        let (inside, after) = v6.split_once(']').ok_or(INVALID)?;
        if inside.is_empty() || !inside.bytes().all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.') {
            return Err(INVALID);
        }
        if after.is_empty() { "" } else { after.strip_prefix(':').ok_or(INVALID)? }
    } else {
        let (host, port) = authority.rsplit_once(':').unwrap_or((authority, ""));
        let reg_name = |c: u8| c.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&c);
        if host.is_empty() || !host.bytes().all(reg_name) {
            return Err(INVALID);
        }
        port
    };
    if !port.bytes().all(|c| c.is_ascii_digit()) {
        return Err(INVALID);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(method: &str, target: &str) -> (String, String, Option<String>) {
        let t = split(method, target).unwrap_or_else(|e| panic!("{method} {target}: {e:?}"));
        (t.path.to_string(), t.query.to_string(), t.authority.map(str::to_string))
    }

    #[test]
    fn the_forms_a_server_takes() {
        assert_eq!(ok("GET", "/a/b?c=d?e"), ("/a/b".into(), "c=d?e".into(), None));
        assert_eq!(ok("GET", "/"), ("/".into(), "".into(), None));
        assert_eq!(ok("GET", "http://h/p?q=1"), ("/p".into(), "q=1".into(), Some("h".into())));
        assert_eq!(ok("GET", "HTTPS://h.example:8443"), ("/".into(), "".into(), Some("h.example:8443".into())));
        // A query with no path keeps its query.
        assert_eq!(ok("GET", "http://host?a=1"), ("/".into(), "a=1".into(), Some("host".into())));
        assert_eq!(ok("GET", "http://host:80?a=1"), ("/".into(), "a=1".into(), Some("host:80".into())));
        assert_eq!(ok("GET", "http://[::1]:8080/x"), ("/x".into(), "".into(), Some("[::1]:8080".into())));
        assert_eq!(ok("OPTIONS", "*"), ("*".into(), "".into(), None));
    }

    #[test]
    fn targets_that_are_refused() {
        for (method, target, status) in [
            ("GET", "foo/bar", "400"),
            ("GET", "!", "400"),
            ("PUT", "s://]ufd/:", "400"),
            ("GET", "ftp://h/", "400"),
            ("GET", "http:///p", "400"),
            ("GET", "http://u:p@h/", "400"),
            ("GET", "http://h:8x/", "400"),
            ("GET", "http://[zz]/", "400"),
            ("GET", "http://[::1/", "400"),
            ("GET", "http://h]/", "400"),
            ("GET", "/p#frag", "400"),
            ("GET", "/p?q#frag", "400"),
            ("GET", "*", "400"),
            ("CONNECT", "h:443", "501"),
        ] {
            let e = split(method, target).expect_err(target);
            assert!(e.status.starts_with(status), "{method} {target}: {e:?}");
        }
    }
}
