//! uWSGI's hooks: `hook-PHASE = action:argument` and `exec-PHASE = command`
//! run at fixed points of an instance's life, in the order uWSGI runs them
//! (see ARCHITECTURE.md for where each phase falls). Within a phase the
//! hook-* lines run first, then the exec-* ones, each in config order, as
//! in uWSGI. A failing hook stops the instance (every phase is fatal but
//! as-user-atexit). The actions themselves are in actions.rs.

mod actions;

pub use actions::{Action, MasterAction, WaitFor, run_command, set_shells, set_wait_timeouts, wait_for_fs, wait_for_socket};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// A point in the life of an instance where hooks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Right after the config is read, before anything else.
    Asap,
    /// The four root phases: only when started as root, before the drop.
    PreJail,
    PostJail,
    InJail,
    AsRoot,
    /// Right after the privileges are dropped (or would have been).
    AsUser,
    /// Around loading the app: in the master, or in each worker with --lazy-apps.
    PreApp,
    PostApp,
    /// In the master, once its first workers are forked.
    MasterStart,
    /// In each worker, right after the fork.
    PostFork,
    /// In each worker as it starts accepting; `1`: the first worker only;
    /// `once`: the first time only, not after a respawn or reload.
    Accepting,
    Accepting1,
    AcceptingOnce,
    Accepting1Once,
    /// When the instance exits (not on a reload). Not fatal.
    AsUserAtexit,
    /// The Emperor's: as it starts; after it starts a vassal; as it stops
    /// or reloads one (not fatal: one vassal's hook never stops the
    /// Emperor). UWSGI_HOOK_CONTEXT names the vassal, as in uWSGI.
    EmperorStart,
    AsEmperor,
    EmperorStop,
    EmperorReload,
    /// In each vassal, first thing (the Emperor hands the lines over).
    AsVassal,
}

/// Phase names as the options spell them (hook-NAME, exec-NAME), and
/// whether exec-NAME exists in uWSGI.
const PHASES: &[(Phase, &str, bool)] = &[
    (Phase::Asap, "asap", true),
    (Phase::PreJail, "pre-jail", true),
    (Phase::PostJail, "post-jail", true),
    (Phase::InJail, "in-jail", true),
    (Phase::AsRoot, "as-root", true),
    (Phase::AsUser, "as-user", true),
    (Phase::PreApp, "pre-app", true),
    (Phase::PostApp, "post-app", true),
    (Phase::MasterStart, "master-start", false),
    (Phase::PostFork, "post-fork", false),
    (Phase::Accepting, "accepting", false),
    (Phase::Accepting1, "accepting1", false),
    (Phase::AcceptingOnce, "accepting-once", false),
    (Phase::Accepting1Once, "accepting1-once", false),
    (Phase::AsUserAtexit, "as-user-atexit", true),
    (Phase::EmperorStart, "emperor-start", false),
    (Phase::AsEmperor, "as-emperor", true),
    (Phase::EmperorStop, "emperor-stop", false),
    (Phase::EmperorReload, "emperor-reload", false),
    (Phase::AsVassal, "as-vassal", true),
];

impl Phase {
    pub fn name(self) -> &'static str {
        PHASES.iter().find(|p| p.0 == self).map(|p| p.1).unwrap_or("?")
    }

    /// The phase and kind an option names: `hook-pre-app`, `exec-as-user`.
    pub fn of_option(option: &str) -> Option<(Phase, bool)> {
        let (exec, rest) = match option.split_once('-')? {
            ("hook", rest) => (false, rest),
            ("exec", rest) => (true, rest),
            _ => return None,
        };
        PHASES.iter().find(|p| p.1 == rest && (!exec || p.2)).map(|p| (p.0, exec))
    }

    /// Every hook-* and exec-* option we provide, for the option table's test.
    pub fn option_names() -> impl Iterator<Item = String> {
        PHASES.iter().flat_map(|p| std::iter::once(format!("hook-{}", p.1)).chain(p.2.then(|| format!("exec-{}", p.1))))
    }

    /// A phase of the Emperor (as-vassal included: the Emperor hands it on).
    pub fn emperor(self) -> bool {
        matches!(self, Phase::EmperorStart | Phase::AsEmperor | Phase::EmperorStop | Phase::EmperorReload | Phase::AsVassal)
    }

    fn fatal(self) -> bool {
        !matches!(self, Phase::AsUserAtexit | Phase::EmperorStart | Phase::AsEmperor | Phase::EmperorStop | Phase::EmperorReload)
    }

    /// The phases that run in the master process (or the lone worker).
    fn in_master(self) -> bool {
        !matches!(self, Phase::PostFork | Phase::Accepting | Phase::Accepting1 | Phase::AcceptingOnce | Phase::Accepting1Once)
    }
}

