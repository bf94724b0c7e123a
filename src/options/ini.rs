//! uWSGI's ini dialect: `[uwsgi]` (or a named section), `key = value`,
//! `key` alone for a flag, `#`/`;` comment lines, repeated keys, magic
//! variables expanded as each line is read. Everything else (includes,
//! logic blocks, placeholders) is the collector's (collect.rs), the same
//! for every format.

use super::collect::{Collector, Source};
use super::expand::{self, FileCtx};
use super::{ConfigError, Origin};

/// The config file formats uWSGI reads, each with its option (`--ini`,
/// `--yaml`, `--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ini,
    Yaml,
    Json,
}

impl Format {
    /// The format an include option names (`include`, `inherit` and
    /// `config` go by the file's extension).
    pub fn of_option(name: &str) -> Option<Format> {
        match name {
            "ini" => Some(Format::Ini),
            "yaml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    pub fn of_path(path: &str) -> Option<Format> {
        let p = path.rsplit_once(':').filter(|(_, s)| !s.contains('/')).map_or(path, |(p, _)| p);
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

/// Parses ini text read from `file` into the collector.
pub fn parse_ini(text: &str, file: &FileCtx, section: &str, col: &mut Collector) -> Result<(), ConfigError> {
    let name = file.path.display().to_string();
    let first = col.first_file.clone().unwrap_or_else(|| file.clone());
    let mut current: Option<String> = None;
    let mut found = false;
    for (n, raw) in text.lines().enumerate() {
        let origin = Origin::File(name.clone(), n + 1);
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                return Err(ConfigError::new(Some(origin), format!("malformed section header '{}'", line)));
            };
            current = Some(s.trim().to_string());
            found |= s.trim() == section;
            continue;
        }
        if current.as_deref() != Some(section) {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(expand::magic_vars(strip_inline_comment(v).trim(), file, &first))),
            None => (strip_inline_comment(line).trim(), None),
        };
        col.add(key, value, origin, Source::File, Some(file))?;
    }
    // A warning, as in uWSGI: `ini = :base` may name a section a file lacks.
    if !found {
        col.warnings.push(format!("{}: no [{}] section in this file; nothing read from it", name, section));
    }
    Ok(())
}

