//! Building the environ dict. A template with the constant `wsgi.*` keys is
//! made once per process and copied per request; CGI keys are interned
//! once, so a request costs one dict copy and one str per value.

use super::Body;
use super::file_wrapper::FileWrapper;
use crate::proto::vars::Vars;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use rustc_hash::FxHashMap;
use std::os::fd::IntoRawFd;

/// Per-process Python objects every request needs.
pub struct EnvironCtx {
    template: Py<PyDict>,
    keys: std::sync::Mutex<FxHashMap<Vec<u8>, Py<PyString>>>,
    bytes_io: Py<PyAny>,
    io_open: Py<PyAny>,
    scheme_http: Py<PyString>,
    scheme_https: Py<PyString>,
    k_input: Py<PyString>,
    k_scheme: Py<PyString>,
    k_script_name: Py<PyString>,
    k_path_info: Py<PyString>,
}

/// How many distinct variable names we intern; past it, names are made per
/// request (a client inventing header names cannot grow memory).
const MAX_INTERNED: usize = 512;

impl EnvironCtx {
    pub fn new(py: Python<'_>, multithread: bool, multiprocess: bool) -> PyResult<Self> {
        let t = PyDict::new(py);
        t.set_item("wsgi.version", (1, 0))?;
        t.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
        t.set_item("wsgi.multithread", multithread)?;
        t.set_item("wsgi.multiprocess", multiprocess)?;
        t.set_item("wsgi.run_once", false)?;
        t.set_item("wsgi.input_terminated", true)?;
        t.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        t.set_item("SCRIPT_NAME", "")?;
        let io = py.import("io")?;
        Ok(EnvironCtx {
            template: t.unbind(),
            keys: std::sync::Mutex::new(FxHashMap::default()),
            bytes_io: io.getattr("BytesIO")?.unbind(),
            io_open: io.getattr("open")?.unbind(),
            scheme_http: PyString::intern(py, "http").unbind(),
            scheme_https: PyString::intern(py, "https").unbind(),
            k_input: PyString::intern(py, "wsgi.input").unbind(),
            k_scheme: PyString::intern(py, "wsgi.url_scheme").unbind(),
            k_script_name: PyString::intern(py, "SCRIPT_NAME").unbind(),
            k_path_info: PyString::intern(py, "PATH_INFO").unbind(),
        })
    }

    fn key<'py>(&self, py: Python<'py>, keys: &mut FxHashMap<Vec<u8>, Py<PyString>>, k: &[u8]) -> Bound<'py, PyString> {
        if let Some(s) = keys.get(k) {
            return s.bind(py).clone();
        }
        let s = PyString::intern(py, &String::from_utf8_lossy(k));
        if keys.len() < MAX_INTERNED {
            keys.insert(k.to_vec(), s.clone().unbind());
        }
        s
    }

    /// Builds the environ for one request. `script_name_len` splits
    /// PATH_INFO for --manage-script-name.
    pub fn build<'py>(&self, py: Python<'py>, vars: &Vars, body: Body, https: bool, script_name_len: Option<usize>) -> PyResult<Bound<'py, PyDict>> {
        let env = self.template.bind(py).copy()?;
        let mut scheme_https = https;
        // One lock per request; Python threads hold the GIL here anyway.
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in vars.iter() {
            if k == b"PATH_INFO" {
                if let Some(n) = script_name_len {
                    env.set_item(self.k_script_name.bind(py), latin1(py, &v[..n]))?;
                    env.set_item(self.k_path_info.bind(py), latin1(py, &v[n..]))?;
                    continue;
                }
            } else if k == b"SCRIPT_NAME" && script_name_len.is_some() {
                continue;
            } else if k == b"HTTPS" {
                scheme_https |= v.eq_ignore_ascii_case(b"on") || v == b"1";
            } else if k == b"UWSGI_SCHEME" {
                scheme_https |= v.eq_ignore_ascii_case(b"https");
            }
            set(&env, &self.key(py, &mut keys, k), &latin1(py, v))?;
        }
        drop(keys);
        let scheme = if scheme_https { &self.scheme_https } else { &self.scheme_http };
        env.set_item(self.k_scheme.bind(py), scheme.bind(py))?;
        let input = match body {
            Body::Empty => self.bytes_io.bind(py).call0()?,
            Body::Memory(b) => self.bytes_io.bind(py).call1((pyo3::types::PyBytes::new(py, &b),))?,
            Body::File(f) => self.io_open.bind(py).call1((f.into_raw_fd(), "rb"))?,
        };
        env.set_item(self.k_input.bind(py), input)?;
        Ok(env)
    }
}

/// dict[key] = value without pyo3's conversions (the hot path sets a dozen).
fn set(d: &Bound<'_, PyDict>, k: &Bound<'_, PyString>, v: &Bound<'_, PyAny>) -> PyResult<()> {
    // SAFETY: three live objects; PyDict_SetItem takes its own references.
    if unsafe { pyo3::ffi::PyDict_SetItem(d.as_ptr(), k.as_ptr(), v.as_ptr()) } == 0 { Ok(()) } else { Err(PyErr::fetch(d.py())) }
}

/// PEP 3333: environ values are native strings holding bytes as latin-1.
pub fn latin1<'py>(py: Python<'py>, b: &[u8]) -> Bound<'py, PyAny> {
    unsafe {
        let p = pyo3::ffi::PyUnicode_DecodeLatin1(b.as_ptr() as *const _, b.len() as isize, std::ptr::null());
        // Latin-1 decoding cannot fail for any byte string; only out of memory.
        Bound::from_owned_ptr_or_err(py, p).expect("out of memory decoding latin-1")
    }
}
