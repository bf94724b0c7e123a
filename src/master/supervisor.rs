//! The master: forks the workers, respawns them, and turns signals into
//! stops and reloads. It runs no threads (it forks again and again), so it
//! waits for signals on a signalfd instead of handlers.
//!
//! Signals (see ARCHITECTURE.md): SIGTERM graceful stop, SIGINT/SIGQUIT
//! immediate stop, SIGHUP graceful reload (the master re-executes itself
//! with the listening sockets kept open while the workers go on serving;
//! the new master retires them once its own accept: handover.rs),
//! SIGTTIN/SIGTTOU add or
//! remove a worker, SIGUSR1 logs the workers.

use super::slots::{Chain, Slot, cheap_worker, cheaper_sample, describe, evil_reload, respawn_cause, signal_all};
use crate::net::Bound;
use crate::options::Config;
use crate::python::loader::App;
use crate::worker;
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why the master loop ended.
pub enum MasterExit {
    Stop,
    /// With the workers that still serve: the new master retires them once
    /// its own accept (handover.rs); none if they were stopped first.
    Reload(Vec<Pid>),
    /// A fatal hook of the master failed: the instance stops with it.
    Failed(String),
}

/// Spawns up to `n` workers into cheap slots, the lowest first.
fn decheap(
    n: usize,
    cfg: &Arc<Config>,
    bound: &[Bound],
    apps: &Option<Vec<App>>,
    slots: &mut [Slot],
    stats: &Option<crate::stats::server::Server>,
    signals: &mut crate::uwsgi_signals::Master,
) -> usize {
    let mut spawned = 0;
    for s in slots.iter_mut().filter(|s| s.cheap && s.pid.is_none()).take(n) {
        s.cheap = false;
        spawn(cfg, bound, apps, s, stats, signals);
        spawned += 1;
    }
    spawned
}

fn spawn(
    cfg: &Arc<Config>,
    bound: &[Bound],
    apps: &Option<Vec<App>>,
    slot: &mut Slot,
    stats: &Option<crate::stats::server::Server>,
    signals: &mut crate::uwsgi_signals::Master,
) {
    if let Some(b) = crate::stats::board() {
        b.prepare_spawn(slot.id - 1);
    }
    crate::worker::balance::reset(slot.id);
    let own_signals = signals.prepare_worker(slot.id);
    let log_streams = match crate::log::master::for_worker() {
        Ok(s) => s,
        Err(e) => {
            crate::logln!("oxwsgi: cannot fork worker {}: {}; retrying in 1s", slot.id, e);
            slot.respawn_at = Some(Instant::now() + Duration::from_secs(1));
            return;
        }
    };
    match crate::python::fork::fork_with_python() {
        Ok(nix::unistd::ForkResult::Child) => {
            crate::master::daemon::forget_ready_pipe();
            if let Some(s) = stats {
                s.close_in_child();
            }
            signals.close_in_child();
            crate::log::master::close_in_child();
            if let Some(ends) = &log_streams {
                crate::log::become_worker(ends);
            }
            // Kept open for the worker's life (become_worker writes to them).
            std::mem::forget(log_streams);
            if let Some(fd) = own_signals {
                crate::uwsgi_signals::become_worker(fd);
            }
            // If the master dies, so do we (gracefully): no orphan workers.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
            let apps = apps
                .as_ref()
                .map(|a| pyo3::Python::attach(|py| a.iter().map(|x| App { mountpoint: x.mountpoint.clone(), callable: x.callable.clone_ref(py) }).collect()));
            crate::procname::name_as(cfg, crate::procname::Role::Worker(slot.id));
            // --master-as-root: the master kept root; its workers do not.
            if cfg.master_as_root
                && (cfg.uid.is_some() || cfg.gid.is_some())
                && let Err(e) = crate::master::privileges::drop_privileges(cfg.uid.as_deref(), cfg.gid.as_deref())
            {
                crate::logln!("oxwsgi: worker {} (pid {}) cannot start: {}", slot.id, std::process::id(), e);
                std::process::exit(22);
            }
            crate::hooks::set_respawned(slot.spawned);
            let as_user = if cfg.master_as_root { crate::hooks::run(crate::hooks::Phase::AsUser) } else { Ok(()) };
            if let Err(e) = as_user.and_then(|_| crate::hooks::run(crate::hooks::Phase::PostFork)) {
                crate::hooks::fail_in_worker(&e);
            }
            let code = match worker::run(cfg.clone(), bound, apps, slot.id, || std::process::exit(0)) {
                worker::Exit::Graceful { .. } => 0,
                worker::Exit::Failed(e) => {
                    crate::logln!("oxwsgi: worker {} (pid {}) cannot start: {}", slot.id, std::process::id(), e);
                    22
                }
            };
            std::process::exit(code);
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            crate::logln!("oxwsgi: spawned worker {} (pid: {})", slot.id, child);
            if let Some(b) = crate::stats::board() {
                b.worker(slot.id - 1).pid.store(child.as_raw() as u64, std::sync::atomic::Ordering::Relaxed);
            }
            slot.pid = Some(child);
            slot.spawned = true;
            slot.started = Instant::now();
            slot.respawn_at = None;
        }
        Err(e) => {
            crate::logln!("oxwsgi: cannot fork worker {}: {}; retrying in 1s", slot.id, e);
            slot.respawn_at = Some(Instant::now() + Duration::from_secs(1));
        }
    }
}

