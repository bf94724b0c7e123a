//! Options: the table (table.rs) and the uWSGI options we refuse by the
//! subsystem they belong to (families.rs); the readers (cli.rs for the
//! command line and UWSGI_* variables, ini.rs and formats.rs for config
//! files) feeding one collector (collect.rs), which assembles them in
//! uWSGI's order, runs the logic blocks and includes, and expands values
//! (expand.rs); the typed `Config` the rest of the server reads
//! (config.rs, made by build.rs), and --check-config's look at it
//! (check.rs).

mod build;
pub mod check;
mod cli;
mod collect;
pub mod config;
mod expand;
pub mod families;
mod formats;
mod ini;
pub mod table;

pub use config::{Config, ListenAddr, Listener, Proto, parse_listen_addr};

use std::fmt;
use table::OptSpec;

/// Where an option came from, for error messages.
#[derive(Debug, Clone)]
pub enum Origin {
    Arg(usize),
    File(String, usize),
    /// A key of a JSON file (JSON values have no useful line).
    Key(String, String),
    /// A UWSGI_* environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Arg(i) => write!(f, "command line argument {}", i),
            Origin::File(path, line) => write!(f, "{}:{}", path, line),
            Origin::Key(path, key) => write!(f, "{} (key \"{}\")", path, key),
            Origin::Env(var) => write!(f, "environment variable {}", var),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RawOpt {
    pub spec: &'static OptSpec,
    pub value: Option<String>,
    pub origin: Origin,
}

/// A configuration error: where, and what to do about it.
#[derive(Debug)]
pub struct ConfigError {
    pub origin: Option<Origin>,
    pub msg: String,
}

impl ConfigError {
    pub fn new(origin: Option<Origin>, msg: impl Into<String>) -> Self {
        ConfigError { origin, msg: msg.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Some(o) => write!(f, "{}: {}", o, self.msg),
            None => write!(f, "{}", self.msg),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What the command line asks for.
pub enum Action {
    Run(Box<Config>),
    /// --reload/--stop PIDFILE: signal a running instance.
    Signal {
        pidfile: std::path::PathBuf,
        signal: i32,
    },
    Help,
    Version,
}

/// The config format of a file name (`.ini`, `.yaml`/`.yml`, `.json`/`.js`),
/// as `oxwsgi FILE` reads it.
pub fn config_format(name: &str) -> Option<&'static str> {
    match ini::Format::of_path(name)? {
        ini::Format::Ini => Some("ini"),
        ini::Format::Yaml => Some("yaml"),
        ini::Format::Json => Some("json"),
    }
}

/// uWSGI's booleans.
pub fn parse_bool(v: &str) -> Result<bool, String> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
        "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
        _ => Err(format!("'{}' is not a boolean (use true/false, yes/no, on/off or 1/0)", v)),
    }
}

/// Parses ini text as if read from `path` (for the fuzzer and tools): an
/// `@(exec://...)` in it is not run.
pub fn parse_ini_text(text: &str, path: &std::path::Path, section: &str) -> Result<Vec<RawOpt>, ConfigError> {
    let mut col = collect::Collector::default();
    col.no_commands = true;
    let file = expand::FileCtx::new(&path.display().to_string(), path, "");
    ini::parse_ini(text, &file, section, &mut col)?;
    Ok(col.finish()?.opts)
}

/// Reads every source in uWSGI's order: the UWSGI_* variables, then the
/// command line (with the config files it names, read where named).
fn assemble<S: AsRef<str>>(args: &[S]) -> Result<collect::Assembled, ConfigError> {
    let mut col = collect::Collector::default();
    cli::read_env(std::env::vars(), &mut col)?;
    cli::read_args(args, &mut col)?;
    col.finish()
}

/// Parses the command line (without the program name) into an action.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Action, ConfigError> {
    let a = assemble(args)?;
    let given = |name: &str| a.opts.iter().rev().find(|o| o.spec.name == name).is_some_and(|o| o.value.as_deref() != Some("false"));
    if given("help") {
        return Ok(Action::Help);
    }
    if given("version") {
        return Ok(Action::Version);
    }
    if let Some(o) = a.opts.iter().rev().find(|o| o.spec.name == "reload" || o.spec.name == "stop") {
        let signal = if o.spec.name == "reload" { libc::SIGHUP } else { libc::SIGINT };
        return Ok(Action::Signal { pidfile: o.value.clone().unwrap_or_default().into(), signal });
    }
    let mut cfg = Config::from_raw(&a.opts)?;
    cfg.raw_opts = a.all;
    let built = std::mem::replace(&mut cfg.warnings, a.warnings);
    cfg.warnings.extend(built);
    cfg.argv = args.iter().map(|s| s.as_ref().to_string()).collect();
    Ok(Action::Run(Box::new(cfg)))
}
