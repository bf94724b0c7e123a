//! --emperor-stats: the Emperor's own stats JSON (its vassals, their pids,
//! starts and on-demand sockets), one document per connection, as uWSGI's
//! Emperor serves it. A non-blocking listener the Emperor's loop polls.

use super::vassal::{State, Vassal};
use crate::options::ListenAddr;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};

pub struct StatsServer {
    listener: socket2::Socket,
    path: Option<std::path::PathBuf>,
}

impl StatsServer {
    pub fn bind(addr: &ListenAddr) -> Result<StatsServer, String> {
        let l = crate::options::Listener { addr: addr.clone(), proto: crate::options::Proto::Uwsgi };
        let b = crate::net::bind_one(&l, &crate::net::BindOptions::plain(64)).map_err(|e| format!("--emperor-stats: {}", e))?;
        let path = b.unix_path().cloned();
        let listener = socket2::Socket::from(b.fd);
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        crate::logln!("oxwsgi emperor: stats served on {}", addr);
        Ok(StatsServer { listener, path })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    /// Answers whoever is waiting.
    pub fn serve(&self, scope_dir: &std::path::Path, tyrant: bool, vassals: &BTreeMap<String, Vassal>) {
        while let Ok((conn, _)) = self.listener.accept() {
            let doc = document(scope_dir, tyrant, vassals);
            let mut conn = std::fs::File::from(std::os::fd::OwnedFd::from(conn));
            let _ = conn.write_all(doc.to_string().as_bytes());
        }
    }
}

impl Drop for StatsServer {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn document(scope_dir: &std::path::Path, tyrant: bool, vassals: &BTreeMap<String, Vassal>) -> serde_json::Value {
    let mtime = |v: &Vassal| {
        std::fs::metadata(&v.path).and_then(|m| m.modified()).ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs()).unwrap_or(0)
    };
    let list: Vec<_> = vassals
        .values()
        .map(|v| {
            json!({
                "id": v.name,
                "pid": v.pid().unwrap_or(0),
                "born": v.born,
                "last_mod": mtime(v),
                "loyal": matches!(v.state, State::Running),
                "ready": matches!(v.state, State::Running),
                "respawns": v.starts.saturating_sub(1),
                "on_demand": v.on_demand.as_ref().map(|(_, p)| p.display().to_string()).unwrap_or_default(),
                "state": match v.state {
                    State::Running => "running",
                    State::OnDemand => "on-demand",
                    State::Stopping => "stopping",
                    State::Respawn(_) => "respawning",
                    State::Broken(_) => "broken",
                },
                "cursed": 0,
                "zerg": 0,
                "uid": 0,
                "gid": 0,
            })
        })
        .collect();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uid": nix::unistd::getuid().as_raw(),
        "gid": nix::unistd::getgid().as_raw(),
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "emperor": [scope_dir.display().to_string()],
        "emperor_tyrant": tyrant,
        "throttle_level": 0,
        "vassals": list,
        "blacklist": [],
    })
}
