//! --py-autoreload N, for development: every N seconds a worker thread
//! looks at the files of the modules the app has imported, and when one
//! changed it logs which and asks for a graceful reload, as uWSGI's
//! reloader does. The module list is read with the GIL; the files are
//! looked at without it.

use pyo3::prelude::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The files of the loaded modules (those with a source file), minus
/// the modules --py-auto-reload-ignore names (by module name, as uWSGI).
fn module_files(py: Python<'_>, ignore: &[String]) -> Vec<PathBuf> {
    let Ok(modules) = py.import("sys").and_then(|s| s.getattr("modules")) else { return Vec::new() };
    let Ok(items) = modules.call_method0("copy").and_then(|m| m.call_method0("items")) else { return Vec::new() };
    let Ok(iter) = items.try_iter() else { return Vec::new() };
    let mut out = Vec::new();
    for item in iter.flatten() {
        let Ok((name, m)) = item.extract::<(String, Bound<'_, PyAny>)>() else { continue };
        if ignore.contains(&name) {
            continue;
        }
        let Ok(f) = m.getattr("__file__").and_then(|f| f.extract::<String>()) else { continue };
        // The source, not the bytecode.
        let f = f.strip_suffix('c').filter(|s| s.ends_with(".py")).map(str::to_string).unwrap_or(f);
        out.push(PathBuf::from(f));
    }
    out
}

/// What changed since the last look: files seen before whose time moved.
pub fn changed(seen: &mut HashMap<PathBuf, SystemTime>, files: Vec<PathBuf>) -> Option<PathBuf> {
    let mut hit = None;
    for f in files {
        let Some(now) = std::fs::metadata(&f).and_then(|m| m.modified()).ok() else { continue };
        match seen.insert(f.clone(), now) {
            Some(before) if before != now && hit.is_none() => hit = Some(f),
            _ => {}
        }
    }
    hit
}

/// Starts the reloader thread of this worker.
pub fn start(every: Duration, ignore: Vec<String>, worker_id: usize) {
    let spawned = std::thread::Builder::new().name("autoreload".into()).spawn(move || {
        let mut seen = HashMap::new();
        loop {
            let files = Python::attach(|py| module_files(py, &ignore));
            if let Some(f) = changed(&mut seen, files) {
                crate::logln!("oxwsgi: [py-autoreload] worker {}: {} was modified: reloading gracefully", worker_id, f.display());
                let master = crate::python::uwsgi_module::master_pid();
                // SAFETY: a signal to our master (or ourselves when alone).
                unsafe { libc::kill(master as i32, libc::SIGHUP) };
                return;
            }
            std::thread::sleep(every);
        }
    });
    if let Err(e) = spawned {
        crate::logln!("oxwsgi: --py-autoreload: cannot start the reloader thread: {}", e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touched_file_is_seen_once() {
        let dir = std::env::temp_dir().join(format!("oxwsgi-autoreload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.py"), dir.join("b.py"));
        std::fs::write(&a, "x = 1\n").unwrap();
        std::fs::write(&b, "y = 1\n").unwrap();
        let mut seen = HashMap::new();
        assert_eq!(changed(&mut seen, vec![a.clone(), b.clone(), dir.join("gone.py")]), None);
        let later = std::fs::FileTimes::new().set_modified(SystemTime::now() + Duration::from_secs(5));
        std::fs::File::options().write(true).open(&b).unwrap().set_times(later).unwrap();
        assert_eq!(changed(&mut seen, vec![a.clone(), b.clone()]), Some(b.clone()));
        assert_eq!(changed(&mut seen, vec![a, b]), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
