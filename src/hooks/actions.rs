//! The hook actions of uWSGI's core (core/hooks.c), with its argument
//! syntax: `exec:COMMAND`, `mkdir:DIR`, `write:FILE TEXT`, `chown:FILE USER
//! GROUP`, `unix_signal:N FUNCTION`... Parsed when the config is read, so
//! an unknown action stops the start with its name, not halfway through.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a remapped signal makes the master do (uWSGI's function names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterAction {
    /// gracefully_kill_them_all: stop, letting requests finish.
    GracefulStop,
    /// kill_them_all: stop now.
    Stop,
    /// grace_them_all: reload gracefully.
    GracefulReload,
    /// reap_them_all: reload now, without waiting for requests.
    BrutalReload,
}

impl MasterAction {
    pub fn function(self) -> &'static str {
        match self {
            MasterAction::GracefulStop => "gracefully_kill_them_all",
            MasterAction::Stop => "kill_them_all",
            MasterAction::GracefulReload => "grace_them_all",
            MasterAction::BrutalReload => "reap_them_all",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// Anything at the path.
    Any,
    File,
    Dir,
}

#[derive(Debug, Clone)]
pub enum Action {
    /// exec (fails on a non-zero status) and safeexec (never fails).
    Exec {
        command: String,
        safe: bool,
    },
    Chdir(PathBuf),
    Mkdir(PathBuf),
    Putenv(String),
    Chmod(PathBuf, u32),
    /// chown (names) and chown2 (numbers), resolved when run.
    Chown {
        path: PathBuf,
        user: String,
        group: String,
        numeric: bool,
    },
    Sticky(PathBuf),
    Create(PathBuf),
    /// write, writen, append, appendn.
    Write {
        path: PathBuf,
        text: String,
        append: bool,
        newline: bool,
    },
    WriteFifo(PathBuf, String),
    Unlink(PathBuf),
    Print(String),
    Exit(i32),
    Hostname(String),
    WaitFor(PathBuf, WaitFor),
    WaitForSocket(String),
    UnixSignal(i32, MasterAction),
}

/// The signals remapped by unix_signal hooks that have run.
pub(super) static REMAPS: Mutex<Vec<(i32, MasterAction)>> = Mutex::new(Vec::new());

/// --wait-for-fs-timeout and --wait-for-socket-timeout, in seconds.
static WAIT_TIMEOUTS: Mutex<(u64, u64)> = Mutex::new((60, 60));
/// --binsh: the shells exec tries, in order (then /bin/sh).
static SHELLS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

pub fn set_wait_timeouts(fs: u64, socket: u64) {
    *WAIT_TIMEOUTS.lock().unwrap_or_else(|e| e.into_inner()) = (fs, socket);
}

pub fn set_shells(shells: &[PathBuf]) {
    *SHELLS.lock().unwrap_or_else(|e| e.into_inner()) = shells.to_vec();
}

/// `FILE TEXT`: the file, and the text after the first space.
fn path_and_text<'a>(name: &str, arg: &'a str) -> Result<(PathBuf, &'a str), String> {
    arg.split_once(' ').map(|(p, t)| (PathBuf::from(p), t)).ok_or_else(|| format!("invalid {} hook syntax, must be: {}:<file> <string>", name, name))
}

fn parse_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 8).ok().filter(|m| *m <= 0o7777)
}

fn parse_signal(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = s.to_ascii_uppercase();
    let name = if name.starts_with("SIG") { name } else { format!("SIG{}", name) };
    name.parse::<nix::sys::signal::Signal>().ok().map(|s| s as i32)
}

