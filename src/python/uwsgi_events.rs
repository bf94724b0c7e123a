//! The parts of the `uwsgi` module that reach across processes: uWSGI
//! signals (`register_signal`, `signal`, `signal_registered`, `add_timer`,
//! `add_rb_timer`, `add_file_monitor`; the framework is uwsgi_signals/),
//! the shared locks (locks.rs) and the post-fork hook, plus the
//! `uwsgidecorators` module built on them.
//!
//! Handlers are Python callables, kept per process: one registered in the
//! master (while the app loads) is inherited by every worker forked after
//! it; one registered in a worker runs only there, as in uWSGI. The shared
//! table (uwsgi_signals/table.rs) says only where the master sends each.

use crate::uwsgi_signals::{self, Request, Target, table};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule};

fn handlers(py: Python<'_>) -> &Bound<'_, PyDict> {
    static H: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    H.get_or_init(py, || PyDict::new(py).unbind()).bind(py)
}

fn signal_num(n: i64) -> PyResult<u8> {
    u8::try_from(n).map_err(|_| PyValueError::new_err(format!("uWSGI signals are numbered 0 to 255, not {}", n)))
}

fn ask(req: Request) -> PyResult<()> {
    uwsgi_signals::request(req).map_err(PyRuntimeError::new_err)
}

#[pyfunction]
fn register_signal(py: Python<'_>, num: i64, target: &str, handler: Bound<'_, PyAny>) -> PyResult<()> {
    let n = signal_num(num)?;
    if !handler.is_callable() {
        return Err(PyTypeError::new_err(format!("the handler of uWSGI signal {} must be callable", n)));
    }
    let t = Target::parse(target).map_err(PyValueError::new_err)?;
    if !uwsgi_signals::available() {
        return Err(PyRuntimeError::new_err("uWSGI signals need a master process: add --master (as uWSGI requires)"));
    }
    handlers(py).set_item(n, handler)?;
    table::register(n, t);
    Ok(())
}

/// Raises signal `num`: the master routes it to its target.
#[pyfunction]
fn signal(num: i64) -> PyResult<()> {
    ask(Request::Raise(signal_num(num)?))
}

/// Whether this process has a handler for `num`. Per process, as uWSGI's
/// per-worker signal table: with --lazy-apps every worker registers its own
/// handlers, and uwsgidecorators' get_free_signal() then picks the same
/// numbers in each, however their imports interleave.
#[pyfunction]
fn signal_registered(py: Python<'_>, num: i64) -> PyResult<bool> {
    handlers(py).contains(signal_num(num)?)
}

#[pyfunction]
fn add_timer(num: i64, seconds: u64) -> PyResult<()> {
    ask(Request::Timer { signal: signal_num(num)?, every: seconds, times: 0 })
}

#[pyfunction]
#[pyo3(signature = (num, seconds, iterations = 0))]
fn add_rb_timer(num: i64, seconds: u64, iterations: u64) -> PyResult<()> {
    ask(Request::Timer { signal: signal_num(num)?, every: seconds, times: iterations })
}

#[pyfunction]
fn add_file_monitor(num: i64, path: String) -> PyResult<()> {
    let abs = std::path::absolute(&path).map_err(|e| PyValueError::new_err(format!("add_file_monitor {}: {}", path, e)))?;
    ask(Request::FileMonitor { signal: signal_num(num)?, path: abs.display().to_string() })
}

#[pyfunction]
#[pyo3(signature = (num = 0))]
fn lock(py: Python<'_>, num: usize) -> PyResult<()> {
    py.detach(|| crate::locks::lock(num)).map_err(PyRuntimeError::new_err)
}

#[pyfunction]
#[pyo3(signature = (num = 0))]
fn unlock(num: usize) -> PyResult<()> {
    crate::locks::unlock(num).map_err(PyRuntimeError::new_err)
}

#[pyfunction]
#[pyo3(signature = (num = 0))]
fn is_locked(num: usize) -> PyResult<bool> {
    crate::locks::is_locked(num).map_err(PyRuntimeError::new_err)
}

/// Runs the handler of signal `num` in this process (a worker's Python
/// thread); an exception is logged, as uWSGI does, and the worker goes on.
pub fn run_handler(py: Python<'_>, num: u8) {
    if let Some(w) = crate::stats::me() {
        w.signals.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let h = handlers(py).get_item(num).ok().flatten();
    let Some(h) = h else {
        crate::logln!(
            "oxwsgi: uWSGI signal {} reached worker {}, which has no handler for it (register it before the fork)",
            num,
            crate::python::uwsgi_module::worker()
        );
        return;
    };
    if let Err(e) = h.call1((num,)) {
        crate::python::log_exception(py, &format!("oxwsgi: the handler of uWSGI signal {} raised:", num), &e);
    }
}

/// Calls `uwsgi.post_fork_hook` (uwsgidecorators' @postfork chain), if the
/// app set one: in every worker once it is forked and its app loaded.
pub fn run_post_fork_hook(py: Python<'_>) {
    let Ok(hook) = py.import("uwsgi").and_then(|m| m.getattr("post_fork_hook")) else { return };
    if hook.is_none() {
        return;
    }
    if let Err(e) = hook.call0() {
        crate::python::log_exception(py, &format!("oxwsgi: uwsgi.post_fork_hook raised in worker {}:", crate::python::uwsgi_module::worker()), &e);
    }
}

/// Lets `import uwsgidecorators` find ours when the app has no copy of its
/// own (a finder at the end of sys.meta_path: the app's file, if any, wins).
const FINDER: &std::ffi::CStr = c"
import importlib.util, sys
class OxwsgiDecoratorsFinder:
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == 'uwsgidecorators':
            return importlib.util.spec_from_loader(name, cls, origin='oxwsgi (built in)')
    @staticmethod
    def create_module(spec):
        return None
    @staticmethod
    def exec_module(module):
        exec(compile(SOURCE, '<oxwsgi uwsgidecorators>', 'exec'), module.__dict__)
sys.meta_path.append(OxwsgiDecoratorsFinder)
";

/// Adds these functions to the `uwsgi` module and makes uwsgidecorators
/// importable.
pub fn install(py: Python<'_>, m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(register_signal, m)?,
        wrap_pyfunction!(signal, m)?,
        wrap_pyfunction!(signal_registered, m)?,
        wrap_pyfunction!(add_timer, m)?,
        wrap_pyfunction!(add_rb_timer, m)?,
        wrap_pyfunction!(add_file_monitor, m)?,
        wrap_pyfunction!(lock, m)?,
        wrap_pyfunction!(unlock, m)?,
        wrap_pyfunction!(is_locked, m)?,
    ] {
        m.add_function(f)?;
    }
    m.add("post_fork_hook", py.None())?;
    let globals = PyDict::new(py);
    globals.set_item("SOURCE", include_str!("../../python/uwsgidecorators.py"))?;
    py.run(FINDER, Some(&globals), None)
}
