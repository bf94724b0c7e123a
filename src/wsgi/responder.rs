//! start_response and write(): the app's status, headers and body on their
//! way back to the I/O side. Small bodies are gathered and sent as one
//! `Complete` event; past STREAM_THRESHOLD the body streams in pieces and a
//! slow client applies back-pressure to this thread (without the GIL).

use super::{RespEvent, ResponseHead};
use pyo3::exceptions::{PyAssertionError, PyOSError, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Where response events go. `Channel`: to the I/O thread, with
/// back-pressure (this thread waits, without the GIL, while the client
/// reads). `Local`: to a queue the I/O code on this same thread drains; the
/// app's iteration pauses instead of waiting (see call.rs).
#[derive(Clone)]
pub enum Sink {
    Channel(mpsc::Sender<RespEvent>),
    Local(Queue),
}

/// The events of a response produced on the I/O thread itself.
pub type Queue = Arc<Mutex<VecDeque<RespEvent>>>;

impl Sink {
    /// One final event without a Responder (none yet, or it panicked):
    /// never waits; a full or closed channel means the client is gone.
    pub fn send_now(&self, ev: RespEvent) {
        match self {
            Sink::Channel(tx) => {
                let _ = tx.try_send(ev);
            }
            Sink::Local(q) => q.lock().unwrap_or_else(|e| e.into_inner()).push_back(ev),
        }
    }
}

/// Whether a write to a client that went away raises in the app (off with
/// --disable-write-exception: the rest of the body is then dropped).
static WRITE_EXCEPTIONS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub fn set_write_exceptions(on: bool) {
    WRITE_EXCEPTIONS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Body bytes gathered before we start streaming.
const STREAM_THRESHOLD: usize = 256 * 1024;

/// One request's response as the app produces it. Plain Rust, not a
/// Python object: the app reaches it through the process-wide
/// start_response and write() (see CURRENT).
pub struct Responder {
    head: Option<ResponseHead>,
    head_sent: bool,
    buf: Vec<u8>,
    /// Body bytes accepted so far, against the app's Content-Length.
    sent: u64,
    sink: Sink,
    pub disconnected: bool,
    /// Body data went to a Local sink since the last look: time to let the
    /// I/O code write it before producing more.
    handed_over: bool,
    /// Filled with the request's log variables before its last event.
    pub logvars: Option<super::LogVars>,
}

impl Responder {
    pub fn new(sink: Sink) -> Self {
        Responder { head: None, head_sent: false, buf: Vec::new(), sent: 0, sink, disconnected: false, handed_over: false, logvars: None }
    }

    /// Whether the iteration should pause so the I/O code can write.
    pub fn take_handed_over(&mut self) -> bool {
        std::mem::take(&mut self.handed_over)
    }

    pub fn has_head(&self) -> bool {
        self.head.is_some()
    }

    pub fn head_mut(&mut self) -> Option<&mut ResponseHead> {
        self.head.as_mut()
    }

    fn send(&mut self, py: Python<'_>, ev: RespEvent) {
        if self.disconnected {
            return;
        }
        let tx = match &self.sink {
            Sink::Local(q) => {
                self.handed_over |= matches!(ev, RespEvent::Data(_) | RespEvent::File { .. });
                q.lock().unwrap().push_back(ev);
                return;
            }
            Sink::Channel(tx) => tx,
        };
        match tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(ev)) => {
                let tx = tx.clone();
                if py.detach(move || tx.blocking_send(ev)).is_err() {
                    self.disconnected = true;
                }
            }
            Err(TrySendError::Closed(_)) => self.disconnected = true,
        }
    }

    /// Adds body bytes; the app's Content-Length caps what is sent.
    pub fn push(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let Some(head) = &self.head else {
            return Err(PyAssertionError::new_err("the app produced body data before calling start_response"));
        };
        let mut data = data;
        if let Some(cl) = head.content_length {
            let room = cl.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                data = &data[..room as usize];
            }
        }
        self.sent += data.len() as u64;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STREAM_THRESHOLD {
            self.flush(py);
        }
        if self.disconnected && WRITE_EXCEPTIONS.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(PyOSError::new_err("client disconnected"));
        }
        Ok(())
    }

    /// Sends the head (once) and what is buffered.
    pub fn flush(&mut self, py: Python<'_>) {
        if !self.head_sent {
            self.head_sent = true;
            let head = self.head.clone().expect("flush before start_response");
            self.send(py, RespEvent::Head(head));
        }
        if !self.buf.is_empty() {
            let data = std::mem::take(&mut self.buf);
            self.send(py, RespEvent::Data(data));
        }
    }

    pub fn send_file(&mut self, py: Python<'_>, file: std::fs::File, offset: u64, len: u64) {
        self.flush(py);
        self.send(py, RespEvent::File { file, offset, len });
    }

    /// Hands the log variables over before the event that ends the
    /// response (the I/O side writes the log line once it has it).
    fn hand_logvars(&mut self) {
        if let Some(lv) = &self.logvars {
            *lv.lock().unwrap_or_else(|e| e.into_inner()) = crate::python::uwsgi_module::take_logvars();
        }
    }

    /// The app is done: one `Complete` if nothing was sent yet.
    pub fn finish(&mut self, py: Python<'_>) {
        self.hand_logvars();
        if !self.head_sent {
            self.head_sent = true;
            let head = self.head.take().expect("finish before start_response");
            let body = std::mem::take(&mut self.buf);
            self.send(py, RespEvent::Complete(head, body));
        } else {
            self.flush(py);
            self.send(py, RespEvent::End);
        }
    }

    pub fn fail(&mut self, py: Python<'_>) {
        self.hand_logvars();
        self.send(py, RespEvent::Failed);
    }

    /// --catch-exceptions: a 500 whose body is `text` (the traceback), if
    /// nothing was sent yet; else as `fail`.
    pub fn fail_showing(&mut self, py: Python<'_>, text: String) {
        if self.head_sent {
            return self.fail(py);
        }
        self.hand_logvars();
        self.head_sent = true;
        let head = ResponseHead {
            status: b"500 Internal Server Error".to_vec(),
            headers: b"Content-Type: text/plain; charset=utf-8\r\n".to_vec(),
            header_count: 1,
            content_length: None,
            close: false,
        };
        self.send(py, RespEvent::Complete(head, text.into_bytes()));
    }

    pub fn timed_out(&mut self, py: Python<'_>) {
        self.hand_logvars();
        self.send(py, RespEvent::TimedOut);
    }
}

