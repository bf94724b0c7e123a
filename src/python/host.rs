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

/// Arguments that come before ours when OUR_BINARY is a python
/// (`python -m oxwsgi`, when installed as a wheel).
static OUR_PREFIX: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

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

/// The command reloads, app checks and vassals run, before their own
/// arguments: --binary-path, or ours (a python with `-m oxwsgi` when
/// installed as a wheel).
pub fn command_for(cfg: &Config) -> std::io::Result<std::process::Command> {
    let mut cmd = std::process::Command::new(binary_for(cfg)?);
    if cfg.binary_path.is_none() {
        cmd.args(command_prefix());
    }
    Ok(cmd)
}

/// What comes between our binary and our arguments (see OUR_PREFIX).
pub fn command_prefix() -> &'static [String] {
    OUR_PREFIX.get().map_or(&[], Vec::as_slice)
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

/// The extension's entry point when the binary execs python3 (BOOT):
/// runs the command line as the binary would, then exits the process (the
/// interpreter is never finalized, as with the linked one).
#[pyfunction]
fn main(py: Python<'_>, binary: PathBuf, args: Vec<String>) -> PyResult<()> {
    let _ = OUR_BINARY.set(binary);
    enter(py)?;
    let code = py.detach(|| crate::command::run(&args, false));
    std::process::exit(code)
}

/// The entry point of the installed wheel (`oxwsgi` in a venv's bin/, or
/// `python -m oxwsgi`): the same, with this python as the interpreter.
/// Reloads and vassals run `python -m oxwsgi` again.
#[pyfunction]
fn run(py: Python<'_>, python: PathBuf, args: Vec<String>) -> PyResult<()> {
    let _ = OUR_BINARY.set(python.clone());
    let _ = OUR_PREFIX.set(vec!["-m".into(), "oxwsgi".into()]);
    enter(py)?;
    if let Err(e) = installed_hand_over(py, &python, &args) {
        crate::logln!("{}", e);
        std::process::exit(1);
    }
    let code = py.detach(|| crate::command::run(&args, false));
    std::process::exit(code)
}

/// As the linked interpreter is set up (interp.rs): signals are the
/// server's (python3 made SIGINT a KeyboardInterrupt), no `-c` entry on
/// sys.path, and sys.argv is ours.
fn enter(py: Python<'_>) -> PyResult<()> {
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
    Ok(())
}

/// Installed in one venv and given `--home` another (or VIRTUAL_ENV): the
/// app must run in that venv's python, so exec it with our extension, as
/// the binary does (hand_over). It must be the same interpreter: the
/// extension is built for one CPython version.
fn installed_hand_over(py: Python<'_>, python: &Path, args: &[String]) -> Result<(), String> {
    let cfg = match crate::options::parse_args(args) {
        Ok(crate::options::Action::Run(cfg)) if cfg.emperor.is_none() && !cfg.apps.is_empty() => cfg,
        // Errors are reported, and other actions done, by command::run.
        _ => return Ok(()),
    };
    let Some(mut home) = home(&cfg) else { return Ok(()) };
    if let (true, Some(dir)) = (home.is_relative(), &cfg.chdir) {
        home = dir.join(home);
    }
    let sys = py.import("sys").map_err(|e| e.to_string())?;
    let prefix: PathBuf = sys.getattr("prefix").and_then(|p| p.extract()).map_err(|e| e.to_string())?;
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    if canon(&home).is_some_and(|h| Some(h) == canon(&prefix)) {
        return Ok(());
    }
    let theirs = venv_python(&home).filter(|_| home.join("pyvenv.cfg").exists());
    let Some(theirs) = theirs.filter(|t| canon(t).is_some_and(|t| Some(t) == canon(python))) else {
        return Err(format!(
            "oxwsgi: --home {h}: not a venv of the python this oxwsgi is installed for ({p}, in {v}); \
             install oxwsgi into it ({h}/bin/pip install oxwsgi) and run {h}/bin/oxwsgi, or remake it with that python's -m venv",
            h = home.display(),
            p = python.display(),
            v = prefix.display(),
        ));
    };
    let ext: PathBuf = py.import("oxwsgi._oxwsgi").and_then(|m| m.getattr("__file__")).and_then(|f| f.extract()).map_err(|e| e.to_string())?;
    let err = std::process::Command::new(&theirs).arg("-c").arg(BOOT_INSTALLED).arg(&ext).arg(python).args(args).exec();
    Err(format!("oxwsgi: --home {}: cannot run {}: {}", home.display(), theirs.display(), err))
}

/// BOOT for installed_hand_over: loads our extension by its path into
/// another venv's python, and runs as the installed command there (where
/// sys.prefix is then --home, so it goes no further).
const BOOT_INSTALLED: &str = "import sys,importlib.util as u;s=u.spec_from_file_location('oxwsgi._oxwsgi',sys.argv[1]);m=u.module_from_spec(s);s.loader.exec_module(m);m.run(sys.argv[2],sys.argv[3:])";

/// Adds the entry points to the extension module (ext/lib.rs).
pub fn add_entry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)
}
