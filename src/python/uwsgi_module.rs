//! The `uwsgi` Python module, for apps written against uWSGI: the calls
//! Django, Flask and their libraries make, with uWSGI's types (bytes where
//! uWSGI gives bytes). Signals, locks and the post-fork hook are in
//! uwsgi_events.rs. Anything else raises an AttributeError that says
//! oxwsgi does not provide it, rather than pretending.

use crate::options::Config;
use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyModule, PyTuple};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// The uWSGI version apps and tools see (the API level oxwsgi follows).
pub const UWSGI_VERSION: &str = "2.0.0";

static WORKER_ID: AtomicUsize = AtomicUsize::new(0);
static MASTER_PID: AtomicU64 = AtomicU64::new(0);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// What uwsgi.workers() says of the apps: mount point, load time.
struct AppInfo {
    mountpoint: String,
    startup_time: u64,
}

static APPS: Mutex<Vec<AppInfo>> = Mutex::new(Vec::new());
static CHDIR: Mutex<String> = Mutex::new(String::new());
/// Each worker's request count at the previous uwsgi.workers() call here.
static PREVIOUS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

thread_local! {
    static REQUEST_ID: Cell<u64> = const { Cell::new(0) };
}

/// Called in each worker after the fork.
pub fn set_worker(id: usize) {
    WORKER_ID.store(id, Ordering::Relaxed);
}

/// This process's worker id (0 in the master).
pub fn worker() -> usize {
    WORKER_ID.load(Ordering::Relaxed)
}

/// An app was loaded at `mountpoint`, taking `startup_time` seconds.
pub fn app_loaded(mountpoint: &str, startup_time: u64) {
    APPS.lock().unwrap_or_else(|e| e.into_inner()).push(AppInfo { mountpoint: mountpoint.to_string(), startup_time });
}

/// Called before each app call: the id uwsgi.request_id() returns.
pub fn begin_request() {
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed) + 1;
    REQUEST_ID.with(|c| c.set(n));
    LOGVARS.with(|l| l.borrow_mut().clear());
}

#[pyfunction]
fn worker_id() -> usize {
    worker()
}