/// Runs the master until a stop or a reload has finished with every worker.
pub fn run(cfg: Arc<Config>, bound: &[Bound], apps: Option<Vec<App>>, mut stats: Option<crate::stats::server::Server>) -> MasterExit {
    // uWSGI signals: what the app asked for while it loaded, then routing.
    let mut signals = crate::uwsgi_signals::Master::new();
    crate::procname::name_as(&cfg, crate::procname::Role::Master);
    let mut slots: Vec<Slot> = (1..=cfg.processes).map(Slot::new).collect();
    // --cheap: no worker until a connection comes; cheaper mode: the initial ones.
    let mut waiting = cfg.cheap;
    let initial = cfg.cheaper.as_ref().map_or(cfg.processes, |c| c.initial);
    for s in slots.iter_mut() {
        if waiting || s.id > initial {
            s.cheap = true;
        } else {
            spawn(&cfg, bound, &apps, s, &stats, &mut signals);
        }
    }
    if waiting {
        crate::logln!("oxwsgi: --cheap: no worker until the first connection");
    }
    let mut cheaper = cfg.cheaper.clone().map(super::cheaper::Cheaper::new);
    let mut last_tick = Instant::now();
    // --idle: the request count last seen, and since when.
    let mut idle_seen = (0u64, Instant::now());
    if let Err(e) = crate::hooks::run(crate::hooks::Phase::MasterStart) {
        crate::logln!("oxwsgi: FATAL hook failed, destroying instance");
        signal_all(&slots, Signal::SIGINT);
        for p in slots.iter().filter_map(|s| s.pid) {
            let _ = waitpid(p, None);
        }
        return MasterExit::Failed(e);
    }
    // Signals the master-start hooks remapped (unix_signal) are read here
    // too; blocked only now, so the workers forked above do not hold them.
    let remaps = crate::hooks::signal_remaps();
    let mut sigs = crate::unix_signals::server_signals();
    for (s, _) in &remaps {
        if let Ok(s) = Signal::try_from(*s) {
            sigs.add(s);
        }
    }
    let _ = sigs.thread_block();
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC).expect("signalfd");
    let mut daemons = super::daemons::Daemons::start(&cfg.daemons);
    crate::master::daemon::report_ready();
    let mut ending: Option<(MasterExit, Instant)> = None;
    let mtime = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut touched: Vec<_> = cfg.touch_reload.iter().map(|p| mtime(p)).collect();
    let mut chain_touched: Vec<_> = cfg.touch_chain_reload.iter().map(|p| mtime(p)).collect();
    let mut workers_touched: Vec<_> = cfg.touch_workers_reload.iter().map(|p| mtime(p)).collect();
    let mut fifo = match super::fifo::MasterFifo::open(&cfg.master_fifo) {
        Ok(f) => f,
        Err(e) => {
            crate::logln!("oxwsgi: {}", e);
            None
        }
    };
    let mut chain: Option<Chain> = None;
    let mut previous = super::handover::Previous::take();
    // The FIFO's p: the workers are suspended.
    let mut paused = false;
    let exit = 'main: loop {
        // Wait for a signal, or the next respawn, at most a second.
        let now = Instant::now();
        let mut next = slots
            .iter()
            .filter_map(|s| s.respawn_at)
            .min()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        if let Some(d) = stats.as_ref().and_then(|s| s.next_deadline()) {
            next = next.min(d);
        }
        if let Some(d) = signals.next_deadline() {
            next = next.min(d);
        }
        if let Some(d) = daemons.next_deadline() {
            next = next.min(d);
        }
        if let Some(d) = crate::log::master::next_deadline() {
            next = next.min(d);
        }
        if chain.is_some() {
            next = next.min(Duration::from_millis(20));
        }
        {
            // The stats sockets share the wait: a request for stats wakes us.
            let mut pfd = vec![nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&sfd), nix::poll::PollFlags::POLLIN)];
            if let Some(s) = &stats {
                pfd.extend(s.poll_fds());
            }
            pfd.extend(signals.poll_fds());
            if let Some(f) = &fifo {
                pfd.push(nix::poll::PollFd::new(f.fd(), nix::poll::PollFlags::POLLIN));
            }
            let log_fds = crate::log::master::poll_fds();
            // SAFETY: the log master keeps these open while we poll.
            pfd.extend(log_fds.iter().map(|&fd| nix::poll::PollFd::new(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }, nix::poll::PollFlags::POLLIN)));
            // With no worker (--cheap, --idle), a connection wakes them.
            let listening = pfd.len();
            if waiting && ending.is_none() {
                pfd.extend(bound.iter().map(|b| nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&b.fd), nix::poll::PollFlags::POLLIN)));
            }
            let _ = nix::poll::poll(&mut pfd, nix::poll::PollTimeout::try_from(next.as_millis() as i32).unwrap_or(nix::poll::PollTimeout::MAX));
            let knocked = pfd[listening..].iter().any(|p| p.revents().is_some_and(|r| r.contains(nix::poll::PollFlags::POLLIN)));
            if knocked {
                waiting = false;
                let n = decheap(initial.max(1), &cfg, bound, &apps, &mut slots, &stats, &mut signals);
                crate::logln!("oxwsgi: a connection is waiting: {} worker(s) started", n);
                idle_seen.1 = Instant::now();
            }
        }
        crate::log::master::service();
        if let Some(s) = stats.as_mut() {
            s.service();
        }
        signals.service(&|id| slots.iter().any(|s| s.id == id && s.pid.is_some()));
        // Signals, and the master FIFO's commands, as (signal, why, brutal reload).
        let mut events: Vec<(Option<Signal>, String, bool)> = Vec::new();
        while let Ok(Some(si)) = sfd.read_signal() {
            let signo = si.ssi_signo as i32;
            let got = Signal::try_from(signo).map(|s| s.to_string()).unwrap_or_else(|_| format!("signal {}", signo));
            use crate::hooks::MasterAction;
            let remapped = remaps.iter().find(|(s, _)| *s == signo).map(|(_, a)| *a);
            // A remapped signal does what its function says, as the signal
            // that does it by default would.
            let sig = match remapped {
                Some(MasterAction::GracefulStop) => Some(Signal::SIGTERM),
                Some(MasterAction::Stop) => Some(Signal::SIGINT),
                Some(MasterAction::GracefulReload) => Some(Signal::SIGHUP),
                Some(MasterAction::BrutalReload) => None,
                None => Signal::try_from(signo).ok(),
            };
            let why = match remapped {
                Some(a) => format!("{} received (unix_signal: {})", got, a.function()),
                None => format!("{} received", got),
            };
            events.push((sig, why, remapped == Some(MasterAction::BrutalReload)));
        }
        if let Some(f) = fifo.as_mut() {
            use super::fifo::Command as C;
            for c in f.commands() {
                let why = format!("master FIFO command {:?}", c);
                let sig = match c {
                    C::GracefulReload => Some(Signal::SIGHUP),
                    C::GracefulStop => Some(Signal::SIGTERM),
                    C::Stop => Some(Signal::SIGINT),
                    C::Stats => Some(Signal::SIGUSR1),
                    C::MoreWorkers => Some(Signal::SIGTTIN),
                    C::FewerWorkers => Some(Signal::SIGTTOU),
                    C::BrutalReload => {
                        events.push((None, why, true));
                        continue;
                    }
                    C::ChainReload if ending.is_none() => {
                        chain = Some(Chain::start(&cfg, &slots, &why));
                        None
                    }
                    C::WorkersReload | C::WorkersBrutalReload if ending.is_none() => {
                        let brutal = c == C::WorkersBrutalReload;
                        crate::logln!("oxwsgi: {}: replacing every worker{}", why, if brutal { " now" } else { " gracefully" });
                        signal_all(&slots, if brutal { Signal::SIGINT } else { Signal::SIGTERM });
                        None
                    }
                    C::ReopenLog | C::RotateLog => {
                        if !crate::log::master::reopen_or_rotate(c == C::RotateLog) {
                            crate::logln!("oxwsgi: {}: needs --log-master and --logto (or --daemonize)", why);
                        }
                        None
                    }
                    C::Pidfiles => {
                        for (p, atomic) in [(&cfg.pidfile, false), (&cfg.safe_pidfile, true), (&cfg.pidfile2, false), (&cfg.safe_pidfile2, true)] {
                            if let Some(p) = p
                                && let Err(e) = crate::master::daemon::write_pidfile(p, atomic)
                            {
                                crate::logln!("oxwsgi: {}: {}", why, e);
                            }
                        }
                        None
                    }
                    C::PauseResume if ending.is_none() => {
                        paused = !paused;
                        crate::logln!("oxwsgi: {}: {} every worker", why, if paused { "suspending (SIGSTOP)" } else { "resuming (SIGCONT)" });
                        signal_all(&slots, if paused { Signal::SIGSTOP } else { Signal::SIGCONT });
                        None
                    }
                    C::GoCheap if ending.is_none() => {
                        crate::logln!("oxwsgi: {}: going cheap: every worker stops until the next connection", why);
                        resume(&slots, &mut paused);
                        for s in slots.iter_mut() {
                            s.cheap = true;
                            if let Some(p) = s.pid {
                                let _ = kill(p, Signal::SIGTERM);
                            }
                        }
                        waiting = true;
                        None
                    }
                    C::Unsupported(letter) => {
                        crate::logln!("oxwsgi: master FIFO: '{}' is not a command oxwsgi has", letter);
                        None
                    }
                    C::Slot(_) | C::ChainReload | C::WorkersReload | C::WorkersBrutalReload | C::PauseResume | C::GoCheap => None,
                };
                if sig.is_some() {
                    events.push((sig, why, false));
                }
            }
        }
        // A suspended worker would not see a stop, nor finish for a reload.
        if events.iter().any(|(sig, _, brutal)| *brutal || matches!(sig, Some(Signal::SIGHUP | Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT))) {
            resume(&slots, &mut paused);
        }
        for (sig, why, brutal) in events {
            if brutal {
                if ending.is_none() && config_still_valid(&cfg) {
                    crate::logln!("oxwsgi: {}: reloading now, without waiting for requests", why);
                    signal_all(&slots, Signal::SIGINT);
                    ending = Some((MasterExit::Reload(Vec::new()), Instant::now() + Duration::from_secs(3)));
                }
                continue;
            }
            match sig {
                Some(Signal::SIGHUP) if ending.is_none() && !config_still_valid(&cfg) => {}
                Some(Signal::SIGTERM) if ending.is_none() => ending = Some(wind_down(&cfg, &slots, &why)),
                Some(Signal::SIGHUP) if ending.is_none() => break 'main hand_over(&slots, &mut previous, &why),
                Some(Signal::SIGINT) | Some(Signal::SIGQUIT) => {
                    crate::logln!("oxwsgi: {}: stopping now", why);
                    signal_all(&slots, Signal::SIGINT);
                    ending = Some((MasterExit::Stop, Instant::now() + Duration::from_secs(3)));
                }
                Some(Signal::SIGUSR1) => {
                    crate::logln!(
                        "oxwsgi: master (pid {}): {} workers; each logs its own numbers",
                        std::process::id(),
                        slots.iter().filter(|s| s.pid.is_some()).count()
                    );
                    signal_all(&slots, Signal::SIGUSR1);
                }
                Some(Signal::SIGTTIN) if ending.is_none() && slots.iter().any(|s| s.cheap && s.pid.is_none()) => {
                    waiting = false;
                    decheap(1, &cfg, bound, &apps, &mut slots, &stats, &mut signals);
                }
                Some(Signal::SIGTTOU) if ending.is_none() && cheaper.is_some() => {
                    let min = cfg.cheaper.as_ref().map_or(1, |c| c.min.max(1));
                    let running: Vec<usize> = slots.iter().filter(|s| !s.cheap && s.pid.is_some()).map(|s| s.id).collect();
                    match running.last() {
                        Some(&id) if running.len() > min => cheap_worker(&mut slots, id, "SIGTTOU"),
                        _ => crate::logln!("oxwsgi: SIGTTOU: already at --cheaper {} worker(s)", min),
                    }
                }
                Some(Signal::SIGTTIN) if ending.is_none() && slots.len() >= crate::master::worker_capacity(&cfg) => {
                    crate::logln!("oxwsgi: SIGTTIN: already {} workers, the most this instance has room for (--processes + 64)", slots.len());
                }
                Some(Signal::SIGTTIN) if ending.is_none() => {
                    let id = slots.len() + 1;
                    let mut s = Slot::new(id);
                    spawn(&cfg, bound, &apps, &mut s, &stats, &mut signals);
                    slots.push(s);
                    if let Some(b) = crate::stats::board() {
                        b.set_active(slots.len());
                    }
                }
                Some(Signal::SIGTTOU) if ending.is_none() && slots.len() > 1 => {
                    let s = slots.pop().unwrap();
                    crate::logln!("oxwsgi: SIGTTOU: stopping worker {}", s.id);
                    if let Some(b) = crate::stats::board() {
                        b.set_active(slots.len());
                    }
                    if let Some(p) = s.pid {
                        let _ = kill(p, Signal::SIGTERM);
                    }
                }
                _ => {}
            }
        }
        if ending.is_none() {
            let touched_now = |list: &[std::path::PathBuf], seen: &mut Vec<Option<std::time::SystemTime>>| {
                let mut hit = None;
                for (p, s) in list.iter().zip(seen.iter_mut()) {
                    let now = mtime(p);
                    if now != *s {
                        *s = now;
                        hit = Some(p.display().to_string());
                    }
                }
                hit
            };
            if let Some(p) = touched_now(&cfg.touch_chain_reload, &mut chain_touched) {
                chain = Some(Chain::start(&cfg, &slots, &format!("{} was touched (--touch-chain-reload)", p)));
            }
            if let Some(p) = touched_now(&cfg.touch_workers_reload, &mut workers_touched) {
                crate::logln!("oxwsgi: {} was touched (--touch-workers-reload): replacing every worker gracefully", p);
                signal_all(&slots, Signal::SIGTERM);
            }
            for (p, seen) in cfg.touch_reload.iter().zip(touched.iter_mut()) {
                let now = mtime(p);
                if now != *seen {
                    *seen = now;
                    if !config_still_valid(&cfg) {
                        continue;
                    }
                    let why = format!("{} was touched (--touch-reload)", p.display());
                    resume(&slots, &mut paused);
                    break 'main hand_over(&slots, &mut previous, &why);
                }
            }
        }
        // Reap.
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(st) => {
                    let Some(pid) = st.pid() else { break };
                    let Some(slot) = slots.iter_mut().find(|s| s.pid == Some(pid)) else {
                        if previous.reaped(pid, &describe(st)) {
                            continue;
                        }
                        if let Some(why) = daemons.reaped(pid.as_raw(), &describe(st), ending.is_some()) {
                            ending = Some(wind_down(&cfg, &slots, &why));
                        }
                        continue;
                    };
                    slot.pid = None;
                    crate::worker::balance::reset(slot.id);
                    let board = crate::stats::board();
                    if let Some(b) = board {
                        b.worker(slot.id - 1).pid.store(0, std::sync::atomic::Ordering::Relaxed);
                    }
                    if ending.is_some() {
                        crate::logln!("oxwsgi: worker {} (pid: {}) stopped ({})", slot.id, pid, describe(st));
                        continue;
                    }
                    if matches!(st, WaitStatus::Exited(_, crate::hooks::FATAL_EXIT)) {
                        let id = slot.id;
                        crate::logln!("oxwsgi: FATAL hook failed in worker {}, destroying instance", id);
                        signal_all(&slots, Signal::SIGINT);
                        for p in slots.iter_mut().filter_map(|s| s.pid.take()) {
                            let _ = waitpid(p, None);
                        }
                        break 'main MasterExit::Failed(format!("a hook of worker {} failed (see above)", id));
                    }
                    if slot.cheap {
                        crate::logln!("oxwsgi: worker {} (pid: {}) stopped ({}); its slot stays cheap", slot.id, pid, describe(st));
                        continue;
                    }
                    let lived = slot.started.elapsed();
                    let clean = matches!(st, WaitStatus::Exited(_, 0));
                    if lived < Duration::from_secs(1) && !clean {
                        slot.quick_deaths += 1;
                    } else {
                        slot.quick_deaths = 0;
                    }
                    let delay = if slot.quick_deaths == 0 { Duration::ZERO } else { Duration::from_millis(250u64 << slot.quick_deaths.min(7)) };
                    crate::logln!(
                        "oxwsgi: worker {} (pid: {}) {} after {:.1}s, respawning{}",
                        slot.id,
                        pid,
                        if clean { "retired (exit status 0)".to_string() } else { format!("died ({})", describe(st)) },
                        lived.as_secs_f64(),
                        if delay.is_zero() { String::new() } else { format!(" in {:.1}s (it keeps dying at start)", delay.as_secs_f64()) }
                    );
                    slot.respawn_at = Some(Instant::now() + delay);
                    if let Some(b) = board {
                        b.count_respawn(respawn_cause(b.worker(slot.id - 1), st));
                    }
                }
            }
        }
        if let Some((_, deadline)) = &ending {
            // Stopping: the previous generation stops too (it dies with
            // us anyway, through PR_SET_PDEATHSIG).
            previous.stop(Signal::SIGTERM);
            if slots.iter().all(|s| s.pid.is_none()) {
                break 'main ending.unwrap().0;
            }
            if Instant::now() >= *deadline {
                crate::logln!("oxwsgi: workers still busy past the deadline: killing them");
                signal_all(&slots, Signal::SIGKILL);
                for s in slots.iter_mut() {
                    if let Some(p) = s.pid.take() {
                        let _ = waitpid(p, None);
                    }
                }
                break 'main ending.unwrap().0;
            }
            continue;
        }
        daemons.service();
        previous.step(&slots);
        if let Some(c) = chain.as_mut()
            && c.step(&slots)
        {
            chain = None;
        }
        if !waiting && last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            if cfg.evil_reload_on_rss_mb > 0 || cfg.evil_reload_on_as_mb > 0 {
                evil_reload(&cfg, &slots);
            }
            if cfg.idle > 0
                && let Some(board) = crate::stats::board()
            {
                use std::sync::atomic::Ordering::Relaxed;
                let served: u64 = (0..slots.len()).map(|i| board.worker(i).requests.load(Relaxed)).sum();
                let busy = slots.iter().any(|s| s.pid.is_some() && board.worker(s.id - 1).in_flight.load(Relaxed) > 0);
                if served != idle_seen.0 || busy {
                    idle_seen = (served, Instant::now());
                } else if idle_seen.1.elapsed() >= Duration::from_secs(cfg.idle) {
                    if cfg.die_on_idle {
                        ending = Some(wind_down(&cfg, &slots, &format!("no request for {}s (--idle, --die-on-idle)", cfg.idle)));
                        continue;
                    }
                    crate::logln!("oxwsgi: no request for {}s (--idle): stopping the workers until the next connection", cfg.idle);
                    for s in slots.iter_mut() {
                        s.cheap = true;
                        if let Some(p) = s.pid {
                            let _ = kill(p, Signal::SIGTERM);
                        }
                    }
                    waiting = true;
                }
            }
            if let (Some(c), false) = (cheaper.as_mut(), waiting) {
                let sample = cheaper_sample(&slots, bound, c.spec());
                match c.tick(&sample) {
                    super::cheaper::Decision::Spawn(n) => {
                        let n = decheap(n, &cfg, bound, &apps, &mut slots, &stats, &mut signals);
                        crate::logln!("oxwsgi: cheaper ({}): {} worker(s) started, {} running", c.spec().algo.name(), n, sample.active.len() + n);
                    }
                    super::cheaper::Decision::Cheap(id) => cheap_worker(&mut slots, id, "cheaper"),
                    super::cheaper::Decision::Nothing => {}
                }
            }
        }
        let now = Instant::now();
        for s in slots.iter_mut() {
            if s.pid.is_none() && s.respawn_at.is_some_and(|t| t <= now) {
                spawn(&cfg, bound, &apps, s, &stats, &mut signals);
            }
        }
    };
    if let (Some(f), MasterExit::Stop | MasterExit::Failed(_)) = (&fifo, &exit) {
        f.remove();
    }
    // Plain daemons end with this master (a reloaded one starts them again).
    daemons.stop(matches!(exit, MasterExit::Reload(_)), Duration::from_secs(3));
    exit
}

