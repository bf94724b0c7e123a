//! Assembling the options the way uWSGI does: "top-bottom and expand
//! asap". Every source (command line, UWSGI_* variables, config files)
//! adds entries in order; a config file named by an include is read where
//! it is named; logic blocks (`if-*` ... `endif`, `for*` ... `endfor`) act
//! as they are read; options declared with `declare-option` expand into
//! the options they stand for. Once everything is in, `finish` expands
//! `$(ENV)`, `@(file)` and `%(name)` in every value (expand.rs) and sorts
//! the keys: an option we have, a uWSGI option we refuse (naming what it
//! belongs to), or, in a config file, a placeholder (warned about unless
//! something refers to it; an error under `strict`).

use super::expand::{self, FileCtx};
use super::ini::Format;
use super::table::{self, Kind};
use super::{ConfigError, Origin, RawOpt, parse_bool};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Where an entry came from: what is allowed of an unknown key depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cli,
    Env,
    File,
    /// `set-placeholder` / `set-ph`: a placeholder on purpose.
    Placeholder,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: Option<String>,
    pub origin: Origin,
    pub source: Source,
}

/// An open logic block.
enum Frame {
    /// `if-*`: whether its condition held, and the value `%(_)` takes.
    If { active: bool, context: Option<String> },
    /// `for*`: the items, and the entries read before its `endfor`.
    For { items: Vec<String>, body: Vec<(Entry, Option<FileCtx>)>, nested: usize, active: bool },
}

const MAX_INCLUDE_DEPTH: usize = 16;

#[derive(Default)]
pub struct Collector {
    pub entries: Vec<Entry>,
    frames: Vec<Frame>,
    /// declare-option: name -> "opt1=$1;opt2=$2".
    declared: HashMap<String, String>,
    /// The files being read, innermost last (for cycles and `ini = :section`).
    reading: Vec<FileCtx>,
    /// The first config file read (the upper-case magic variables).
    pub first_file: Option<FileCtx>,
    /// The last config file read (a `:section` given on the command line).
    last_file: Option<FileCtx>,
    pub warnings: Vec<String>,
    /// `@(exec://...)` is not run (text from a fuzzer, not an operator).
    pub no_commands: bool,
}

/// The result: options in order, placeholders, and what to warn about.
#[derive(Debug)]
pub struct Assembled {
    pub opts: Vec<RawOpt>,
    /// Every key and its expanded value (options and placeholders), for
    /// uwsgi.opt and --show-config.
    pub all: Vec<(String, Option<String>)>,
    pub warnings: Vec<String>,
}

pub(super) fn is_logic(key: &str) -> bool {
    matches!(key, "for" | "for-glob" | "for-times" | "for-readline" | "endfor" | "end-for" | "endif" | "end-if" | "else")
        || key.starts_with("if-")
        || matches!(key, "ifenv" | "ifexists" | "ifdir" | "ifplugin")
}

fn hostname() -> String {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A glob pattern's matches, in order (libc's glob(3)).
fn glob(pattern: &str) -> Vec<String> {
    let Ok(c) = std::ffi::CString::new(pattern) else { return Vec::new() };
    // SAFETY: glob(3) fills the zeroed glob_t, released with globfree.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        let mut out = Vec::new();
        if libc::glob(c.as_ptr(), 0, None, &mut g) == 0 {
            for i in 0..g.gl_pathc {
                out.push(std::ffi::CStr::from_ptr(*g.gl_pathv.add(i)).to_string_lossy().into_owned());
            }
        }
        libc::globfree(&mut g);
        out
    }
}

impl Collector {
    /// Whether `name` was declared with declare-option.
    pub fn declared(&self, name: &str) -> bool {
        self.declared.contains_key(name)
    }

    fn active(&self) -> bool {
        self.frames.iter().all(|f| match f {
            Frame::If { active, .. } => *active,
            Frame::For { active, .. } => *active,
        })
    }

