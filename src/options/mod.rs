//! Options: the table (table.rs), the two readers that feed it (cli.rs and
//! ini.rs) and the typed `Config` the rest of the server reads (config.rs).
//!
//! Both readers push `RawOpt`s into one `Collector`, in the order uWSGI
//! would process them (an `--ini` is expanded where it appears), so the
//! rules "last value wins" and "repeated keys accumulate" hold across
//! sources.

mod cli;
pub mod config;
mod formats;
mod ini;
pub mod table;

pub use config::{Config, ListenAddr, Listener, Proto, parse_listen_addr};

use std::collections::HashMap;
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

/// Collects options in order, and the values `%(name)` placeholders expand to.
#[derive(Default, Debug)]
pub struct Collector {
    pub opts: Vec<RawOpt>,
    pub placeholders: HashMap<String, String>,
}

impl Collector {
    pub fn push(&mut self, spec: &'static OptSpec, value: Option<String>, origin: Origin) -> Result<(), ConfigError> {
        use table::{Kind, Support};
        if let Support::NotYet = spec.support {
            return Err(ConfigError::new(Some(origin), format!("option '{}' is not supported yet by oxwsgi; remove it from your configuration", spec.name)));
        }
        let value = match (spec.kind, value) {
            (Kind::Value | Kind::List, None) => {
                return Err(ConfigError::new(Some(origin), format!("option '{}' needs a value", spec.name)));
            }
            (Kind::Flag, Some(v)) => {
                Some(parse_bool(&v).map_err(|e| ConfigError::new(Some(origin.clone()), format!("option '{}': {}", spec.name, e)))?.to_string())
            }
            (_, v) => v,
        };
        if spec.name == "set-placeholder" {
            let v = value.as_deref().unwrap_or("");
            let Some((k, val)) = v.split_once('=') else {
                return Err(ConfigError::new(Some(origin), "set-placeholder takes name=value"));
            };
            self.placeholders.insert(k.trim().to_string(), val.trim().to_string());
        } else {
            self.placeholders.insert(spec.name.to_string(), value.clone().unwrap_or_else(|| "true".into()));
        }
        self.opts.push(RawOpt { spec, value, origin });
        Ok(())
    }
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

/// Parses ini text as if read from `path` (for the fuzzer and tools).
pub fn parse_ini_text(text: &str, path: &std::path::Path, section: &str) -> Result<Vec<RawOpt>, ConfigError> {
    let mut col = Collector::default();
    ini::parse_ini(text, path, section, &mut col, 0)?;
    Ok(col.opts)
}

/// Parses the command line (without the program name) into an action.
pub fn parse_args<S: AsRef<str>>(args: &[S]) -> Result<Action, ConfigError> {
    let mut col = Collector::default();
    cli::read_env(std::env::vars(), &mut col)?;
    cli::read_args(args, &mut col)?;
    if col.opts.iter().any(|o| o.spec.name == "help" && o.value.as_deref() != Some("false")) {
        return Ok(Action::Help);
    }
    if col.opts.iter().any(|o| o.spec.name == "version" && o.value.as_deref() != Some("false")) {
        return Ok(Action::Version);
    }
    if let Some(o) = col.opts.iter().rev().find(|o| o.spec.name == "reload" || o.spec.name == "stop") {
        let signal = if o.spec.name == "reload" { libc::SIGHUP } else { libc::SIGINT };
        return Ok(Action::Signal { pidfile: o.value.clone().unwrap_or_default().into(), signal });
    }
    let mut cfg = Config::from_raw(&col.opts)?;
    cfg.raw_opts = col.opts.iter().map(|o| (o.spec.name.to_string(), o.value.clone())).collect();
    cfg.argv = args.iter().map(|s| s.as_ref().to_string()).collect();
    Ok(Action::Run(Box::new(cfg)))
}
