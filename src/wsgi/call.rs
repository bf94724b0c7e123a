//! Calling the app for one request, on a Python thread with the GIL held:
//! route, build the environ, call, iterate, close, hand the response back.

use super::apps::route;
use super::environ::EnvironCtx;
use super::file_wrapper::FileWrapper;
use super::responder::{Responder, Serving, Sink, Slot, start_response_fn, type_name};
use super::{Job, RespEvent, ResponseHead};
use crate::python::loader::App;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Everything a Python thread needs to serve requests.
pub struct PyApps {
    pub apps: Vec<App>,
    /// The apps' mount points, in the same order (routing reads them per request).
    mounts: Vec<String>,
    pub manage_script_name: bool,
    pub environ: EnvironCtx,
}

impl PyApps {
    pub fn new(py: Python<'_>, apps: Vec<App>, manage_script_name: bool, multithread: bool, multiprocess: bool, file_wrapper: bool) -> PyResult<Self> {
        let mounts = apps.iter().map(|a| a.mountpoint.clone()).collect();
        Ok(PyApps { apps, mounts, manage_script_name, environ: EnvironCtx::new(py, multithread, multiprocess, file_wrapper)? })
    }
}

fn describe(job_vars: &crate::proto::vars::Vars) -> String {
    let m = job_vars.get(b"REQUEST_METHOD").unwrap_or(b"?");
    let p = job_vars.get(b"REQUEST_URI").or(job_vars.get(b"PATH_INFO")).unwrap_or(b"?");
    format!("{} {}", String::from_utf8_lossy(m), String::from_utf8_lossy(p))
}

