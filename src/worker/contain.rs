//! A panic while serving one connection costs that connection only: the
//! connection's future is polled inside catch_unwind, and a panic ends it
//! (its socket closes) with a log line naming the peer and the request it
//! was serving, while the worker's other connections and its accept loop
//! go on. Parsing answers bad input with errors, never panics (the fuzz
//! targets hold it to that); this is the net under any bug that remains.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

// catch_unwind catches nothing when panics abort.
#[cfg(panic = "abort")]
compile_error!("oxwsgi confines a panic to the connection that caused it (worker/contain.rs): build with panic = \"unwind\"");

/// The last request line a connection read, for the log if serving it
/// panics. One per connection; written once per request (no allocation
/// once its buffer has grown to the longest line).
#[derive(Default)]
pub struct Trace(RefCell<Vec<u8>>);

impl Trace {
    pub fn note(&self, peer: &[u8], method: &[u8], uri: &[u8]) {
        let mut line = self.0.borrow_mut();
        line.clear();
        line.extend_from_slice(peer);
        line.extend_from_slice(b": ");
        line.extend_from_slice(method);
        line.push(b' ');
        // Enough to know the request; a 64 KiB target is not logged whole.
        line.extend_from_slice(&uri[..uri.len().min(512)]);
    }

    fn line(&self) -> String {
        match self.0.try_borrow() {
            Ok(l) if !l.is_empty() => String::from_utf8_lossy(&l).into_owned(),
            _ => "none read yet".into(),
        }
    }
}

/// `fut`, with a panic inside it turned into its end.
pub struct Contained<F> {
    fut: Pin<Box<F>>,
    trace: Rc<Trace>,
    /// The worker's id and pid, for the log line.
    who: (usize, u32),
}

impl<F: Future<Output = ()>> Contained<F> {
    pub fn new(fut: F, trace: Rc<Trace>, who: (usize, u32)) -> Self {
        Contained { fut: Box::pin(fut), trace, who }
    }
}

impl<F: Future<Output = ()>> Future for Contained<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let fut = self.fut.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(p) => p,
            Err(payload) => {
                let msg = payload.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| payload.downcast_ref::<String>().cloned()).unwrap_or_default();
                crate::logln!(
                    "oxwsgi: worker {} (pid {}): a panic while serving a connection (request: {}): {}; that connection is closed, the worker goes on",
                    self.who.0,
                    self.who.1,
                    self.trace.line(),
                    msg
                );
                Poll::Ready(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_now<F: Future<Output = ()>>(f: F) -> Poll<()> {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        f.as_mut().poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_panic_ends_the_connection_and_names_its_request() {
        let trace = Rc::new(Trace::default());
        assert_eq!(trace.line(), "none read yet");
        trace.note(b"127.0.0.1", b"GET", b"/boom?x=1");
        assert_eq!(trace.line(), "127.0.0.1: GET /boom?x=1");
        let t = trace.clone();
        let dropped = Rc::new(std::cell::Cell::new(false));
        struct Flag(Rc<std::cell::Cell<bool>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let flag = Flag(dropped.clone());
        let c = Contained::new(
            async move {
                let _held = flag;
                t.note(b"::1", b"POST", b"/x");
                panic!("a bug");
            },
            trace.clone(),
            (1, 1),
        );
        assert_eq!(poll_now(c), Poll::Ready(()));
        // What the connection held (its socket, its guard) is released.
        assert!(dropped.get());
        assert_eq!(trace.line(), "::1: POST /x");
        let long = vec![b'a'; 2000];
        trace.note(b"", b"GET", &long);
        assert_eq!(trace.line().len(), 2 + 4 + 512);
    }
}