    /// The value `%(_)` takes here (the innermost `if` with one).
    fn context(&self) -> Option<&str> {
        self.frames.iter().rev().find_map(|f| match f {
            Frame::If { context: Some(c), .. } => Some(c.as_str()),
            _ => None,
        })
    }

    /// Expands a value that is needed now (a logic condition, an include's
    /// file name) with what is known so far.
    fn now(&mut self, v: &str, origin: &Origin) -> String {
        let v = match self.context() {
            Some(c) => v.replace("%(_)", c),
            None => v.to_string(),
        };
        let mut warn = Vec::new();
        let v = expand::env_vars(&v, &mut |n| warn.push(format!("{}: environment variable {} is not set; $({}) is kept as written", origin, n, n)));
        let v = expand::file_refs(&v, !self.no_commands, &mut |p, e| warn.push(format!("{}: cannot read @({}): {}; kept as written", origin, p, e)));
        let entries = &self.entries;
        let v = expand::placeholders(&v, &mut |n| entries.iter().find(|e| e.key == n).and_then(|e| e.value.clone()), &mut |_| {});
        self.warnings.extend(warn);
        v
    }

    /// Adds one `key = value`; `file` is the config file it was read from
    /// (its magic variables are already expanded).
    pub fn add(&mut self, key: &str, value: Option<String>, origin: Origin, source: Source, file: Option<&FileCtx>) -> Result<(), ConfigError> {
        let key = key.trim();
        // Inside a `for`: kept for its `endfor`, which replays them.
        if let Some(Frame::For { body, nested, .. }) = self.frames.last_mut() {
            let opens = matches!(key, "for" | "for-glob" | "for-times" | "for-readline");
            let closes = matches!(key, "endfor" | "end-for");
            if !(closes && *nested == 0) {
                if opens {
                    *nested += 1;
                } else if closes {
                    *nested -= 1;
                }
                body.push((Entry { key: key.to_string(), value, origin, source }, file.cloned()));
                return Ok(());
            }
        }
        if is_logic(key) {
            return self.logic(key, value, origin);
        }
        if !self.active() {
            return Ok(());
        }
        let value = match (value, self.context()) {
            (Some(v), Some(c)) if v.contains("%(_)") => Some(v.replace("%(_)", c)),
            (v, _) => v,
        };
        if let Some(spec) = table::lookup(key) {
            match spec.name {
                "ini" | "yaml" | "json" | "include" | "inherit" | "config" => {
                    let Some(v) = value else { return Err(ConfigError::new(Some(origin), format!("option '{}' needs a file name", key))) };
                    let name = self.now(&v, &origin);
                    let format = Format::of_option(spec.name).or_else(|| Format::of_path(&name)).unwrap_or(Format::Ini);
                    return self.read(format, &name, Some(origin), file);
                }
                "declare-option" => {
                    let v = value.unwrap_or_default();
                    let Some((name, template)) = v.split_once('=') else {
                        return Err(ConfigError::new(Some(origin), format!("declare-option takes name=option1=value1;option2=value2, not '{}'", v)));
                    };
                    self.declared.insert(name.trim().to_string(), template.to_string());
                    return Ok(());
                }
                "set-placeholder" | "set" => {
                    let v = value.unwrap_or_default();
                    let Some((k, val)) = v.split_once('=') else {
                        return Err(ConfigError::new(Some(origin), format!("option '{}' takes name=value, not '{}'", key, v)));
                    };
                    let (k, val) = (k.trim(), val.trim().to_string());
                    // `set` may name an option; set-placeholder never does.
                    let source = if spec.name == "set" && table::lookup(k).is_some() { source } else { Source::Placeholder };
                    self.entries.push(Entry { key: k.to_string(), value: Some(val), origin, source });
                    return Ok(());
                }
                _ => {}
            }
        } else if let Some(template) = self.declared.get(key).cloned() {
            return self.custom(key, &template, value.unwrap_or_default(), origin, source, file);
        }
        self.entries.push(Entry { key: key.to_string(), value, origin, source });
        Ok(())
    }

