//! Spreading connections over the workers. Every worker accepts on the
//! shared listening socket, so the kernel wakes them all and the fastest
//! wins; with keep-alive that can leave one worker holding every
//! connection of a client pool (wrk, a load balancer) while the others
//! idle. Each worker publishes its open-connection count in a small shared
//! mapping (made by the master before the first fork); a worker with more
//! connections than another accepting worker lets a millisecond pass
//! before it takes a new one, so the less loaded worker gets it first
//! (HTTP listeners only: a uwsgi connection carries one request, there is
//! no pool to spread; see accept.rs). The wait is at most one millisecond
//! per connection, and ends when one of the worker's own connections
//! closes, so a worker never idles while connections queue; a worker that is busy
//! inside the app and cannot accept never holds connections back. A worker
//! already holding two more keep-alive connections than another closes
//! one after its response (`overloaded`), so a pool that connected before
//! every worker was up still spreads out.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};

#[repr(C)]
struct Slot {
    connections: AtomicU32,
    accepting: AtomicU32,
}

struct Table {
    /// One past the highest worker slot ever used: the scans below stop
    /// there instead of walking the room left for SIGTTIN.
    used: &'static AtomicU32,
    slots: &'static [Slot],
}

static TABLE: OnceLock<Table> = OnceLock::new();
static ME: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The master, before forking: room for `capacity` workers.
pub fn create(capacity: usize) -> Result<(), String> {
    // A header slot (its `connections` holds `used`), then the workers'.
    let len = (capacity + 1) * size_of::<Slot>();
    // SAFETY: a fresh zeroed shared mapping; all-zero atomics are valid.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("cannot map the worker load table: {}", std::io::Error::last_os_error()));
    }
    let all = unsafe { std::slice::from_raw_parts(p as *const Slot, capacity + 1) };
    let _ = TABLE.set(Table { used: &all[0].connections, slots: &all[1..] });
    Ok(())
}

/// The master, when worker `id` (1-based) is (re)spawned or has died.
pub fn reset(id: usize) {
    if let Some(s) = TABLE.get().and_then(|t| t.slots.get(id.wrapping_sub(1))) {
        s.connections.store(0, Relaxed);
        s.accepting.store(0, Relaxed);
    }
}

fn mine() -> Option<&'static Slot> {
    TABLE.get()?.slots.get(ME.load(Relaxed))
}

/// In the worker, after the fork.
pub fn set_me(id: usize) {
    ME.store(id.wrapping_sub(1), Relaxed);
    if let Some(t) = TABLE.get() {
        t.used.fetch_max(id.min(t.slots.len()) as u32, Relaxed);
    }
}

pub fn set_accepting(on: bool) {
    if let Some(s) = mine() {
        s.accepting.store(on as u32, Relaxed);
    }
}

pub fn opened() {
    if let Some(s) = mine() {
        s.connections.fetch_add(1, Relaxed);
    }
}

pub fn closed() {
    if let Some(s) = mine() {
        s.connections.fetch_sub(1, Relaxed);
    }
}

/// The fewest connections another accepting worker holds, and ours.
fn loads() -> Option<(u32, u32)> {
    let (t, me) = (TABLE.get()?, mine()?);
    let used = (t.used.load(Relaxed) as usize).min(t.slots.len());
    let least = t.slots[..used].iter().filter(|s| !std::ptr::eq(*s, me) && s.accepting.load(Relaxed) == 1).map(|s| s.connections.load(Relaxed)).min()?;
    Some((me.connections.load(Relaxed), least))
}

/// Whether another accepting worker holds fewer connections than we do.
pub fn should_defer() -> bool {
    loads().is_some_and(|(ours, least)| ours > 0 && least < ours)
}

/// Whether we hold more than our share: at least two connections more
/// than another accepting worker. Connections accepted before the others
/// were up (a pool opened at start) are then closed after their current
/// response, one at a time, and the client's reconnect goes to the less
/// loaded worker.
pub fn overloaded() -> bool {
    loads().is_some_and(|(ours, least)| ours > least + 1)
}
