//! oxwsgi: a Python WSGI application server, a drop-in for uWSGI.
//! See ARCHITECTURE.md for the map.
pub mod command;
pub mod emperor;
pub mod hooks;
pub mod locks;
pub mod log;
pub mod master;
pub mod net;
pub mod options;
pub mod procname;
pub mod proto;
pub mod python;
pub mod statics;
pub mod stats;
pub mod unix_signals;
pub mod uwsgi_signals;
pub mod worker;
pub mod wsgi;
