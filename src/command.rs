//! Running one command line (parsed by options/), shared by the binary
//! (main.rs) and the python3-hosted extension (python/host.rs).

use crate::options::{Action, Config, check, parse_args, table};

/// Runs a command line; returns the exit status. With `may_host`, a server
/// may first move into python3 (python/host.rs), which starts over there.
pub fn run(args: &[String], may_host: bool) -> i32 {
    match parse_args(args) {
        Ok(Action::Help) => print!("{}", table::help_text()),
        Ok(Action::Version) => println!("oxwsgi {}", env!("CARGO_PKG_VERSION")),
        Ok(Action::Signal { pidfile, signal }) => {
            let Some(pid) = crate::master::daemon::read_pidfile(&pidfile) else {
                crate::logln!("oxwsgi: cannot read a PID from {}", pidfile.display());
                return 1;
            };
            if unsafe { libc::kill(pid, signal) } != 0 {
                crate::logln!("oxwsgi: cannot signal PID {} (from {}): {}", pid, pidfile.display(), std::io::Error::last_os_error());
                return 1;
            }
        }
        Ok(Action::Run(cfg)) if cfg.check_config => return check_config(&cfg),
        Ok(Action::Run(cfg)) => {
            // The Emperor runs no Python: it stays in this binary.
            if may_host && cfg.emperor.is_none() && !cfg.apps.is_empty() {
                crate::python::host::hand_over(&cfg, args);
            }
            // After the hand-over (which reads the configuration again
            // there): said once.
            // A reload's app check (master::check_app_loads) says nothing twice.
            if std::env::var_os("OXWSGI_CHECK_APP").is_none() {
                announce(&cfg);
            }
            if cfg.show_config {
                print!("{}", cfg.as_ini());
            }
            return crate::master::run(*cfg);
        }
        Err(e) => {
            crate::logln!("oxwsgi: {}", e);
            return 1;
        }
    }
    0
}

/// The warnings reading the configuration found, and its --print lines.
fn announce(cfg: &Config) {
    for w in &cfg.warnings {
        crate::logln!("oxwsgi: warning: {}", w);
    }
    for p in &cfg.prints {
        println!("{}", p);
    }
}

/// --check-config: the configuration as read, its warnings, and what would
/// stop the server; 0 if nothing would.
fn check_config(cfg: &Config) -> i32 {
    announce(cfg);
    print!("{}", cfg.as_ini());
    let problems = check::problems(cfg);
    for p in &problems {
        crate::logln!("oxwsgi: error: {}", p);
    }
    if problems.is_empty() {
        crate::logln!("oxwsgi: the configuration is valid ({} warning(s))", cfg.warnings.len());
        0
    } else {
        crate::logln!("oxwsgi: the server would not start: {} error(s), {} warning(s)", problems.len(), cfg.warnings.len());
        1
    }
}
