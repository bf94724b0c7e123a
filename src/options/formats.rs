//! uWSGI's YAML and JSON config layouts.
//!
//! YAML is read the way uWSGI's own reader does, not as YAML: line by
//! line, a `#` anywhere ends the line, the section is a top-level `name:`
//! and its options the deeper `key: value` lines, values are taken
//! verbatim (only double quotes around them go, as uWSGI strips them), so
//! configs that are not valid YAML (`chdir: %(base)`) read as uWSGI reads
//! them. Beyond uWSGI's reader, as uWSGI built with libyaml does: `- item`
//! and `[a, b]` lists for repeatable options, and `key:` alone for a flag.
//! Where uWSGI's reader would stop silently, this one stops with a warning.
//!
//! JSON is `{"uwsgi": {"key": value-or-list}}`: strings, numbers, booleans
//! (true and false, which uWSGI reads as 1 and 0), lists of them.

use super::collect::{Collector, Source};
use super::expand::{self, FileCtx};
use super::{ConfigError, Origin};

/// What uWSGI's reader strips around keys and values: white space and
/// double quotes.
fn strip(v: &str) -> &str {
    v.trim_matches(|c| c == ' ' || c == '\t' || c == '\r' || c == '"')
}

/// Indentation as uWSGI's reader counts it (a tab is 8).
fn depth(line: &str) -> usize {
    line.chars().take_while(|c| matches!(c, ' ' | '\t' | '\r')).map(|c| if c == ' ' { 1 } else { 8 }).sum()
}

pub fn parse_yaml(text: &str, file: &FileCtx, section: &str, col: &mut Collector) -> Result<(), ConfigError> {
    let name = file.path.display().to_string();
    let first = col.first_file.clone().unwrap_or_else(|| file.clone());
    let mut section_depth: Option<usize> = None;
    // A `key:` with nothing after it: a list follows, or it is a flag.
    let mut pending: Option<(String, Origin, bool)> = None;
    let flush = |pending: &mut Option<(String, Origin, bool)>, col: &mut Collector| -> Result<(), ConfigError> {
        if let Some((k, o, had_items)) = pending.take()
            && !had_items
        {
            col.add(&k, None, o, Source::File, Some(file))?;
        }
        Ok(())
    };
    let value = |v: &str| expand::magic_vars(strip(v), file, &first);
    for (n, raw) in text.lines().enumerate() {
        let origin = Origin::File(name.clone(), n + 1);
        let line = raw.split('#').next().unwrap_or("");
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let d = depth(line);
        let text = line.trim();
        match section_depth {
            None => {
                if let Some(k) = text.strip_suffix(':')
                    && strip(k) == section
                {
                    section_depth = Some(d);
                }
                continue;
            }
            Some(sd) if d <= sd => break,
            Some(_) => {}
        }
        if let Some(item) = text.strip_prefix("- ").or(if text == "-" { Some("") } else { None }) {
            let Some((k, _, had)) = &mut pending else {
                col_warn(col, &origin, "a '- item' line with no 'key:' above it; the rest of the section is not read (as uWSGI stops there)");
                return Ok(());
            };
            *had = true;
            let k = k.clone();
            // Lists are libyaml's, which unquotes their items.
            let item = item.trim();
            let item = item.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')).unwrap_or(item);
            col.add(&k, Some(value(item)), origin, Source::File, Some(file))?;
            continue;
        }
        flush(&mut pending, col)?;
        let Some((key, v)) = text.split_once(':') else {
            col_warn(col, &origin, &format!("'{}' is not 'key: value'; the rest of the section is not read (as uWSGI stops there)", text));
            return Ok(());
        };
        let key = strip(key);
        let v = v.trim();
        if v.is_empty() {
            pending = Some((key.to_string(), origin, false));
        } else if let Some(list) = v.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            for item in list.split(',').map(|i| i.trim().trim_matches('\'')).filter(|i| !i.is_empty()) {
                col.add(key, Some(value(item)), origin.clone(), Source::File, Some(file))?;
            }
        } else {
            col.add(key, Some(value(v)), origin, Source::File, Some(file))?;
        }
    }
    flush(&mut pending, col)?;
    if section_depth.is_none() {
        col.warnings.push(format!("{}: no '{}:' section in this file; nothing read from it", name, section));
    }
    Ok(())
}

fn col_warn(col: &mut Collector, origin: &Origin, what: &str) {
    col.warnings.push(format!("{}: {}", origin, what));
}

