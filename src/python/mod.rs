//! The embedded CPython: starting it the way a venv expects (interp.rs),
//! loading the WSGI apps (loader.rs) and forking safely (fork.rs).

pub mod fork;
pub mod interp;
pub mod loader;
