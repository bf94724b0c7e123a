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
    /// wsgi.input of every request without a body (see EMPTY_INPUT).
    empty_input: Py<PyAny>,
    io_open: Py<PyAny>,
    scheme_http: Py<PyString>,
    scheme_https: Py<PyString>,
    k_input: Py<PyString>,
    k_scheme: Py<PyString>,
    k_script_name: Py<PyString>,
    k_path_info: Py<PyString>,
}

/// Most requests have no body; a new BytesIO for each cost as much as
/// three environ entries. They share one empty stream instead, which
/// stays empty and open whatever the app does with it.
const EMPTY_INPUT: &std::ffi::CStr = c"
import io

class EmptyInput(io.BytesIO):
    \"\"\"wsgi.input of a request without a body, shared by all of them.\"\"\"
    __slots__ = ()

    def _read_only(self, *args, **kwargs):
        raise io.UnsupportedOperation('wsgi.input is read-only')

    write = writelines = truncate = _read_only

    def seek(self, pos, whence=0):
        return 0

    def close(self):
        pass

EMPTY = EmptyInput()
";

/// How many distinct variable names we intern; past it, names are made per
/// request (a client inventing header names cannot grow memory).
const MAX_INTERNED: usize = 512;

impl EnvironCtx {
    pub fn new(py: Python<'_>, multithread: bool, multiprocess: bool, file_wrapper: bool) -> PyResult<Self> {
        let t = PyDict::new(py);
        t.set_item("wsgi.version", (1, 0))?;
        t.set_item("wsgi.errors", py.import("sys")?.getattr("stderr")?)?;
        t.set_item("wsgi.multithread", multithread)?;
        t.set_item("wsgi.multiprocess", multiprocess)?;
        t.set_item("wsgi.run_once", false)?;
        t.set_item("wsgi.input_terminated", true)?;
        // --wsgi-disable-file-wrapper: the app then sends files itself.
        if file_wrapper {
            t.set_item("wsgi.file_wrapper", py.get_type::<FileWrapper>())?;
        }
        t.set_item("SCRIPT_NAME", "")?;
        let io = py.import("io")?;
        let empty_input = PyModule::from_code(py, EMPTY_INPUT, c"<oxwsgi empty input>", c"_oxwsgi_input")?.getattr("EMPTY")?;
        Ok(EnvironCtx {
            empty_input: empty_input.unbind(),
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
    /// PATH_INFO for --manage-script-name. `conn`: what the request's
    /// keep-alive connection remembers of its previous request.
    pub fn build<'py>(
        &self,
        py: Python<'py>,
        vars: &Vars,
        body: Body,
        https: bool,
        script_name_len: Option<usize>,
        conn: Option<&mut ConnEnv>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let env = match conn {
            Some(c) if script_name_len.is_none() => self.build_cached(py, vars, https, c)?,
            _ => self.build_fresh(py, vars, https, script_name_len, None)?.0,
        };
        let input = match body {
            Body::Empty => self.empty_input.bind(py).clone(),
            Body::Memory(b) => self.bytes_io.bind(py).call1((pyo3::types::PyBytes::new(py, &b),))?,
            Body::File(f) => self.io_open.bind(py).call1((f.into_raw_fd(), "rb"))?,
        };
        env.set_item(self.k_input.bind(py), input)?;
        Ok(env)
    }

    /// The template plus every variable (and wsgi.url_scheme); also says
    /// whether the scheme is https. With `record`, each variable's name
    /// and str are kept there as they are set (see ConnEnv).
    fn build_fresh<'py>(
        &self,
        py: Python<'py>,
        vars: &Vars,
        https: bool,
        script_name_len: Option<usize>,
        mut record: Option<&mut Vec<Entry>>,
    ) -> PyResult<(Bound<'py, PyDict>, bool)> {
        let env = self.template.bind(py).copy()?;
        let mut scheme_https = https;
        // One lock per request; Python threads hold the GIL here anyway.
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        for (k, v) in vars.iter() {
            if k == b"PATH_INFO" {
                if let Some(n) = script_name_len {
                    // n was measured on the first PATH_INFO; a packet may
                    // repeat the variable with a shorter value.
                    let n = n.min(v.len());
                    env.set_item(self.k_script_name.bind(py), latin1(py, &v[..n]))?;
                    env.set_item(self.k_path_info.bind(py), latin1(py, &v[n..]))?;
                    continue;
                }
            } else if k == b"SCRIPT_NAME" && script_name_len.is_some() {
                continue;
            }
            scheme_https |= says_https(k, v);
            let (key, val) = (self.key(py, &mut keys, k), latin1(py, v));
            set(&env, &key, &val)?;
            if let Some(r) = record.as_deref_mut() {
                r.push(Entry::new(k, v, key.unbind(), val.cast_into::<PyString>()?.unbind()));
            }
        }
        drop(keys);
        self.set_scheme(py, &env, scheme_https)?;
        Ok((env, scheme_https))
    }

    fn set_scheme(&self, py: Python<'_>, env: &Bound<'_, PyDict>, https: bool) -> PyResult<()> {
        let scheme = if https { &self.scheme_https } else { &self.scheme_http };
        set(env, self.k_scheme.bind(py), scheme.bind(py))
    }

    /// A request on a keep-alive connection: when its variables have the
    /// names of the previous request's, in the same order (same client,
    /// same headers), the previous environ is copied and only the values
    /// that changed are set; otherwise it is built afresh and remembered.
    fn build_cached<'py>(&self, py: Python<'py>, vars: &Vars, https: bool, c: &mut ConnEnv) -> PyResult<Bound<'py, PyDict>> {
        if let Some(base) = &c.base
            && c.entries.len() == vars.len()
            && c.entries.iter().zip(vars.iter()).all(|(e, (k, _))| e.key_bytes() == k)
        {
            let env = base.bind(py).copy()?;
            let mut changed = false;
            let mut scheme_may_change = false;
            for (e, (k, v)) in c.entries.iter_mut().zip(vars.iter()) {
                if e.val_bytes() == v {
                    continue;
                }
                let s = latin1(py, v);
                set(&env, e.key.bind(py), &s)?;
                e.set_val(v, s.cast_into::<PyString>()?.unbind());
                changed = true;
                scheme_may_change |= matches!(k, b"HTTPS" | b"UWSGI_SCHEME");
            }
            if scheme_may_change && is_https(vars, https) != c.https {
                c.https = !c.https;
                self.set_scheme(py, &env, c.https)?;
            }
            if changed {
                c.base = Some(env.copy()?.unbind());
            }
            return Ok(env);
        }
        c.base = None;
        c.entries.clear();
        let (env, scheme_https) = self.build_fresh(py, vars, https, None, Some(&mut c.entries))?;
        if has_duplicate_names(vars) {
            // A later duplicate overrides an earlier one in the dict, which
            // a per-position update could not honour: no reuse.
            c.entries.clear();
            return Ok(env);
        }
        c.https = scheme_https;
        c.base = Some(env.copy()?.unbind());
        Ok(env)
    }
}

