//! The chunked transfer coding of request bodies (RFC 9112 7.1), decoded
//! incrementally as the bytes arrive. No I/O here.

use super::http::{HttpError, bad};

/// Decodes a chunked request body (RFC 9112 7.1) incrementally.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    size: u64,
    line_len: usize,
    trailer_len: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    SizeDigitsDone,
    /// Whitespace after the size: only a `;` may follow (BWS).
    SizeWs,
    /// After `;` (and BWS): an extension name must come.
    ExtName,
    InExtName,
    /// Whitespace after a name: `=` or `;` may follow.
    ExtNameWs,
    ExtValue,
    InExtToken,
    InExtQuoted,
    ExtQuotedPair,
    /// A closing quote: `;`, BWS or the line's end.
    ExtQuotedEnd,
    /// Whitespace after a value: only `;` may follow.
    ExtValueWs,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    EndLf,
    Done,
}

/// RFC 9110 5.6.2 tchar.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// RFC 9110 5.6.4 qdtext, which is also what a field value may hold.
fn is_qdtext(c: u8) -> bool {
    matches!(c, b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff)
}

fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

/// Longest chunk-size line (with extensions) and trailer section we accept.
const MAX_CHUNK_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16384;

impl ChunkedDecoder {
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Consumes bytes from `input`, passing decoded data to `out`. Returns
    /// how many bytes were consumed; stops at the end of the body.
    pub fn decode(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, HttpError> {
        use ChunkState::*;
        let mut i = 0;
        while i < input.len() && self.state != Done {
            let c = input[i];
            match self.state {
                Size => {
                    let d = (c as char).to_digit(16);
                    match d {
                        Some(d) => {
                            if self.line_len >= 16 {
                                return Err(bad("chunk size too large"));
                            }
                            self.size = self.size << 4 | d as u64;
                            self.line_len += 1;
                        }
                        None if self.line_len == 0 => return Err(bad("invalid chunk size")),
                        None => {
                            self.state = SizeDigitsDone;
                            continue;
                        }
                    }
                }
                SizeDigitsDone => match c {
                    b';' => self.state = ExtName,
                    c if is_ws(c) => self.state = SizeWs,
                    b'\r' => self.state = SizeLf,
                    _ => return Err(bad("invalid chunk size")),
                },
                SizeLf => {
                    if c != b'\n' {
                        return Err(bad("chunk size line not ended by CRLF"));
                    }
                    self.line_len = 0;
                    self.state = if self.size == 0 { TrailerStart } else { Data };
                }
                // RFC 9112 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS value ] ).
                SizeWs | ExtName | InExtName | ExtNameWs | ExtValue | InExtToken | InExtQuoted | ExtQuotedPair | ExtQuotedEnd | ExtValueWs => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(bad("chunk extension too long"));
                    }
                    self.state = ext_step(self.state, c)?;
                }
                Data => {
                    let n = ((input.len() - i) as u64).min(self.size) as usize;
                    out(&input[i..i + n]);
                    self.size -= n as u64;
                    i += n;
                    if self.size == 0 {
                        self.state = DataCr;
                    }
                    continue;
                }
                DataCr => {
                    if c != b'\r' {
                        return Err(bad("chunk data longer than its size"));
                    }
                    self.state = DataLf;
                }
                DataLf => {
                    if c != b'\n' {
                        return Err(bad("chunk data not ended by CRLF"));
                    }
                    self.state = Size;
                }
                TrailerStart => match c {
                    b'\r' => self.state = EndLf,
                    _ => {
                        self.state = TrailerName;
                        continue;
                    }
                },
                // A trailer is a field line (RFC 9112 5): token ":" value.
                // Its fields are read and dropped, never given to the app,
                // so a forbidden one (Content-Length, Host, ...) has no effect.
                TrailerName | TrailerValue => {
                    self.trailer_len += 1;
                    if self.trailer_len > MAX_TRAILERS {
                        return Err(bad("chunk trailers too long"));
                    }
                    self.state = match (self.state, c) {
                        (TrailerName, c) if is_tchar(c) => TrailerName,
                        (TrailerName, b':') if self.line_len > 0 => TrailerValue,
                        (TrailerValue, b'\r') => TrailerLf,
                        (TrailerValue, c) if is_qdtext(c) || c == b'"' || c == b'\\' => TrailerValue,
                        _ => return Err(bad("invalid chunk trailer")),
                    };
                    // line_len counts the name's bytes, so an empty name is refused.
                    self.line_len = if self.state == TrailerName { self.line_len + 1 } else { 0 };
                }
                TrailerLf => {
                    if c != b'\n' {
                        return Err(bad("chunk trailer not ended by CRLF"));
                    }
                    self.line_len = 0;
                    self.state = TrailerStart;
                }
                EndLf => {
                    if c != b'\n' {
                        return Err(bad("chunked body not ended by CRLF"));
                    }
                    self.state = Done;
                }
                Done => break,
            }
            i += 1;
        }
        Ok(i)
    }
}

