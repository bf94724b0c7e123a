//! uWSGI's user locks (`uwsgi.lock(n)`, uwsgidecorators' @lock): mutexes
//! shared by every process and thread of an instance, in an anonymous
//! shared mapping made before the first fork. Lock 0 always exists;
//! `--locks N` adds N more. They are robust: a worker that dies holding
//! one (killed by harakiri, a crash) does not leave the others waiting
//! forever; the next taker gets it and a warning is logged.

use std::sync::OnceLock;

struct Locks {
    base: *mut libc::pthread_mutex_t,
    count: usize,
}

// SAFETY: the mutexes are process-shared pthread mutexes, made to be used
// from any thread; the mapping lives until the process exits.
unsafe impl Send for Locks {}
unsafe impl Sync for Locks {}

static LOCKS: OnceLock<Locks> = OnceLock::new();

/// Makes `1 + extra` locks (once per process, before any fork).
pub fn create(extra: usize) -> Result<(), String> {
    let count = extra + 1;
    let len = count * size_of::<libc::pthread_mutex_t>();
    // SAFETY: a fresh shared mapping, initialised below before any use.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(format!("cannot map the shared locks: {}", std::io::Error::last_os_error()));
    }
    let base = p as *mut libc::pthread_mutex_t;
    // SAFETY: attribute and mutex initialisation on memory we own.
    unsafe {
        let mut attr: libc::pthread_mutexattr_t = std::mem::zeroed();
        libc::pthread_mutexattr_init(&mut attr);
        libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
        libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST);
        // Taking a lock twice on one thread is an error, not a hang.
        libc::pthread_mutexattr_settype(&mut attr, libc::PTHREAD_MUTEX_ERRORCHECK);
        for i in 0..count {
            libc::pthread_mutex_init(base.add(i), &attr);
        }
        libc::pthread_mutexattr_destroy(&mut attr);
    }
    let _ = LOCKS.set(Locks { base, count });
    Ok(())
}

fn get(n: usize) -> Result<*mut libc::pthread_mutex_t, String> {
    let l = LOCKS.get().ok_or("the shared locks are not set up in this process")?;
    if n >= l.count {
        return Err(format!("lock {} does not exist: this instance has locks 0 to {} (add more with --locks N)", n, l.count - 1));
    }
    // SAFETY: n < count, inside the mapping.
    Ok(unsafe { l.base.add(n) })
}

/// Takes lock `n`, waiting for it (the caller lets go of the GIL).
pub fn lock(n: usize) -> Result<(), String> {
    let m = get(n)?;
    // SAFETY: an initialised process-shared mutex.
    match unsafe { libc::pthread_mutex_lock(m) } {
        0 => Ok(()),
        libc::EOWNERDEAD => {
            crate::logln!("oxwsgi: uwsgi.lock({}): its holder died with it taken; taking it over", n);
            unsafe { libc::pthread_mutex_consistent(m) };
            Ok(())
        }
        libc::EDEADLK => Err(format!("lock {} is already held by this thread", n)),
        e => Err(format!("lock {}: {}", n, std::io::Error::from_raw_os_error(e))),
    }
}

pub fn unlock(n: usize) -> Result<(), String> {
    let m = get(n)?;
    match unsafe { libc::pthread_mutex_unlock(m) } {
        0 => Ok(()),
        libc::EPERM => Err(format!("lock {} is not held by this thread", n)),
        e => Err(format!("unlock {}: {}", n, std::io::Error::from_raw_os_error(e))),
    }
}

/// Whether someone holds lock `n` now.
pub fn is_locked(n: usize) -> Result<bool, String> {
    let m = get(n)?;
    match unsafe { libc::pthread_mutex_trylock(m) } {
        0 => {
            unsafe { libc::pthread_mutex_unlock(m) };
            Ok(false)
        }
        libc::EOWNERDEAD => {
            unsafe {
                libc::pthread_mutex_consistent(m);
                libc::pthread_mutex_unlock(m);
            }
            Ok(false)
        }
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_between_processes_and_checked() {
        create(1).unwrap();
        assert!(get(2).unwrap_err().contains("--locks"));
        lock(1).unwrap();
        assert!(lock(1).unwrap_err().contains("already held"));
        assert!(is_locked(1).unwrap());
        // A child sees the lock taken; once it dies holding lock 0, the
        // parent can take it over.
        match unsafe { libc::fork() } {
            0 => {
                let held = is_locked(1).unwrap_or(false);
                let _ = lock(0);
                unsafe { libc::_exit(if held { 0 } else { 1 }) };
            }
            pid => {
                let mut st = 0;
                unsafe { libc::waitpid(pid, &mut st, 0) };
                assert_eq!(libc::WEXITSTATUS(st), 0, "the child saw lock 1 taken");
            }
        }
        lock(0).unwrap();
        unlock(0).unwrap();
        unlock(1).unwrap();
        assert!(!is_locked(1).unwrap());
        assert!(unlock(1).unwrap_err().contains("not held"));
    }
}