/// Whether a variable marks the request as https (HTTPS=on from nginx's
/// uwsgi_params, UWSGI_SCHEME=https).
fn says_https(k: &[u8], v: &[u8]) -> bool {
    match k {
        b"HTTPS" => v.eq_ignore_ascii_case(b"on") || v == b"1",
        b"UWSGI_SCHEME" => v.eq_ignore_ascii_case(b"https"),
        _ => false,
    }
}

fn is_https(vars: &Vars, https: bool) -> bool {
    https || vars.iter().any(|(k, v)| says_https(k, v))
}

fn has_duplicate_names(vars: &Vars) -> bool {
    let mut names: Vec<&[u8]> = vars.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    names.windows(2).any(|w| w[0] == w[1])
}

/// What a keep-alive connection remembers of its previous request's
/// environ: the dict as built, before the app could change it, and the
/// variables it was built from with their Python strs. Header values that
/// repeat on a connection (Host, User-Agent, cookies) then cost neither a
/// str nor a dict insertion.
#[derive(Default)]
pub struct ConnEnv {
    base: Option<Py<PyDict>>,
    entries: Vec<Entry>,
    /// The base's wsgi.url_scheme is https.
    https: bool,
}

struct Entry {
    key: Py<PyString>,
    /// The name's bytes, then the value's.
    bytes: Vec<u8>,
    key_len: usize,
    val: Py<PyString>,
}

impl Entry {
    fn new(k: &[u8], v: &[u8], key: Py<PyString>, val: Py<PyString>) -> Entry {
        let mut bytes = Vec::with_capacity(k.len() + v.len());
        bytes.extend_from_slice(k);
        bytes.extend_from_slice(v);
        Entry { key, bytes, key_len: k.len(), val }
    }

    fn key_bytes(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    fn val_bytes(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }

    fn set_val(&mut self, v: &[u8], s: Py<PyString>) {
        self.bytes.truncate(self.key_len);
        self.bytes.extend_from_slice(v);
        self.val = s;
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