impl Action {
    pub fn parse(name: &str, arg: &str) -> Result<Action, String> {
        let path = || PathBuf::from(arg);
        Ok(match name {
            "exec" | "safeexec" => Action::Exec { command: arg.to_string(), safe: name == "safeexec" },
            "cd" | "chdir" => Action::Chdir(path()),
            "mkdir" => Action::Mkdir(path()),
            "putenv" if arg.contains('=') => Action::Putenv(arg.to_string()),
            "putenv" => return Err(format!("putenv:{}: write putenv:NAME=VALUE", arg)),
            "chmod" => {
                let (p, m) = path_and_text(name, arg)?;
                Action::Chmod(p, parse_mode(m).ok_or_else(|| format!("invalid hook chmod mask: {} (an octal mode such as 0770)", m))?)
            }
            "chown" | "chown2" => {
                let mut parts = arg.split(' ');
                let (Some(p), Some(u), Some(g), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
                    return Err(format!("invalid hook {} syntax, must be: {}:<file> <uid> <gid>", name, name));
                };
                let numeric = name == "chown2";
                if numeric && (u.parse::<u32>().is_err() || g.parse::<u32>().is_err()) {
                    return Err("invalid hook chown2 syntax, uid and gid must be numbers".into());
                }
                Action::Chown { path: PathBuf::from(p), user: u.to_string(), group: g.to_string(), numeric }
            }
            "sticky" => Action::Sticky(path()),
            "create" | "creat" => Action::Create(path()),
            "write" | "writen" | "append" | "appendn" => {
                let append = name.starts_with("append");
                let newline = name.ends_with('n');
                // appendn:FILE alone appends a newline.
                let (p, t) = match (name, arg.split_once(' ')) {
                    ("appendn", None) => (PathBuf::from(arg), ""),
                    _ => path_and_text(name, arg)?,
                };
                Action::Write { path: p, text: t.to_string(), append, newline }
            }
            "writefifo" => {
                let (p, t) = path_and_text(name, arg)?;
                Action::WriteFifo(p, t.to_string())
            }
            "unlink" => Action::Unlink(path()),
            "print" | "log" => Action::Print(arg.to_string()),
            "exit" => Action::Exit(arg.trim().parse().unwrap_or(0)),
            "hostname" => Action::Hostname(arg.to_string()),
            "wait_for_fs" => Action::WaitFor(path(), WaitFor::Any),
            "wait_for_file" => Action::WaitFor(path(), WaitFor::File),
            "wait_for_dir" => Action::WaitFor(path(), WaitFor::Dir),
            "wait_for_socket" => Action::WaitForSocket(arg.to_string()),
            "unix_signal" => {
                let (sig, func) = arg.trim().split_once(' ').ok_or("invalid unix_signal hook syntax, must be: unix_signal:<signal> <function>")?;
                let sig = parse_signal(sig).ok_or_else(|| format!("unix_signal: '{}' is not a signal", sig))?;
                let all = [MasterAction::GracefulStop, MasterAction::Stop, MasterAction::GracefulReload, MasterAction::BrutalReload];
                let action = match all.into_iter().find(|a| a.function() == func.trim()) {
                    Some(a) => a,
                    None => {
                        let other = func.trim();
                        return Err(format!(
                            "unix_signal: '{}' is not a master function oxwsgi has: use gracefully_kill_them_all, kill_them_all, grace_them_all or reap_them_all",
                            other
                        ));
                    }
                };
                if [libc::SIGCHLD, libc::SIGKILL, libc::SIGSTOP].contains(&sig) {
                    return Err(format!("unix_signal: signal {} cannot be remapped", sig));
                }
                Action::UnixSignal(sig, action)
            }
            "call" | "callret" | "callint" | "callintret" => {
                return Err(format!("hook action '{}' calls a C function of the uWSGI binary by its name; oxwsgi has none to call: use exec:COMMAND", name));
            }
            "mount" | "umount" => return Err(format!("hook action '{}' (Linux namespaces and jails) is not provided by oxwsgi", name)),
            "alarm" | "rpc" | "retryrpc" => return Err(format!("hook action '{}': uWSGI's alarms and RPC are not provided by oxwsgi", name)),
            other => {
                return Err(format!(
                    "hook action not found: {} (oxwsgi has exec, safeexec, cd/chdir, mkdir, putenv, chmod, chown, chown2, sticky, create, write, writen, append, appendn, writefifo, unlink, print/log, exit, hostname, wait_for_fs, wait_for_file, wait_for_dir, wait_for_socket, unix_signal)",
                    other
                ));
            }
        })
    }

    pub fn run(&self) -> Result<(), String> {
        self.run_in(None)
    }

