#![no_main]
//! The chunked decoder, fed in two pieces at a fuzzer-chosen split: the
//! output never exceeds the input, and the split never changes the result.
use libfuzzer_sys::fuzz_target;
use oxwsgi::proto::chunked::ChunkedDecoder;

fn run(parts: &[&[u8]]) -> Result<(Vec<u8>, bool), ()> {
    let mut d = ChunkedDecoder::default();
    let mut out = Vec::new();
    for p in parts {
        let mut p = *p;
        while !p.is_empty() && !d.is_done() {
            let n = d.decode(p, &mut |b| out.extend_from_slice(b)).map_err(|_| ())?;
            if n == 0 {
                break;
            }
            p = &p[n..];
        }
    }
    Ok((out, d.is_done()))
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = data[0] as usize % data.len();
    let body = &data[1..];
    let split = split.min(body.len());
    let whole = run(&[body]);
    let halves = run(&[&body[..split], &body[split..]]);
    assert_eq!(whole, halves);
    if let Ok((out, _)) = whole {
        assert!(out.len() <= body.len());
    }
});
