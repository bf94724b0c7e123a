//! The two views of the scoreboard: uWSGI's stats JSON (the keys uwsgitop
//! and the usual collectors read) and the Prometheus text format.

use super::board::{BUCKETS_US, Board, CAUSES, WorkerSlot};
use serde_json::{Value, json};
use std::fmt::Write;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering::Relaxed;

/// A listening socket, as the stats name it.
pub struct SocketInfo {
    pub name: String,
    pub proto: &'static str,
    pub fd: RawFd,
}

/// What the master knows that the board does not.
pub struct Instance {
    pub sockets: Vec<SocketInfo>,
    pub mountpoints: Vec<String>,
    pub chdir: String,
}

pub(crate) fn worker_memory(w: &WorkerSlot) -> (u64, u64) {
    let pid = w.pid.load(Relaxed);
    match (w.rss.load(Relaxed), pid) {
        (_, 0) => (0, 0),
        (0, pid) => super::memory(Some(pid)),
        (rss, _) => (rss, w.vsz.load(Relaxed)),
    }
}

pub(crate) fn status(w: &WorkerSlot) -> &'static str {
    match (w.pid.load(Relaxed), w.in_flight.load(Relaxed)) {
        (0, _) => "cheap",
        (_, 0) => "idle",
        _ => "busy",
    }
}

fn queues(inst: &Instance) -> Vec<(u64, u64)> {
    inst.sockets.iter().map(|s| super::queue::depth(s.fd).unwrap_or((0, 0))).collect()
}

/// uWSGI's stats document. `previous` holds each worker's request count at
/// the last call, for `delta_requests`; it is updated.
pub fn json(board: &Board, inst: &Instance, previous: &mut Vec<u64>) -> String {
    let q = queues(inst);
    let listen_queue = q.iter().map(|x| x.0).max().unwrap_or(0);
    previous.resize(board.capacity, 0);
    let workers: Vec<Value> = (0..board.active())
        .map(|i| {
            let w = board.worker(i);
            let requests = w.since_spawn(0);
            let delta = requests.saturating_sub(previous[i].min(requests));
            previous[i] = requests;
            let (rss, vsz) = worker_memory(w);
            let rt = w.since_spawn(2);
            let exceptions = w.since_spawn(3);
            let apps: Vec<Value> = inst
                .mountpoints
                .iter()
                .enumerate()
                .map(|(id, m)| {
                    let mut a = json!({"id": id, "modifier1": 0, "mountpoint": m, "startup_time": 0, "chdir": inst.chdir});
                    // Requests are counted per worker, not per app: with one
                    // app they are the same; with several we do not guess.
                    if inst.mountpoints.len() == 1 {
                        a["requests"] = json!(requests);
                        a["exceptions"] = json!(exceptions);
                    }
                    a
                })
                .collect();
            let cores: Vec<Value> = (0..board.cores)
                .filter_map(|c| board.core(i, c).map(|s| (c, s)))
                .map(|(c, s)| {
                    json!({
                        "id": c, "requests": s.requests.load(Relaxed), "static_requests": if c == 0 { w.static_requests.load(Relaxed) } else { 0 },
                        "routed_requests": 0, "offloaded_requests": 0, "write_errors": 0, "read_errors": 0,
                        "in_request": s.in_request.load(Relaxed), "vars": [], "req_info": {}
                    })
                })
                .collect();
            json!({
                "id": i + 1,
                "pid": w.pid.load(Relaxed),
                "accepting": w.accepting.load(Relaxed),
                "requests": requests,
                "delta_requests": delta,
                "exceptions": exceptions,
                "harakiri_count": w.harakiri.load(Relaxed),
                "signals": w.signals.load(Relaxed),
                "signal_queue": 0,
                "status": status(w),
                "rss": rss,
                "vsz": vsz,
                "running_time": rt,
                "last_spawn": w.last_spawn.load(Relaxed),
                "respawn_count": w.respawn_count.load(Relaxed),
                "tx": w.since_spawn(1),
                "avg_rt": rt.checked_div(requests).unwrap_or(0),
                "apps": apps,
                "cores": cores,
            })
        })
        .collect();
    let sockets: Vec<Value> = inst
        .sockets
        .iter()
        .zip(&q)
        .map(|(s, (queue, max))| json!({"name": s.name, "proto": s.proto, "queue": queue, "max_queue": max, "shared": 0, "can_offload": 0}))
        .collect();
    let doc = json!({
        "version": crate::python::uwsgi_module::UWSGI_VERSION,
        "server": concat!("oxwsgi ", env!("CARGO_PKG_VERSION")),
        "listen_queue": listen_queue,
        "listen_queue_errors": 0,
        "signal_queue": 0,
        "load": listen_queue,
        "pid": std::process::id(),
        "uid": nix::unistd::getuid().as_raw(),
        "gid": nix::unistd::getgid().as_raw(),
        "cwd": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "locks": [],
        "sockets": sockets,
        "workers": workers,
    });
    doc.to_string()
}