/// One configured hook.
#[derive(Debug, Clone)]
pub struct Hook {
    pub phase: Phase,
    /// From an exec-* option (run after the hook-* ones of its phase).
    pub exec: bool,
    /// As written, for the log (unless private: `!action:...`).
    pub text: String,
    pub private: bool,
    pub action: Action,
    /// The option's value as given (handed to vassals for as-vassal).
    pub source: String,
}

impl Hook {
    /// Reads `hook-PHASE = [!]action:argument`, or `exec-PHASE = command`.
    pub fn parse(phase: Phase, exec: bool, value: &str) -> Result<Hook, String> {
        if exec {
            let action = Action::Exec { command: value.to_string(), safe: false };
            return Ok(Hook { phase, exec, text: format!("exec:{}", value), private: false, action, source: value.to_string() });
        }
        let Some((name, arg)) = value.split_once(':') else {
            return Err(format!("'{}' is not a hook: write action:argument (exec:COMMAND, mkdir:DIR, unix_signal:15 gracefully_kill_them_all...)", value));
        };
        let (private, name) = match name.strip_prefix('!') {
            Some(n) => (true, n),
            None => (false, name),
        };
        let action = Action::parse(name, arg)?;
        if matches!(action, Action::UnixSignal(..)) && phase != Phase::MasterStart {
            return Err("unix_signal changes what a signal does to the master: use it in hook-master-start".into());
        }
        if !phase.in_master() && matches!(action, Action::Putenv(_)) && phase != Phase::PostFork {
            return Err("putenv changes the environment, which a worker's threads may be reading once it accepts: use hook-post-fork".into());
        }
        Ok(Hook { phase, exec, text: value.to_string(), private, action, source: value.to_string() })
    }
}

static HOOKS: Mutex<Vec<Hook>> = Mutex::new(Vec::new());
/// This instance was started by a reload (the -once phases do not run).
static RELOADED: AtomicBool = AtomicBool::new(false);
/// This worker has been spawned before in this instance (respawn).
static RESPAWNED: AtomicBool = AtomicBool::new(false);

/// Keeps the configured hooks for the phases to come. `reloaded`: this
/// process is a reload of the instance.
pub fn configure(hooks: &[Hook], reloaded: bool) {
    *HOOKS.lock().unwrap_or_else(|e| e.into_inner()) = hooks.to_vec();
    RELOADED.store(reloaded, Ordering::Relaxed);
}

/// In a freshly forked worker: whether its slot had a worker before.
pub fn set_respawned(respawned: bool) {
    RESPAWNED.store(respawned, Ordering::Relaxed);
}

/// Runs the phase's hooks; an error is a fatal hook's failure (the caller
/// stops the instance, or the worker asks the master to).
pub fn run(phase: Phase) -> Result<(), String> {
    run_in(phase, None)
}

/// `run` for the Emperor's phases: `context` (the vassal) is given to
/// commands as UWSGI_HOOK_CONTEXT.
pub fn run_in(phase: Phase, context: Option<&str>) -> Result<(), String> {
    let hooks: Vec<Hook> = HOOKS.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|h| h.phase == phase).cloned().collect();
    run_hooks(phase, &hooks, context)
}

/// The lines of the Emperor's as-vassal hooks, for a vassal's environment.
pub const AS_VASSAL_ENV: &str = "OXWSGI_AS_VASSAL_HOOKS";

