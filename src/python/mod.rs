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