    /// `context`: UWSGI_HOOK_CONTEXT for commands (the Emperor's vassal).
    pub fn run_in(&self, context: Option<&str>) -> Result<(), String> {
        let io = |what: &str, p: &Path, e: std::io::Error| format!("{} {}: {}", what, p.display(), e);
        match self {
            Action::Exec { command, safe } => {
                let status = run_command_in(command, context)?;
                if status != 0 && !safe {
                    return Err(format!("command \"{}\" exited with non-zero code: {}", command, status));
                }
                if status != 0 {
                    crate::logln!("oxwsgi: command \"{}\" exited with non-zero code: {}", command, status);
                }
            }
            Action::Chdir(p) => std::env::set_current_dir(p).map_err(|e| io("chdir", p, e))?,
            Action::Mkdir(p) => {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new().mode(0o777).create(p).map_err(|e| io("mkdir", p, e))?
            }
            Action::Putenv(kv) => {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                // Once Python runs, os.environ is its copy of the
                // environment: set it there (it calls putenv too).
                if unsafe { pyo3::ffi::Py_IsInitialized() } != 0 {
                    use pyo3::prelude::*;
                    pyo3::Python::attach(|py| py.import("os").and_then(|os| os.getattr("environ")).and_then(|env| env.set_item(k, v)))
                        .map_err(|e| format!("putenv {}: {}", k, e))?;
                } else {
                    // SAFETY: the phases putenv is allowed in run before the
                    // process starts threads that read the environment.
                    unsafe { std::env::set_var(k, v) };
                }
            }
            Action::Chmod(p, mode) => {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(*mode)).map_err(|e| io("chmod", p, e))?
            }
            Action::Chown { path, user, group, numeric } => {
                let (uid, gid) = if *numeric {
                    (nix::unistd::Uid::from_raw(user.parse().unwrap_or(0)), nix::unistd::Gid::from_raw(group.parse().unwrap_or(0)))
                } else {
                    let u = nix::unistd::User::from_name(user).ok().flatten().ok_or_else(|| format!("unable to find uid {}", user))?;
                    let g = nix::unistd::Group::from_name(group).ok().flatten().ok_or_else(|| format!("unable to find gid {}", group))?;
                    (u.uid, g.gid)
                };
                nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|e| format!("chown {}: {}", path.display(), e))?
            }
            Action::Sticky(p) => {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(p).map_err(|e| io("sticky", p, e))?.permissions().mode();
                std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o1000)).map_err(|e| io("sticky", p, e))?
            }
            Action::Create(p) => {
                std::fs::File::create(p).map_err(|e| io("create", p, e))?;
            }
            Action::Write { path, text, append, newline } => {
                let mut f =
                    std::fs::OpenOptions::new().create(true).write(true).append(*append).truncate(!*append).open(path).map_err(|e| io("write", path, e))?;
                let mut data = text.clone().into_bytes();
                if *newline {
                    data.push(b'\n');
                }
                f.write_all(&data).map_err(|e| io("write", path, e))?
            }
            Action::WriteFifo(p, text) => {
                use std::os::unix::fs::OpenOptionsExt;
                match std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(p) {
                    Ok(mut f) => f.write_all(text.as_bytes()).map_err(|e| io("writefifo", p, e))?,
                    // Nobody reads the FIFO: nothing to tell, as in uWSGI.
                    Err(e) if matches!(e.raw_os_error(), Some(libc::ENXIO) | Some(libc::ENODEV)) => {}
                    Err(e) => return Err(io("writefifo", p, e)),
                }
            }
            Action::Unlink(p) => std::fs::remove_file(p).map_err(|e| io("unlink", p, e))?,
            Action::Print(text) => crate::logln!("{}", text),
            Action::Exit(code) => std::process::exit(*code),
            Action::Hostname(name) => nix::unistd::sethostname(name).map_err(|e| format!("hostname {}: {}", name, e))?,
            Action::WaitFor(p, kind) => wait_for_fs(p, *kind)?,
            Action::WaitForSocket(addr) => wait_for_socket(addr)?,
            Action::UnixSignal(sig, action) => {
                let mut remaps = REMAPS.lock().unwrap_or_else(|e| e.into_inner());
                remaps.retain(|(s, _)| s != sig);
                remaps.push((*sig, *action));
            }
        }
        Ok(())
    }
}

/// Runs a command with the shell and waits: its status (128+N if killed
/// by signal N). It starts with nothing blocked, whatever the caller holds.
pub fn run_command(command: &str) -> Result<i32, String> {
    run_command_in(command, None)
}

