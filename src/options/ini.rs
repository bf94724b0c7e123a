//! uWSGI's ini dialect: `[uwsgi]` (or a named section), `key = value`,
//! `#`/`;` comments, repeated keys, the magic variables `%d %n %p %c %e %x
//! %%`, `$(ENV)` and `%(option)` placeholders. Unknown keys are errors,
//! unless the file itself uses them as `%(key)` placeholders, which is how
//! uWSGI configs define their own variables.

use super::table::{self, Kind};
use super::{Collector, ConfigError, Origin};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const MAX_DEPTH: usize = 10;

/// The config file formats uWSGI reads, each with its option (`--ini`,
/// `--yaml`, `--json`), all three expanding the same `%` variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ini,
    Yaml,
    Json,
}

impl Format {
    /// The format an include option or a bare file argument names.
    pub fn of_option(name: &str) -> Option<Format> {
        match name {
            "ini" => Some(Format::Ini),
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn of_path(path: &str) -> Option<Format> {
        let p = path.split(':').next().unwrap_or(path);
        if p.ends_with(".ini") {
            Some(Format::Ini)
        } else if p.ends_with(".yaml") || p.ends_with(".yml") {
            Some(Format::Yaml)
        } else if p.ends_with(".json") || p.ends_with(".js") {
            Some(Format::Json)
        } else {
            None
        }
    }
}

/// Reads `spec` (`file` or `file:section`, section `uwsgi` by default) into
/// the collector.
pub fn read_config(format: Format, spec: &str, col: &mut Collector, depth: usize, from: Option<Origin>) -> Result<(), ConfigError> {
    if depth > MAX_DEPTH {
        return Err(ConfigError::new(from, format!("config files include each other more than {} deep (at '{}')", MAX_DEPTH, spec)));
    }
    let (path, section) = split_section(spec);
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::new(from.clone(), format!("cannot read config file '{}': {}", path, e)))?;
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
    match format {
        Format::Ini => parse_ini(&text, &abs, section, col, depth),
        Format::Yaml => super::formats::parse_yaml(&text, &abs, section, col, depth),
        Format::Json => super::formats::parse_json(&text, &abs, section, col, depth),
    }
}

fn split_section(spec: &str) -> (&str, &str) {
    if !Path::new(spec).exists()
        && let Some((p, s)) = spec.rsplit_once(':')
        && !s.contains('/')
        && !p.is_empty()
    {
        return (p, s);
    }
    (spec, "uwsgi")
}

/// Parses ini text; `path` is the file's absolute path (for `%` variables).
pub fn parse_ini(text: &str, path: &Path, section: &str, col: &mut Collector, depth: usize) -> Result<(), ConfigError> {
    let file = path.display().to_string();
    let used_placeholders = placeholder_refs(text);
    let mut current: Option<String> = None;
    let mut found = false;
    for (n, raw) in text.lines().enumerate() {
        let origin = Origin::File(file.clone(), n + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                return Err(ConfigError::new(Some(origin), format!("malformed section header '{}'", line)));
            };
            current = Some(name.trim().to_string());
            found |= name.trim() == section;
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(strip_inline_comment(v).trim())),
            None => (strip_inline_comment(line).trim(), None),
        };
        apply_key(key, value, path, origin, col, &used_placeholders, depth)?;
    }
    if !found {
        return Err(ConfigError::new(None, format!("{}: no [{}] section in this file", file, section)));
    }
    Ok(())
}

/// Applies one `key = value` of a config file: expands the value, follows
/// includes (`ini`, `yaml`, `json`), records placeholders, and pushes the
/// option. Shared by the three formats.
pub(super) fn apply_key(
    key: &str,
    value: Option<&str>,
    path: &Path,
    origin: Origin,
    col: &mut Collector,
    placeholders: &HashSet<String>,
    depth: usize,
) -> Result<(), ConfigError> {
    let value = match value {
        Some(v) => Some(expand(v, path, col, &origin)?),
        None => None,
    };
    match table::lookup(key) {
        Some(spec) if Format::of_option(spec.name).is_some() => {
            let v = value.ok_or_else(|| ConfigError::new(Some(origin.clone()), format!("{} needs a file name", spec.name)))?;
            read_config(Format::of_option(spec.name).unwrap(), &v, col, depth + 1, Some(origin))
        }
        Some(spec) => {
            if value.is_none() && spec.kind != Kind::Flag && spec.kind != Kind::OptionalValue {
                return Err(ConfigError::new(Some(origin), format!("option '{}' needs a value", key)));
            }
            col.push(spec, value, origin)
        }
        None if placeholders.contains(key) => {
            col.placeholders.insert(key.to_string(), value.unwrap_or_default());
            Ok(())
        }
        None => {
            let hint = table::suggest(key).map(|s| format!(" (did you mean {}?)", s)).unwrap_or_default();
            Err(ConfigError::new(Some(origin), format!("unknown option '{}'{}; see oxwsgi --help", key, hint)))
        }
    }
}

