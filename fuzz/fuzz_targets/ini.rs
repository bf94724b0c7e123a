#![no_main]
//! The uWSGI ini dialect: any text gives options or an error, never a panic.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = oxwsgi::options::parse_ini_text(text, std::path::Path::new("/etc/uwsgi/vassals/site.ini"), "uwsgi");
    }
});
