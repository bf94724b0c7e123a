//! The --stats and --metrics sockets. The master runs no threads (it
//! forks), so this is a small non-blocking state machine that the master's
//! poll loop drives; a lone worker (no master) drives it from a thread.
//! A client that stalls is dropped after a deadline: it can never hold the
//! master up.

use super::board::Board;
use super::render::{self, Instance, SocketInfo};
use crate::options::{Config, ListenAddr, Listener, Proto};
use nix::poll::{PollFd, PollFlags};
use socket2::Socket;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(3);
const MAX_REQUEST: usize = 8192;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// --stats: the JSON document, raw or (--stats-http) over HTTP.
    Stats { http: bool },
    /// --metrics: Prometheus text over HTTP.
    Metrics,
}

enum State {
    Reading(Vec<u8>),
    Writing(Vec<u8>, usize),
}

struct Conn {
    sock: Socket,
    kind: Kind,
    state: State,
    deadline: Instant,
}

pub struct Server {
    listeners: Vec<(Socket, Kind, String)>,
    conns: Vec<Conn>,
    board: &'static Board,
    inst: Instance,
    previous: Vec<u64>,
}

impl Server {
    /// Binds --stats and --metrics (before privileges are dropped, like the
    /// app's sockets); None when neither is asked for.
    pub fn bind(cfg: &Config, bound: &[crate::net::Bound], board: &'static Board) -> Result<Option<Server>, String> {
        let mut listeners = Vec::new();
        for (addr, kind, what) in [(&cfg.stats, Kind::Stats { http: cfg.stats_http }, "stats"), (&cfg.metrics, Kind::Metrics, "metrics")] {
            let Some(addr) = addr else { continue };
            let l = Listener { addr: addr.clone(), proto: Proto::Http };
            let b = crate::net::bind_one(&l, &crate::net::BindOptions::plain(64)).map_err(|e| format!("--{} {}: {}", what, addr, e))?;
            let sock = Socket::from(b.fd);
            sock.set_nonblocking(true).map_err(|e| format!("--{} {}: {}", what, addr, e))?;
            crate::logln!("oxwsgi: {} server on {}{}", what, addr, if kind == (Kind::Stats { http: true }) { " (HTTP)" } else { "" });
            listeners.push((sock, kind, addr.to_string()));
        }
        if listeners.is_empty() {
            return Ok(None);
        }
        let sockets = bound
            .iter()
            .map(|b| SocketInfo {
                name: match &b.spec.addr {
                    ListenAddr::Tcp(_) => b.spec.addr.to_string(),
                    ListenAddr::Unix(p) => p.display().to_string(),
                },
                proto: match b.spec.proto {
                    Proto::Http => "http",
                    Proto::Uwsgi => "uwsgi",
                },
                fd: b.fd.as_raw_fd(),
            })
            .collect();
        let mountpoints = cfg.apps.iter().map(|a| a.mountpoint.clone()).collect();
        let chdir = cfg.chdir.as_ref().map(|d| d.display().to_string()).unwrap_or_default();
        Ok(Some(Server { listeners, conns: Vec::new(), board, inst: Instance { sockets, mountpoints, chdir }, previous: Vec::new() }))
    }

    /// In a freshly forked worker: close our copies of the stats sockets,
    /// so only the master holds them (a worker outliving a killed master
    /// must not keep the port from its successor). The worker never
    /// returns to drop `self`, so nothing is closed twice.
    pub fn close_in_child(&self) {
        for (s, _, _) in &self.listeners {
            unsafe { libc::close(s.as_raw_fd()) };
        }
        for c in &self.conns {
            unsafe { libc::close(c.sock.as_raw_fd()) };
        }
    }

