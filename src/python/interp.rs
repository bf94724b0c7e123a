//! Starting the interpreter. `--home` may be a `python3 -m venv` venv (it
//! has a pyvenv.cfg, and CPython's own path logic finds the base install
//! from it when the program name is the venv's python), or a prefix in the
//! old virtualenv style, which only works as PYTHONHOME.

use crate::options::Config;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// The interpreter this binary was linked against (see build.rs).
pub(super) const BUILD_PYTHON: &str = env!("OXWSGI_BUILD_PYTHON");

#[derive(Debug)]
pub struct InitError(pub String);

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(super) fn venv_python(home: &Path) -> Option<PathBuf> {
    ["python3", "python"].iter().map(|n| home.join("bin").join(n)).find(|p| p.exists())
}

/// The --home to use: uWSGI honours an activated virtualenv when no home
/// is given; so do we.
pub(super) fn home(cfg: &Config) -> Option<PathBuf> {
    cfg.home.clone().or_else(|| std::env::var_os("VIRTUAL_ENV").map(PathBuf::from))
}

/// Initialises CPython for `cfg` and returns with the GIL released.
/// Must run before any thread is started (we fork later).
pub fn start(cfg: &Config) -> Result<(), InitError> {
    // Inside python3 (host.rs) the interpreter is up, the venv chosen and
    // the GIL released: only our own set-up below remains.
    if !super::host::hosted() {
        init(cfg)?;
    }
    setup(cfg)
}

fn init(cfg: &Config) -> Result<(), InitError> {
    let home = home(cfg);
    let mut program: Option<PathBuf> = None;
    let mut python_home: Option<PathBuf> = None;
    if let Some(h) = &home {
        if !h.is_dir() {
            return Err(InitError(format!("--home {}: no such directory; point it at a virtualenv (python3 -m venv DIR)", h.display())));
        }
        if h.join("pyvenv.cfg").exists() {
            program = Some(
                venv_python(h)
                    .ok_or_else(|| InitError(format!("--home {}: has pyvenv.cfg but no bin/python3; recreate it with python3 -m venv", h.display())))?,
            );
        } else {
            python_home = Some(h.clone());
        }
    }
    let program = program.unwrap_or_else(|| PathBuf::from(BUILD_PYTHON));
    unsafe {
        let mut config = std::mem::MaybeUninit::<ffi::PyConfig>::uninit();
        ffi::PyConfig_InitPythonConfig(config.as_mut_ptr());
        let config = config.assume_init_mut();
        // Signals belong to the server, not to Python (no KeyboardInterrupt).
        config.install_signal_handlers = 0;
        config.parse_argv = 0;
        let set = |config: *mut ffi::PyConfig, field: *mut *mut libc::wchar_t, v: &Path| -> Result<(), InitError> {
            let c = CString::new(v.as_os_str().as_encoded_bytes()).map_err(|_| InitError("path contains NUL".into()))?;
            let st = ffi::PyConfig_SetBytesString(config, field as *mut _, c.as_ptr());
            if ffi::PyStatus_Exception(st) != 0 {
                return Err(InitError(format!("cannot configure Python with {}", v.display())));
            }
            Ok(())
        };
        let cp: *mut ffi::PyConfig = config;
        set(cp, &raw mut (*cp).program_name as *mut _, &program)?;
        if let Some(h) = &python_home {
            set(cp, &raw mut (*cp).home as *mut _, h)?;
        }
        let argv0 = CString::new("oxwsgi").unwrap();
        let mut argv = [argv0.as_ptr()];
        ffi::PyConfig_SetBytesArgv(config, 1, argv.as_mut_ptr());
        let st = ffi::Py_InitializeFromConfig(config);
        ffi::PyConfig_Clear(config);
        if ffi::PyStatus_Exception(st) != 0 {
            let msg = if st.err_msg.is_null() { "unknown error".to_string() } else { std::ffi::CStr::from_ptr(st.err_msg).to_string_lossy().into_owned() };
            return Err(InitError(format!("cannot start Python ({}){}", msg, home.map(|h| format!("; check --home {}", h.display())).unwrap_or_default())));
        }
        // From here on the GIL is taken with Python::attach where needed.
        ffi::PyEval_SaveThread();
    }
    Ok(())
}

/// sys.path and the uwsgi module, whichever interpreter runs.
fn setup(cfg: &Config) -> Result<(), InitError> {
    pyo3::Python::attach(|py| -> Result<(), InitError> {
        let sys = py.import("sys").map_err(|e| InitError(format!("cannot import sys: {}", e)))?;
        // threading takes the thread that first imports it for the main
        // thread: import it here, on the process's main thread, or the first
        // request thread to import it becomes threading.main_thread().
        py.import("threading").map_err(|e| InitError(format!("cannot import threading: {}", e)))?;
        let path = sys.getattr("path").map_err(|e| InitError(e.to_string()))?;
        // As uWSGI does: the working directory (after --chdir) is importable,
        // so `--module mysite.wsgi` works from the project directory.
        let mut front: Vec<String> = cfg.pythonpath.clone();
        if let Ok(cwd) = std::env::current_dir() {
            front.push(cwd.display().to_string());
        }
        for (i, p) in front.iter().enumerate() {
            path.call_method1("insert", (i, p)).map_err(|e| InitError(e.to_string()))?;
        }
        // --pyargv: sys.argv after the program's name.
        if !cfg.pyargv.is_empty() {
            let argv: Vec<&str> = std::iter::once("oxwsgi").chain(cfg.pyargv.iter().map(String::as_str)).collect();
            sys.setattr("argv", argv).map_err(|e| InitError(e.to_string()))?;
        }
        super::uwsgi_module::install(py, cfg, std::process::id()).map_err(|e| InitError(format!("cannot create the uwsgi module: {}", e)))
    })
}