/// Drops a trailing ` # comment` or ` ; comment`. uWSGI keeps it in the
/// value, so the tutorial's `harakiri = 20 # respawn processes taking more
/// than 20 seconds` only works there because atoi stops at the space, and
/// its `safe-pidfile = /tmp/project-master.pid # create a pidfile` names a
/// file with the comment in it. A `#` or `;` not preceded by white space
/// stays.
pub(super) fn strip_inline_comment(v: &str) -> &str {
    let b = v.as_bytes();
    for i in 1..b.len() {
        if (b[i] == b'#' || b[i] == b';') && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return &v[..i];
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::super::collect::Assembled;
    use super::*;
    use std::path::Path;

    /// Reads `text` as if it were /etc/uwsgi/vassals/mysite_uwsgi.ini.
    fn parse(text: &str, section: &str) -> Result<Assembled, ConfigError> {
        let mut c = Collector::default();
        let f = FileCtx::new("mysite_uwsgi.ini", Path::new("/etc/uwsgi/vassals/mysite_uwsgi.ini"), "");
        parse_ini(text, &f, section, &mut c)?;
        c.finish()
    }

    fn pairs(a: &Assembled) -> Vec<(&str, Option<&str>)> {
        a.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    /// A directory of config files for include tests.
    struct Dir(std::path::PathBuf);

    impl Dir {
        fn new(tag: &str, files: &[(&str, &str)]) -> Dir {
            let d = std::env::temp_dir().join(format!("oxwsgi-ini-{}-{}", tag, std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            for (name, text) in files {
                std::fs::write(d.join(name), text).unwrap();
            }
            Dir(d)
        }

        fn read(&self, spec: &str) -> Result<Assembled, ConfigError> {
            let mut c = Collector::default();
            let p = self.0.join(spec).display().to_string();
            c.read(Format::of_path(&p).unwrap_or(Format::Ini), &p, Some(Origin::Arg(1)), None)?;
            c.finish()
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn tutorial_ini() {
        let text = "# mysite_uwsgi.ini file\n[uwsgi]\n\n# Django-related settings\nchdir           = /path/to/your/project \nmodule          = project.wsgi\nhome            = /path/to/virtualenv\nmaster          = true\nprocesses       = 10\nsocket          = /path/to/your/project/mysite.sock \n; chmod-socket    = 664\nvacuum          = true\n";
        let a = parse(text, "uwsgi").unwrap();
        assert_eq!(
            pairs(&a),
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
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn repeated_keys_and_sections() {
        let text = "[other]\nsocket = /x\n[uwsgi]\nsocket = :1\nsocket = :2\nenv = A=1\nenv = B=2\n[more]\nprocesses = 3\n";
        assert_eq!(pairs(&parse(text, "uwsgi").unwrap()), vec![("socket", Some(":1")), ("socket", Some(":2")), ("env", Some("A=1")), ("env", Some("B=2"))]);
        assert_eq!(pairs(&parse(text, "more").unwrap()), vec![("processes", Some("3"))]);
    }

    #[test]
    fn inline_comments_as_in_the_tutorial() {
        let text = "[uwsgi]\nenv = DJANGO_SETTINGS_MODULE=mysite.settings # set an environment variable\nsafe-pidfile = /tmp/project-master.pid # create a pidfile\nmaster # a flag\nwsgi-file = /srv/a#b.py\nhome = /v ; semicolon too\n";
        assert_eq!(
            pairs(&parse(text, "uwsgi").unwrap()),
            vec![
                ("env", Some("DJANGO_SETTINGS_MODULE=mysite.settings")),
                ("safe-pidfile", Some("/tmp/project-master.pid")),
                ("master", None),
                ("wsgi-file", Some("/srv/a#b.py")),
                ("home", Some("/v")),
            ]
        );
    }

    #[test]
    fn flags_as_uwsgi_reads_them() {
        for (v, want) in
            [("true", "true"), ("yes", "true"), ("on", "true"), ("1", "true"), ("false", "false"), ("no", "false"), ("off", "false"), ("0", "false")]
        {
            let a = parse(&format!("[uwsgi]\nmaster = {}\n", v), "uwsgi").unwrap();
            assert_eq!(a.opts[0].value.as_deref(), Some(want), "{v}");
        }
        assert_eq!(parse("[uwsgi]\nmaster\n", "uwsgi").unwrap().opts[0].value, None);
        // Any other value is true, as uWSGI takes it, with a warning.
        let a = parse("[uwsgi]\nenable-threads = 4\n", "uwsgi").unwrap();
        assert_eq!(a.opts[0].value.as_deref(), Some("true"));
        assert!(a.warnings[0].contains("mysite_uwsgi.ini:2") && a.warnings[0].contains("taken as true"), "{:?}", a.warnings);
    }

    #[test]
    fn magic_variables() {
        let text = "[uwsgi]\nchdir = %d\nsocket = %d%n.sock\nlogto = /var/log/%c/%n.%e\npidfile = %p.pid\nwsgi-file = 100%%.py\nmodule = %s\nprocesses = %k\n";
        assert_eq!(
            pairs(&parse(text, "uwsgi").unwrap()),
            vec![
                ("chdir", Some("/etc/uwsgi/vassals/")),
                ("socket", Some("/etc/uwsgi/vassals/mysite_uwsgi.sock")),
                ("logto", Some("/var/log/vassals/mysite_uwsgi.ini")),
                ("pidfile", Some("/etc/uwsgi/vassals/mysite_uwsgi.ini.pid")),
                ("wsgi-file", Some("100%.py")),
                ("module", Some("mysite_uwsgi.ini")),
                ("processes", Some(std::thread::available_parallelism().unwrap().get().to_string().as_str())),
            ]
        );
    }

    #[test]
    fn placeholders_before_or_after_and_env() {
        // SAFETY: tests in this module do not read this variable concurrently.
        unsafe { std::env::set_var("OXWSGI_TEST_ROOT", "/srv/app") };
        let text = "[uwsgi]\nbase = $(OXWSGI_TEST_ROOT)\nchdir = %(base)/src\nprocesses = 4\nthreads = %(workers)\nhome = %(later)/venv\nlater = /opt\npythonpath = $(OXWSGI_TEST_UNSET_VAR:-/fallback)\n";
        let a = parse(text, "uwsgi").unwrap();
        assert_eq!(
            pairs(&a),
            vec![
                ("chdir", Some("/srv/app/src")),
                ("processes", Some("4")),
                ("threads", Some("4")),
                ("home", Some("/opt/venv")),
                ("pythonpath", Some("/fallback"))
            ]
        );
        assert!(a.warnings.is_empty(), "referenced placeholders are not warned about: {:?}", a.warnings);
        // uwsgi.opt shows placeholders too.
        assert!(a.all.iter().any(|(k, v)| k == "base" && v.as_deref() == Some("/srv/app")));
    }

    #[test]
    fn unknown_keys_are_placeholders_with_a_warning_or_errors_under_strict() {
        let a = parse("[uwsgi]\nmaster = true\nvaccuum = true\nproject = shop\n", "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("master", Some("true"))]);
        assert_eq!(a.warnings.len(), 2, "{:?}", a.warnings);
        assert!(a.warnings[0].contains("mysite_uwsgi.ini:3: unknown option 'vaccuum' kept as a placeholder; did you mean vacuum?"), "{:?}", a.warnings);
        for strict in ["strict = true", "strict"] {
            let e = parse(&format!("[uwsgi]\n{}\nproceses = 4\n", strict), "uwsgi").unwrap_err().to_string();
            assert!(e.contains(":3") && e.contains("unknown option 'proceses'") && e.contains("strict mode"), "{e}");
        }
        assert!(parse("[uwsgi]\nstrict\nset-placeholder = base=/x\nchdir = %(base)\n", "uwsgi").is_ok());
        // Unresolved placeholders stay as written, with a warning, except
        // in a log format, whose %(...) are request variables.
        let a = parse("[uwsgi]\nchdir = %(nothere)/x\n", "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("chdir", Some("%(nothere)/x"))]);
        assert!(a.warnings[0].contains("placeholder %(nothere) is not defined"), "{:?}", a.warnings);
    }

    #[test]
    fn uwsgi_options_we_lack_are_refused_naming_their_subsystem() {
        let e = parse("[uwsgi]\nspooler = /tmp/spool\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("mysite_uwsgi.ini:2") && e.contains("spooler"), "{e}");
        let e = parse("[uwsgi]\ngevent = 100\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("gevent") && e.contains("--threads"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_fix() {
        let e = parse("[uwsgi]\nsocket\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("needs a value"), "{e}");
        // A missing section is a warning, as in uWSGI (`ini = :base` may name one a file lacks).
        let a = parse("[other]\nsocket = :1\n", "uwsgi").unwrap();
        assert!(a.opts.is_empty());
        assert_eq!(a.warnings, vec!["/etc/uwsgi/vassals/mysite_uwsgi.ini: no [uwsgi] section in this file; nothing read from it".to_string()]);
        let e = parse("[uwsgi\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("malformed section"), "{e}");
    }

    #[test]
    fn logic_blocks() {
        // SAFETY: tests in this module do not read these variables concurrently.
        unsafe { std::env::set_var("OXWSGI_TEST_LOGIC", "yes") };
        let text = "[uwsgi]\n\
            if-env = OXWSGI_TEST_LOGIC\nenv = SEEN=%(_)\nendif =\n\
            if-not-env = OXWSGI_TEST_LOGIC\nprocesses = 99\nendif\n\
            if-env = OXWSGI_TEST_LOGIC=no\nprocesses = 98\nendif\n\
            if-exists = /etc/uwsgi/never/here\nprocesses = 97\nendif\n\
            if-dir = /tmp\npythonpath = %(_)\nendif\n\
            if-file = /tmp\nprocesses = 96\nendif\n\
            master = true\n\
            if-opt = master\nthreads = 2\nendif\n\
            if-not-opt = harakiri\nharakiri = 30\nendif\n\
            for = 8001 8002\nhttp-socket = 127.0.0.1:%(_)\nendfor =\n\
            for-times = 2\nenv = N%(_)=%(_)\nendfor\n\
            if-env = OXWSGI_TEST_LOGIC\nfor = a b\nif-not-env = OXWSGI_TEST_UNSET\nenv = L=%(_)\nendif\nendfor\nendif\n";
        assert_eq!(
            pairs(&parse(text, "uwsgi").unwrap()),
            vec![
                ("env", Some("SEEN=yes")),
                ("pythonpath", Some("/tmp")),
                ("master", Some("true")),
                ("threads", Some("2")),
                ("harakiri", Some("30")),
                ("http-socket", Some("127.0.0.1:8001")),
                ("http-socket", Some("127.0.0.1:8002")),
                ("env", Some("N1=1")),
                ("env", Some("N2=2")),
                ("env", Some("L=a")),
                ("env", Some("L=b")),
            ]
        );
        let e = parse("[uwsgi]\nendif\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("endif without"), "{e}");
    }

    #[test]
    fn else_and_hostname_blocks() {
        let host = nix::unistd::gethostname().unwrap().into_string().unwrap();
        let text = format!(
            "[uwsgi]\n\
            if-hostname = {host}\nprocesses = 2\nelse =\nprocesses = 3\nendif =\n\
            if-not-hostname = {host}\nthreads = 9\nelse\nthreads = 4\nendif\n\
            if-hostname-match = ^{first}.*$\nlisten = 64\nendif\n\
            if-not-hostname-match = ^{first}\nlisten = 65\nendif\n\
            if-exists = /nonexistent/oxwsgi\nharakiri = 1\nelse\nif-exists = /tmp\nharakiri = %(_)x\nelse\nharakiri = 3\nendif\nendif\n",
            first = regex::escape(&host[..1])
        );
        assert_eq!(
            pairs(&parse(&text, "uwsgi").unwrap()),
            vec![("processes", Some("2")), ("threads", Some("4")), ("listen", Some("64")), ("harakiri", Some("/tmpx"))]
        );
        let e = parse("[uwsgi]\nelse\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains(":2") && e.contains("else without an if-*"), "{e}");
        let e = parse("[uwsgi]\nif-hostname-match = (\nendif\n", "uwsgi").unwrap_err().to_string();
        assert!(e.contains("not a regular expression"), "{e}");
    }

    #[test]
    fn if_env_holds_for_a_variable_set_empty() {
        // SAFETY: no other test reads this variable.
        unsafe { std::env::set_var("OXWSGI_TEST_EMPTY", "") };
        let a = parse("[uwsgi]\nif-env = OXWSGI_TEST_EMPTY\nprocesses = 2\nendif\nif-not-env = OXWSGI_TEST_EMPTY\nprocesses = 3\nendif\n", "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("processes", Some("2"))]);
    }

    #[test]
    fn for_glob_and_for_readline() {
        let d = Dir::new("forglob", &[("a.conf", ""), ("b.conf", ""), ("hosts.txt", "one\n\ntwo\n")]);
        let text = format!("[uwsgi]\nfor-glob = {0}/*.conf\nenv = G=%(_)\nendfor\nfor-readline = {0}/hosts.txt\nenv = R=%(_)\nendfor\n", d.0.display());
        let a = parse(&text, "uwsgi").unwrap();
        let envs: Vec<&str> = a.opts.iter().filter_map(|o| o.value.as_deref()).collect();
        assert_eq!(envs, vec![format!("G={}/a.conf", d.0.display()).as_str(), format!("G={}/b.conf", d.0.display()).as_str(), "R=one", "R=two"]);
        // An unreadable file: no lines and a warning, and the config goes on (as in uWSGI).
        let a = parse("[uwsgi]\nfor-readline = /nonexistent/oxwsgi.env\nenv = %(_)\nendfor\nprocesses = 2\n", "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("processes", Some("2"))]);
        assert!(a.warnings[0].contains("mysite_uwsgi.ini:2: for-readline /nonexistent/oxwsgi.env: No such file"), "{:?}", a.warnings);
    }

    #[test]
    fn includes_in_every_form() {
        let d = Dir::new(
            "include",
            &[
                (
                    "main.ini",
                    "[uwsgi]\nini = :base\nini = common.ini\nini = common.ini:alt\ninclude = extra.yaml\njson = more.json:web\nmaster = true\n[base]\nprocesses = 2\n",
                ),
                ("common.ini", "[uwsgi]\nthreads = 3\n[alt]\nharakiri = 7\n"),
                ("extra.yaml", "uwsgi:\n  listen: 64\n"),
                ("more.json", "{\"web\": {\"buffer-size\": 32768}}"),
            ],
        );
        assert_eq!(
            pairs(&d.read("main.ini").unwrap()),
            vec![
                ("processes", Some("2")),
                ("threads", Some("3")),
                ("harakiri", Some("7")),
                ("listen", Some("64")),
                ("buffer-size", Some("32768")),
                ("master", Some("true"))
            ]
        );
        let e = d.read("nope.ini").unwrap_err().to_string();
        assert!(e.contains("argument 1") && e.contains("cannot read config file") && e.contains("nope.ini"), "{e}");
    }

    #[test]
    fn include_cycles_are_errors() {
        let d = Dir::new("cycle", &[("a.ini", "[uwsgi]\nini = b.ini\n"), ("b.ini", "[uwsgi]\ninclude = a.ini\n"), ("self.ini", "[uwsgi]\nini = :uwsgi\n")]);
        let e = d.read("a.ini").unwrap_err().to_string();
        assert!(e.contains("include each other in a loop") && e.contains("a.ini"), "{e}");
        assert!(d.read("self.ini").unwrap_err().to_string().contains("loop"));
    }

    #[test]
    fn declared_options_and_set() {
        let text = "[uwsgi]\ndeclare-option = flask=wsgi-file=$1;callable=app;env=FLASK_ROOT=$2\nflask = /srv/app.py /srv\nset = processes=3\nset = mine=1\n";
        let a = parse(text, "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("wsgi-file", Some("/srv/app.py")), ("callable", Some("app")), ("env", Some("FLASK_ROOT=/srv")), ("processes", Some("3"))]);
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    }

    #[test]
    fn file_and_command_values() {
        let d = Dir::new("files", &[("name.txt", "shop\n")]);
        let text = format!("[uwsgi]\nappname = @({}/name.txt)\nchdir = /srv/@(exec://echo site)\nproject = x\n", d.0.display());
        let a = parse(&text, "uwsgi").unwrap();
        assert_eq!(pairs(&a), vec![("chdir", Some("/srv/site"))]);
        assert!(a.all.iter().any(|(k, v)| k == "appname" && v.as_deref() == Some("shop")));
    }
}
