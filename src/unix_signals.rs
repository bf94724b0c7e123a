//! POSIX signals: the ones the server keeps for itself, and keeping them
//! out of the processes the app starts.
//!
//! The master and the Emperor read their signals from a signalfd, which
//! needs them blocked; a worker keeps them blocked until its handlers are
//! in place. A child inherits its parent thread's signal mask, and exec
//! keeps it (and every ignored signal), so a `subprocess.Popen` made while
//! they are blocked starts a program that ignores SIGTERM. Hence: Python
//! code runs only on threads with nothing blocked (`with_clean_mask` for
//! the moments when the server's signals must stay held, such as the
//! master importing the app), and what the server would ignore is caught
//! by a handler that does nothing instead, which exec resets.

use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction};
use std::sync::atomic::{AtomicU64, Ordering};

/// The signals the master, a lone worker and the Emperor act on.
pub fn server_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGHUP, Signal::SIGUSR1, Signal::SIGTTIN, Signal::SIGTTOU] {
        s.add(sig);
    }
    s
}

/// Holds the server's signals on the calling thread (they stay pending),
/// and only them: a reload may have inherited signals a previous config
/// remapped (hook-master-start unix_signal).
pub fn hold() {
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&server_signals()), None);
}

/// Nothing blocked on the calling thread, as the app's children expect.
pub fn clear_mask() {
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}

/// Signals that arrived while `with_clean_mask` ran, one bit each.
static ARRIVED: AtomicU64 = AtomicU64::new(0);

extern "C" fn remember(sig: libc::c_int) {
    ARRIVED.fetch_or(1 << sig, Ordering::Relaxed);
}

/// Runs `f` (Python code that may start processes) with nothing blocked,
/// on a thread that otherwise holds the server's signals: a signal that
/// arrives meanwhile is remembered and made pending again afterwards, so
/// it is acted on as soon as the server reads its signals.
/// Call only while this is the process's one thread.
pub fn with_clean_mask<T>(f: impl FnOnce() -> T) -> T {
    let mut kept = SigSet::empty();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, None, Some(&mut kept));
    // SIGCHLD keeps its default (nothing happens): the app's own children
    // end while it imports, and the server has none yet.
    let caught: Vec<Signal> = server_signals().iter().filter(|s| *s != Signal::SIGCHLD).collect();
    let remembering = SigAction::new(SigHandler::Handler(remember), SaFlags::SA_RESTART, SigSet::empty());
    // SAFETY: `remember` only does an atomic OR, which is async-signal-safe.
    let before: Vec<_> = caught.iter().map(|s| (*s, unsafe { sigaction(*s, &remembering) })).collect();
    clear_mask();
    let out = f();
    let _ = nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&kept), None);
    for (s, old) in before {
        if let Ok(old) = old {
            // SAFETY: restores the action that was in place before.
            unsafe {
                let _ = sigaction(s, &old);
            }
        }
    }
    let arrived = ARRIVED.swap(0, Ordering::Relaxed);
    for s in caught {
        if arrived & (1 << s as i32) != 0 {
            // Pending on this thread, which holds it again.
            // SAFETY: raise(3) with a valid signal number.
            unsafe { libc::raise(s as i32) };
        }
    }
    out
}

extern "C" fn ignore(_sig: libc::c_int) {}

/// SIGPIPE (ignored by Rust's runtime and by python3) and SIGXFSZ (ignored
/// by python3) are caught by a handler that does nothing instead: a write
/// to a closed socket or past RLIMIT_FSIZE still fails with an error, and
/// a program the app executes starts with their default action, as it
/// would under uWSGI. `--ignore-sigpipe` keeps SIGPIPE ignored, children
/// included, as uWSGI's option does.
pub fn children_start_clean(ignore_sigpipe: bool) {
    let nothing = SigAction::new(SigHandler::Handler(ignore), SaFlags::SA_RESTART, SigSet::empty());
    let ignored = SigAction::new(SigHandler::SigIgn, SaFlags::empty(), SigSet::empty());
    for (sig, ign) in [(Signal::SIGPIPE, ignore_sigpipe), (Signal::SIGXFSZ, false)] {
        // SAFETY: `ignore` does nothing, which is async-signal-safe.
        unsafe {
            let _ = sigaction(sig, if ign { &ignored } else { &nothing });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signal mask and ignored set of this process's main thread, as a
    /// child would inherit them.
    fn status(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let line = s.lines().find(|l| l.starts_with(field)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    }

    #[test]
    fn clean_mask_inside_and_signals_kept_for_after() {
        // A thread of its own: the mask is per thread.
        std::thread::spawn(|| {
            hold();
            let held = status("SigBlk:");
            assert_ne!(held & (1 << (libc::SIGTERM - 1)), 0);
            let inside = with_clean_mask(|| {
                let m = status("SigBlk:");
                // Sent to this thread, caught and remembered.
                unsafe { libc::pthread_kill(libc::pthread_self(), libc::SIGUSR1) };
                m
            });
            assert_eq!(inside, 0, "nothing blocked inside");
            assert_eq!(status("SigBlk:"), held, "the mask is back");
            // Made pending again for whoever reads the signals next.
            let mut pending = SigSet::empty();
            unsafe { libc::sigpending(&mut pending as *mut SigSet as *mut libc::sigset_t) };
            assert!(pending.contains(Signal::SIGUSR1));
            let mut want = SigSet::empty();
            want.add(Signal::SIGUSR1);
            assert_eq!(want.wait().unwrap(), Signal::SIGUSR1);
        })
        .join()
        .unwrap();
    }
}
