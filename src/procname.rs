//! The process title: what `ps` shows (the command line, /proc/PID/cmdline)
//! and what `ps -e`, top and pgrep show (the 15-byte name, comm). As
//! setproctitle does, the title is written over the memory of the original
//! command line, extended into the environment strings that follow it
//! (moved elsewhere first), so a title may be longer than the command the
//! process was started with. The same in the binary and inside python3.

use std::sync::Mutex;

/// Where the title may go: the start and the length of the command line
/// and environment strings, once the environment has been moved.
static AREA: Mutex<Option<(usize, usize)>> = Mutex::new(None);

unsafe extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// arg_start, arg_end, env_start, env_end from /proc/self/stat.
fn areas() -> Option<(usize, usize, usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the name, which may hold spaces: state is field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<usize> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    // arg_start is field 48, so index 48 - 3 here.
    Some((*f.get(45)?, *f.get(46)?, *f.get(47)?, *f.get(48)?))
}

/// Makes the title area ready: copies the environment strings elsewhere
/// so their memory can hold a long title. Call while no other thread runs.
pub fn init() {
    let mut area = AREA.lock().unwrap_or_else(|e| e.into_inner());
    if area.is_some() {
        return;
    }
    let Some((arg_start, arg_end, env_start, env_end)) = areas() else { return };
    if arg_start == 0 || arg_end <= arg_start {
        return;
    }
    let mut end = arg_end;
    // The environment strings follow the arguments in memory: move them
    // (the new copies are kept for the life of the process).
    // (The kernel shows a title past the arguments only if the environment
    // starts right where they end.)
    if env_start == arg_end && env_end > env_start {
        // SAFETY: no other thread runs; each string is copied, then the
        // array entry points at the copy.
        unsafe {
            let mut p = environ;
            let mut moved = true;
            while !p.is_null() && !(*p).is_null() {
                let s = std::ffi::CStr::from_ptr(*p);
                let at = *p as usize;
                if (env_start..env_end).contains(&at) {
                    match std::ffi::CString::new(s.to_bytes()) {
                        Ok(c) => *p = c.into_raw(),
                        Err(_) => moved = false,
                    }
                }
                p = p.add(1);
            }
            if moved {
                end = env_end;
            }
        }
    }
    *area = Some((arg_start, end - arg_start));
}

/// Sets the title (the command line `ps` shows, and the process name).
pub fn set(title: &str) {
    // The main thread's name is the process's (prctl would name only the
    // calling thread, which may be any Python thread).
    let name: Vec<u8> = title.bytes().filter(|&b| b != 0 && b != b'\n').take(15).collect();
    if std::fs::write("/proc/self/comm", &name).is_err() {
        let name: Vec<u8> = name.into_iter().chain(std::iter::once(0)).collect();
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of up to 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
    }
    let area = *AREA.lock().unwrap_or_else(|e| e.into_inner());
    let Some((start, len)) = area else { return };
    let bytes: Vec<u8> = title.bytes().filter(|&b| b != 0).take(len.saturating_sub(1)).collect();
    // SAFETY: [start, start + len) is this process's own command line and
    // environment memory, which nothing reads any more but the kernel.
    unsafe {
        let dst = std::slice::from_raw_parts_mut(start as *mut u8, len);
        dst[..bytes.len()].copy_from_slice(&bytes);
        dst[bytes.len()..].fill(0);
    }
}

/// Which process a name is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Worker(usize),
    Emperor,
}

/// --auto-procname and the --procname-* options: the name uWSGI gives a
/// process (with ours in place of "uWSGI"), or None to keep the command line.
pub fn title_for(cfg: &crate::options::Config, role: Role) -> Option<String> {
    if !cfg.auto_procname {
        return None;
    }
    let base = match role {
        Role::Master => cfg.procname_master.clone().or_else(|| cfg.procname.clone()).unwrap_or_else(|| "oxwsgi master".into()),
        Role::Worker(n) => cfg.procname.clone().unwrap_or_else(|| format!("oxwsgi worker {}", n)),
        Role::Emperor => cfg.procname_master.clone().or_else(|| cfg.procname.clone()).unwrap_or_else(|| "oxwsgi emperor".into()),
    };
    Some(format!("{}{}{}", cfg.procname_prefix, base, cfg.procname_append))
}

/// Names this process for `role`, if the options ask for names.
pub fn name_as(cfg: &crate::options::Config, role: Role) {
    if let Some(t) = title_for(cfg, role) {
        set(&t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Config;

    #[test]
    fn names_as_uwsgi_gives_them() {
        let mut c = Config::default();
        assert_eq!(title_for(&c, Role::Master), None);
        c.auto_procname = true;
        assert_eq!(title_for(&c, Role::Master).as_deref(), Some("oxwsgi master"));
        assert_eq!(title_for(&c, Role::Worker(2)).as_deref(), Some("oxwsgi worker 2"));
        c.procname_prefix = "shop ".into();
        c.procname_append = " [prod]".into();
        assert_eq!(title_for(&c, Role::Worker(1)).as_deref(), Some("shop oxwsgi worker 1 [prod]"));
        c.procname = Some("shop-app".into());
        assert_eq!(title_for(&c, Role::Worker(1)).as_deref(), Some("shop shop-app [prod]"));
        assert_eq!(title_for(&c, Role::Master).as_deref(), Some("shop shop-app [prod]"));
        c.procname_master = Some("shop-master".into());
        assert_eq!(title_for(&c, Role::Master).as_deref(), Some("shop shop-master [prod]"));
    }
}
