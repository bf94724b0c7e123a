//! oxwsgi: a Python WSGI application server, a drop-in for uWSGI.
pub mod options;
pub mod proto;
