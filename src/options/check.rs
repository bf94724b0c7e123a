//! --check-config: what would stop the server from starting with this
//! configuration, found without binding a socket or importing the app (a
//! check runs anywhere: on a build machine, before a deploy).

use super::config::{AppSource, Config, ListenAddr};
use std::path::{Path, PathBuf};

/// The problems, each naming the option and what to do; empty when the
/// server would start (as far as can be told without running it).
pub fn problems(cfg: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let chdir = cfg.chdir.as_deref();
    // Relative paths are taken after --chdir, as the server does.
    let at = |p: &Path| -> PathBuf {
        match chdir {
            Some(d) if p.is_relative() => d.join(p),
            _ => p.to_path_buf(),
        }
    };
    if let Some(d) = chdir
        && !d.is_dir()
    {
        out.push(format!("--chdir {}: not a directory", d.display()));
    }
    if let Some(h) = &cfg.home {
        let h = at(h);
        if !h.is_dir() {
            out.push(format!("--home {}: not a directory (give the virtualenv's directory, the one holding bin/ and lib/)", h.display()));
        }
    }
    if let Some(spec) = &cfg.emperor {
        let scope = crate::emperor::Scope::parse(spec);
        if let (Some(e), false) = (scope.missing(), scope.is_glob()) {
            out.push(format!("--emperor {}: the vassals directory cannot be entered ({})", spec, e));
        }
        return out;
    }
    if cfg.apps.is_empty() {
        out.push("no application configured: give --wsgi-file FILE, --module MODULE or --mount /prefix=APP".into());
    }
    for app in &cfg.apps {
        if let AppSource::File { path, .. } = &app.source {
            let p = at(path);
            if !p.is_file() {
                out.push(format!("--wsgi-file {}: no such file", p.display()));
            }
        }
        if let AppSource::Paste { uri } = &app.source
            && let Some(file) = uri.strip_prefix("config:")
            && !at(Path::new(file)).is_file()
        {
            out.push(format!("--paste {}: no such file", uri));
        }
    }
    if cfg.listeners.is_empty() {
        out.push("no socket configured: give --http :8000, --http-socket ADDR or --socket ADDR (for nginx uwsgi_pass)".into());
    }
    for l in &cfg.listeners {
        if let ListenAddr::Unix(p) = &l.addr {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !at(dir).is_dir() {
                out.push(format!("socket {}: the directory {} does not exist", p.display(), at(dir).display()));
            }
        }
    }
    for (what, file) in [("--logto", &cfg.logto), ("--daemonize", &cfg.daemonize), ("--pidfile", &cfg.pidfile), ("--safe-pidfile", &cfg.safe_pidfile)] {
        if let Some(f) = file {
            let dir = f.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !at(dir).is_dir() {
                out.push(format!("{} {}: the directory {} does not exist", what, f.display(), at(dir).display()));
            }
        }
    }
    if let Some(u) = &cfg.uid
        && let Err(e) = crate::master::privileges::resolve_uid(u)
    {
        out.push(e);
    }
    if let Some(g) = &cfg.gid
        && let Err(e) = crate::master::privileges::resolve_gid(g)
    {
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::config::{AppSpec, Listener, Proto};

    fn site() -> (PathBuf, Config) {
        let dir = std::env::temp_dir().join(format!("oxwsgi-check-{}-{:?}", std::process::id(), std::thread::current().id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("app.py"), "def application(e, s): pass\n").unwrap();
        let cfg = Config {
            chdir: Some(dir.clone()),
            apps: vec![AppSpec { mountpoint: String::new(), source: AppSource::File { path: "app.py".into(), callable: "application".into() } }],
            listeners: vec![Listener { addr: ListenAddr::Unix("run/site.sock".into()), proto: Proto::Uwsgi }],
            ..Config::default()
        };
        (dir, cfg)
    }

    #[test]
    fn a_runnable_site_has_no_problems_and_each_missing_piece_is_named() {
        let (dir, mut cfg) = site();
        std::fs::create_dir_all(dir.join("run")).unwrap();
        assert!(problems(&cfg).is_empty(), "{:?}", problems(&cfg));
        std::fs::remove_dir(dir.join("run")).unwrap();
        let p = problems(&cfg);
        assert_eq!(p.len(), 1, "{:?}", p);
        assert!(p[0].starts_with("socket run/site.sock: the directory") && p[0].ends_with("/run does not exist"), "{:?}", p);
        cfg.listeners.clear();
        cfg.apps[0].source = AppSource::File { path: "missing.py".into(), callable: "application".into() };
        cfg.home = Some("venv".into());
        cfg.uid = Some("no-such-user-here".into());
        let p = problems(&cfg);
        assert!(p.iter().any(|m| m.starts_with("--wsgi-file") && m.ends_with("missing.py: no such file")), "{:?}", p);
        assert!(p.iter().any(|m| m.starts_with("no socket configured")), "{:?}", p);
        assert!(p.iter().any(|m| m.starts_with("--home") && m.contains("venv: not a directory")), "{:?}", p);
        assert!(p.iter().any(|m| m == "--uid no-such-user-here: no such user"), "{:?}", p);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_emperor_needs_only_its_directory() {
        let cfg = Config { emperor: Some("/nonexistent-vassals".into()), ..Config::default() };
        assert_eq!(
            problems(&cfg),
            vec!["--emperor /nonexistent-vassals: the vassals directory cannot be entered (No such file or directory (os error 2))".to_string()]
        );
        // A pattern waits for its directory, as in uWSGI.
        let cfg = Config { emperor: Some("/nonexistent-vassals/*.ini".into()), ..Config::default() };
        assert!(problems(&cfg).is_empty());
        let cfg = Config { emperor: Some(std::env::temp_dir().display().to_string()), ..Config::default() };
        assert!(problems(&cfg).is_empty());
    }
}