pub fn as_vassal_lines() -> Option<String> {
    let hooks = HOOKS.lock().unwrap_or_else(|e| e.into_inner());
    let lines: Vec<String> =
        hooks.iter().filter(|h| h.phase == Phase::AsVassal).map(|h| format!("{}\t{}", if h.exec { "exec" } else { "hook" }, h.source)).collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

/// In a vassal: runs what the Emperor's as-vassal hooks say, once.
pub fn run_as_vassal() -> Result<(), String> {
    let Some(lines) = std::env::var_os(AS_VASSAL_ENV) else { return Ok(()) };
    // SAFETY: called at start-up, before any thread.
    unsafe { std::env::remove_var(AS_VASSAL_ENV) };
    let mut hooks = Vec::new();
    for line in lines.to_string_lossy().lines() {
        let (kind, text) = line.split_once('\t').unwrap_or(("hook", line));
        hooks.push(Hook::parse(Phase::AsVassal, kind == "exec", text)?);
    }
    run_hooks(Phase::AsVassal, &hooks, std::env::var("OXWSGI_VASSAL").ok().as_deref())
}

fn run_hooks(phase: Phase, hooks: &[Hook], context: Option<&str>) -> Result<(), String> {
    if hooks.is_empty() {
        return Ok(());
    }
    if matches!(phase, Phase::PreJail | Phase::PostJail | Phase::InJail | Phase::AsRoot) && !nix::unistd::geteuid().is_root() {
        crate::logln!("oxwsgi: not running as root: the hook-{} hooks are skipped, as in uWSGI", phase.name());
        return Ok(());
    }
    for h in hooks.iter().filter(|h| !h.exec).chain(hooks.iter().filter(|h| h.exec)) {
        if h.private {
            crate::logln!("oxwsgi: running --- PRIVATE HOOK --- ({})...", phase.name());
        } else {
            crate::logln!("oxwsgi: running \"{}\" ({})...", h.text, phase.name());
        }
        if let Err(e) = h.action.run_in(context) {
            let what = if h.private { "a private hook".to_string() } else { format!("\"{}\"", h.text) };
            let msg = format!("{} {} ({}) failed: {}", if h.exec { "exec" } else { "hook" }, what, phase.name(), e);
            if phase.fatal() {
                return Err(msg);
            }
            crate::logln!("oxwsgi: {}", msg);
        }
    }
    Ok(())
}

/// The exit status of a worker whose fatal hook failed: its master stops
/// the whole instance, as uWSGI's does.
pub const FATAL_EXIT: i32 = 23;

/// A fatal hook failed in a worker: it exits, and the instance with it.
pub fn fail_in_worker(msg: &str) -> ! {
    crate::logln!("oxwsgi: {}", msg);
    let master = crate::python::uwsgi_module::master_pid() as i32;
    if master == std::process::id() as i32 {
        // The lone worker is the instance.
        crate::logln!("oxwsgi: FATAL hook failed, destroying instance");
        std::process::exit(1);
    }
    std::process::exit(FATAL_EXIT);
}

/// The accepting phases of worker `id`, in order.
pub fn run_accepting(id: usize) -> Result<(), String> {
    let once = !RELOADED.load(Ordering::Relaxed) && !RESPAWNED.load(Ordering::Relaxed);
    run(Phase::Accepting)?;
    if id == 1 {
        run(Phase::Accepting1)?;
    }
    if once {
        run(Phase::AcceptingOnce)?;
        if id == 1 {
            run(Phase::Accepting1Once)?;
        }
    }
    Ok(())
}

/// The remapped signals (unix_signal), for the master's signal loop.
pub fn signal_remaps() -> Vec<(i32, MasterAction)> {
    actions::REMAPS.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_their_phase() {
        assert_eq!(Phase::of_option("hook-master-start"), Some((Phase::MasterStart, false)));
        assert_eq!(Phase::of_option("exec-pre-app"), Some((Phase::PreApp, true)));
        assert_eq!(Phase::of_option("hook-accepting1-once"), Some((Phase::Accepting1Once, false)));
        // uWSGI has no exec-post-fork, and no hook-as-gateway here.
        assert_eq!(Phase::of_option("exec-post-fork"), None);
        assert_eq!(Phase::of_option("hook-as-gateway"), None);
        assert_eq!(Phase::option_names().count(), 20 + 11);
    }

    #[test]
    fn hooks_are_read_as_uwsgi_writes_them() {
        let h = Hook::parse(Phase::MasterStart, false, "unix_signal:15 gracefully_kill_them_all").unwrap();
        assert!(matches!(h.action, Action::UnixSignal(15, MasterAction::GracefulStop)));
        let h = Hook::parse(Phase::PreApp, false, "!exec:echo secret").unwrap();
        assert!(h.private && matches!(h.action, Action::Exec { safe: false, .. }));
        let h = Hook::parse(Phase::AsUser, true, "touch /tmp/x").unwrap();
        assert!(h.exec && h.text == "exec:touch /tmp/x");
        assert!(Hook::parse(Phase::PreApp, false, "no colon").unwrap_err().contains("action:argument"));
        assert!(Hook::parse(Phase::PreApp, false, "unix_signal:15 kill_them_all").unwrap_err().contains("hook-master-start"));
        assert!(Hook::parse(Phase::Accepting, false, "putenv:A=B").unwrap_err().contains("post-fork"));
    }
}