/// The master's PID (ours without a master).
pub fn master_pid() -> u64 {
    MASTER_PID.load(Ordering::Relaxed)
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

thread_local! {
    /// The log variables of the request this Python thread runs
    /// (%(name) in --log-format).
    static LOGVARS: std::cell::RefCell<Vec<(String, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[pyfunction]
fn set_logvar(key: &str, value: &str) {
    LOGVARS.with(|l| {
        let mut l = l.borrow_mut();
        match l.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_string(),
            None => l.push((key.to_string(), value.to_string())),
        }
    });
}

#[pyfunction]
fn get_logvar(key: &str) -> Option<String> {
    LOGVARS.with(|l| l.borrow().iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
}

/// The log variables the current request set (and forgets them).
pub fn take_logvars() -> Vec<(String, String)> {
    LOGVARS.with(|l| std::mem::take(&mut *l.borrow_mut()))
}

/// This process's (rss, vsz) in bytes.
#[pyfunction]
fn mem() -> (u64, u64) {
    crate::stats::own_memory()
}

/// Requests served so far by all the workers of this instance.
#[pyfunction]
fn total_requests() -> u64 {
    let Some(b) = crate::stats::board() else { return 0 };
    (0..b.active()).map(|i| b.worker(i).requests.load(Ordering::Relaxed)).sum()
}

/// Sets the process title (`ps`) and name (`ps -e`, top, pgrep).
#[pyfunction]
fn setprocname(name: &str) {
    crate::procname::set(name);
}

/// One dict per worker, with the keys (and types) uWSGI's has.
#[pyfunction]
fn workers(py: Python<'_>) -> PyResult<Bound<'_, PyTuple>> {
    use crate::stats::render::{status, worker_memory};
    let Some(b) = crate::stats::board() else { return PyTuple::new(py, Vec::<Bound<'_, PyDict>>::new()) };
    let apps = APPS.lock().unwrap_or_else(|e| e.into_inner());
    let chdir = CHDIR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut previous = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
    previous.resize(b.capacity, 0);
    let mut out = Vec::new();
    for i in 0..b.active() {
        let w = b.worker(i);
        let requests = w.since_spawn(0);
        let delta = requests.saturating_sub(previous[i].min(requests));
        previous[i] = requests;
        let (rss, vsz) = worker_memory(w);
        let rt = w.since_spawn(2);
        let d = PyDict::new(py);
        d.set_item("id", i + 1)?;
        d.set_item("pid", w.pid.load(Ordering::Relaxed))?;
        d.set_item("requests", requests)?;
        d.set_item("delta_requests", delta)?;
        d.set_item("signals", w.signals.load(Ordering::Relaxed))?;
        d.set_item("exceptions", w.since_spawn(3))?;
        d.set_item("status", PyBytes::new(py, status(w).as_bytes()))?;
        d.set_item("rss", rss)?;
        d.set_item("vsz", vsz)?;
        d.set_item("running_time", rt)?;
        d.set_item("last_spawn", w.last_spawn.load(Ordering::Relaxed))?;
        d.set_item("respawn_count", w.respawn_count.load(Ordering::Relaxed).saturating_sub(1))?;
        d.set_item("tx", w.since_spawn(1))?;
        d.set_item("avg_rt", rt.checked_div(requests).unwrap_or(0))?;
        let mut app_dicts = Vec::new();
        for (id, a) in apps.iter().enumerate() {
            let ad = PyDict::new(py);
            ad.set_item("id", id)?;
            ad.set_item("modifier1", 0)?;
            ad.set_item("mountpoint", PyBytes::new(py, a.mountpoint.as_bytes()))?;
            ad.set_item("startup_time", a.startup_time)?;
            ad.set_item("interpreter", 0)?;
            // Counted per worker, not per app: exact with one app only.
            if apps.len() == 1 {
                ad.set_item("requests", requests)?;
                ad.set_item("exceptions", w.since_spawn(3))?;
            }
            ad.set_item("chdir", PyBytes::new(py, chdir.as_bytes()))?;
            app_dicts.push(ad);
        }
        d.set_item("apps", PyTuple::new(py, app_dicts)?)?;
        out.push(d);
    }
    PyTuple::new(py, out)
}

/// What uwsgi.__getattr__ names when an app asks for something else.
const PROVIDED: &str = "opt, numproc, buffer_size, started_on, hostname, version, worker_id, masterpid, request_id, reload, log, \
                        set_logvar, get_logvar, mem, total_requests, workers, setprocname, post_fork_hook, register_signal, signal, \
                        signal_registered, add_timer, add_rb_timer, add_file_monitor, lock, unlock, is_locked";

#[pyfunction]
fn __getattr__(name: &str) -> PyResult<Py<PyAny>> {
    Err(PyAttributeError::new_err(format!("uwsgi.{} is not provided by oxwsgi (it implements: {})", name, PROVIDED)))
}

/// Options uWSGI implies, shown in uwsgi.opt as uWSGI shows them.
fn implied(cfg: &Config) -> Vec<(String, Option<String>)> {
    let mut v = Vec::new();
    let has = |k: &str| cfg.raw_opts.iter().any(|(n, _)| n == k);
    if cfg.threads > 1 && !has("enable-threads") {
        v.push(("enable-threads".to_string(), None));
    }
    v
}

/// Creates the module and puts it in sys.modules, with uwsgi.opt (the
/// options as given: str keys, bytes values, True for flags, a list for
/// repeated options, as uWSGI's).
pub fn install(py: Python<'_>, cfg: &Config, master_pid: u32) -> PyResult<()> {
    MASTER_PID.store(master_pid as u64, Ordering::Relaxed);
    *CHDIR.lock().unwrap_or_else(|e| e.into_inner()) =
        cfg.chdir.as_ref().map(|p| p.display().to_string()).or_else(|| std::env::current_dir().ok().map(|p| p.display().to_string())).unwrap_or_default();
    let m = PyModule::new(py, "uwsgi")?;
    let opt = PyDict::new(py);
    for (k, v) in cfg.raw_opts.iter().chain(implied(cfg).iter()) {
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
    m.add("numproc", cfg.processes)?;
    m.add("buffer_size", cfg.buffer_size)?;
    m.add("started_on", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))?;
    let host = nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default();
    m.add("hostname", PyBytes::new(py, host.as_bytes()))?;
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
        wrap_pyfunction!(mem, &m)?,
        wrap_pyfunction!(total_requests, &m)?,
        wrap_pyfunction!(setprocname, &m)?,
        wrap_pyfunction!(workers, &m)?,
        wrap_pyfunction!(__getattr__, &m)?,
    ] {
        m.add_function(f)?;
    }
    super::uwsgi_events::install(py, &m)?;
    py.import("sys")?.getattr("modules")?.set_item("uwsgi", m)?;
    Ok(())
}
