//! The WSGI bridge (PEP 3333): what crosses between the I/O side and the
//! Python threads (this file), the environ (environ.rs), start_response and
//! write() (responder.rs), wsgi.file_wrapper (file_wrapper.rs), app
//! selection by mount point (apps.rs), and calling the app (call.rs).
//!
//! The I/O side never touches Python; the Python side never touches a
//! socket. A `Job` goes one way, `RespEvent`s come back.

pub mod apps;
pub mod call;
pub mod environ;
pub mod file_wrapper;
pub mod responder;

use crate::proto::vars::Vars;

/// A request body, read in full before the app is called (so a slow
/// client never holds a Python thread).
pub enum Body {
    Empty,
    Memory(Vec<u8>),
    /// Spooled to an unlinked temp file, positioned at 0.
    File(std::fs::File),
}

/// One request handed to the app (its response goes to a `responder::Sink`).
pub struct Job {
    pub vars: Vars,
    pub body: Body,
    /// The connection is TLS-terminated (wsgi.url_scheme https).
    pub https: bool,
    /// The keep-alive connection's memory of its previous environ.
    pub conn: Option<std::sync::Arc<std::sync::Mutex<environ::ConnEnv>>>,
    /// Where the request's log variables (uwsgi.set_logvar) go, when the
    /// --log-format names any.
    pub logvars: Option<LogVars>,
}

/// A request's log variables, handed from its Python thread to its log line.
pub type LogVars = std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// The status line and headers an app gave, validated and serialised.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    /// "200 OK"
    pub status: Vec<u8>,
    /// "Name: value\r\n" lines.
    pub headers: Vec<u8>,
    pub header_count: usize,
    pub content_length: Option<u64>,
    /// The app asked for `Connection: close`.
    pub close: bool,
}

/// What a Python thread sends back for one request, in order.
pub enum RespEvent {
    /// The whole response at once: the common case, one hand-off.
    Complete(ResponseHead, Vec<u8>),
    Head(ResponseHead),
    Data(Vec<u8>),
    /// Send this file range with sendfile (wsgi.file_wrapper).
    File {
        file: std::fs::File,
        offset: u64,
        len: u64,
    },
    End,
    /// The app failed: a 500 if nothing was sent yet, else the connection
    /// is cut so the client cannot take a truncated body for a whole one.
    Failed,
    /// Interrupted by --harakiri: a 504 if nothing was sent yet.
    TimedOut,
}
