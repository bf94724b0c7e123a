#![no_main]
//! --log-format: any format string compiles or is refused, and a compiled
//! one renders any request's values without a panic, in one line.
use libfuzzer_sys::fuzz_target;
use oxwsgi::log::format::{Captures, Entry, LogFormat};

fuzz_target!(|data: &[u8]| {
    // The format, then the values of the variables it names.
    let (fmt, values) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(fmt) = std::str::from_utf8(fmt) else { return };
    let xff = values.first().is_some_and(|c| c & 1 == 1);
    let Ok(lf) = LogFormat::compile(fmt, xff, if values.first().is_some_and(|c| c & 2 == 2) { Some("%Y-%m-%d %H:%M:%S") } else { None }) else {
        return;
    };
    let mut parts = values.split(|&c| c == b'\n');
    let vars: Captures = lf.vars.iter().map(|_| parts.next()).collect();
    let logvars = vec![("user".to_string(), String::from_utf8_lossy(parts.next().unwrap_or(b"")).into_owned())];
    let n = values.len() as u64;
    let e = Entry {
        vars: &vars,
        status: (n % 1000) as u16,
        body_bytes: n.wrapping_mul(7919),
        headers_bytes: n,
        headers: values.len(),
        content_length: u64::MAX - n,
        started_us: n.wrapping_mul(1_000_003),
        micros: n,
        pid: 1,
        wid: 1,
        core: 0,
        vars_count: vars.len(),
        vars_bytes: values.len(),
        modifiers: (0, 0),
        memory: (n, n),
        logvars: &logvars,
        write_errors: 0,
    };
    let mut out = Vec::new();
    lf.render(&e, &mut out);
});
