//! uWSGI's YAML and JSON config layouts. YAML is the subset uWSGI's own
//! parser reads (a `uwsgi:` mapping of `key: value` lines, repeated keys,
//! and `- item` or `[a, b]` lists for repeatable options); JSON is
//! `{"uwsgi": {"key": value-or-list}}`. Both go through the ini reader's
//! `apply_key`, so `%` variables, placeholders and errors behave the same.

use super::ini::{apply_key, placeholder_refs, strip_inline_comment};
use super::{Collector, ConfigError, Origin};
use std::path::Path;

fn unquote(v: &str) -> &str {
    let v = v.trim();
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

pub fn parse_yaml(text: &str, path: &Path, section: &str, col: &mut Collector, depth: usize) -> Result<(), ConfigError> {
    let file = path.display().to_string();
    let refs = placeholder_refs(text);
    let mut in_section = false;
    let mut found = false;
    // A `key:` with nothing after it: a list follows, or it is a flag.
    let mut pending: Option<(String, Origin, bool)> = None;
    let flush = |pending: &mut Option<(String, Origin, bool)>, col: &mut Collector| -> Result<(), ConfigError> {
        if let Some((k, o, had_items)) = pending.take()
            && !had_items
        {
            apply_key(&k, None, path, o, col, &refs, depth)?;
        }
        Ok(())
    };
    for (n, raw) in text.lines().enumerate() {
        let origin = Origin::File(file.clone(), n + 1);
        let line = if raw.trim_start().starts_with('#') { "" } else { strip_inline_comment(raw) };
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if indent == 0 {
            flush(&mut pending, col)?;
            in_section = text.strip_suffix(':').map(|s| unquote(s) == section).unwrap_or(false);
            found |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some(item) = text.strip_prefix("- ").or(if text == "-" { Some("") } else { None }) {
            let Some((k, _, had)) = &mut pending else {
                return Err(ConfigError::new(Some(origin), "a '- item' line needs a 'key:' line above it"));
            };
            *had = true;
            let k = k.clone();
            apply_key(&k, Some(unquote(item)), path, origin, col, &refs, depth)?;
            continue;
        }
        flush(&mut pending, col)?;
        let Some((key, value)) = text.split_once(':') else {
            return Err(ConfigError::new(Some(origin), format!("expected 'key: value', found '{}'", text)));
        };
        let key = unquote(key);
        let value = value.trim();
        if value.is_empty() {
            pending = Some((key.to_string(), origin, false));
        } else if let Some(list) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            for item in list.split(',').map(unquote).filter(|i| !i.is_empty()) {
                apply_key(key, Some(item), path, origin.clone(), col, &refs, depth)?;
            }
        } else {
            apply_key(key, Some(unquote(value)), path, origin, col, &refs, depth)?;
        }
    }
    flush(&mut pending, col)?;
    if !found {
        return Err(ConfigError::new(None, format!("{}: no '{}:' section in this file", file, section)));
    }
    Ok(())
}

pub fn parse_json(text: &str, path: &Path, section: &str, col: &mut Collector, depth: usize) -> Result<(), ConfigError> {
    use serde_json::Value;
    let file = path.display().to_string();
    let doc: Value = serde_json::from_str(text).map_err(|e| ConfigError::new(Some(Origin::File(file.clone(), e.line())), format!("invalid JSON: {}", e)))?;
    let Some(Value::Object(opts)) = doc.get(section) else {
        return Err(ConfigError::new(None, format!("{}: no \"{}\" object in this file", file, section)));
    };
    let refs = placeholder_refs(text);
    let origin = |k: &str| Origin::Key(file.clone(), k.to_string());
    for (k, v) in opts {
        let items: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for item in items {
            match item {
                Value::String(s) => apply_key(k, Some(s), path, origin(k), col, &refs, depth)?,
                Value::Number(n) => apply_key(k, Some(&n.to_string()), path, origin(k), col, &refs, depth)?,
                Value::Bool(b) => apply_key(k, Some(if *b { "true" } else { "false" }), path, origin(k), col, &refs, depth)?,
                Value::Null => apply_key(k, None, path, origin(k), col, &refs, depth)?,
                _ => return Err(ConfigError::new(Some(origin(k)), format!("option '{}' takes a string, number, boolean or a list of them", k))),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(c: &Collector) -> Vec<(&str, Option<&str>)> {
        c.opts.iter().map(|o| (o.spec.name, o.value.as_deref())).collect()
    }

    const PATH: &str = "/etc/uwsgi/vassals/site.yaml";

    #[test]
    fn yaml_layout() {
        let text = "# site\nother:\n  socket: /x\nuwsgi:\n  chdir: %d\n  module: \"mysite.wsgi\"\n  master: true\n  socket:\n    - /tmp/a.sock\n    - ':8001'\n  env: [A=1, B=2]\n  vacuum:\n  processes: 4 # workers\nafter:\n  processes: 9\n";
        let mut c = Collector::default();
        parse_yaml(text, Path::new(PATH), "uwsgi", &mut c, 0).unwrap();
        assert_eq!(
            pairs(&c),
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
    fn yaml_errors() {
        let mut c = Collector::default();
        let e = parse_yaml("uwsgi:\n  proceses: 4\n", Path::new(PATH), "uwsgi", &mut c, 0).unwrap_err().to_string();
        assert!(e.contains("site.yaml:2") && e.contains("did you mean processes?"), "{e}");
        let e = parse_yaml("other:\n  a: 1\n", Path::new(PATH), "uwsgi", &mut c, 0).unwrap_err().to_string();
        assert!(e.contains("no 'uwsgi:' section"), "{e}");
        let e = parse_yaml("uwsgi:\n  - x\n", Path::new(PATH), "uwsgi", &mut c, 0).unwrap_err().to_string();
        assert!(e.contains("needs a 'key:' line"), "{e}");
    }

    #[test]
    fn json_layout() {
        let text = r#"{"uwsgi": {"module": "mysite.wsgi", "processes": 4, "master": true, "socket": ["/tmp/a.sock", ":8001"], "vacuum": null}}"#;
        let mut c = Collector::default();
        parse_json(text, Path::new("/srv/site.json"), "uwsgi", &mut c, 0).unwrap();
        // In file order (serde_json's preserve_order), as uWSGI reads it.
        assert_eq!(
            pairs(&c),
            vec![
                ("module", Some("mysite.wsgi")),
                ("processes", Some("4")),
                ("master", Some("true")),
                ("socket", Some("/tmp/a.sock")),
                ("socket", Some(":8001")),
                ("vacuum", None),
            ]
        );
        let e = parse_json("{\"uwsgi\": {\"proceses\": 2}}", Path::new("/srv/site.json"), "uwsgi", &mut c, 0).unwrap_err().to_string();
        assert!(e.contains("/srv/site.json") && e.contains("did you mean processes?"), "{e}");
        let e = parse_json("{nope", Path::new("/srv/site.json"), "uwsgi", &mut c, 0).unwrap_err().to_string();
        assert!(e.contains("invalid JSON"), "{e}");
    }
}
