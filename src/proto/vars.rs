//! The CGI variables of one request, the common form an HTTP request and a
//! uwsgi packet are both turned into before the WSGI bridge sees them.
//! Stored in one buffer so building them costs two allocations at most.

use std::ops::Range;

#[derive(Default, Debug, Clone)]
pub struct Vars {
    buf: Vec<u8>,
    idx: Vec<(Range<u32>, Range<u32>)>,
}

impl Vars {
    pub fn with_capacity(bytes: usize, count: usize) -> Self {
        Vars { buf: Vec::with_capacity(bytes), idx: Vec::with_capacity(count) }
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.idx.clear();
    }

    pub fn push(&mut self, key: &[u8], val: &[u8]) {
        let k0 = self.buf.len() as u32;
        self.buf.extend_from_slice(key);
        let k1 = self.buf.len() as u32;
        self.buf.extend_from_slice(val);
        let v1 = self.buf.len() as u32;
        self.idx.push((k0..k1, k1..v1));
    }

    /// Pushes a key built by `key` (e.g. `HTTP_` + an upper-cased header name).
    pub fn push_with(&mut self, key: impl FnOnce(&mut Vec<u8>), val: &[u8]) {
        let k0 = self.buf.len() as u32;
        key(&mut self.buf);
        let k1 = self.buf.len() as u32;
        self.buf.extend_from_slice(val);
        let v1 = self.buf.len() as u32;
        self.idx.push((k0..k1, k1..v1));
    }

    /// Appends `sep` and `more` to the value of the last pushed variable
    /// (for repeated headers, which CGI joins into one).
    pub fn extend_last(&mut self, sep: &[u8], more: &[u8]) {
        if let Some((_, v)) = self.idx.last_mut() {
            debug_assert_eq!(v.end as usize, self.buf.len());
            self.buf.extend_from_slice(sep);
            self.buf.extend_from_slice(more);
            v.end = self.buf.len() as u32;
        }
    }

    pub fn len(&self) -> usize {
        self.idx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idx.is_empty()
    }

    /// The size in bytes of keys and values, as uWSGI's log line counts it.
    pub fn byte_len(&self) -> usize {
        self.buf.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.idx.iter().map(|(k, v)| (&self.buf[k.start as usize..k.end as usize], &self.buf[v.start as usize..v.end as usize]))
    }

    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Replaces the value of `key` (or adds it).
    pub fn set(&mut self, key: &[u8], val: &[u8]) {
        let found = self.iter().position(|(k, _)| k == key);
        if let Some(i) = found {
            let k0 = self.buf.len() as u32;
            self.buf.extend_from_slice(val);
            self.idx[i].1 = k0..self.buf.len() as u32;
        } else {
            self.push(key, val);
        }
    }

    /// The value of the `i`th variable.
    pub fn value_at(&self, i: usize) -> &[u8] {
        let v = &self.idx[i].1;
        &self.buf[v.start as usize..v.end as usize]
    }

    /// Replaces the value of the `i`th variable.
    pub fn set_at(&mut self, i: usize, val: &[u8]) {
        let v0 = self.buf.len() as u32;
        self.buf.extend_from_slice(val);
        self.idx[i].1 = v0..self.buf.len() as u32;
    }

    pub fn remove(&mut self, key: &[u8]) {
        let buf = &self.buf;
        self.idx.retain(|(k, _)| &buf[k.start as usize..k.end as usize] != key);
    }
}

/// A non-negative decimal of at most 19 digits (Content-Length), without
/// a sign, spaces or overflow; None otherwise.
pub fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 {
        return None;
    }
    v.iter().try_fold(0u64, |n, &c| if c.is_ascii_digit() { n.checked_mul(10)?.checked_add(u64::from(c - b'0')) } else { None })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_get_set() {
        let mut v = Vars::default();
        v.push(b"A", b"1");
        v.push_with(|b| b.extend_from_slice(b"HTTP_X"), b"y");
        v.extend_last(b", ", b"z");
        assert_eq!(v.get(b"A"), Some(&b"1"[..]));
        assert_eq!(v.get(b"HTTP_X"), Some(&b"y, z"[..]));
        v.set(b"A", b"22");
        v.set(b"B", b"3");
        assert_eq!(v.get(b"A"), Some(&b"22"[..]));
        assert_eq!(v.len(), 3);
        assert_eq!(v.value_at(2), b"3");
        v.set_at(2, b"33");
        assert_eq!(v.get(b"B"), Some(&b"33"[..]));
        v.remove(b"A");
        assert_eq!(v.get(b"A"), None);
        assert_eq!(v.iter().map(|(k, _)| k.to_vec()).collect::<Vec<_>>(), vec![b"HTTP_X".to_vec(), b"B".to_vec()]);
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"1234567890123456789"), Some(1234567890123456789));
        for bad in [&b""[..], b"+1", b"-1", b" 1", b"1a", b"12345678901234567890", b"\xff"] {
            assert_eq!(parse_decimal(bad), None, "{:?}", bad);
        }
    }
}