    /// What to poll for, to be passed back to `service` once ready.
    pub fn poll_fds(&self) -> Vec<PollFd<'_>> {
        let mut v: Vec<PollFd<'_>> = self.listeners.iter().map(|(s, _, _)| PollFd::new(s.as_fd(), PollFlags::POLLIN)).collect();
        for c in &self.conns {
            let ev = match c.state {
                State::Reading(_) => PollFlags::POLLIN,
                State::Writing(..) => PollFlags::POLLOUT,
            };
            v.push(PollFd::new(c.sock.as_fd(), ev));
        }
        v
    }

    /// How long the caller may sleep before `service` has a deadline to
    /// enforce.
    pub fn next_deadline(&self) -> Option<Duration> {
        let now = Instant::now();
        self.conns.iter().map(|c| c.deadline.saturating_duration_since(now)).min()
    }

    /// Accepts what is waiting and moves every connection on; never blocks.
    pub fn service(&mut self) {
        for i in 0..self.listeners.len() {
            while let Ok((sock, _)) = self.listeners[i].0.accept() {
                let kind = self.listeners[i].1;
                if sock.set_nonblocking(true).is_err() || self.conns.len() >= 64 {
                    continue;
                }
                let state = match kind {
                    Kind::Stats { http: false } => State::Writing(self.body(kind).into_bytes(), 0),
                    _ => State::Reading(Vec::new()),
                };
                self.conns.push(Conn { sock, kind, state, deadline: Instant::now() + DEADLINE });
            }
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.conns.len() {
            let done = now >= self.conns[i].deadline || self.step(i);
            if done {
                let c = self.conns.swap_remove(i);
                let _ = c.sock.shutdown(std::net::Shutdown::Write);
            } else {
                i += 1;
            }
        }
    }

    /// Moves connection `i` on; true when it is finished (or failed).
    fn step(&mut self, i: usize) -> bool {
        loop {
            let c = &mut self.conns[i];
            match &mut c.state {
                State::Reading(buf) => {
                    let mut chunk = [0u8; 2048];
                    match (&c.sock).read(&mut chunk) {
                        Ok(0) => return true,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => return true,
                    }
                    if buf.len() > MAX_REQUEST {
                        c.state = State::Writing(http_response("431 Request Header Fields Too Large", "text/plain", "request head too large\n"), 0);
                        continue;
                    }
                    if memchr::memmem::find(buf, b"\r\n\r\n").is_none() {
                        continue;
                    }
                    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
                    let line = String::from_utf8_lossy(line).into_owned();
                    let mut words = line.split_whitespace();
                    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
                    let path = path.split('?').next().unwrap_or("/").to_string();
                    let kind = c.kind;
                    let response = if method != "GET" && method != "HEAD" {
                        http_response("405 Method Not Allowed", "text/plain", "only GET\n")
                    } else {
                        match (kind, path.as_str()) {
                            (Kind::Metrics, "/" | "/metrics") | (Kind::Stats { .. }, "/metrics") => {
                                http_response("200 OK", PROMETHEUS, &self.body(Kind::Metrics))
                            }
                            (Kind::Metrics, _) => http_response("404 Not Found", "text/plain", "the metrics are at /metrics\n"),
                            (Kind::Stats { .. }, _) => http_response("200 OK", "application/json", &self.body(kind)),
                        }
                    };
                    let response = if method == "HEAD" { head_only(response) } else { response };
                    self.conns[i].state = State::Writing(response, 0);
                }
                State::Writing(buf, at) => {
                    if *at >= buf.len() {
                        return true;
                    }
                    match (&c.sock).write(&buf[*at..]) {
                        Ok(n) => *at += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => return true,
                    }
                }
            }
        }
    }

    fn body(&mut self, kind: Kind) -> String {
        match kind {
            Kind::Metrics => render::prometheus(self.board, &self.inst),
            Kind::Stats { .. } => render::json(self.board, &self.inst, &mut self.previous),
        }
    }
}

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

fn http_response(status: &str, ctype: &str, body: &str) -> Vec<u8> {
    format!("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status, ctype, body.len(), body).into_bytes()
}

fn head_only(mut response: Vec<u8>) -> Vec<u8> {
    if let Some(end) = memchr::memmem::find(&response, b"\r\n\r\n") {
        response.truncate(end + 4);
    }
    response
}

/// Serves from a thread of its own, for a server without a master (the
/// lone worker never forks, so a thread is safe there).
pub fn spawn_thread(mut server: Server) {
    let _ = std::thread::Builder::new().name("stats".into()).spawn(move || {
        loop {
            let timeout = server.next_deadline().unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
            {
                let mut fds = server.poll_fds();
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(timeout.as_millis() as i32).unwrap_or(nix::poll::PollTimeout::MAX));
            }
            server.service();
        }
    });
}
