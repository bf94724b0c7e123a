//! The `uwsgi` Python module, for apps written against uWSGI: the calls
//! Django and Flask projects commonly make. Anything else raises an
//! AttributeError that says oxwsgi does not provide it, rather than
//! pretending.

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The uWSGI version apps and tools see (the API level oxwsgi follows).
pub const UWSGI_VERSION: &str = "2.0.0";

static WORKER_ID: AtomicUsize = AtomicUsize::new(0);
static MASTER_PID: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static REQUEST_ID: Cell<u64> = const { Cell::new(0) };
}

/// Called in each worker after the fork.
pub fn set_worker(id: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

/// Called before each app call: the id uwsgi.request_id() returns.
pub fn begin_request() {
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    REQUEST_ID.with(|c| c.set(n));
}

#[pyfunction]
fn worker_id() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

#[pyfunction]
fn masterpid() -> u64 {
    MASTER_PID.load(Ordering::Relaxed)
}

#[pyfunction]
fn request_id() -> u64 {
    REQUEST_ID.with(|c| c.get())
}

/// Asks the master for a graceful reload, as uwsgi.reload() does.
#[pyfunction]
fn reload() -> bool {
    unsafe { libc::kill(MASTER_PID.load(Ordering::Relaxed) as i32, libc::SIGHUP) == 0 }
}

#[pyfunction]
fn log(msg: &str) {
    crate::log::write_line(msg.to_string());
}

/// Log variables only matter to a custom log format, which oxwsgi does not
/// have yet; they are kept so get_logvar() returns them.
#[pyfunction]
fn set_logvar(py: Python<'_>, key: &str, value: &str) -> PyResult<()> {
    logvars(py)?.bind(py).set_item(key, value)
}

#[pyfunction]
fn get_logvar(py: Python<'_>, key: &str) -> PyResult<Option<Py<PyAny>>> {
    Ok(logvars(py)?.bind(py).get_item(key)?.map(|v| v.unbind()))
}

fn logvars(py: Python<'_>) -> PyResult<Py<PyDict>> {
    static VARS: pyo3::sync::PyOnceLock<Py<PyDict>> = pyo3::sync::PyOnceLock::new();
    Ok(VARS.get_or_init(py, || PyDict::new(py).unbind()).clone_ref(py))
}

#[pyfunction]
fn __getattr__(name: &str) -> PyResult<Py<PyAny>> {
    Err(PyAttributeError::new_err(format!(
        "uwsgi.{} is not provided by oxwsgi (it implements: opt, numproc, version, worker_id, masterpid, request_id, reload, log, set_logvar, get_logvar)",
        name
    )))
}

/// Creates the module and puts it in sys.modules. `opts` are the options
/// as given (name, value), for uwsgi.opt.
pub fn install(py: Python<'_>, opts: &[(String, Option<String>)], processes: usize, master_pid: u32) -> PyResult<()> {
    MASTER_PID.store(master_pid as u64, Ordering::Relaxed);
    let m = PyModule::new(py, "uwsgi")?;
    // uWSGI's uwsgi.opt: str keys, bytes values, True for flags, a list for
    // repeated options.
    let opt = PyDict::new(py);
    for (k, v) in opts {
        let val: Bound<'_, PyAny> = match v {
            Some(v) => PyBytes::new(py, v.as_bytes()).into_any(),
            None => pyo3::types::PyBool::new(py, true).to_owned().into_any(),
        };
        match opt.get_item(k)? {
            Some(prev) if prev.is_instance_of::<PyList>() => prev.cast::<PyList>()?.append(val)?,
            Some(prev) => opt.set_item(k, PyList::new(py, [prev, val])?)?,
            None => opt.set_item(k, val)?,
        }
    }
    m.add("opt", opt)?;
    m.add("numproc", processes)?;
    m.add("version", PyBytes::new(py, UWSGI_VERSION.as_bytes()))?;
    m.add("version_info", (2, 0, 0, 0, "oxwsgi"))?;
    m.add("oxwsgi_version", env!("CARGO_PKG_VERSION"))?;
    for f in [
        wrap_pyfunction!(worker_id, &m)?,
        wrap_pyfunction!(masterpid, &m)?,
        wrap_pyfunction!(request_id, &m)?,
        wrap_pyfunction!(reload, &m)?,
        wrap_pyfunction!(log, &m)?,
        wrap_pyfunction!(set_logvar, &m)?,
        wrap_pyfunction!(get_logvar, &m)?,
        wrap_pyfunction!(__getattr__, &m)?,
    ] {
        m.add_function(f)?;
    }
    py.import("sys")?.getattr("modules")?.set_item("uwsgi", m)?;
    Ok(())
}
