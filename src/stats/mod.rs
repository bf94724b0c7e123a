//! What --stats, --metrics and --memory-report show: a scoreboard in
//! shared memory that workers count into (board.rs), the views of it
//! (render.rs: uWSGI's JSON, Prometheus text), the sockets that serve them
//! (server.rs) and listen-queue depths from the kernel (queue.rs).
//! Without those options there is no board and the counting below is a
//! single branch per request.

pub mod board;
pub mod queue;
pub mod render;
pub mod server;

pub use board::{Board, Cause, board, me, my_core, set_me, set_timing, timing};

/// Resident and virtual memory of a process (this one with `None`), in
/// bytes, from /proc/PID/statm; zeros if it is gone.
pub fn memory(pid: Option<u64>) -> (u64, u64) {
    let path = pid.map_or_else(|| "/proc/self/statm".to_string(), |p| format!("/proc/{}/statm", p));
    let statm = std::fs::read_to_string(path).unwrap_or_default();
    let mut f = statm.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    let vsz = f.next().unwrap_or(0) * page;
    (f.next().unwrap_or(0) * page, vsz)
}

/// This process's resident and virtual memory, in bytes.
pub fn own_memory() -> (u64, u64) {
    memory(None)
}

/// A worker's planned exit, so the master can count the respawn's cause.
pub fn retiring(cause: Cause) {
    if let Some(w) = me() {
        w.retire.store(cause as u64, std::sync::atomic::Ordering::Relaxed);
    }
}
