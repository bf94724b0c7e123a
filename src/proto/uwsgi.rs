//! The uwsgi packet codec (what nginx's `uwsgi_pass` speaks): a 4-byte
//! header (modifier1, little-endian 16-bit size of the vars block,
//! modifier2), then the vars block of `u16 key_len, key, u16 val_len, val`
//! pairs, then the request body (CONTENT_LENGTH bytes).

use super::vars::Vars;

pub const HEADER_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    pub modifier1: u8,
    pub datasize: u16,
    pub modifier2: u8,
}

pub fn parse_header(h: [u8; 4]) -> PacketHeader {
    PacketHeader { modifier1: h[0], datasize: u16::from_le_bytes([h[1], h[2]]), modifier2: h[3] }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UwsgiError {
    /// modifier1 other than 0 (WSGI): another language plugin's request.
    UnsupportedModifier(u8),
    /// The vars block is larger than --buffer-size.
    TooLarge { size: usize, limit: usize },
    /// A key or value runs past the end of the block.
    Truncated { offset: usize },
    /// CONTENT_LENGTH is not a number.
    BadContentLength,
}

impl std::fmt::Display for UwsgiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UwsgiError::UnsupportedModifier(m) => write!(f, "unsupported uwsgi modifier1 {} (only 0, WSGI, is served)", m),
            UwsgiError::TooLarge { size, limit } => write!(f, "invalid request block size: {} (max {}); raise --buffer-size (at most 65535)", size, limit),
            UwsgiError::Truncated { offset } => write!(f, "malformed uwsgi vars block: truncated at byte {}", offset),
            UwsgiError::BadContentLength => write!(f, "invalid CONTENT_LENGTH in uwsgi vars"),
        }
    }
}

/// Checks a packet header against our limits before reading its vars.
pub fn check_header(h: &PacketHeader, buffer_size: usize) -> Result<(), UwsgiError> {
    if h.modifier1 != 0 {
        return Err(UwsgiError::UnsupportedModifier(h.modifier1));
    }
    if h.datasize as usize > buffer_size {
        return Err(UwsgiError::TooLarge { size: h.datasize as usize, limit: buffer_size });
    }
    Ok(())
}

/// Decodes a vars block into `vars`.
pub fn parse_vars(data: &[u8], vars: &mut Vars) -> Result<(), UwsgiError> {
    vars.clear();
    let mut i = 0;
    let take = |i: &mut usize| -> Result<&[u8], UwsgiError> {
        if *i + 2 > data.len() {
            return Err(UwsgiError::Truncated { offset: *i });
        }
        let n = u16::from_le_bytes([data[*i], data[*i + 1]]) as usize;
        if *i + 2 + n > data.len() {
            return Err(UwsgiError::Truncated { offset: *i });
        }
        let s = &data[*i + 2..*i + 2 + n];
        *i += 2 + n;
        Ok(s)
    };
    while i < data.len() {
        let k = take(&mut i)?;
        let v = take(&mut i)?;
        vars.push(k, v);
    }
    Ok(())
}

/// CONTENT_LENGTH of a request, 0 when absent or empty.
pub fn content_length(vars: &Vars) -> Result<u64, UwsgiError> {
    match vars.get(b"CONTENT_LENGTH") {
        None | Some(b"") => Ok(0),
        Some(v) => super::vars::parse_decimal(v).ok_or(UwsgiError::BadContentLength),
    }
}

/// Encodes a request packet (for tests and tools; the server only decodes).
pub fn encode_packet(vars: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in vars {
        body.extend_from_slice(&(k.len() as u16).to_le_bytes());
        body.extend_from_slice(k);
        body.extend_from_slice(&(v.len() as u16).to_le_bytes());
        body.extend_from_slice(v);
    }
    let mut out = vec![0u8];
    out.extend_from_slice(&(body.len() as u16).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let p = encode_packet(&[(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/x"), (b"EMPTY", b"")]);
        let h = parse_header([p[0], p[1], p[2], p[3]]);
        assert_eq!(h.modifier1, 0);
        assert_eq!(h.datasize as usize, p.len() - 4);
        check_header(&h, 4096).unwrap();
        let mut v = Vars::default();
        parse_vars(&p[4..], &mut v).unwrap();
        assert_eq!(v.get(b"PATH_INFO"), Some(&b"/x"[..]));
        assert_eq!(v.get(b"EMPTY"), Some(&b""[..]));
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn empty_vars() {
        let mut v = Vars::default();
        parse_vars(b"", &mut v).unwrap();
        assert!(v.is_empty());
    }

    #[test]
    fn malformed() {
        let mut v = Vars::default();
        assert_eq!(parse_vars(&[5], &mut v), Err(UwsgiError::Truncated { offset: 0 }));
        assert_eq!(parse_vars(&[5, 0, b'a'], &mut v), Err(UwsgiError::Truncated { offset: 0 }));
        assert_eq!(parse_vars(&[1, 0, b'a'], &mut v), Err(UwsgiError::Truncated { offset: 3 }));
        assert_eq!(parse_vars(&[1, 0, b'a', 9, 0, b'x'], &mut v), Err(UwsgiError::Truncated { offset: 3 }));
        let h = PacketHeader { modifier1: 0, datasize: 5000, modifier2: 0 };
        let e = check_header(&h, 4096).unwrap_err();
        assert!(e.to_string().contains("--buffer-size"));
        let h = PacketHeader { modifier1: 5, datasize: 10, modifier2: 0 };
        assert_eq!(check_header(&h, 4096), Err(UwsgiError::UnsupportedModifier(5)));
    }

    #[test]
    fn content_lengths() {
        let mut v = Vars::default();
        assert_eq!(content_length(&v), Ok(0));
        v.push(b"CONTENT_LENGTH", b"");
        assert_eq!(content_length(&v), Ok(0));
        v.set(b"CONTENT_LENGTH", b"123");
        assert_eq!(content_length(&v), Ok(123));
        v.set(b"CONTENT_LENGTH", b"-1");
        assert_eq!(content_length(&v), Err(UwsgiError::BadContentLength));
    }
}