/// One byte of a chunk extension: the next state, or why the line is bad.
fn ext_step(state: ChunkState, c: u8) -> Result<ChunkState, HttpError> {
    use ChunkState::*;
    let next = match (state, c) {
        (SizeWs | ExtNameWs | ExtValueWs | ExtName | ExtValue | ExtQuotedEnd, c) if is_ws(c) => match state {
            ExtQuotedEnd => ExtValueWs,
            s => s,
        },
        (SizeWs | InExtName | ExtNameWs | InExtToken | ExtQuotedEnd | ExtValueWs, b';') => ExtName,
        (ExtName | InExtName, c) if is_tchar(c) => InExtName,
        (InExtName, c) if is_ws(c) => ExtNameWs,
        (InExtName | ExtNameWs, b'=') => ExtValue,
        (ExtValue | InExtToken, c) if is_tchar(c) => InExtToken,
        (InExtToken, c) if is_ws(c) => ExtValueWs,
        (ExtValue, b'"') => InExtQuoted,
        (InExtQuoted, b'"') => ExtQuotedEnd,
        (InExtQuoted, b'\\') => ExtQuotedPair,
        (InExtQuoted, c) if is_qdtext(c) => InExtQuoted,
        (ExtQuotedPair, c) if is_ws(c) || (0x21..=0x7e).contains(&c) || c >= 0x80 => InExtQuoted,
        // The line ends after a name or a value, never after BWS.
        (InExtName | InExtToken | ExtQuotedEnd, b'\r') => SizeLf,
        _ => return Err(bad("invalid chunk extension")),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dechunk(input: &[u8]) -> Result<(Vec<u8>, usize, bool), HttpError> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let n = d.decode(input, &mut |b| out.extend_from_slice(b))?;
        Ok((out, n, d.is_done()))
    }

    #[test]
    fn chunked_decoding() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let (out, n, done) = dechunk(body).unwrap();
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        assert!(done);
        assert_eq!(&body[n..], b"NEXT");
        // Byte by byte gives the same.
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        for b in body.chunks(1) {
            if d.is_done() {
                break;
            }
            d.decode(b, &mut |x| out.extend_from_slice(x)).unwrap();
        }
        assert_eq!(out, b"Wikipedia in\r\n\r\nchunks.");
        for bad in [&b"0x3\r\nabc\r\n0\r\n\r\n"[..], b"g\r\n", b"11111111111111111\r\n", b"3\r\nabcd\r\n", b"3\nabc", b"\r\n"] {
            assert!(dechunk(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Decodes `input` cut in two at `cut`, as two reads would give it.
    fn dechunk_split(input: &[u8], cut: usize) -> Result<(Vec<u8>, bool), HttpError> {
        let mut d = ChunkedDecoder::default();
        let mut out = Vec::new();
        let n = d.decode(&input[..cut], &mut |b| out.extend_from_slice(b))?;
        if n == cut && !d.is_done() {
            d.decode(&input[cut..], &mut |b| out.extend_from_slice(b))?;
        }
        Ok((out, d.is_done()))
    }

    /// The verdict on `body` is the same wherever the reads split it.
    fn verdict(body: &[u8]) -> Result<Vec<u8>, HttpError> {
        let whole = dechunk_split(body, body.len());
        for cut in 0..body.len() {
            let split = dechunk_split(body, cut);
            assert_eq!(split.is_ok(), whole.is_ok(), "{:?} cut at {cut}", String::from_utf8_lossy(body));
            if let (Ok(a), Ok(b)) = (&split, &whole) {
                assert_eq!(a, b, "{:?} cut at {cut}", String::from_utf8_lossy(body));
            }
        }
        whole.map(|(out, done)| {
            assert!(done, "{:?} not finished", String::from_utf8_lossy(body));
            out
        })
    }

    #[test]
    fn chunk_extensions_follow_the_grammar() {
        for ok in [
            &b"2;a\r\nhi\r\n0\r\n\r\n"[..],
            b"2;a=b\r\nhi\r\n0\r\n\r\n",
            b"2 ; a = b ; c\r\nhi\r\n0\r\n\r\n",
            b"2\t;a=\"q \\\" ;\"\r\nhi\r\n0\r\n\r\n",
            b"2;a=\"\" ;b\r\nhi\r\n0;last=1\r\n\r\n",
        ] {
            assert_eq!(verdict(ok).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(ok))), b"hi");
        }
        for bad in [
            &b"2 junk\r\nhi\r\n0\r\n\r\n"[..],
            b"a \r\n0123456789\r\n0\r\n\r\n",
            b"2\r\nhi\r\n0 \r\n\r\n",
            b"2;\r\nhi\r\n0\r\n\r\n",
            b"2;;a\r\nhi\r\n0\r\n\r\n",
            b"2;a=\r\nhi\r\n0\r\n\r\n",
            b"2;a \r\nhi\r\n0\r\n\r\n",
            b"2;a=b \r\nhi\r\n0\r\n\r\n",
            b"2;a=\"open\r\nhi\r\n0\r\n\r\n",
            b"2;a=\"x\"y\r\nhi\r\n0\r\n\r\n",
            b"2;a=b=c\r\nhi\r\n0\r\n\r\n",
            b"2;a@b\r\nhi\r\n0\r\n\r\n",
            b"2;a=\"\x01\"\r\nhi\r\n0\r\n\r\n",
        ] {
            assert!(verdict(bad).is_err(), "accepted {:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn trailers_are_field_lines() {
        for ok in [&b"0\r\nX-A: 1\r\n\r\n"[..], b"0\r\nX-A:\r\nContent-Length: 99\r\n\r\n", b"0\r\nX:\t\"v\" \\ \xe9\r\n\r\n"] {
            assert_eq!(verdict(ok).unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(ok))), b"");
        }
        for bad in [
            &b"0\r\nX-A 1\r\n\r\n"[..],
            b"0\r\n: 1\r\n\r\n",
            b"0\r\nX-A : 1\r\n\r\n",
            b"0\r\n X-A: 1\r\n\r\n",
            b"0\r\nX: a\x00\r\n\r\n",
            b"0\r\nX: a\nY: b\r\n\r\n",
        ] {
            assert!(verdict(bad).is_err(), "accepted {:?}", String::from_utf8_lossy(bad));
        }
    }
}
