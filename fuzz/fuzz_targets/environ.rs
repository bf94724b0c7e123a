#![no_main]
//! The environ builder: any CGI variables (as a uwsgi packet brings them,
//! or HTTP parsing makes them) become a dict of str keys and str values
//! (PEP 3333 "native strings", latin-1), with or without
//! --manage-script-name's split; never a panic or a Python error.
use libfuzzer_sys::fuzz_target;
use oxwsgi::proto::vars::Vars;
use oxwsgi::wsgi::{Body, environ::EnvironCtx};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::sync::OnceLock;

fn ctx() -> &'static Py<PyAny> {
    static CTX: OnceLock<Py<PyAny>> = OnceLock::new();
    CTX.get_or_init(|| {
        Python::initialize();
        Python::attach(|py| py.None())
    })
}

fuzz_target!(|data: &[u8]| {
    ctx();
    let Some((&flags, rest)) = data.split_first() else { return };
    // Pairs separated by NUL, key and value by '='.
    let mut vars = Vars::default();
    for pair in rest.split(|&c| c == 0) {
        match pair.iter().position(|&c| c == b'=') {
            Some(i) => vars.push(&pair[..i], &pair[i + 1..]),
            None => vars.push(pair, b""),
        }
    }
    Python::attach(|py| {
        static BUILT: OnceLock<EnvironCtx> = OnceLock::new();
        let ctx = BUILT.get_or_init(|| EnvironCtx::new(py, flags & 1 == 1, true, true).expect("the environ template"));
        let split = (flags & 2 == 2).then(|| usize::from(flags >> 2));
        let env = ctx.build(py, &vars, Body::Empty, flags & 4 == 4, split, None).expect("an environ for any variables");
        for (k, v) in env.iter() {
            assert!(k.is_instance_of::<PyString>());
            let key: String = k.extract().unwrap();
            if !key.starts_with("wsgi.") && key != "uwsgi.version" && key != "uwsgi.node" && key != "uwsgi.core" {
                assert!(v.is_instance_of::<PyString>(), "{} is not a str", key);
            }
        }
        assert!(env.contains("wsgi.input").unwrap());
    });
});