    /// A declared option: each `option=value` of its template, with `$1`,
    /// `$2`... replaced by the space-separated words of the value.
    fn custom(&mut self, name: &str, template: &str, value: String, origin: Origin, source: Source, file: Option<&FileCtx>) -> Result<(), ConfigError> {
        let args: Vec<&str> = value.split(' ').collect();
        for part in template.split(';').filter(|p| !p.trim().is_empty()) {
            let Some((k, v)) = part.split_once('=') else {
                return Err(ConfigError::new(Some(origin), format!("declared option '{}': '{}' is not option=value", name, part)));
            };
            let (mut k, mut v) = (k.trim().to_string(), v.trim().to_string());
            // From the last, so that $1 does not eat into $10.
            for (i, a) in args.iter().enumerate().rev() {
                let n = format!("${}", i + 1);
                k = k.replace(&n, a);
                v = v.replace(&n, a);
            }
            self.add(&k, Some(v), origin.clone(), source, file)?;
        }
        Ok(())
    }

    fn logic(&mut self, key: &str, value: Option<String>, origin: Origin) -> Result<(), ConfigError> {
        if matches!(key, "endif" | "end-if") {
            return match self.frames.pop() {
                Some(Frame::If { .. }) => Ok(()),
                _ => Err(ConfigError::new(Some(origin), "endif without an if-* before it")),
            };
        }
        // As in uWSGI: ends the if block, and opens one that holds if it did not.
        if key == "else" {
            return match self.frames.pop() {
                Some(Frame::If { active, .. }) => {
                    self.frames.push(Frame::If { active: !active, context: None });
                    Ok(())
                }
                _ => Err(ConfigError::new(Some(origin), "else without an if-* before it")),
            };
        }
        if matches!(key, "endfor" | "end-for") {
            let Some(Frame::For { items, body, active, .. }) = self.frames.pop() else {
                return Err(ConfigError::new(Some(origin), "endfor without a for before it"));
            };
            if !active {
                return Ok(());
            }
            for item in items {
                for (e, file) in &body {
                    let value = e.value.as_ref().map(|v| v.replace("%(_)", &item));
                    self.add(&e.key, value, e.origin.clone(), e.source, file.as_ref())?;
                }
            }
            return Ok(());
        }
        let active = self.active();
        let raw = value.unwrap_or_default();
        let v = if active { self.now(&raw, &origin) } else { raw };
        if key.starts_with("for") {
            let items = if !active {
                Vec::new()
            } else {
                match key {
                    "for" => v.split_whitespace().map(str::to_string).collect(),
                    "for-glob" => glob(v.trim()),
                    "for-times" => {
                        let n: usize =
                            v.trim().parse().map_err(|_| ConfigError::new(Some(origin.clone()), format!("for-times takes a number, not '{}'", v)))?;
                        (1..=n).map(|i| i.to_string()).collect()
                    }
                    // An unreadable file is no lines, as in uWSGI (which goes on too).
                    _ => match std::fs::read_to_string(v.trim()) {
                        Ok(text) => text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect(),
                        Err(e) => {
                            self.warnings.push(format!("{}: for-readline {}: {}; the options up to endfor are skipped", origin, v.trim(), e));
                            Vec::new()
                        }
                    },
                }
            };
            self.frames.push(Frame::For { items, body: Vec::new(), nested: 0, active });
            return Ok(());
        }
        let (negate, test) = match key.strip_prefix("if-not-") {
            Some(t) => (true, t),
            None => (false, key.strip_prefix("if-").unwrap_or(&key[2..])),
        };
        let arg = v.trim();
        let (held, context) = if !active {
            (false, None)
        } else {
            match test {
                "env" => {
                    let (name, want) = match arg.split_once('=') {
                        Some((n, w)) => (n, Some(w)),
                        None => (arg, None),
                    };
                    // Set, even to "", is enough (as in uWSGI).
                    match std::env::var(name) {
                        Ok(val) if want.is_none_or(|w| w == val) => (true, Some(val)),
                        _ => (false, None),
                    }
                }
                "exists" => (Path::new(arg).exists(), Some(arg.to_string())),
                "file" => (Path::new(arg).is_file(), Some(arg.to_string())),
                "dir" | "directory" => (Path::new(arg).is_dir(), Some(arg.to_string())),
                "opt" | "option" => {
                    let (name, want) = match arg.split_once('=') {
                        Some((n, w)) => (n.trim(), Some(w.trim())),
                        None => (arg, None),
                    };
                    let canon = table::lookup(name).map(|s| s.name);
                    let found = self.entries.iter().rev().find(|e| e.key == name || canon.is_some() && table::lookup(&e.key).map(|s| s.name) == canon);
                    match found {
                        Some(e) => {
                            let val = e.value.clone().unwrap_or_else(|| "true".into());
                            (want.is_none_or(|w| w == val), Some(val))
                        }
                        None => (false, None),
                    }
                }
                "reload" => (std::env::var_os(crate::net::INHERIT_ENV).is_some(), None),
                "hostname" => (hostname() == arg, Some(arg.to_string())),
                "hostname-match" => {
                    let re = regex::Regex::new(arg)
                        .map_err(|e| ConfigError::new(Some(origin.clone()), format!("{} {}: not a regular expression: {}", key, arg, e)))?;
                    (re.is_match(&hostname()), Some(arg.to_string()))
                }
                // The plugins oxwsgi has built in.
                "plugin" => (super::config::builtin_plugin(arg), Some(arg.to_string())),
                other => return Err(ConfigError::new(Some(origin), format!("unknown logic block '{}'", other))),
            }
        };
        let active = held != negate;
        self.frames.push(Frame::If { active, context: if negate { None } else { context } });
        Ok(())
    }

