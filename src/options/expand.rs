//! What uWSGI expands in option values, in its order:
//! - magic variables (`%d`, `%n`, `%k`, ...), as each file is read: they
//!   describe that file (`FileCtx`);
//! - then, once every option is collected, `$(ENV)` (with `:-` and `-`
//!   defaults), `@(file)` and `@(exec://command)`, and `%(name)`: another
//!   option's or placeholder's value, or uWSGI's placeholder math
//!   (`%(a + 1)`, applied left to right). What cannot be expanded stays as
//!   written, as in uWSGI (a log format's `%(method)` is for requests, not
//!   for the config); the caller warns about it.

use std::path::{Path, PathBuf};

/// The config file whose magic variables apply to a value.
#[derive(Debug, Clone)]
pub struct FileCtx {
    /// The file as named (`%o`): on the command line or in an include.
    pub given: String,
    /// Its absolute path (`%p`).
    pub path: PathBuf,
    /// The section read (`%x`), "" for the default one.
    pub section: String,
}

impl FileCtx {
    pub fn new(given: &str, path: &Path, section: &str) -> FileCtx {
        FileCtx { given: given.to_string(), path: path.to_path_buf(), section: section.to_string() }
    }
}

/// The machine's facts the magic variables use, read once.
fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn user_name(uid: nix::unistd::Uid) -> String {
    nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string())
}

fn group_name(gid: nix::unistd::Gid) -> String {
    nix::unistd::Group::from_gid(gid).ok().flatten().map(|g| g.name).unwrap_or_else(|| gid.to_string())
}

/// Unix time at start-up, for `%t` and `%T` (the same for every file).
fn start_time() -> std::time::Duration {
    static T: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *T.get_or_init(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
}

/// uWSGI's djb33x hash of a path, in hex (`%j`).
fn djb33x(s: &str) -> String {
    let mut h: u32 = 5381;
    for b in s.bytes() {
        h = h.wrapping_mul(33) ^ b as u32;
    }
    format!("{:x}", h)
}

/// The value of magic variable `c` for `f` (and `first`, the first config
/// file read, for the upper-case forms), or None if `c` is not one.
fn magic(c: char, f: &FileCtx, first: &FileCtx) -> Option<String> {
    let file = |f: &FileCtx, c: char| -> String {
        let p = &f.path;
        let name = p.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        match c {
            'o' => f.given.clone(),
            'p' => p.display().to_string(),
            's' => name,
            'd' => {
                let mut d = p.parent().unwrap_or(Path::new("/")).display().to_string();
                if !d.ends_with('/') {
                    d.push('/');
                }
                d
            }
            'e' => p.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            'n' => p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            'c' => p.parent().and_then(|d| d.file_name()).map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
            'x' => f.section.clone(),
            'j' => djb33x(&p.display().to_string()),
            _ => String::new(),
        }
    };
    Some(match c {
        'o' | 'p' | 's' | 'd' | 'e' | 'n' | 'c' | 'x' | 'j' => file(f, c),
        'O' | 'P' | 'S' | 'D' | 'E' | 'N' | 'C' | 'X' | 'J' => file(first, c.to_ascii_lowercase()),
        '0'..='9' => {
            let dir = f.path.parent().unwrap_or(Path::new("/"));
            let parts: Vec<String> = dir
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    _ => None,
                })
                .collect();
            parts.get(c as usize - '0' as usize).cloned().unwrap_or_default()
        }
        'v' => std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        'V' => crate::python::uwsgi_module::UWSGI_VERSION.to_string(),
        'h' => nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned()).unwrap_or_default(),
        'k' => cores().to_string(),
        'u' => nix::unistd::getuid().to_string(),
        'U' => user_name(nix::unistd::getuid()),
        'g' => nix::unistd::getgid().to_string(),
        'G' => group_name(nix::unistd::getgid()),
        't' => start_time().as_secs().to_string(),
        'T' => start_time().as_micros().to_string(),
        'b' => crate::python::host::our_binary().map(|p| p.display().to_string()).unwrap_or_default(),
        '[' => "\x1b".to_string(),
        '%' => "%".to_string(),
        _ => return None,
    })
}

/// Expands the magic variables of a value read from `f`. `%(...)` is left
/// for the placeholder pass; an unknown `%x` stays as written.
pub fn magic_vars(v: &str, f: &FileCtx, first: &FileCtx) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('(') | None => out.push('%'),
            Some(m) => match magic(m, f, first) {
                Some(val) => {
                    out.push_str(&val);
                    chars.next();
                }
                None => out.push('%'),
            },
        }
    }
    out
}

/// A `X(...)` reference found in a value.
struct Ref<'a> {
    start: usize,
    end: usize,
    inner: &'a str,
}

