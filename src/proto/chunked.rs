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
    Ext,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    TrailerStart,
    TrailerLine,
    TrailerLf,
    EndLf,
    Done,
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
                    b';' | b' ' | b'\t' => self.state = Ext,
                    b'\r' => self.state = SizeLf,
                    _ => return Err(bad("invalid chunk size")),
                },
                Ext => {
                    self.line_len += 1;
                    if self.line_len > MAX_CHUNK_LINE {
                        return Err(bad("chunk extension too long"));
                    }
                    match c {
                        b'\r' => self.state = SizeLf,
                        b'\n' | 0 => return Err(bad("invalid chunk extension")),
                        _ => {}
                    }
                }
                SizeLf => {
                    if c != b'\n' {
                        return Err(bad("chunk size line not ended by CRLF"));
                    }
                    self.line_len = 0;
                    self.state = if self.size == 0 { TrailerStart } else { Data };
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
                        self.state = TrailerLine;
                        continue;
                    }
                },
                TrailerLine => {
                    self.trailer_len += 1;
                    if self.trailer_len > MAX_TRAILERS {
                        return Err(bad("chunk trailers too long"));
                    }
                    match c {
                        b'\r' => self.state = TrailerLf,
                        b'\n' | 0 => return Err(bad("invalid chunk trailer")),
                        _ => {}
                    }
                }
                TrailerLf => {
                    if c != b'\n' {
                        return Err(bad("chunk trailer not ended by CRLF"));
                    }
                    self.state = TrailerStart;
                }
                EndLf => {
                    if c != b'\n' {
                        return Err(bad("chunked body not ended by CRLF"));
                    }
                    self.state = Done;
                }
                Done => unreachable!(),
            }
            i += 1;
        }
        Ok(i)
    }
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
}