    /// Reads config file `spec` (`file`, `file:section`, or `:section` of
    /// the file being read) where it is named.
    pub fn read(&mut self, format: Format, spec: &str, from: Option<Origin>, including: Option<&FileCtx>) -> Result<(), ConfigError> {
        if self.reading.len() >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::new(from, format!("config files include each other more than {} deep (at '{}')", MAX_INCLUDE_DEPTH, spec)));
        }
        let (name, section) = split_section(spec);
        // `:section`: the file being read (or, from the command line, the
        // last one read).
        let base = including.or(self.reading.last()).or(self.last_file.as_ref()).cloned();
        let path: PathBuf = if name.is_empty() {
            match &base {
                Some(b) => b.path.clone(),
                None => return Err(ConfigError::new(from, format!("'{}' names a section, but no config file was read before it", spec))),
            }
        } else {
            let p = PathBuf::from(name);
            match (&including, p.is_relative()) {
                // Relative to the including file.
                (Some(f), true) => f.path.parent().unwrap_or(Path::new("/")).join(p),
                _ => p,
            }
        };
        let section = section.unwrap_or("uwsgi").to_string();
        let text =
            std::fs::read_to_string(&path).map_err(|e| ConfigError::new(from.clone(), format!("cannot read config file '{}': {}", path.display(), e)))?;
        let abs = std::fs::canonicalize(&path).unwrap_or(path.clone());
        if self.reading.iter().any(|f| f.path == abs && f.section == section) {
            let chain: Vec<String> = self.reading.iter().map(|f| format!("{}:{}", f.path.display(), f.section)).collect();
            return Err(ConfigError::new(from, format!("config files include each other in a loop: {} -> {}:{}", chain.join(" -> "), abs.display(), section)));
        }
        let given = if name.is_empty() { base.map(|b| b.given).unwrap_or_default() } else { name.to_string() };
        let ctx = FileCtx::new(&given, &abs, if spec.contains(':') { &section } else { "" });
        // The section of the file, kept separately from %x (set only when asked).
        let ctx_section = FileCtx { section: section.clone(), ..ctx.clone() };
        if self.first_file.is_none() {
            self.first_file = Some(ctx.clone());
        }
        self.reading.push(ctx_section);
        let r = match format {
            Format::Ini => super::ini::parse_ini(&text, &ctx, &section, self),
            Format::Yaml => super::formats::parse_yaml(&text, &ctx, &section, self),
            Format::Json => super::formats::parse_json(&text, &ctx, &section, self),
        };
        self.reading.pop();
        self.last_file = Some(ctx);
        r
    }

    /// Expands every value and sorts the keys (see the top of this file).
    pub fn finish(mut self) -> Result<Assembled, ConfigError> {
        if !self.frames.is_empty() {
            self.warnings.push(format!("{} logic block(s) (if-*/for) not closed by endif/endfor before the end of the configuration", self.frames.len()));
        }
        let referenced = referenced_names(&self.entries);
        let mut warnings = std::mem::take(&mut self.warnings);
        let values = expand_all(&self.entries, !self.no_commands, &mut warnings);
        let strict = self.entries.iter().zip(&values).any(|(e, v)| e.key == "strict" && v.as_deref().is_none_or(|v| parse_bool(v).unwrap_or(true)));
        let mut opts = Vec::new();
        let mut all = Vec::new();
        for (e, value) in self.entries.into_iter().zip(values) {
            all.push((e.key.clone(), value.clone()));
            if let Some(spec) = table::lookup(&e.key) {
                opts.push(to_raw(spec, &e.key, value, e.origin, &mut warnings)?);
                continue;
            }
            // A key something refers to, or set with set-placeholder, is a
            // placeholder whatever its name.
            let placeholder = e.source == Source::Placeholder || referenced.contains(&e.key);
            if !placeholder && let Some(why) = super::families::refused(&e.key) {
                return Err(ConfigError::new(Some(e.origin), format!("option '{}': {}", e.key, why)));
            }
            match e.source {
                Source::Placeholder => {}
                Source::Cli => {
                    let hint = table::suggest(&e.key).map(|s| format!(" (did you mean --{}?)", s)).unwrap_or_default();
                    return Err(ConfigError::new(Some(e.origin), format!("unknown option '--{}'{}; see oxwsgi --help", e.key, hint)));
                }
                _ if strict => {
                    let hint = table::suggest(&e.key).map(|s| format!(" (did you mean {}?)", s)).unwrap_or_default();
                    return Err(ConfigError::new(
                        Some(e.origin),
                        format!("unknown option '{}'{}: strict mode allows no placeholders; define it with set-placeholder, or remove strict", e.key, hint),
                    ));
                }
                _ if referenced.contains(&e.key) => {}
                _ => {
                    let hint = table::suggest(&e.key).map(|s| format!("; did you mean {}?", s)).unwrap_or_default();
                    warnings.push(format!("{}: unknown option '{}' kept as a placeholder{}", e.origin, e.key, hint));
                }
            }
        }
        Ok(Assembled { opts, all, warnings })
    }
}

