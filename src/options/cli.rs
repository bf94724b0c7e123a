//! The command line, read the way uWSGI reads it: `--name value`,
//! `--name=value`, bare flags, uWSGI's one-letter forms (`-s value`,
//! `-p4`), and a bare `file.ini` (`.yaml`, `.json`) argument as a config
//! file; and the `UWSGI_<NAME>` environment variables, read first.

use super::collect::{Collector, Source};
use super::ini::Format;
use super::table::{self, Kind};
use super::{ConfigError, Origin};

/// How an argument named `name` takes its value, if it names an option
/// (or a logic block, or an option declared with declare-option).
fn kind_of(name: &str, col: &Collector) -> Option<Kind> {
    if let Some(spec) = table::lookup(name) {
        return Some(spec.kind);
    }
    col.declared(name).then_some(Kind::Value)
}

pub fn read_args<S: AsRef<str>>(args: &[S], col: &mut Collector) -> Result<(), ConfigError> {
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_ref();
        let origin = Origin::Arg(i + 1);
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let Some(kind) = kind_of(name, col) else {
                if let Some(why) = super::families::refused(name) {
                    return Err(ConfigError::new(Some(origin), format!("option '--{}': {}", name, why)));
                }
                let hint = table::suggest(name).map(|s| format!(" (did you mean --{}?)", s)).unwrap_or_default();
                return Err(ConfigError::new(
                    Some(origin),
                    format!("unknown option '--{}'{}; see oxwsgi --help (in a config file, an unknown key is a placeholder)", name, hint),
                ));
            };
            let value = match (kind, inline) {
                (_, Some(v)) => Some(v),
                (Kind::Value | Kind::List, None) => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.as_ref().to_string()),
                        None => return Err(ConfigError::new(Some(origin), format!("option '--{}' needs a value", name))),
                    }
                }
                (Kind::Flag, None) => None,
                // `--chmod-socket 664` and `--chmod-socket` alone both work:
                // a following argument that is not an option is its value
                // (a number for chmod-socket, as uWSGI needs one there).
                (Kind::OptionalValue, None) => match args.get(i + 1).map(|s| s.as_ref()) {
                    Some(v)
                        if !v.is_empty()
                            && !v.starts_with('-')
                            && (name != "chmod-socket" && name != "chmod" || v.chars().all(|c| c.is_ascii_digit()))
                            && Format::of_path(v).is_none() =>
                    {
                        i += 1;
                        Some(v.to_string())
                    }
                    _ => None,
                },
            };
            col.add(name, value, origin, Source::Cli, None)?;
        } else if let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            let c = body.chars().next().unwrap_or('-');
            let Some(spec) = table::lookup_short(c) else {
                if let Some((_, long)) = table::SHORT_REFUSED.iter().find(|(s, _)| *s == c)
                    && let Some(why) = super::families::refused(long)
                {
                    return Err(ConfigError::new(Some(origin), format!("option '-{}' (--{}): {}", c, long, why)));
                }
                return Err(ConfigError::new(Some(origin), format!("unknown option '-{}'; see oxwsgi --help", c)));
            };
            let rest = &body[c.len_utf8()..];
            let value = match spec.kind {
                Kind::Flag if rest.is_empty() => None,
                Kind::Flag => return Err(ConfigError::new(Some(origin), format!("option '-{}' (--{}) takes no value", c, spec.name))),
                _ if !rest.is_empty() => Some(rest.trim_start_matches('=').to_string()),
                Kind::OptionalValue => None,
                _ => {
                    i += 1;
                    match args.get(i) {
                        Some(v) => Some(v.as_ref().to_string()),
                        None => return Err(ConfigError::new(Some(origin), format!("option '-{}' (--{}) needs a value", c, spec.name))),
                    }
                }
            };
            col.add(spec.name, value, origin, Source::Cli, None)?;
        } else if let Some(format) = Format::of_path(arg) {
            col.read(format, arg, Some(origin), None)?;
        } else {
            return Err(ConfigError::new(
                Some(origin),
                format!("unexpected argument '{}': options start with --, config files end in .ini, .yaml or .json", arg),
            ));
        }
        i += 1;
    }
    Ok(())
}

/// Variables uWSGI sets for itself (across reloads, for vassals): not
/// options, not placeholders.
fn internal(var: &str) -> bool {
    matches!(var, "UWSGI_RELOADS" | "UWSGI_ORIGINAL_PROC_NAME" | "UWSGI_SHARED_SOCKET" | "UWSGI_BROODLORD_NUM")
        || ["UWSGI_EMPEROR_", "UWSGI_VASSAL", "UWSGI_JAIL", "UWSGI_FORK_", "UWSGI_INVALID_", "UWSGI_ZERG"].iter().any(|p| var.starts_with(p))
}