/// Resumes the workers the FIFO's p suspended.
fn resume(slots: &[Slot], paused: &mut bool) {
    if std::mem::take(paused) {
        signal_all(slots, Signal::SIGCONT);
    }
}

/// A graceful reload that overlaps the generations (handover.rs): the
/// workers, and any of the previous generation still serving, go on
/// accepting while the master re-executes itself.
fn hand_over(slots: &[Slot], previous: &mut super::handover::Previous, why: &str) -> MasterExit {
    crate::logln!("oxwsgi: {}: reloading; the workers serve until the new ones accept", why);
    let mut serving: Vec<Pid> = slots.iter().filter_map(|s| s.pid).collect();
    serving.extend(previous.still_serving());
    MasterExit::Reload(serving)
}

/// A graceful stop: the workers finish their requests, for up to
/// --reload-mercy. (A graceful reload does not stop them: hand_over.)
fn wind_down(cfg: &Config, slots: &[Slot], why: &str) -> (MasterExit, Instant) {
    crate::logln!("oxwsgi: {}: stopping gracefully, workers finish their requests (up to --reload-mercy {}s)", why, cfg.reload_mercy);
    signal_all(slots, Signal::SIGTERM);
    (MasterExit::Stop, Instant::now() + Duration::from_secs(cfg.reload_mercy))
}

/// A reload re-reads the config and loads the app again: if either is
/// broken now, say so (the traceback is in the log) and keep serving with
/// the workers we have rather than stop; the next reload tries again.
fn config_still_valid(cfg: &Config) -> bool {
    let new = match crate::options::parse_args(&cfg.argv) {
        Ok(crate::options::Action::Run(c)) => c,
        Ok(_) => return true,
        Err(e) => {
            crate::logln!("oxwsgi: not reloading, the configuration is broken: {}", e);
            return false;
        }
    };
    if new.apps.is_empty() || new.emperor.is_some() {
        return true;
    }
    match super::check_app_loads(cfg) {
        Ok(()) => true,
        Err(e) => {
            crate::logln!("oxwsgi: not reloading, the new version of the app does not load ({}); the running workers keep serving", e);
            false
        }
    }
}
