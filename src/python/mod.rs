//! The embedded CPython: starting it the way a venv expects (interp.rs),
//! or running inside the system's python3 instead (host.rs),
//! loading the WSGI apps (loader.rs), forking safely (fork.rs), and the
//! `uwsgi` module apps import (uwsgi_module.rs).

pub mod autoreload;
pub mod fork;
pub mod host;
pub mod interp;
pub mod loader;
pub mod uwsgi_events;
pub mod uwsgi_module;

use pyo3::prelude::*;

/// The traceback of `e` as Python prints it.
pub fn traceback_text(py: Python<'_>, e: &PyErr) -> PyResult<String> {
    let lines: Vec<String> = py.import("traceback")?.call_method1("format_exception", (e.get_type(py), e.value(py), e.traceback(py)))?.extract()?;
    Ok(lines.concat())
}

/// Logs `headline` and the traceback of `e` as one record (one write, or
/// one message to a log master): Python prints a traceback a line at a
/// time, and the lines of two processes' tracebacks would interleave.
/// Returns the traceback (for --catch-exceptions), if it could be formatted.
pub fn log_exception(py: Python<'_>, headline: &str, e: &PyErr) -> Option<String> {
    match traceback_text(py, e) {
        Ok(text) => {
            crate::log::write_line(format!("{}\n{}", headline, text.trim_end_matches('\n')));
            Some(text)
        }
        Err(_) => {
            crate::log::write_line(headline.to_string());
            e.print(py);
            None
        }
    }
}
