//! Running inside the system's own python3 instead of the interpreter
//! linked into our binary.
//!
//! Why: Debian's /usr/bin/python3 is built with LTO and PGO; the static
//! libpython3.X.a that our binary links is PGO only, and the shared one is
//! also position-independent. The same pure-Python loop runs 8-12% faster
//! in /usr/bin/python3, and a Django request is mostly that loop.
//!
//! How: this crate is also a Python extension (ext/, the cdylib
//! liboxwsgi_ext.so, built next to the binary). When it is there and the interpreter to run
//! is the one we were built against (directly, or through a `python3 -m
//! venv` made from it), the binary execs that python with a one-line
//! program that loads the extension and calls `main` with our arguments:
//! the same code then runs with python3's interpreter, already started.
//! Anything else (no extension beside the binary, an old-style
//! virtualenv, a venv of another Python, OXWSGI_EMBEDDED=1) runs on the
//! linked interpreter as before (interp.rs).

use super::interp::{BUILD_PYTHON, home, venv_python};
use crate::options::Config;
use pyo3::prelude::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// Loads the extension from argv[1] and hands it our binary's path and the
/// arguments. Kept short: it is what `ps` shows after the interpreter.
const BOOT: &str = "import sys,importlib.util as u;s=u.spec_from_file_location('_oxwsgi',sys.argv[1]);m=u.module_from_spec(s);s.loader.exec_module(m);m.main(sys.argv[2],sys.argv[3:])";

/// Where the running binary came from when we run inside python3 (where
/// /proc/self/exe is python3): reloads and vassals execute this.
static OUR_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Our own executable, to run again (reload) or for vassals.
pub fn our_binary() -> std::io::Result<PathBuf> {
    match OUR_BINARY.get() {
        Some(p) => Ok(p.clone()),
        // A package upgrade renames a new binary over ours: the kernel then
        // names the running one "PATH (deleted)", and PATH is the new one.
        None => std::env::current_exe().map(|p| match p.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
            Some(path) => PathBuf::from(path),
            None => p,
        }),
    }
}

/// The binary reloads and vassals execute: --binary-path, or ours.
pub fn binary_for(cfg: &crate::options::Config) -> std::io::Result<PathBuf> {
    match &cfg.binary_path {
        Some(p) => Ok(p.clone()),
        None => our_binary(),
    }
}

/// Whether this process runs inside python3 (as the extension).
pub fn hosted() -> bool {
    OUR_BINARY.get().is_some()
}

/// The python to run `cfg` with, if it can host us: the build interpreter,
/// or a venv's python that is a symlink to it (as `python3 -m venv`
/// makes them; a `--copies` venv runs on the linked interpreter).
fn host_python(cfg: &Config) -> Option<PathBuf> {
    let Some(mut home) = home(cfg) else { return Some(PathBuf::from(BUILD_PYTHON)) };
    // interp.rs looks for --home after --chdir; so must we.
    if let (true, Some(dir)) = (home.is_relative(), &cfg.chdir) {
        home = dir.join(home);
    }
    if !home.join("pyvenv.cfg").exists() {
        return None;
    }
    let py = venv_python(&home)?;
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    same(&py, Path::new(BUILD_PYTHON)).then_some(py)
}

/// Execs python3 to run us inside it, when it can (see the top of this
/// file); returns only if it cannot, and we go on with the linked
/// interpreter. Call before anything else is done: the exec starts over.
pub fn hand_over(cfg: &Config, args: &[String]) {
    // Any value but empty or 0 asks for the linked interpreter.
    if std::env::var_os("OXWSGI_EMBEDDED").is_some_and(|v| !v.is_empty() && v != "0") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let ext = exe.with_file_name("liboxwsgi_ext.so");
    if !ext.exists() {
        return;
    }
    let Some(python) = host_python(cfg) else { return };
    // --env is set before the interpreter starts, as with the linked one:
    // PYTHON* variables given with --env still take effect.
    for (k, v) in &cfg.env {
        // SAFETY: no thread runs yet.
        unsafe { std::env::set_var(k, v) };
    }
    for k in &cfg.unenv {
        // SAFETY: no thread runs yet.
        unsafe { std::env::remove_var(k) };
    }
    let err = std::process::Command::new(&python).arg("-c").arg(BOOT).arg(&ext).arg(&exe).args(args).exec();
    // Not fatal: the linked interpreter still works.
    crate::logln!("oxwsgi: cannot run inside {} ({}); using the linked interpreter", python.display(), err);
}

/// The extension's entry point: runs the command line as the binary would,
/// then exits the process (the interpreter is never finalized, as with
/// the linked one).
#[pyfunction]
fn main(py: Python<'_>, binary: PathBuf, args: Vec<String>) -> PyResult<()> {
    let _ = OUR_BINARY.set(binary);
    // As the linked interpreter is set up (interp.rs): signals are the
    // server's (python3 made SIGINT a KeyboardInterrupt), no `-c` entry on
    // sys.path, and sys.argv is ours.
    let signal = py.import("signal")?;
    signal.call_method1("signal", (libc::SIGINT, signal.getattr("SIG_DFL")?))?;
    let sys = py.import("sys")?;
    let path = sys.getattr("path")?;
    if path.get_item(0)?.extract::<String>().is_ok_and(|p| p.is_empty()) {
        path.del_item(0)?;
    }
    sys.setattr("argv", vec!["oxwsgi"])?;
    // `ps -e`, top and pgrep show oxwsgi, not python3.
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"oxwsgi".as_ptr()) };
    let code = py.detach(|| crate::command::run(&args, false));
    std::process::exit(code)
}

/// Adds `main` to the extension module (ext/lib.rs).
pub fn add_entry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)
}