/// uWSGI reads every option from a `UWSGI_<NAME>` environment variable too
/// (`UWSGI_SOCKET=:8000`), before the command line, which therefore wins.
/// A name that is no option is a placeholder, as in a config file.
pub fn read_env(vars: impl Iterator<Item = (String, String)>, col: &mut Collector) -> Result<(), ConfigError> {
    let mut vars: Vec<(String, String)> = vars.filter(|(k, _)| k.starts_with("UWSGI_") && !internal(k)).collect();
    // In a fixed order: the environment has none.
    vars.sort();
    for (k, v) in vars {
        let name = k["UWSGI_".len()..].to_ascii_lowercase().replace('_', "-");
        if matches!(table::lookup(&name).map(|s| s.name), Some("help" | "version")) {
            continue;
        }
        col.add(&name, Some(v), Origin::Env(k.clone()), Source::Env, None)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::collect::Assembled;
    use super::*;

    fn read(args: &[&str]) -> Result<Assembled, ConfigError> {
        let mut c = Collector::default();
        read_args(args, &mut c)?;
        c.finish()
    }

    fn pairs(a: &Assembled) -> Vec<(&str, Option<&str>)> {
        a.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    #[test]
    fn long_forms() {
        let a = read(&["--http", ":8000", "--wsgi-file=test.py", "--master", "--vacuum=false"]).unwrap();
        assert_eq!(pairs(&a), vec![("http", Some(":8000")), ("wsgi-file", Some("test.py")), ("master", None), ("vacuum", Some("false"))]);
    }

    #[test]
    fn uwsgi_short_letters() {
        let a = read(&[
            "-s",
            "/tmp/a.sock",
            "-p",
            "4",
            "-M",
            "-w",
            "mysite.wsgi",
            "-H",
            "/venv",
            "-R",
            "100",
            "-L",
            "-b",
            "32768",
            "-p8",
            "-T",
            "-i",
            "-z",
            "30",
            "-t",
            "20",
            "-l",
            "64",
            "-d",
            "/tmp/log",
            "-C",
            "-m",
        ])
        .unwrap();
        assert_eq!(
            pairs(&a),
            vec![
                ("socket", Some("/tmp/a.sock")),
                ("processes", Some("4")),
                ("master", None),
                ("module", Some("mysite.wsgi")),
                ("home", Some("/venv")),
                ("max-requests", Some("100")),
                ("disable-logging", None),
                ("buffer-size", Some("32768")),
                ("processes", Some("8")),
                ("enable-threads", None),
                ("single-interpreter", None),
                ("socket-timeout", Some("30")),
                ("harakiri", Some("20")),
                ("listen", Some("64")),
                ("daemonize", Some("/tmp/log")),
                ("chmod-socket", None),
                ("memory-report", None),
            ]
        );
    }

    #[test]
    fn optional_value() {
        let a = read(&["--chmod-socket", "--socket", "a.sock"]).unwrap();
        assert_eq!(pairs(&a), vec![("chmod-socket", None), ("socket", Some("a.sock"))]);
        assert_eq!(pairs(&read(&["--chmod-socket", "664"]).unwrap()), vec![("chmod-socket", Some("664"))]);
        assert_eq!(pairs(&read(&["--chmod-socket=664"]).unwrap()), vec![("chmod-socket", Some("664"))]);
    }

    #[test]
    fn unknown_options_are_errors_on_the_command_line() {
        let s = read(&["--http", ":1", "--proceses", "2"]).err().unwrap().to_string();
        assert!(s.contains("argument 3") && s.contains("did you mean --processes?"), "{s}");
        let s = read(&["--gevent", "100"]).err().unwrap().to_string();
        assert!(s.contains("gevent") && s.contains("--threads"), "{s}");
        // A placeholder on the command line goes through set-placeholder.
        let a = read(&["--set-placeholder", "base=/srv", "--chdir", "%(base)/app"]).unwrap();
        assert_eq!(pairs(&a), vec![("chdir", Some("/srv/app"))]);
    }

    #[test]
    fn logic_and_declared_options_on_the_command_line() {
        let a = read(&["--for", "3031 3032", "--socket", "127.0.0.1:%(_)", "--endfor", "--declare-option", "app=wsgi-file=$1", "--app", "x.py"]).unwrap();
        assert_eq!(pairs(&a), vec![("socket", Some("127.0.0.1:3031")), ("socket", Some("127.0.0.1:3032")), ("wsgi-file", Some("x.py"))]);
    }

    #[test]
    fn missing_value_and_bad_bool() {
        assert!(read(&["--socket"]).err().unwrap().to_string().contains("'--socket' needs a value"));
        assert!(read(&["-p"]).err().unwrap().to_string().contains("needs a value"));
        let a = read(&["--master=perhaps"]).unwrap();
        assert!(a.warnings[0].contains("taken as true"), "{:?}", a.warnings);
    }

    #[test]
    fn uwsgi_environment_variables() {
        let mut c = Collector::default();
        let vars = [
            ("UWSGI_SOCKET", ":8000"),
            ("UWSGI_MASTER", "1"),
            ("UWSGI_RELOADS", "3"),
            ("PATH", "/bin"),
            ("UWSGI_CHMOD_SOCKET", "664"),
            ("UWSGI_MY_BASE", "/srv"),
        ];
        read_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())), &mut c).unwrap();
        let a = c.finish().unwrap();
        assert_eq!(pairs(&a), vec![("chmod-socket", Some("664")), ("master", Some("true")), ("socket", Some(":8000"))]);
        // Not dropped: a placeholder, with a warning naming the variable.
        assert!(a.warnings.iter().any(|w| w.contains("UWSGI_MY_BASE") && w.contains("kept as a placeholder")), "{:?}", a.warnings);
        assert!(!a.warnings.iter().any(|w| w.contains("RELOADS")));
    }

    #[test]
    fn stray_argument() {
        assert!(read(&["foo"]).err().unwrap().to_string().contains("unexpected argument 'foo'"));
    }
}