/// Logs the app's exception with its traceback; returns the traceback.
fn report(py: Python<'_>, e: &PyErr, what: &str, vars: &crate::proto::vars::Vars) -> Option<String> {
    if let Some(w) = crate::stats::me() {
        w.exceptions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    crate::python::log_exception(py, &format!("oxwsgi: {} ({}), answering 500:", what, describe(vars)), e)
}

/// --catch-exceptions: the traceback goes to the client as well.
static CATCH_EXCEPTIONS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_catch_exceptions(on: bool) {
    CATCH_EXCEPTIONS.store(on, std::sync::atomic::Ordering::Relaxed);
}

fn fail(py: Python<'_>, e: PyErr, what: &str, vars: &crate::proto::vars::Vars, resp: &mut Responder) {
    if e.is_instance_of::<crate::worker::harakiri::HarakiriError>(py) {
        crate::python::log_exception(py, &format!("oxwsgi: HARAKIRI: {} interrupted, answering 504; it was here:", describe(vars)), &e);
        resp.timed_out(py);
        return;
    }
    let logged = report(py, &e, what, vars);
    let shown = CATCH_EXCEPTIONS.load(std::sync::atomic::Ordering::Relaxed).then(|| logged.unwrap_or_else(|| format!("{}\n", e)));
    match shown {
        Some(text) => resp.fail_showing(py, text),
        None => resp.fail(py),
    }
}

/// A response body still being produced: with a `Local` sink the
/// iteration pauses whenever body data is ready, so the I/O code on the
/// same thread can write it, and resumes from here.
pub struct Continuation {
    result: Py<PyAny>,
    iter: Py<pyo3::types::PyIterator>,
    responder: Box<Slot>,
    vars: crate::proto::vars::Vars,
}

/// Calls the app for `job`. Returns a continuation if the body is not
/// finished (only with a `Local` sink; a `Channel` sink runs to the end).
pub fn handle(py: Python<'_>, ctx: &PyApps, job: Job, sink: Sink) -> Option<Continuation> {
    let Job { vars, body, https, conn, logvars } = job;
    crate::python::uwsgi_module::begin_request();
    let Some(r) = route(&ctx.mounts, vars.get(b"SCRIPT_NAME"), vars.get(b"PATH_INFO").unwrap_or(b""), ctx.manage_script_name) else {
        let head = ResponseHead {
            status: b"404 Not Found".to_vec(),
            headers: b"Content-Type: text/plain\r\n".to_vec(),
            header_count: 1,
            content_length: None,
            close: false,
        };
        sink.send_now(RespEvent::Complete(head, b"no application is mounted at this path\n".to_vec()));
        return None;
    };
    let built = {
        let mut memory = conn.as_ref().map(|c| c.lock().unwrap_or_else(|e| e.into_inner()));
        ctx.environ.build(py, &vars, body, https, r.script_name_len, memory.as_deref_mut())
    };
    let environ = match built {
        Ok(e) => e,
        Err(e) => {
            report(py, &e, "cannot build the environ", &vars);
            sink.send_now(RespEvent::Failed);
            return None;
        }
    };
    let responder = Slot::new(sink);
    responder.borrow_mut().logvars = logvars;
    let _serving = Serving::enter(&responder);
    let start_response = match start_response_fn(py) {
        Ok(f) => f,
        Err(e) => {
            fail(py, e, "cannot create start_response", &vars, &mut responder.borrow_mut());
            return None;
        }
    };
    let result = match ctx.apps[r.app].callable.bind(py).call1((environ, start_response)) {
        Ok(r) => r,
        Err(e) => {
            fail(py, e, "exception in the app", &vars, &mut responder.borrow_mut());
            return None;
        }
    };
    // wsgi.file_wrapper over a real file: sendfile, no iteration.
    let iter = match result.cast::<FileWrapper>() {
        Ok(fw) => match try_sendfile(py, &fw.borrow(), &responder) {
            Ok(true) => None,
            Ok(false) => Some(result.try_iter()),
            Err(e) => Some(Err(e)),
        },
        Err(_) => Some(result.try_iter()),
    };
    let iter = match iter {
        None => return finish(py, &result, &responder, &vars, Ok(())),
        Some(Ok(it)) => it,
        Some(Err(e)) => return finish(py, &result, &responder, &vars, Err(e)),
    };
    proceed(py, Continuation { result: result.unbind(), iter: iter.unbind(), responder, vars })
}

/// Produces more of a paused body.
pub fn resume(py: Python<'_>, c: Continuation) -> Option<Continuation> {
    let _serving = Serving::enter(&c.responder);
    proceed(py, c)
}

/// The client is gone before the body was finished: PEP 3333 still wants
/// close() called.
pub fn abandon(py: Python<'_>, c: Continuation) {
    let _serving = Serving::enter(&c.responder);
    if let Err(e) = close(c.result.bind(py)) {
        report(py, &e, "exception in close()", &c.vars);
    }
}

fn proceed(py: Python<'_>, c: Continuation) -> Option<Continuation> {
    let result = c.result.bind(py).clone();
    let mut it = c.iter.bind(py).clone();
    loop {
        let item = match it.next() {
            Some(Ok(item)) => item,
            None => break,
            Some(Err(e)) => return finish(py, &result, &c.responder, &c.vars, Err(e)),
        };
        let b = match item.cast::<PyBytes>() {
            Ok(b) => b,
            Err(_) => {
                let e = PyTypeError::new_err(format!("the app's body iterable yielded {}; WSGI bodies are bytes", type_name(&item)));
                return finish(py, &result, &c.responder, &c.vars, Err(e));
            }
        };
        let mut r = c.responder.borrow_mut();
        if r.push(py, b.as_bytes()).is_err() || r.disconnected {
            break;
        }
        if r.take_handed_over() {
            drop(r);
            return Some(c);
        }
    }
    finish(py, &result, &c.responder, &c.vars, Ok(()))
}

fn close(result: &Bound<'_, PyAny>) -> PyResult<()> {
    // The common body, a list or tuple, has no close(): skip the lookup
    // (a failed attribute lookup costs an exception).
    if result.is_exact_instance_of::<pyo3::types::PyList>() || result.is_exact_instance_of::<pyo3::types::PyTuple>() {
        return Ok(());
    }
    match result.hasattr(pyo3::intern!(result.py(), "close")) {
        Ok(true) => result.call_method0(pyo3::intern!(result.py(), "close")).map(|_| ()),
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The body is done (or failed): close() as PEP 3333 wants in every case,
/// then the end of the response.
fn finish(py: Python<'_>, result: &Bound<'_, PyAny>, responder: &Slot, vars: &crate::proto::vars::Vars, outcome: PyResult<()>) -> Option<Continuation> {
    let closed = close(result);
    let mut resp = responder.borrow_mut();
    if resp.disconnected {
        return None;
    }
    match outcome.and(closed) {
        Ok(()) if resp.has_head() => resp.finish(py),
        Ok(()) => {
            crate::logln!("oxwsgi: the app returned without calling start_response ({}), answering 500", describe(vars));
            resp.fail(py);
        }
        Err(e) => fail(py, e, "exception while producing the response body", vars, &mut resp),
    }
    None
}

/// Sends a wsgi.file_wrapper over a regular file with sendfile. Returns
/// false when the object is not a real file (it is iterated instead).
fn try_sendfile(py: Python<'_>, fw: &FileWrapper, responder: &Slot) -> PyResult<bool> {
    let f = fw.filelike.bind(py);
    let Ok(fd) = f.call_method0("fileno").and_then(|n| n.extract::<i32>()) else {
        return Ok(false);
    };
    // SAFETY: the file object stays alive (and open) while we dup its fd.
    let bfd = unsafe { BorrowedFd::borrow_raw(fd) };
    let Ok(st) = nix::sys::stat::fstat(bfd) else { return Ok(false) };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(false);
    }
    let offset: u64 = f.call_method0("tell").and_then(|t| t.extract::<u64>()).unwrap_or_default();
    let mut len = (st.st_size as u64).saturating_sub(offset);
    let file = std::fs::File::from(bfd.try_clone_to_owned().map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?);
    let _ = file.as_raw_fd();
    let mut r = responder.borrow_mut();
    let Some(head) = r.head_mut() else {
        return Err(pyo3::exceptions::PyAssertionError::new_err("wsgi.file_wrapper returned before start_response"));
    };
    match head.content_length {
        Some(cl) => len = len.min(cl),
        None => {
            head.headers.extend_from_slice(format!("Content-Length: {}\r\n", len).as_bytes());
            head.header_count += 1;
            head.content_length = Some(len);
        }
    }
    r.send_file(py, file, offset, len);
    Ok(true)
}