pub fn parse_json(text: &str, file: &FileCtx, section: &str, col: &mut Collector) -> Result<(), ConfigError> {
    use serde_json::Value;
    let name = file.path.display().to_string();
    let first = col.first_file.clone().unwrap_or_else(|| file.clone());
    let doc: Value = serde_json::from_str(text).map_err(|e| ConfigError::new(Some(Origin::File(name.clone(), e.line())), format!("invalid JSON: {}", e)))?;
    let Some(Value::Object(opts)) = doc.get(section) else {
        return Err(ConfigError::new(None, format!("{}: no \"{}\" object in this file", name, section)));
    };
    let origin = |k: &str| Origin::Key(name.clone(), k.to_string());
    for (k, v) in opts {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for item in items {
            let value = match item {
                Value::String(s) => Some(expand::magic_vars(s, file, &first)),
                Value::Number(n) => Some(n.to_string()),
                Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
                Value::Null => None,
                _ => return Err(ConfigError::new(Some(origin(k)), format!("option '{}' takes a string, number, boolean or a list of them", k))),
            };
            col.add(k, value, origin(k), Source::File, Some(file))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::collect::Assembled;
    use super::*;
    use std::path::Path;

    fn pairs(a: &Assembled) -> Vec<(&str, Option<&str>)> {
        a.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    fn yaml(text: &str) -> Result<Assembled, ConfigError> {
        let mut c = Collector::default();
        parse_yaml(text, &FileCtx::new("site.yaml", Path::new("/etc/uwsgi/vassals/site.yaml"), ""), "uwsgi", &mut c)?;
        c.finish()
    }

    fn json(text: &str) -> Result<Assembled, ConfigError> {
        let mut c = Collector::default();
        parse_json(text, &FileCtx::new("site.json", Path::new("/srv/site.json"), ""), "uwsgi", &mut c)?;
        c.finish()
    }

    #[test]
    fn yaml_layout() {
        let text = "# site\nother:\n  socket: /x\nuwsgi:\n  chdir: %d\n  module: \"mysite.wsgi\"\n  master: true\n  socket:\n    - /tmp/a.sock\n    - ':8001'\n  env: [A=1, B=2]\n  vacuum:\n  processes: 4 # workers\nafter:\n  processes: 9\n";
        assert_eq!(
            pairs(&yaml(text).unwrap()),
            vec![
                ("chdir", Some("/etc/uwsgi/vassals/")),
                ("module", Some("mysite.wsgi")),
                ("master", Some("true")),
                ("socket", Some("/tmp/a.sock")),
                ("socket", Some(":8001")),
                ("env", Some("A=1")),
                ("env", Some("B=2")),
                ("vacuum", None),
                ("processes", Some("4")),
            ]
        );
    }

    #[test]
    fn yaml_as_uwsgi_reads_what_yaml_would_refuse() {
        // Not YAML (a `%` starts a directive, `@` is reserved, a tab), yet
        // uWSGI reads it: values are taken as they are.
        let text = "uwsgi:\n  base: /srv/app\n  chdir: %(base)/src\n  pythonpath: @(exec://echo /lib)\n\tthreads: 2\n  http-socket: :8000#comment\n  uid: 'www-data'\n";
        let a = yaml(text).unwrap();
        assert_eq!(
            pairs(&a),
            vec![
                ("chdir", Some("/srv/app/src")),
                ("pythonpath", Some("/lib")),
                ("threads", Some("2")),
                ("http-socket", Some(":8000")),
                ("uid", Some("'www-data'"))
            ]
        );
        // Where uWSGI's reader stops, this one stops too, and says so.
        let a = yaml("uwsgi:\n  master: true\n  this is not a key value\n  processes: 4\n").unwrap();
        assert_eq!(pairs(&a), vec![("master", Some("true"))]);
        assert!(a.warnings[0].contains("site.yaml:3") && a.warnings[0].contains("not read"), "{:?}", a.warnings);
    }

    #[test]
    fn yaml_errors() {
        let a = yaml("other:\n  a: 1\n").unwrap();
        assert!(a.opts.is_empty() && a.warnings[0].ends_with("site.yaml: no 'uwsgi:' section in this file; nothing read from it"), "{:?}", a.warnings);
        let a = yaml("uwsgi:\n  proceses: 4\n").unwrap();
        assert!(a.warnings[0].contains("site.yaml:2") && a.warnings[0].contains("did you mean processes?"), "{:?}", a.warnings);
    }

    #[test]
    fn json_layout() {
        let text = r#"{"uwsgi": {"module": "mysite.wsgi", "processes": 4, "master": true, "socket": ["/tmp/a.sock", ":8001"], "vacuum": null, "chdir": "%d"}}"#;
        // In file order (serde_json's preserve_order), as uWSGI reads it.
        assert_eq!(
            pairs(&json(text).unwrap()),
            vec![
                ("module", Some("mysite.wsgi")),
                ("processes", Some("4")),
                ("master", Some("true")),
                ("socket", Some("/tmp/a.sock")),
                ("socket", Some(":8001")),
                ("vacuum", None),
                ("chdir", Some("/srv/")),
            ]
        );
        let a = json("{\"uwsgi\": {\"proceses\": 2}}").unwrap();
        assert!(a.warnings[0].contains("/srv/site.json") && a.warnings[0].contains("did you mean processes?"), "{:?}", a.warnings);
        assert!(json("{nope").unwrap_err().to_string().contains("invalid JSON"));
    }
}
