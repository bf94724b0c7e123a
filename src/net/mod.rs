//! Listening sockets: binding TCP and unix sockets the way uWSGI does
//! (--listen backlog, --chmod-socket, --chown-socket, stale socket files),
//! and handing them across a reload (re-exec) through inherited fds.

use crate::options::{ListenAddr, Listener};
use socket2::{Domain, SockAddr, Socket, Type};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// Environment variable carrying the listening fds across a re-exec.
pub const INHERIT_ENV: &str = "OXWSGI_LISTEN_FDS";

/// A bound, listening socket.
pub struct Bound {
    pub fd: OwnedFd,
    pub spec: Listener,
    /// Port as bound (for SERVER_PORT), or "" for unix sockets.
    pub port: String,
}

impl Bound {
    pub fn unix_path(&self) -> Option<&PathBuf> {
        match &self.spec.addr {
            ListenAddr::Unix(p) => Some(p),
            ListenAddr::Tcp(_) => None,
        }
    }
}

/// How the sockets are made (the socket options of the config).
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    pub backlog: i32,
    pub chmod: Option<u32>,
    pub chown: Option<String>,
    /// SO_REUSEPORT on TCP sockets.
    pub reuse_port: bool,
    /// SO_KEEPALIVE (inherited by the accepted connections).
    pub keepalive: bool,
    /// TCP_DEFER_ACCEPT for this many seconds: the kernel hands over a TCP
    /// connection only once its first bytes are in (uWSGI's default).
    pub defer_accept: Option<u32>,
}

impl BindOptions {
    pub fn from_config(c: &crate::options::Config) -> BindOptions {
        BindOptions {
            backlog: c.listen_backlog,
            chmod: c.chmod_socket,
            chown: c.chown_socket.clone(),
            reuse_port: c.reuse_port,
            keepalive: c.so_keepalive,
            defer_accept: c.defer_accept.then_some(c.http_header_timeout.min(u32::MAX as u64) as u32),
        }
    }

    /// A plain socket (the stats'): a backlog and nothing else.
    pub fn plain(backlog: i32) -> BindOptions {
        BindOptions { backlog, ..Default::default() }
    }
}

