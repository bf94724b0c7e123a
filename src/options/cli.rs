//! The command line, read the way uWSGI reads it: `--name value`,
//! `--name=value`, bare flags, `-s value` short aliases, and a bare
//! `file.ini` argument as a config file.

use super::table::{self, Kind};
use super::{Collector, ConfigError, Origin, ini};

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
            let Some(spec) = table::lookup(name) else {
                let hint = table::suggest(name).map(|s| format!(" (did you mean --{}?)", s)).unwrap_or_default();
                return Err(ConfigError::new(Some(origin), format!("unknown option '--{}'{}; see oxwsgi --help", name, hint)));
            };
            let value = match (spec.kind, inline) {
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
                // a following argument that looks like a mode is its value.
                (Kind::OptionalValue, None) => match args.get(i + 1).map(|s| s.as_ref()) {
                    Some(v) if !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()) => {
                        i += 1;
                        Some(v.to_string())
                    }
                    _ => None,
                },
            };
            push(col, spec, value, origin)?;
        } else if let Some(body) = arg.strip_prefix('-').filter(|b| !b.is_empty()) {
            let c = body.chars().next().unwrap();
            let Some(spec) = table::lookup_short(c) else {
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
            push(col, spec, value, origin)?;
        } else if let Some(format) = ini::Format::of_path(arg) {
            ini::read_config(format, arg, col, 0, Some(origin))?;
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

fn push(col: &mut Collector, spec: &'static table::OptSpec, value: Option<String>, origin: Origin) -> Result<(), ConfigError> {
    if let Some(format) = ini::Format::of_option(spec.name) {
        let v = value.unwrap_or_default();
        return ini::read_config(format, &v, col, 0, Some(origin));
    }
    col.push(spec, value, origin)
}

/// uWSGI reads every option from a `UWSGI_<NAME>` environment variable too
/// (`UWSGI_SOCKET=:8000`), before the command line, which therefore wins.
/// Variables that name no option are left alone: uWSGI itself sets some.
pub fn read_env(vars: impl Iterator<Item = (String, String)>, col: &mut Collector) -> Result<(), ConfigError> {
    for (k, v) in vars {
        let Some(name) = k.strip_prefix("UWSGI_") else { continue };
        let name = name.to_ascii_lowercase().replace('_', "-");
        let Some(spec) = table::lookup(&name) else { continue };
        if matches!(spec.name, "help" | "version") {
            continue;
        }
        push(col, spec, Some(v), Origin::Env(k.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(args: &[&str]) -> Result<Collector, ConfigError> {
        let mut c = Collector::default();
        read_args(args, &mut c).map(|_| c)
    }

    fn pairs(c: &Collector) -> Vec<(&str, Option<&str>)> {
        c.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    #[test]
    fn long_forms() {
        let c = read(&["--http", ":8000", "--wsgi-file=test.py", "--master", "--vacuum=false"]).unwrap();
        assert_eq!(pairs(&c), vec![("http", Some(":8000")), ("wsgi-file", Some("test.py")), ("master", None), ("vacuum", Some("false"))]);
    }

    #[test]
    fn short_aliases() {
        let c = read(&["-s", "/tmp/a.sock", "-p", "4", "-M", "-w", "mysite.wsgi", "-H", "/venv", "-R", "100", "-L", "-b", "32768", "-p8"]).unwrap();
        assert_eq!(
            pairs(&c),
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
            ]
        );
    }

    #[test]
    fn optional_value() {
        let c = read(&["--chmod-socket", "--socket", "a.sock"]).unwrap();
        assert_eq!(pairs(&c), vec![("chmod-socket", None), ("socket", Some("a.sock"))]);
        let c = read(&["--chmod-socket", "664"]).unwrap();
        assert_eq!(pairs(&c), vec![("chmod-socket", Some("664"))]);
        let c = read(&["--chmod-socket=664"]).unwrap();
        assert_eq!(pairs(&c), vec![("chmod-socket", Some("664"))]);
    }

    #[test]
    fn unknown_option_suggests() {
        let e = read(&["--http", ":1", "--proceses", "2"]).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("argument 3"), "{s}");
        assert!(s.contains("did you mean --processes?"), "{s}");
    }

    #[test]
    fn missing_value() {
        let e = read(&["--socket"]).unwrap_err().to_string();
        assert!(e.contains("'--socket' needs a value"), "{e}");
        let e = read(&["-p"]).unwrap_err().to_string();
        assert!(e.contains("needs a value"), "{e}");
    }

    #[test]
    fn bad_bool() {
        let e = read(&["--master=perhaps"]).unwrap_err().to_string();
        assert!(e.contains("not a boolean"), "{e}");
    }

    #[test]
    fn not_supported_yet() {
        let e = read(&["--cheaper", "2"]).unwrap_err().to_string();
        assert!(e.contains("not supported yet"), "{e}");
    }

    #[test]
    fn uwsgi_environment_variables() {
        let mut c = Collector::default();
        let vars = [("UWSGI_SOCKET", ":8000"), ("UWSGI_MASTER", "1"), ("UWSGI_RELOADS", "3"), ("PATH", "/bin"), ("UWSGI_CHMOD_SOCKET", "664")];
        read_env(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())), &mut c).unwrap();
        assert_eq!(pairs(&c), vec![("socket", Some(":8000")), ("master", Some("true")), ("chmod-socket", Some("664"))]);
        let mut c = Collector::default();
        let e = read_env([("UWSGI_PROCESSES".to_string(), "x".to_string())].into_iter(), &mut c);
        assert!(e.is_ok()); // checked later, when the value is used
    }

    #[test]
    fn stray_argument() {
        let e = read(&["foo"]).unwrap_err().to_string();
        assert!(e.contains("unexpected argument 'foo'"), "{e}");
    }
}
