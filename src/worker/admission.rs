//! Admission: a worker takes a connection only when it can start on it.
//!
//! Every request inside the app holds a `Ticket`, and so does a connection
//! just accepted whose request is on its way. The accept loops take a new
//! connection only while fewer tickets are out than the worker has Python
//! threads, so a worker whose threads are all busy leaves new connections
//! in the listen queue for a worker with a free one, as uWSGI's blocking
//! accept does; and a worker that wakes with several connections waiting
//! takes only as many as it can serve.
//!
//! A fresh connection keeps its ticket until its request head is in, or
//! for a hold of at most `HOLD`: a client that connects and then dawdles
//! must not stop the worker taking others. The hold adapts: each one that
//! runs out halves the next, each one met lets it grow back, so a flood of
//! idle or trickling connections is taken at full speed (a thousand of
//! them cost a fraction of a second, not a thousand holds) while clients
//! that send their request at once keep the whole hold. A keep-alive connection's later
//! requests take a ticket when their head is in, even past the capacity
//! (the request then waits for a thread of this worker; balance.rs keeps
//! that rare), so the count stays honest and no new connection is taken
//! meanwhile.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

/// The longest a connection just accepted may keep its ticket while its
/// request head has not arrived. Clients send their request right after
/// connecting (nginx in the same write as its packet header), so this is
/// only reached by slow or idle clients, which then wait like any other
/// connection without holding the worker back.
pub const HOLD: Duration = Duration::from_millis(100);

/// The shortest hold (HOLD >> MAX_SHIFT, about 25 us).
const MAX_SHIFT: u32 = 12;

pub struct Admission {
    capacity: usize,
    taken: Cell<usize>,
    /// The hold is HOLD >> shift.
    shift: Cell<u32>,
    /// Accept loops waiting for room (one per listening socket at most).
    waiting: RefCell<Vec<Waker>>,
    /// Called when the last ticket is taken (accept.rs stops being a
    /// candidate for new connections).
    full: RefCell<Option<Box<dyn Fn()>>>,
}

impl Admission {
    pub fn new(capacity: usize) -> Rc<Admission> {
        Rc::new(Admission { capacity: capacity.max(1), taken: Cell::new(0), shift: Cell::new(0), waiting: RefCell::new(Vec::new()), full: RefCell::new(None) })
    }

    pub fn has_room(&self) -> bool {
        self.taken.get() < self.capacity
    }

    /// Waits until a ticket can be taken without going past the capacity.
    pub async fn room(&self) {
        std::future::poll_fn(|cx| {
            if self.has_room() {
                return Poll::Ready(());
            }
            let mut w = self.waiting.borrow_mut();
            if !w.iter().any(|x| x.will_wake(cx.waker())) {
                w.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// A ticket, whether or not there is room (see the top of this file).
    pub fn take(self: &Rc<Self>) -> Ticket {
        let n = self.taken.get() + 1;
        self.taken.set(n);
        if n == self.capacity
            && let Some(f) = &*self.full.borrow()
        {
            f();
        }
        Ticket(Some(self.clone()))
    }

    /// Sets what to do when the worker becomes full.
    pub fn on_full(&self, f: Box<dyn Fn()>) {
        *self.full.borrow_mut() = Some(f);
    }

    fn give_back(&self) {
        let before = self.taken.get();
        self.taken.set(before - 1);
        // Only the step from full to not full can unblock an accept loop.
        if before == self.capacity {
            for w in self.waiting.borrow_mut().drain(..) {
                w.wake();
            }
        }
    }

    /// How long a fresh connection may keep its ticket now.
    pub fn hold(&self) -> Duration {
        HOLD / (1 << self.shift.get())
    }

    /// A hold ran out before the request head came: shorter holds next.
    pub fn hold_expired(&self) {
        self.shift.set((self.shift.get() + 1).min(MAX_SHIFT));
    }

    /// A request head came within its hold.
    pub fn hold_met(&self) {
        self.shift.set(self.shift.get().saturating_sub(1));
    }

    /// Tickets out now (for tests and the stats).
    pub fn taken(&self) -> usize {
        self.taken.get()
    }
}

/// A claim on one of the worker's Python threads; given back when dropped.
#[derive(Default)]
pub struct Ticket(Option<Rc<Admission>>);

impl Ticket {
    pub fn held(&self) -> bool {
        self.0.is_some()
    }

    pub fn release(&mut self) {
        if let Some(a) = self.0.take() {
            a.give_back();
        }
    }

    /// Takes a ticket unless one is held already.
    pub fn ensure(&mut self, adm: &Rc<Admission>) {
        if self.0.is_none() {
            *self = adm.take();
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_room(a: &Admission, waker: &Waker) -> bool {
        let mut f = std::pin::pin!(a.room());
        f.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_ready()
    }

    #[test]
    fn tickets_up_to_capacity_then_wait() {
        let a = Admission::new(2);
        let woken = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(woken.clone());
        let t1 = a.take();
        assert!(poll_room(&a, &waker));
        let mut t2 = a.take();
        assert!(!a.has_room());
        assert!(!poll_room(&a, &waker));
        // Past the capacity (a keep-alive request): still counted.
        let t3 = a.take();
        assert_eq!(a.taken(), 3);
        drop(t3);
        assert_eq!(woken.0.load(Ordering::Relaxed), 0, "still full: no wake-up");
        t2.release();
        assert!(!t2.held());
        assert_eq!(woken.0.load(Ordering::Relaxed), 1);
        assert!(a.has_room());
        t2.release();
        assert_eq!(a.taken(), 1, "releasing twice gives back once");
        let mut t4 = Ticket::default();
        t4.ensure(&a);
        t4.ensure(&a);
        assert_eq!(a.taken(), 2);
        drop((t1, t4));
        assert_eq!(a.taken(), 0);
    }

    #[test]
    fn holds_shrink_under_a_flood_and_grow_back() {
        let a = Admission::new(1);
        assert_eq!(a.hold(), HOLD);
        for _ in 0..100 {
            a.hold_expired();
        }
        assert!(a.hold() < Duration::from_micros(30), "{:?}", a.hold());
        // A thousand idle connections now cost about 25 ms in all.
        assert!(a.hold() * 1000 < Duration::from_millis(30));
        a.hold_met();
        assert_eq!(a.hold(), HOLD / (1 << (MAX_SHIFT - 1)));
        for _ in 0..MAX_SHIFT {
            a.hold_met();
        }
        assert_eq!(a.hold(), HOLD);
    }
}