/// The `sigil(...)` references in `v`, with nested parentheses balanced.
fn refs(v: &str, sigil: char) -> Vec<Ref<'_>> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] == sigil as u8 && b[i + 1] == b'(' {
            let mut depth = 0;
            let mut j = i + 1;
            let mut close = None;
            while j < b.len() {
                match b[j] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let Some(c) = close else { break };
            out.push(Ref { start: i, end: c + 1, inner: &v[i + 2..c] });
            i = c + 1;
            continue;
        }
        i += 1;
    }
    out
}

/// Replaces each reference the function resolves; the others stay.
fn substitute(v: &str, sigil: char, mut resolve: impl FnMut(&str) -> Option<String>) -> String {
    let rs = refs(v, sigil);
    if rs.is_empty() {
        return v.to_string();
    }
    let mut out = String::with_capacity(v.len());
    let mut at = 0;
    for r in rs {
        out.push_str(&v[at..r.start]);
        match resolve(r.inner) {
            Some(val) => out.push_str(&val),
            None => out.push_str(&v[r.start..r.end]),
        }
        at = r.end;
    }
    out.push_str(&v[at..]);
    out
}

/// `$(VAR)`, `$(VAR:-default)` (unset or empty) and `$(VAR-default)`
/// (unset). `missing` hears of each variable left unexpanded.
pub fn env_vars(v: &str, missing: &mut dyn FnMut(&str)) -> String {
    substitute(v, '$', |inner| {
        if let Some((name, def)) = inner.split_once(":-") {
            return Some(std::env::var(name).ok().filter(|x| !x.is_empty()).unwrap_or_else(|| def.to_string()));
        }
        if let Some((name, def)) = inner.split_once('-')
            && !name.is_empty()
        {
            return Some(std::env::var(name).unwrap_or_else(|_| def.to_string()));
        }
        match std::env::var(inner) {
            Ok(x) => Some(x),
            Err(_) => {
                missing(inner);
                None
            }
        }
    })
}

/// `@(path)` (the file's contents) and `@(exec://command)` (its output,
/// if `commands`), without the trailing newline. `failed` hears of each one
/// that could not be read, and why.
pub fn file_refs(v: &str, commands: bool, failed: &mut dyn FnMut(&str, String)) -> String {
    substitute(v, '@', |inner| {
        let got = if let Some(cmd) = inner.strip_prefix("exec://") {
            if !commands {
                return None;
            }
            match std::process::Command::new("/bin/sh").arg("-c").arg(cmd).stderr(std::process::Stdio::inherit()).output() {
                Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
                Ok(o) => Err(format!("the command exited with {}", o.status)),
                Err(e) => Err(e.to_string()),
            }
        } else if inner.contains("://") {
            Err("only files and exec:// are read by oxwsgi".to_string())
        } else {
            std::fs::read_to_string(inner).map_err(|e| e.to_string())
        };
        match got {
            Ok(s) => Some(s.strip_suffix('\n').map(|s| s.strip_suffix('\r').unwrap_or(s)).unwrap_or(&s).to_string()),
            Err(e) => {
                failed(inner, e);
                None
            }
        }
    })
}

/// `%(name)` and the placeholder math, with `lookup` giving a name's
/// (already expanded) value. `unresolved` hears of what stays as written.
pub fn placeholders(v: &str, lookup: &mut dyn FnMut(&str) -> Option<String>, unresolved: &mut dyn FnMut(&str)) -> String {
    substitute(v, '%', |inner| {
        let inner = inner.trim();
        let r = if inner.contains(' ') { math(inner, lookup) } else { lookup(inner) };
        if r.is_none() {
            unresolved(inner);
        }
        r
    })
}