pub fn bind_all(listeners: &[Listener], opts: &BindOptions) -> Result<Vec<Bound>, String> {
    let mut inherited: Vec<(OwnedFd, Option<ListenAddr>)> = Vec::new();
    if let Ok(fds) = std::env::var(INHERIT_ENV) {
        // SAFETY: this variable is set only by our own re-exec, with fds we
        // left open for this process.
        unsafe { std::env::remove_var(INHERIT_ENV) };
        for fd in fds.split(',').filter_map(|s| s.parse::<i32>().ok()) {
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            set_cloexec(&fd);
            let addr = local_addr(&fd);
            inherited.push((fd, addr));
        }
    }
    // A reload keeps the sockets the new config still has, by address
    // (connections waiting in them are served), binds the new ones, and
    // closes the ones it dropped.
    let mut out = Vec::new();
    for l in listeners {
        match inherited.iter().position(|(_, a)| a.as_ref().is_some_and(|a| same_socket(&l.addr, a))) {
            Some(i) => {
                let (fd, addr) = inherited.swap_remove(i);
                let port = match addr {
                    Some(ListenAddr::Tcp(a)) => a.port().to_string(),
                    _ => String::new(),
                };
                out.push(Bound { fd, spec: l.clone(), port });
            }
            None => out.push(bind_one(l, opts)?),
        }
    }
    for (_, addr) in inherited {
        if let Some(a) = addr {
            crate::logln!("oxwsgi: the configuration no longer has {}: closing it", a);
            if let ListenAddr::Unix(p) = a {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    Ok(out)
}

/// What a listening socket is bound to.
fn local_addr(fd: &OwnedFd) -> Option<ListenAddr> {
    let local = Socket::from(fd.try_clone().ok()?).local_addr().ok()?;
    match (local.as_socket(), local.as_pathname()) {
        (Some(a), _) => Some(ListenAddr::Tcp(a)),
        (None, Some(p)) => Some(ListenAddr::Unix(p.to_path_buf())),
        _ => None,
    }
}

/// Whether an inherited socket is the one a listener asks for (port 0:
/// whichever port it got).
fn same_socket(want: &ListenAddr, have: &ListenAddr) -> bool {
    match (want, have) {
        (ListenAddr::Tcp(w), ListenAddr::Tcp(h)) => w.ip() == h.ip() && (w.port() == h.port() || w.port() == 0),
        (ListenAddr::Unix(w), ListenAddr::Unix(h)) => w == h,
        _ => false,
    }
}

fn set_defer_accept(s: &Socket, secs: u32) {
    let v = secs as libc::c_int;
    // SAFETY: setsockopt(2) with an int we own; failure is harmless (the
    // connection is then accepted before its bytes, as without it).
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            &v as *const libc::c_int as *const libc::c_void,
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
}

fn set_cloexec(fd: &OwnedFd) {
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) };
}

pub fn bind_one(l: &Listener, opts: &BindOptions) -> Result<Bound, String> {
    let (backlog, chmod, chown) = (opts.backlog, opts.chmod, opts.chown.as_deref());
    match &l.addr {
        ListenAddr::Tcp(addr) => {
            let s = Socket::new(Domain::for_address(*addr), Type::STREAM, None).map_err(|e| format!("socket(): {}", e))?;
            s.set_reuse_address(true).ok();
            if addr.is_ipv6() {
                s.set_only_v6(true).ok();
            }
            if opts.reuse_port {
                s.set_reuse_port(true).map_err(|e| format!("--reuse-port on {}: {}", addr, e))?;
            }
            if opts.keepalive {
                s.set_keepalive(true).map_err(|e| format!("--so-keepalive on {}: {}", addr, e))?;
            }
            if let Some(secs) = opts.defer_accept {
                set_defer_accept(&s, secs);
            }
            s.bind(&(*addr).into()).map_err(|e| format!("cannot bind {}: {}", addr, e))?;
            s.listen(backlog).map_err(|e| format!("cannot listen on {}: {}", addr, e))?;
            let port = s.local_addr().ok().and_then(|a| a.as_socket()).map(|a| a.port()).unwrap_or(addr.port());
            Ok(Bound { fd: s.into(), spec: l.clone(), port: port.to_string() })
        }
        ListenAddr::Unix(path) => {
            if path.exists() {
                // A live server answers; a file left by a crash does not.
                if std::os::unix::net::UnixStream::connect(path).is_ok() {
                    return Err(format!("unix socket {} is in use by a running server; stop it or choose another path", path.display()));
                }
                std::fs::remove_file(path).map_err(|e| format!("cannot remove stale socket {}: {}", path.display(), e))?;
            }
            let s = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(|e| format!("socket(): {}", e))?;
            let sa = SockAddr::unix(path).map_err(|e| format!("bad socket path {}: {}", path.display(), e))?;
            s.bind(&sa).map_err(|e| format!("cannot bind unix socket {}: {}", path.display(), e))?;
            s.listen(backlog).map_err(|e| format!("cannot listen on {}: {}", path.display(), e))?;
            if let Some(mode) = chmod {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                    .map_err(|e| format!("--chmod-socket {:o} on {}: {}", mode, path.display(), e))?;
            }
            if let Some(owner) = chown {
                let (u, g) = match owner.split_once(':') {
                    Some((u, g)) => (u, Some(g)),
                    None => (owner, None),
                };
                let uid = crate::master::privileges::resolve_uid(u)?;
                let gid = match g {
                    Some(g) => Some(crate::master::privileges::resolve_gid(g)?),
                    None => None,
                };
                nix::unistd::chown(path.as_path(), Some(uid), gid).map_err(|e| format!("--chown-socket {} on {}: {}", owner, path.display(), e))?;
            }
            Ok(Bound { fd: s.into(), spec: l.clone(), port: String::new() })
        }
    }
}

/// fd 0, if it is a listening socket: what inetd, systemd's Accept=no
/// sockets with StandardInput=socket, and an on-demand Emperor hand over.
pub fn stdin_listener(proto: crate::options::Proto) -> Option<Bound> {
    let mut accepting: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) on fd 0 into an int we own.
    let r = unsafe { libc::getsockopt(0, libc::SOL_SOCKET, libc::SO_ACCEPTCONN, &mut accepting as *mut _ as *mut libc::c_void, &mut len) };
    if r != 0 || accepting == 0 {
        return None;
    }
    // SAFETY: fd 0 is ours; the Bound owns it from now on.
    let fd = unsafe { OwnedFd::from_raw_fd(0) };
    let addr = local_addr(&fd)?;
    let port = match &addr {
        ListenAddr::Tcp(a) => a.port().to_string(),
        ListenAddr::Unix(_) => String::new(),
    };
    crate::logln!("oxwsgi: serving the listening socket inherited as fd 0 ({})", addr);
    Some(Bound { fd, spec: Listener { addr, proto }, port })
}

/// Clears close-on-exec on the listening fds and records them for the
/// re-exec'd process (fd 0 is found again by `stdin_listener`).
pub fn prepare_inherit(bound: &[Bound]) {
    let list: Vec<String> = bound
        .iter()
        .filter(|b| b.fd.as_raw_fd() != 0)
        .map(|b| {
            unsafe { libc::fcntl(b.fd.as_raw_fd(), libc::F_SETFD, 0) };
            b.fd.as_raw_fd().to_string()
        })
        .collect();
    // SAFETY: called in the single-threaded master just before execve.
    unsafe { std::env::set_var(INHERIT_ENV, list.join(",")) };
}