/// The Prometheus text exposition (format 0.0.4).
pub fn prometheus(board: &Board, inst: &Instance) -> String {
    let mut o = String::with_capacity(4096);
    let workers: Vec<(usize, &WorkerSlot)> = (0..board.active()).map(|i| (i + 1, board.worker(i))).collect();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP oxwsgi_{} {}\n# TYPE oxwsgi_{} {}", name, help, name, kind);
    };
    family(&mut o, "requests_total", "counter", "Requests answered, by worker and status class (\"none\": the connection was lost before a status was sent).");
    for (id, w) in &workers {
        for (i, class) in ["none", "1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
            let _ = writeln!(o, "oxwsgi_requests_total{{worker=\"{}\",status=\"{}\"}} {}", id, class, w.status[i].load(Relaxed));
        }
    }
    family(&mut o, "request_duration_seconds", "histogram", "Time from a request's arrival to the end of its response, all workers.");
    let mut cumulative = 0u64;
    for (b, bound) in BUCKETS_US.iter().map(|us| *us as f64 / 1e6).chain([f64::INFINITY]).enumerate() {
        cumulative += workers.iter().map(|(_, w)| w.hist[b].load(Relaxed)).sum::<u64>();
        let le = if bound.is_infinite() { "+Inf".to_string() } else { format!("{}", bound) };
        let _ = writeln!(o, "oxwsgi_request_duration_seconds_bucket{{le=\"{}\"}} {}", le, cumulative);
    }
    let sum_us: u64 = workers.iter().map(|(_, w)| w.rt_us.load(Relaxed)).sum();
    let _ = writeln!(o, "oxwsgi_request_duration_seconds_sum {}", sum_us as f64 / 1e6);
    let _ = writeln!(o, "oxwsgi_request_duration_seconds_count {}", cumulative);
    let per_worker = |o: &mut String, name: &str, kind: &str, help: &str, f: &dyn Fn(&WorkerSlot) -> String| {
        family(o, name, kind, help);
        for (id, w) in &workers {
            let _ = writeln!(o, "oxwsgi_{}{{worker=\"{}\"}} {}", name, id, f(w));
        }
    };
    per_worker(&mut o, "requests_in_flight", "gauge", "Requests being served now.", &|w| w.in_flight.load(Relaxed).to_string());
    per_worker(&mut o, "exceptions_total", "counter", "Requests whose app raised an exception.", &|w| w.exceptions.load(Relaxed).to_string());
    per_worker(&mut o, "harakiri_total", "counter", "Requests interrupted by --harakiri.", &|w| w.harakiri.load(Relaxed).to_string());
    per_worker(&mut o, "static_requests_total", "counter", "Requests answered from --static-map and friends.", &|w| {
        w.static_requests.load(Relaxed).to_string()
    });
    per_worker(&mut o, "tx_bytes_total", "counter", "Response bytes written.", &|w| w.tx.load(Relaxed).to_string());
    per_worker(&mut o, "gil_wait_seconds_total", "counter", "Time Python threads waited to take the GIL before running the app.", &|w| {
        format!("{}", w.gil_wait_ns.load(Relaxed) as f64 / 1e9)
    });
    per_worker(&mut o, "worker_rss_bytes", "gauge", "Resident memory of the worker (0 while it is not running).", &|w| worker_memory(w).0.to_string());
    per_worker(&mut o, "worker_spawns_total", "counter", "Times the worker was started.", &|w| w.respawn_count.load(Relaxed).to_string());
    family(&mut o, "worker_respawns_total", "counter", "Workers replaced, by cause.");
    for c in CAUSES {
        let _ = writeln!(o, "oxwsgi_worker_respawns_total{{cause=\"{}\"}} {}", c.name(), board.respawns(c));
    }
    family(&mut o, "listen_queue", "gauge", "Connections waiting in a listening socket's accept queue.");
    let q = queues(inst);
    for (s, (n, _)) in inst.sockets.iter().zip(&q) {
        let _ = writeln!(o, "oxwsgi_listen_queue{{socket=\"{}\"}} {}", escape(&s.name), n);
    }
    family(&mut o, "listen_queue_max", "gauge", "The accept queue's limit (--listen, capped by the kernel).");
    for (s, (_, m)) in inst.sockets.iter().zip(&q) {
        let _ = writeln!(o, "oxwsgi_listen_queue_max{{socket=\"{}\"}} {}", escape(&s.name), m);
    }
    o
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_formats_carry_the_counters() {
        let b = Board::create(4, 2, 2).unwrap();
        b.prepare_spawn(0);
        b.worker(0).pid.store(std::process::id() as u64, Relaxed);
        let before = b.worker(0).status[2].load(Relaxed);
        b.worker(0).in_flight.fetch_add(1, Relaxed);
        b.worker(0).finish(200, 10, 3_000, false);
        let inst = Instance { sockets: vec![], mountpoints: vec![String::new()], chdir: String::new() };
        let doc: Value = serde_json::from_str(&json(b, &inst, &mut Vec::new())).unwrap();
        let w = &doc["workers"][0];
        assert_eq!(w["id"], 1);
        assert!(w["requests"].as_u64().unwrap() >= 1 && w["rss"].as_u64().unwrap() > 0);
        assert_eq!(w["status"], "idle");
        assert_eq!(doc["workers"][1]["status"], "cheap");
        assert_eq!(w["cores"].as_array().unwrap().len(), 2);
        let text = prometheus(b, &inst);
        assert!(text.contains(&format!("oxwsgi_requests_total{{worker=\"1\",status=\"2xx\"}} {}", before + 1)), "{text}");
        assert!(text.contains("oxwsgi_request_duration_seconds_bucket{le=\"+Inf\"}"));
        assert!(text.contains("oxwsgi_worker_respawns_total{cause=\"harakiri\"}"));
    }
}
