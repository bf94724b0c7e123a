//! Loading the WSGI apps named by --wsgi-file, --module and --mount.
//! The loading itself is a few lines of Python (importlib does it best);
//! what is ours is refusing to start when an app does not load.

use crate::options::config::{AppSource, AppSpec};
use pyo3::prelude::*;
use pyo3::types::PyModule;

const LOADER: &std::ffi::CStr = c"
import importlib, importlib.machinery, importlib.util, os, sys

def _get(mod, name, where):
    try:
        app = getattr(mod, name)
    except AttributeError:
        raise AttributeError('%s has no callable named %r; set --callable or module:callable' % (where, name)) from None
    if not callable(app):
        raise TypeError('%s.%s is not callable' % (where, name))
    return app

def load_file(path, name):
    path = os.path.abspath(path)
    modname = 'uwsgi_file_' + ''.join(c if c.isalnum() else '_' for c in path)
    loader = importlib.machinery.SourceFileLoader(modname, path)
    spec = importlib.util.spec_from_loader(modname, loader)
    mod = importlib.util.module_from_spec(spec)
    mod.__file__ = path
    sys.modules[modname] = mod
    loader.exec_module(mod)
    return _get(mod, name, path)

def load_module(modname, name):
    return _get(importlib.import_module(modname), name, modname)

def load_paste(uri):
    try:
        from paste.deploy import loadapp
    except ImportError:
        raise ImportError(\"--paste %s needs PasteDeploy: pip install PasteDeploy in the app's environment\" % uri) from None
    return loadapp(uri)
";

/// A loaded app and where it is mounted ("" for the default app).
pub struct App {
    pub mountpoint: String,
    pub callable: Py<PyAny>,
}

/// Imports the --import modules, then loads every app, or returns a
/// message naming what failed (the Python traceback has been printed to
/// stderr by then).
pub fn load_apps(py: Python<'_>, specs: &[AppSpec], imports: &[String]) -> Result<Vec<App>, String> {
    for m in imports {
        if let Err(e) = py.import(m.as_str()) {
            super::log_exception(py, &format!("oxwsgi: importing {} raised:", m), &e);
            return Err(format!("--import {}: the module cannot be imported (the Python traceback is above)", m));
        }
    }
    if specs.is_empty() {
        return Err("no application configured: give --wsgi-file FILE, --module MODULE or --mount /prefix=APP".into());
    }
    let loader = PyModule::from_code(py, LOADER, c"<oxwsgi loader>", c"_oxwsgi_loader").map_err(|e| e.to_string())?;
    let mut apps = Vec::new();
    for spec in specs {
        let began = std::time::Instant::now();
        let (res, what) = match &spec.source {
            AppSource::File { path, callable } => {
                (loader.getattr("load_file").and_then(|f| f.call1((path.display().to_string(), callable))), format!("--wsgi-file {}", path.display()))
            }
            AppSource::Module { module, callable } => (loader.getattr("load_module").and_then(|f| f.call1((module, callable))), format!("--module {}", module)),
            AppSource::Paste { uri } => (loader.getattr("load_paste").and_then(|f| f.call1((uri,))), format!("--paste {}", uri)),
        };
        match res {
            Ok(app) => {
                let at = if spec.mountpoint.is_empty() { String::new() } else { format!(" at {}", spec.mountpoint) };
                crate::logln!("oxwsgi: WSGI app {} ({}){} ready in process {}", apps.len(), what, at, std::process::id());
                super::uwsgi_module::app_loaded(&spec.mountpoint, began.elapsed().as_secs());
                apps.push(App { mountpoint: spec.mountpoint.clone(), callable: app.unbind() });
            }
            Err(e) => {
                super::log_exception(py, &format!("oxwsgi: loading {} raised:", what), &e);
                return Err(format!("cannot load the application from {} (the Python traceback is above)", what));
            }
        }
    }
    Ok(apps)
}