thread_local! {
    /// The Responder of the request this thread runs Python code for. The
    /// app gets one process-wide start_response, whose write() is also
    /// process-wide, and both act on the current request, as uWSGI's do:
    /// a request then costs no Python objects for them, and the call is a
    /// plain vectorcall with no argument tuple.
    static CURRENT: Cell<*const Slot> = const { Cell::new(std::ptr::null()) };
}

/// Where a request's Responder lives (boxed, so its address is stable
/// while it is CURRENT).
pub struct Slot(pub RefCell<Responder>);

impl Slot {
    pub fn new(sink: Sink) -> Box<Slot> {
        Box::new(Slot(RefCell::new(Responder::new(sink))))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        // Never leave CURRENT pointing at freed memory, whatever the order
        // in which a request's objects go.
        if std::ptr::eq(CURRENT.get(), self) {
            CURRENT.set(std::ptr::null());
        }
    }
}

impl std::ops::Deref for Slot {
    type Target = RefCell<Responder>;
    fn deref(&self) -> &RefCell<Responder> {
        &self.0
    }
}

/// Makes a Responder the current one while Python code runs for its
/// request (the app call, its iteration, close()); restores the previous
/// one after, so nesting and unwinding are safe.
pub struct Serving {
    prev: *const Slot,
}

impl Serving {
    pub fn enter(r: &Slot) -> Serving {
        Serving { prev: CURRENT.replace(r as *const Slot) }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        CURRENT.set(self.prev);
    }
}

/// Runs `f` on the current Responder.
fn with_current<T>(f: impl FnOnce(&mut Responder) -> PyResult<T>) -> PyResult<T> {
    let p = CURRENT.get();
    if p.is_null() {
        return Err(PyRuntimeError::new_err("start_response() and write() work only while the thread runs the request they were given to"));
    }
    // SAFETY: a Slot is CURRENT only between Serving::enter and the end of
    // the guard or the Slot's drop, whichever is first (see Slot's Drop).
    let slot = unsafe { &*p };
    let mut me = slot.try_borrow_mut().map_err(|_| {
        PyRuntimeError::new_err("start_response() or write() called while the server was busy with the same response (from a headers iterable?)")
    })?;
    f(&mut me)
}

/// The process-wide start_response (see CURRENT).
pub fn start_response_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || Ok::<_, PyErr>(wrap_pyfunction!(start_response, py)?.into_any().unbind())).map(|f| f.bind(py))
}

fn write_fn(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static F: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    F.get_or_try_init(py, || Ok::<_, PyErr>(wrap_pyfunction!(write, py)?.into_any().unbind())).map(|f| f.bind(py))
}

#[pyfunction]
#[pyo3(signature = (status, headers, exc_info=None))]
fn start_response<'py>(
    py: Python<'py>,
    status: &Bound<'py, PyAny>,
    headers: &Bound<'py, PyAny>,
    exc_info: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let exc_info = exc_info.filter(|e| !e.is_none());
    let (head_sent, has_head) = with_current(|me| Ok((me.head_sent, me.head.is_some())))?;
    match exc_info {
        // PEP 3333: too late to change the status; re-raise the app's error.
        Some(ei) if head_sent => return Err(PyErr::from_value(ei.get_item(1)?)),
        Some(_) => {}
        None if has_head => return Err(PyAssertionError::new_err("start_response called a second time without exc_info")),
        None => {}
    }
    // Validated with no borrow held: a headers iterable may run Python code.
    let head = validate_head(status, headers)?;
    with_current(|me| {
        me.head = Some(head);
        Ok(())
    })?;
    write_fn(py).cloned()
}

