//! The PROXY protocol, version 1 (HAProxy's, as uWSGI's
//! --http-enable-proxy-protocol reads it): one line a proxy sends before
//! the client's bytes, `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`,
//! giving the client's real address. No I/O here.

/// The longest line the protocol allows, CRLF included.
pub const MAX_LINE: usize = 107;

#[derive(Debug, PartialEq, Eq)]
pub enum Proxy {
    /// More bytes are needed.
    Partial,
    /// The client's address and port, and the line's length.
    Client { addr: String, port: String, len: usize },
    /// `PROXY UNKNOWN`: the proxy does not know; keep the peer's address.
    Unknown { len: usize },
    /// Not a PROXY line (the connection must be refused).
    Invalid(&'static str),
}

pub fn parse(buf: &[u8]) -> Proxy {
    let signature = b"PROXY ";
    let n = buf.len().min(signature.len());
    if buf[..n] != signature[..n] {
        return Proxy::Invalid("the connection does not start with a PROXY protocol line");
    }
    let Some(end) = memchr::memmem::find(&buf[..buf.len().min(MAX_LINE)], b"\r\n") else {
        return if buf.len() >= MAX_LINE { Proxy::Invalid("PROXY line too long") } else { Proxy::Partial };
    };
    let Ok(line) = std::str::from_utf8(&buf[signature.len()..end]) else {
        return Proxy::Invalid("PROXY line is not text");
    };
    let parts: Vec<&str> = line.split(' ').collect();
    let len = end + 2;
    match parts.as_slice() {
        ["UNKNOWN", ..] => Proxy::Unknown { len },
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip_ok = |s: &str| match *family {
                "TCP4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
                _ => s.parse::<std::net::Ipv6Addr>().is_ok(),
            };
            let port_ok = |p: &str| !p.is_empty() && !p.starts_with('0') || p == "0";
            if !ip_ok(src) || !ip_ok(dst) || sport.parse::<u16>().is_err() || dport.parse::<u16>().is_err() || !port_ok(sport) || !port_ok(dport) {
                return Proxy::Invalid("malformed PROXY line");
            }
            Proxy::Client { addr: src.to_string(), port: sport.to_string(), len }
        }
        _ => Proxy::Invalid("malformed PROXY line"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_v1_lines() {
        let line = b"PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\nGET / HTTP/1.1\r\n";
        assert_eq!(parse(line), Proxy::Client { addr: "203.0.113.7".into(), port: "56324".into(), len: 43 });
        assert_eq!(parse(b"PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n"), Proxy::Client { addr: "2001:db8::1".into(), port: "1".into(), len: 40 });
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Proxy::Unknown { len: 15 });
        // Split at every byte: partial until the CRLF.
        for i in 0..43 {
            assert_eq!(parse(&line[..i]), Proxy::Partial, "{i}");
        }
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP4 1.2.3 4.5.6.7 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            b"PROXY TCP5 a b c d\r\n",
        ] {
            assert!(matches!(parse(bad), Proxy::Invalid(_)), "{:?}", String::from_utf8_lossy(bad));
        }
        assert!(matches!(parse(&[b'P'; 200]), Proxy::Invalid(_)));
        let long = [&b"PROXY "[..], &[b'x'; 150]].concat();
        assert_eq!(parse(&long), Proxy::Invalid("PROXY line too long"));
    }
}