fn run_command_in(command: &str, context: Option<&str>) -> Result<i32, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let shells = SHELLS.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let shell = shells.into_iter().find(|s| s.is_file()).unwrap_or_else(|| PathBuf::from("/bin/sh"));
    let mut cmd = std::process::Command::new(&shell);
    cmd.arg("-c").arg(command);
    if let Some(c) = context {
        cmd.env("UWSGI_HOOK_CONTEXT", c);
    }
    // SAFETY: only sigprocmask(2), async-signal-safe, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let empty = nix::sys::signal::SigSet::empty();
            let _ = nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&empty), None);
            Ok(())
        });
    }
    let status = cmd.status().map_err(|e| format!("cannot run {} -c \"{}\": {}", shell.display(), command, e))?;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn wait_until(timeout: u64, what: &str, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut said = false;
    loop {
        if ready() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("{} did not appear within {}s", what, timeout));
        }
        if !said {
            crate::logln!("oxwsgi: waiting for {} (up to {}s)...", what, timeout);
            said = true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// wait_for_fs / wait_for_file / wait_for_dir, and the --wait-for-* options.
pub fn wait_for_fs(p: &Path, kind: WaitFor) -> Result<(), String> {
    let timeout = WAIT_TIMEOUTS.lock().unwrap_or_else(|e| e.into_inner()).0;
    let what = match kind {
        WaitFor::Any => format!("{}", p.display()),
        WaitFor::File => format!("the file {}", p.display()),
        WaitFor::Dir => format!("the directory {}", p.display()),
    };
    wait_until(timeout, &what, || match (kind, std::fs::metadata(p)) {
        (_, Err(_)) => false,
        (WaitFor::Any, Ok(_)) => true,
        (WaitFor::File, Ok(m)) => m.is_file(),
        (WaitFor::Dir, Ok(m)) => m.is_dir(),
    })
}

/// wait_for_socket and --wait-for-socket: until a connection succeeds
/// (host:port, or a unix socket's path).
pub fn wait_for_socket(addr: &str) -> Result<(), String> {
    let timeout = WAIT_TIMEOUTS.lock().unwrap_or_else(|e| e.into_inner()).1;
    let tcp = !addr.contains('/') && addr.contains(':');
    wait_until(timeout, &format!("the socket {}", addr), || {
        if tcp {
            let a = if addr.starts_with(':') { format!("127.0.0.1{}", addr) } else { addr.to_string() };
            std::net::TcpStream::connect(a.as_str()).is_ok()
        } else {
            std::os::unix::net::UnixStream::connect(addr).is_ok()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_as_uwsgi_splits_them() {
        match Action::parse("write", "/tmp/f hello world").unwrap() {
            Action::Write { path, text, append: false, newline: false } => assert_eq!((path, text.as_str()), (PathBuf::from("/tmp/f"), "hello world")),
            other => panic!("{:?}", other),
        }
        assert!(matches!(Action::parse("appendn", "/tmp/f").unwrap(), Action::Write { append: true, newline: true, .. }));
        assert!(Action::parse("write", "/tmp/f").unwrap_err().contains("<file> <string>"));
        assert!(matches!(Action::parse("chmod", "/tmp/s 0770").unwrap(), Action::Chmod(_, 0o770)));
        assert!(Action::parse("chmod", "/tmp/s rw").is_err());
        assert!(Action::parse("chown2", "/tmp/s www 33").is_err());
        assert!(matches!(Action::parse("unix_signal", "SIGTERM gracefully_kill_them_all").unwrap(), Action::UnixSignal(15, MasterAction::GracefulStop)));
        assert!(matches!(Action::parse("unix_signal", "1 reap_them_all").unwrap(), Action::UnixSignal(1, MasterAction::BrutalReload)));
        assert!(Action::parse("unix_signal", "15 hello_world").unwrap_err().contains("gracefully_kill_them_all"));
        assert!(Action::parse("unix_signal", "9 kill_them_all").is_err());
        assert!(Action::parse("call", "uwsgi_something").unwrap_err().contains("exec:COMMAND"));
        assert!(Action::parse("frobnicate", "x").unwrap_err().contains("hook action not found: frobnicate"));
    }

    #[test]
    fn files_written_and_commands_run() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-hooks-{}", std::process::id()));
        let f = dir.join("out.txt");
        Action::parse("mkdir", dir.to_str().unwrap()).unwrap().run().unwrap();
        Action::parse("writen", &format!("{} one", f.display())).unwrap().run().unwrap();
        Action::parse("append", &format!("{} two", f.display())).unwrap().run().unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "one\ntwo");
        assert_eq!(run_command("exit 3").unwrap(), 3);
        assert!(Action::parse("exec", "false").unwrap().run().unwrap_err().contains("non-zero code: 1"));
        Action::parse("safeexec", "false").unwrap().run().unwrap();
        Action::parse("unlink", f.to_str().unwrap()).unwrap().run().unwrap();
        assert!(!f.exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