/// The write() callable start_response returns (PEP 3333's legacy API).
#[pyfunction]
fn write(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
    let b = data.cast::<PyBytes>().map_err(|_| PyTypeError::new_err(format!("write() takes bytes, not {}", type_name(data))))?;
    with_current(|me| {
        me.push(py, b.as_bytes())?;
        me.flush(py);
        Ok(())
    })
}

pub fn type_name(o: &Bound<'_, PyAny>) -> String {
    o.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

/// RFC 9110 token characters, looked up per byte of every header name.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] =
            c.is_ascii_alphanumeric() || matches!(c, b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~');
        i += 1;
    }
    t
};

fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// The bytes of a str that holds only latin-1 characters, without a copy:
/// CPython stores such a str one byte per character (PEP 393).
fn latin1_bytes<'a>(s: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    let s = s.cast::<PyString>().map_err(|_| PyTypeError::new_err(format!("{} must be str, not {}", what, type_name(s))))?;
    // SAFETY: `s` is a str (checked above) that outlives the slice; a
    // 1-byte kind str's data is `len` bytes, each the code point itself.
    unsafe {
        let p = s.as_ptr();
        if pyo3::ffi::PyUnicode_KIND(p) != pyo3::ffi::PyUnicode_1BYTE_KIND {
            return Err(PyValueError::new_err(format!("{} {:?} is not latin-1", what, s.to_string_lossy())));
        }
        Ok(std::slice::from_raw_parts(pyo3::ffi::PyUnicode_DATA(p) as *const u8, pyo3::ffi::PyUnicode_GET_LENGTH(p) as usize))
    }
}

/// Validates the app's status and headers (PEP 3333 and RFC 9110), so a
/// bad header is the app's 500, never a broken response on the wire.
fn validate_head(status: &Bound<'_, PyAny>, headers: &Bound<'_, PyAny>) -> PyResult<ResponseHead> {
    let st = latin1_bytes(status, "status")?.to_vec();
    let ok =
        st.len() >= 3 && st[..3].iter().all(u8::is_ascii_digit) && (st.len() == 3 || st[3] == b' ') && !st.iter().any(|&c| c < 0x20 && c != b'\t' || c == 0x7f);
    if !ok {
        return Err(PyValueError::new_err(format!("invalid status {:?}: use '200 OK'", String::from_utf8_lossy(&st))));
    }
    let mut out = ResponseHead { status: st, headers: Vec::with_capacity(256), header_count: 0, content_length: None, close: false };
    // The usual headers, a list of 2-tuples, are read in place; anything
    // else iterable of pairs goes through the iterator protocol.
    if let Ok(list) = headers.cast::<PyList>() {
        for item in list.iter() {
            let (name, value) = header_pair(&item)?;
            add_header(&mut out, &name, &value)?;
        }
    } else {
        for item in headers.try_iter()? {
            let item = item?;
            let (name, value) = header_pair(&item)?;
            add_header(&mut out, &name, &value)?;
        }
    }
    Ok(out)
}

fn header_pair<'py>(item: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(t) = item.cast::<PyTuple>()
        && t.len() == 2
    {
        // SAFETY: a tuple of length 2 has items 0 and 1.
        return Ok(unsafe { (t.get_borrowed_item_unchecked(0).to_owned(), t.get_borrowed_item_unchecked(1).to_owned()) });
    }
    item.extract().map_err(|_| PyTypeError::new_err(format!("headers must be (name, value) tuples, not {}", type_name(item))))
}

fn add_header(out: &mut ResponseHead, name: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    let name = latin1_bytes(name, "header name")?;
    let value = latin1_bytes(value, "header value")?;
    if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
        return Err(PyValueError::new_err(format!("invalid header name {:?}", String::from_utf8_lossy(name))));
    }
    if memchr::memchr3(b'\r', b'\n', 0, value).is_some() {
        return Err(PyValueError::new_err(format!("header {} has CR, LF or NUL in its value", String::from_utf8_lossy(name))));
    }
    if name.eq_ignore_ascii_case(b"content-length") {
        let n = std::str::from_utf8(value).ok().and_then(|v| v.trim().parse::<u64>().ok());
        match n {
            Some(n) => out.content_length = Some(n),
            None => return Err(PyValueError::new_err(format!("invalid Content-Length {:?}", String::from_utf8_lossy(value)))),
        }
    } else if name.eq_ignore_ascii_case(b"connection") {
        // Hop-by-hop: the server frames the connection; we honour "close".
        out.close |= value.eq_ignore_ascii_case(b"close");
        return Ok(());
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") || name.eq_ignore_ascii_case(b"keep-alive") {
        return Err(PyValueError::new_err(format!("hop-by-hop header {} is the server's to send (PEP 3333)", String::from_utf8_lossy(name))));
    }
    out.headers.extend_from_slice(name);
    out.headers.extend_from_slice(b": ");
    out.headers.extend_from_slice(value);
    out.headers.extend_from_slice(b"\r\n");
    out.header_count += 1;
    Ok(())
}