/// Drops a trailing ` # comment`. uWSGI keeps it in the value, so the
/// tutorial's `harakiri = 20 # respawn processes taking more than 20
/// seconds` only works there because atoi stops at the space, and its
/// `safe-pidfile = /tmp/project-master.pid # create a pidfile` names a file
/// with the comment in it. A `#` not preceded by white space stays.
pub(super) fn strip_inline_comment(v: &str) -> &str {
    let b = v.as_bytes();
    for i in 1..b.len() {
        if b[i] == b'#' && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return &v[..i];
        }
    }
    v
}

/// Every `%(name)` the file refers to.
pub(super) fn placeholder_refs(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("%(") {
        rest = &rest[i + 2..];
        if let Some(j) = rest.find(')') {
            out.insert(rest[..j].trim().to_string());
            rest = &rest[j..];
        }
    }
    out
}

/// Expands the magic variables, `$(ENV)` and `%(placeholder)` in a value.
fn expand(v: &str, path: &Path, col: &Collector, origin: &Origin) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '%' => {
                let Some(&(_, m)) = chars.peek() else {
                    out.push('%');
                    continue;
                };
                let dir = path.parent().unwrap_or(Path::new("/"));
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                match m {
                    'd' => {
                        out.push_str(&dir.display().to_string());
                        if !out.ends_with('/') {
                            out.push('/');
                        }
                    }
                    'n' => out.push_str(&stem),
                    'p' => out.push_str(&path.display().to_string()),
                    'c' => out.push_str(&dir.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
                    'e' => out.push_str(&path.extension().map(|s| format!(".{}", s.to_string_lossy())).unwrap_or_default()),
                    'x' => out.push_str(&path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()),
                    '%' => out.push('%'),
                    '(' => {
                        let close = v[i..].find(')').ok_or_else(|| ConfigError::new(Some(origin.clone()), "unterminated %( placeholder"))?;
                        let name = v[i + 2..i + close].trim();
                        let val = col
                            .placeholders
                            .get(name)
                            .ok_or_else(|| ConfigError::new(Some(origin.clone()), format!("placeholder %({}) is not defined before this line", name)))?;
                        out.push_str(val);
                        while let Some(&(j, _)) = chars.peek() {
                            chars.next();
                            if j == i + close {
                                break;
                            }
                        }
                        continue;
                    }
                    _ => {
                        out.push('%');
                        continue;
                    }
                }
                chars.next();
            }
            '$' if v[i..].starts_with("$(") => {
                let close = v[i..].find(')').ok_or_else(|| ConfigError::new(Some(origin.clone()), "unterminated $( environment variable"))?;
                let name = &v[i + 2..i + close];
                match std::env::var(name) {
                    Ok(val) => out.push_str(&val),
                    Err(_) => crate::logln!("oxwsgi: {}: environment variable {} is not set, using an empty value", origin, name),
                }
                while let Some(&(j, _)) = chars.peek() {
                    chars.next();
                    if j == i + close {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, section: &str) -> Result<Collector, ConfigError> {
        let mut c = Collector::default();
        parse_ini(text, Path::new("/etc/uwsgi/vassals/mysite_uwsgi.ini"), section, &mut c, 0).map(|_| c)
    }

    fn pairs(c: &Collector) -> Vec<(&str, Option<&str>)> {
        c.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    #[test]
    fn tutorial_ini() {
        let text = "# mysite_uwsgi.ini file\n[uwsgi]\n\n# Django-related settings\nchdir           = /path/to/your/project \nmodule          = project.wsgi\nhome            = /path/to/virtualenv\nmaster          = true\nprocesses       = 10\nsocket          = /path/to/your/project/mysite.sock \n; chmod-socket    = 664\nvacuum          = true\n";
        let c = parse(text, "uwsgi").unwrap();
        assert_eq!(
            pairs(&c),
            vec![
                ("chdir", Some("/path/to/your/project")),
                ("module", Some("project.wsgi")),
                ("home", Some("/path/to/virtualenv")),
                ("master", Some("true")),
                ("processes", Some("10")),
                ("socket", Some("/path/to/your/project/mysite.sock")),
                ("vacuum", Some("true")),
            ]
        );
    }

    #[test]
    fn repeated_keys_and_sections() {
        let text = "[other]\nsocket = /x\n[uwsgi]\nsocket = :1\nsocket = :2\nenv = A=1\nenv = B=2\n[more]\nprocesses = 3\n";
        let c = parse(text, "uwsgi").unwrap();
        assert_eq!(pairs(&c), vec![("socket", Some(":1")), ("socket", Some(":2")), ("env", Some("A=1")), ("env", Some("B=2"))]);
        let c = parse(text, "more").unwrap();
        assert_eq!(pairs(&c), vec![("processes", Some("3"))]);
    }

    #[test]
    fn inline_comments_as_in_the_tutorial() {
        let text = "[uwsgi]\nenv = DJANGO_SETTINGS_MODULE=mysite.settings # set an environment variable\nsafe-pidfile = /tmp/project-master.pid # create a pidfile\nmaster # a flag\nwsgi-file = /srv/a#b.py\n";
        let c = parse(text, "uwsgi").unwrap();
        assert_eq!(
            pairs(&c),
            vec![
                ("env", Some("DJANGO_SETTINGS_MODULE=mysite.settings")),
                ("safe-pidfile", Some("/tmp/project-master.pid")),
                ("master", None),
                ("wsgi-file", Some("/srv/a#b.py")),
            ]
        );
    }

    #[test]
    fn booleans() {
        for (v, want) in
            [("true", "true"), ("yes", "true"), ("on", "true"), ("1", "true"), ("false", "false"), ("no", "false"), ("off", "false"), ("0", "false")]
        {
            let c = parse(&format!("[uwsgi]\nmaster = {}\n", v), "uwsgi").unwrap();
            assert_eq!(c.opts[0].value.as_deref(), Some(want), "{v}");
        }
        let c = parse("[uwsgi]\nmaster\n", "uwsgi").unwrap();
        assert_eq!(c.opts[0].value, None);
        let e = parse("[uwsgi]\nmaster = maybe\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("mysite_uwsgi.ini:2") && e.contains("not a boolean"), "{e}");
    }

    #[test]
    fn magic_variables() {
        let text = "[uwsgi]\nchdir = %d\nsocket = %d%n.sock\nlogto = /var/log/%c/%n%e\npidfile = %p.pid\nwsgi-file = 100%%.py\nmodule = %x\n";
        let c = parse(text, "uwsgi").unwrap();
        assert_eq!(
            pairs(&c),
            vec![
                ("chdir", Some("/etc/uwsgi/vassals/")),
                ("socket", Some("/etc/uwsgi/vassals/mysite_uwsgi.sock")),
                ("logto", Some("/var/log/vassals/mysite_uwsgi.ini")),
                ("pidfile", Some("/etc/uwsgi/vassals/mysite_uwsgi.ini.pid")),
                ("wsgi-file", Some("100%.py")),
                ("module", Some("mysite_uwsgi.ini")),
            ]
        );
    }

    #[test]
    fn env_and_placeholders() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("OXWSGI_TEST_ROOT", "/srv/app") };
        let text = "[uwsgi]\nbase = $(OXWSGI_TEST_ROOT)\nchdir = %(base)/src\nprocesses = 4\nthreads = %(processes)\nhome = $(OXWSGI_TEST_UNSET_VAR)\n";
        let c = parse(text, "uwsgi").unwrap();
        assert_eq!(pairs(&c), vec![("chdir", Some("/srv/app/src")), ("processes", Some("4")), ("threads", Some("4")), ("home", Some(""))]);
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let e = parse("[uwsgi]\nmaster = true\nproceses = 4\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("mysite_uwsgi.ini:3"), "{e}");
        assert!(e.contains("unknown option 'proceses'") && e.contains("did you mean processes?"), "{e}");
        let e = parse("[uwsgi]\nsocket\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("needs a value"), "{e}");
        let e = parse("[other]\nsocket = :1\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("no [uwsgi] section"), "{e}");
        let e = parse("[uwsgi]\nchdir = %(nothere)\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("%(nothere) is not defined"), "{e}");
        let e = parse("[uwsgi\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("malformed section"), "{e}");
        let e = parse("[uwsgi]\nspooler = /tmp/spool\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn include_and_missing_file() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-ini-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("base.ini");
        std::fs::write(&base, "[uwsgi]\nprocesses = 2\n[alt]\nprocesses = 7\n").unwrap();
        let main = dir.join("main.ini");
        std::fs::write(&main, "[uwsgi]\nini = %dbase.ini\nini = %dbase.ini:alt\nmaster = true\n").unwrap();
        let mut c = Collector::default();
        read_config(Format::Ini, main.to_str().unwrap(), &mut c, 0, None).unwrap();
        assert_eq!(pairs(&c), vec![("processes", Some("2")), ("processes", Some("7")), ("master", Some("true"))]);
        let mut c = Collector::default();
        let e = read_config(Format::Ini, dir.join("nope.ini").to_str().unwrap(), &mut c, 0, Some(Origin::Arg(2))).unwrap_err().to_string();
        assert!(e.contains("argument 2") && e.contains("cannot read config file") && e.contains("nope.ini"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
