#![no_main]
//! The HTTP request head parser: any bytes give a request, "need more", or
//! an error status; never a panic. A parsed head never claims more bytes
//! than it was given.
use libfuzzer_sys::fuzz_target;
use oxwsgi::proto::{http, vars::Vars};

fuzz_target!(|data: &[u8]| {
    let conn = http::ConnInfo { remote_addr: b"127.0.0.1", remote_port: b"1", server_name: b"localhost", server_port: b"80", url_scheme_https: false };
    let mut vars = Vars::default();
    match http::parse_request(data, &conn, &mut vars, http::MAX_HEADERS) {
        Ok(Some(r)) => {
            assert!(r.head_len <= data.len());
            assert!(vars.get(b"REQUEST_METHOD").is_some());
            assert!(vars.get(b"PATH_INFO").is_some());
        }
        Ok(None) => {}
        Err(e) => assert!(e.status.as_bytes()[0] == b'4' || e.status.as_bytes()[0] == b'5'),
    }
});
