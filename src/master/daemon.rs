//! Detaching (--daemonize), pidfiles (--pidfile, --safe-pidfile) and the
//! readiness report: a daemonized start returns only once the server is up,
//! with status 0, or fails with the reason.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

static READY_PIPE: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// How the log file (--daemonize, --logto) is opened: --log-truncate,
/// --logfile-chmod, --logfile-chown (to --uid/--gid).
#[derive(Default)]
struct LogfileMode {
    truncate: bool,
    chmod: Option<u32>,
    owner: Option<(Option<nix::unistd::Uid>, Option<nix::unistd::Gid>)>,
}

static LOGFILE_MODE: std::sync::OnceLock<LogfileMode> = std::sync::OnceLock::new();

pub fn set_logfile_mode(cfg: &crate::options::Config) {
    let owner = cfg.log.chown.then(|| {
        (cfg.uid.as_deref().and_then(|u| super::privileges::resolve_uid(u).ok()), cfg.gid.as_deref().and_then(|g| super::privileges::resolve_gid(g).ok()))
    });
    let _ = LOGFILE_MODE.set(LogfileMode { truncate: cfg.log.truncate, chmod: cfg.log.chmod, owner });
}

/// Opens a log file as the options ask.
fn open_logfile(path: &Path, what: &str) -> Result<std::fs::File, String> {
    open_logfile_as(path, what, true)
}

/// `may_truncate`: false when a reload opens the file again (--log-reopen):
/// --log-truncate empties it at the start only.
fn open_logfile_as(path: &Path, what: &str, may_truncate: bool) -> Result<std::fs::File, String> {
    let mode = LOGFILE_MODE.get();
    let truncate = may_truncate && mode.is_some_and(|m| m.truncate);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(!truncate)
        .write(true)
        .truncate(truncate)
        .open(path)
        .map_err(|e| format!("{} {}: {}", what, path.display(), e))?;
    if let Some(m) = mode {
        if let Some(bits) = m.chmod {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(bits)).map_err(|e| format!("--logfile-chmod {:o} {}: {}", bits, path.display(), e))?;
        }
        if let Some((u, g)) = m.owner {
            nix::unistd::fchown(&f, u, g).map_err(|e| format!("--logfile-chown {}: {}", path.display(), e))?;
        }
    }
    Ok(f)
}

/// Detaches into the background, logging to `logfile`. The foreground
/// process waits for `report_ready` or `report_failure` and exits with it.
pub fn daemonize(logfile: &Path) -> Result<(), String> {
    let log = open_logfile(logfile, "--daemonize")?;
    let (r, w) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    // Once the interpreter runs (inside python3, see python/host.rs, or
    // for --daemonize2 after the app is loaded): fork with its hooks.
    let python = unsafe { pyo3::ffi::Py_IsInitialized() } != 0;
    let forked = if python { crate::python::fork::fork_with_python() } else { unsafe { nix::unistd::fork() } };
    match forked.map_err(|e| e.to_string())? {
        nix::unistd::ForkResult::Parent { .. } => {
            drop(w);
            let mut msg = String::new();
            let _ = std::fs::File::from(r).read_to_string(&mut msg);
            if msg.starts_with("ready") {
                std::process::exit(0);
            }
            let why = if msg.is_empty() { format!("the server exited during start-up; see {}", logfile.display()) } else { msg };
            crate::logln!("oxwsgi: {}", why.trim_end());
            std::process::exit(1);
        }
        nix::unistd::ForkResult::Child => {
            drop(r);
            nix::unistd::setsid().ok();
            let null = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
            unsafe {
                libc::dup2(null.as_raw_fd(), 0);
                libc::dup2(log.as_raw_fd(), 1);
                libc::dup2(log.as_raw_fd(), 2);
            }
            *READY_PIPE.lock().unwrap() = Some(std::fs::File::from(w));
            Ok(())
        }
    }
}

/// The server is up: releases a waiting --daemonize foreground process,
/// and tells systemd (Type=notify).
pub fn report_ready() {
    if let Some(mut f) = READY_PIPE.lock().unwrap().take() {
        let _ = f.write_all(b"ready\n");
    }
    sd_notify(&format!("READY=1\nMAINPID={}", std::process::id()));
}

/// sd_notify(3): a datagram to $NOTIFY_SOCKET, if systemd set one.
pub fn sd_notify(msg: &str) {
    use std::os::linux::net::SocketAddrExt;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()),
        None => std::os::unix::net::SocketAddr::from_pathname(&path),
    };
    let sent = addr.and_then(|a| std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.send_to_addr(msg.as_bytes(), &a)));
    if let Err(e) = sent {
        crate::logln!("oxwsgi: cannot notify systemd at {}: {}", path, e);
    }
}

pub fn report_failure(msg: &str) {
    if let Some(mut f) = READY_PIPE.lock().unwrap().take() {
        let _ = f.write_all(msg.as_bytes());
    }
}

/// Forgets the readiness pipe in a forked child (only the master reports).
pub fn forget_ready_pipe() {
    if let Some(f) = READY_PIPE.lock().unwrap().take() {
        let fd: OwnedFd = f.into();
        drop(fd);
    }
}

/// --logto: stderr (and stdout) go to the file, as uWSGI's logto does, so
/// Python's tracebacks land there too.
pub fn log_to(path: &Path) -> Result<(), String> {
    point_stdio_at(&open_logfile(path, "--logto")?);
    Ok(())
}

/// --log-reopen after a reload: the file by its name again, never truncated.
pub fn log_to_again(path: &Path) -> Result<(), String> {
    point_stdio_at(&open_logfile_as(path, "--log-reopen", false)?);
    Ok(())
}

fn point_stdio_at(f: &std::fs::File) {
    // SAFETY: points our own stdout and stderr at a file we opened.
    unsafe {
        libc::dup2(f.as_raw_fd(), 1);
        libc::dup2(f.as_raw_fd(), 2);
    }
}

pub fn write_pidfile(path: &Path, atomic: bool) -> Result<(), String> {
    let content = format!("{}\n", std::process::id());
    let err = |e: std::io::Error| format!("cannot write pidfile {}: {}", path.display(), e);
    if atomic {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, content).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    } else {
        std::fs::write(path, content).map_err(err)
    }
}

/// Reads a pid from a pidfile (for --reload/--stop style tools and tests).
pub fn read_pidfile(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}