fn split_section(spec: &str) -> (&str, Option<&str>) {
    if !Path::new(spec).exists()
        && let Some((p, s)) = spec.rsplit_once(':')
        && !s.contains('/')
        && !s.is_empty()
    {
        return (p, Some(s));
    }
    (spec, None)
}

/// Every name a `%(...)` refers to, in any value (math included).
fn referenced_names(entries: &[Entry]) -> HashSet<String> {
    let mut out = HashSet::new();
    for v in entries.iter().filter_map(|e| e.value.as_deref()) {
        let mut rest = v;
        while let Some(i) = rest.find("%(") {
            rest = &rest[i + 2..];
            let Some(j) = rest.find(')') else { break };
            for word in rest[..j].split_whitespace() {
                out.insert(word.to_string());
            }
            rest = &rest[j..];
        }
    }
    out
}

/// The expanded value of every entry: `$(...)`, then `@(...)`, then
/// `%(...)`, a placeholder taking the (expanded) value of the first entry
/// with its name (or, failing that, of the option it is another name for).
fn expand_all(entries: &[Entry], commands: bool, warnings: &mut Vec<String>) -> Vec<Option<String>> {
    let mut stage: Vec<Option<String>> = entries
        .iter()
        .map(|e| {
            e.value.as_ref().map(|v| {
                let v =
                    expand::env_vars(v, &mut |n| warnings.push(format!("{}: environment variable {} is not set; $({}) is kept as written", e.origin, n, n)));
                expand::file_refs(&v, commands, &mut |p, err| warnings.push(format!("{}: cannot read @({}): {}; kept as written", e.origin, p, err)))
            })
        })
        .collect();
    let index: HashMap<&str, usize> = entries.iter().enumerate().rev().map(|(i, e)| (e.key.as_str(), i)).collect();
    let canonical: HashMap<&str, usize> = entries.iter().enumerate().rev().filter_map(|(i, e)| table::lookup(&e.key).map(|s| (s.name, i))).collect();
    // Resolved on demand, with a guard against a placeholder naming itself.
    fn resolve(
        i: usize,
        stage: &mut [Option<String>],
        done: &mut [bool],
        busy: &mut [bool],
        index: &HashMap<&str, usize>,
        canonical: &HashMap<&str, usize>,
        unresolved: &mut Vec<(usize, String)>,
    ) {
        if done[i] || busy[i] {
            return;
        }
        busy[i] = true;
        if let Some(v) = stage[i].clone() {
            let mut left = Vec::new();
            let out = expand::placeholders(
                &v,
                &mut |name| {
                    let j = index.get(name).or_else(|| table::lookup(name).and_then(|s| canonical.get(s.name))).copied()?;
                    if busy[j] && !done[j] {
                        return None;
                    }
                    resolve(j, stage, done, busy, index, canonical, unresolved);
                    Some(stage[j].clone().unwrap_or_else(|| "true".into()))
                },
                &mut |n| left.push(n.to_string()),
            );
            unresolved.extend(left.into_iter().map(|n| (i, n)));
            stage[i] = Some(out);
        }
        busy[i] = false;
        done[i] = true;
    }
    let n = entries.len();
    let (mut done, mut busy) = (vec![false; n], vec![false; n]);
    let mut unresolved = Vec::new();
    for i in 0..n {
        resolve(i, &mut stage, &mut done, &mut busy, &index, &canonical, &mut unresolved);
    }
    for (i, name) in unresolved {
        // A log format's %(...) are request variables, filled per request.
        let key = &entries[i].key;
        if key.starts_with("log") || key.contains("format") || key.starts_with("req-log") || name == "_" {
            continue;
        }
        warnings.push(format!("{}: placeholder %({}) is not defined; kept as written", entries[i].origin, name));
    }
    stage
}

/// An entry for a known option, checked against the option's kind.
fn to_raw(spec: &'static table::OptSpec, key: &str, value: Option<String>, origin: Origin, warnings: &mut Vec<String>) -> Result<RawOpt, ConfigError> {
    let value = match (spec.kind, value) {
        (Kind::Value | Kind::List, None) => return Err(ConfigError::new(Some(origin), format!("option '{}' needs a value", key))),
        // As uWSGI: a flag is false only for false/no/off/0.
        (Kind::Flag, Some(v)) => Some(match parse_bool(&v) {
            Ok(b) => b.to_string(),
            Err(_) => {
                warnings.push(format!("{}: option '{}' is a flag; '{}' is taken as true (use true or false)", origin, key, v));
                "true".to_string()
            }
        }),
        (_, v) => v,
    };
    Ok(RawOpt { spec, value, origin })
}
