#![no_main]
//! A whole uwsgi request as the server reads it: header, limits, vars,
//! CONTENT_LENGTH. Nothing may panic or allocate past the declared size.
use libfuzzer_sys::fuzz_target;
use oxwsgi::proto::{uwsgi, vars::Vars};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let h = uwsgi::parse_header([data[0], data[1], data[2], data[3]]);
    if uwsgi::check_header(&h, 65535).is_err() {
        return;
    }
    let block = &data[4..];
    let block = &block[..block.len().min(h.datasize as usize)];
    let mut vars = Vars::default();
    if uwsgi::parse_vars(block, &mut vars).is_ok() {
        let _ = uwsgi::content_length(&vars);
        let total: usize = vars.iter().map(|(k, v)| k.len() + v.len()).sum();
        assert!(total <= block.len());
    }
});
