#![no_main]
//! A whole connection through the real state machine: the first byte picks
//! the protocol (--http-socket or --socket) and the rest is what the client
//! sends, in one go, before it hangs up. The connection code reads it,
//! parses, reads bodies, calls a real WSGI app inline and writes; it must
//! neither panic (libfuzzer-sys aborts on any panic, before contain.rs could
//! swallow it)
//! nor hang, and whatever it writes is HTTP.
use libfuzzer_sys::fuzz_target;
use oxwsgi::options::{Config, Proto};
use oxwsgi::python::loader::App;
use oxwsgi::wsgi::call::PyApps;
use pyo3::prelude::*;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

const APP: &std::ffi::CStr = c"
def application(environ, start_response):
    body = environ['wsgi.input'].read()
    path = environ.get('PATH_INFO', '')
    if path.startswith('/chunked'):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return iter([path.encode('latin-1'), body[:64]])
    out = b'%d %s' % (len(body), environ.get('QUERY_STRING', '').encode('latin-1'))
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(out)))])
    return [out]
";

fn setup() -> &'static (Arc<Config>, Arc<PyApps>) {
    static S: OnceLock<(Arc<Config>, Arc<PyApps>)> = OnceLock::new();
    S.get_or_init(|| {
        Python::initialize();
        let mut cfg = Config::default();
        cfg.buffer_size = 4096;
        cfg.limit_post = 65536;
        cfg.post_buffering = 4096;
        cfg.disable_logging = true;
        let apps = Python::attach(|py| {
            let m = PyModule::from_code(py, APP, c"fuzz_app.py", c"fuzz_app").expect("the app compiles");
            let app = App { mountpoint: String::new(), callable: m.getattr("application").unwrap().unbind() };
            PyApps::new(py, vec![app], false, false, false, true).expect("the app's context")
        });
        (Arc::new(cfg), Arc::new(apps))
    })
}

fuzz_target!(|data: &[u8]| {
    let (cfg, apps) = setup();
    let Some((&which, input)) = data.split_first() else { return };
    let proto = if which & 1 == 0 { Proto::Http } else { Proto::Uwsgi };
    let out = oxwsgi::worker::drive::drive(cfg, apps, proto, input, Duration::from_secs(10)).expect("no hang");
    assert!(out.is_empty() || out.starts_with(b"HTTP/1."), "{:?}", String::from_utf8_lossy(&out[..out.len().min(200)]));
});