/// uWSGI's placeholder math: items (names or numbers) and the operators
/// `+ - * /` applied left to right, `++` and `--` after an item, and two
/// items in a row concatenated (`%(a b)` is a's value then b's).
fn math(expr: &str, lookup: &mut dyn FnMut(&str) -> Option<String>) -> Option<String> {
    let mut acc: Option<String> = None;
    let mut op: Option<&str> = None;
    for tok in expr.split_whitespace() {
        match tok {
            "+" | "-" | "*" | "/" => {
                op = Some(tok);
                continue;
            }
            "++" | "--" => {
                let n: i64 = acc.as_deref()?.trim().parse().ok()?;
                acc = Some((if tok == "++" { n + 1 } else { n - 1 }).to_string());
                continue;
            }
            _ => {}
        }
        let val = if tok.parse::<i64>().is_ok() { tok.to_string() } else { lookup(tok)? };
        acc = Some(match (acc, op.take()) {
            (None, _) => val,
            (Some(a), None) => a + &val,
            (Some(a), Some(o)) => {
                let (x, y): (i64, i64) = (a.trim().parse().ok()?, val.trim().parse().ok()?);
                match o {
                    "+" => x + y,
                    "-" => x - y,
                    "*" => x * y,
                    _ => x.checked_div(y)?,
                }
                .to_string()
            }
        });
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FileCtx {
        FileCtx::new("vassals/site.ini", Path::new("/etc/uwsgi/vassals/site.ini"), "prod")
    }

    #[test]
    fn magic_variables_as_uwsgi_defines_them() {
        let (f, first) = (ctx(), FileCtx::new("base.yaml", Path::new("/srv/conf/base.yaml"), ""));
        let m = |s: &str| magic_vars(s, &f, &first);
        assert_eq!(m("%d|%n|%e|%s|%c|%p|%o|%x"), "/etc/uwsgi/vassals/|site|ini|site.ini|vassals|/etc/uwsgi/vassals/site.ini|vassals/site.ini|prod");
        assert_eq!(m("%0/%1/%2/%3"), "etc/uwsgi/vassals/");
        assert_eq!(m("%D%N.%E %S %P %C %X %O"), "/srv/conf/base.yaml base.yaml /srv/conf/base.yaml conf  base.yaml");
        assert_eq!(m("%k"), cores().to_string());
        assert_eq!(m("100%% %(keep) %q %"), "100% %(keep) %q %");
        assert_eq!(m("%u %g"), format!("{} {}", nix::unistd::getuid(), nix::unistd::getgid()));
        assert_eq!(m("%U"), user_name(nix::unistd::getuid()));
        assert!(m("%t").parse::<u64>().unwrap() > 1_700_000_000);
        assert_eq!(m("%T").len(), m("%t").len() + 6);
        assert_eq!(m("%[[1m"), "\x1b[1m");
        assert_eq!(m("%j"), djb33x("/etc/uwsgi/vassals/site.ini"));
        assert!(!m("%h").is_empty() && m("%V") == "2.0.0");
    }

    #[test]
    fn environment_with_defaults_and_unset() {
        // SAFETY: no other test reads these variables.
        unsafe {
            std::env::set_var("OXWSGI_T_SET", "/srv");
            std::env::set_var("OXWSGI_T_EMPTY", "");
        }
        let mut missing = Vec::new();
        let v = env_vars("$(OXWSGI_T_SET)/a $(OXWSGI_T_EMPTY:-dflt) $(OXWSGI_T_EMPTY-dflt)| $(OXWSGI_T_UNSET-x) $(OXWSGI_T_UNSET)", &mut |n| {
            missing.push(n.to_string())
        });
        assert_eq!(v, "/srv/a dflt | x $(OXWSGI_T_UNSET)");
        assert_eq!(missing, ["OXWSGI_T_UNSET"]);
    }

    #[test]
    fn files_and_commands() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-expand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("name");
        std::fs::write(&f, "node7\n").unwrap();
        let mut failed = Vec::new();
        let v = file_refs(&format!("@({}).x @(exec://echo hi) @(/nonexistent/x) @(http://h/)", f.display()), true, &mut |p, e| failed.push((p.to_string(), e)));
        assert_eq!(v, "node7.x hi @(/nonexistent/x) @(http://h/)");
        assert_eq!(failed.len(), 2);
        assert!(failed[1].1.contains("exec://"), "{failed:?}");
        // Text from a fuzzer runs no command.
        assert_eq!(file_refs("@(exec://echo hi)", false, &mut |_, _| panic!("not a failure")), "@(exec://echo hi)");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn placeholders_and_math() {
        let mut lookup = |n: &str| match n {
            "foo" => Some("17".to_string()),
            "bar" => Some("30".to_string()),
            "two" => Some("2".to_string()),
            "nine" => Some("9".to_string()),
            "base" => Some("/srv".to_string()),
            _ => None,
        };
        let mut left = Vec::new();
        let mut p = |s: &str| placeholders(s, &mut lookup, &mut |n| left.push(n.to_string()));
        assert_eq!(p("%(base)/app"), "/srv/app");
        assert_eq!(p("%(foo + bar + 3)"), "50");
        // Left to right, as uWSGI does: ((17 + 30) + 3) * 2.
        assert_eq!(p("%(foo + bar + 3 * 2)"), "100");
        assert_eq!(p("%(bar ++)"), "31");
        assert_eq!(p("%(two nine ++)"), "30");
        assert_eq!(p("%(foo / 0)"), "%(foo / 0)");
        assert_eq!(p("[%(method) %(uri)]"), "[%(method) %(uri)]");
        assert_eq!(left, ["foo / 0", "method", "uri"]);
    }
}
