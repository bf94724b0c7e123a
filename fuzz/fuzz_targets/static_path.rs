#![no_main]
//! Static path resolution (--static-map, --check-static): any request path
//! gives a file inside its root (or --static-safe), or a refusal, or the
//! app; never a file outside, never a panic. The roots are real
//! directories with a file, an index, and symlinks in and out.
use libfuzzer_sys::fuzz_target;
use oxwsgi::statics::{Lookup, StaticConfig, StaticMap, resolve};
use std::path::PathBuf;
use std::sync::OnceLock;

fn config() -> &'static (StaticConfig, PathBuf) {
    static CFG: OnceLock<(StaticConfig, PathBuf)> = OnceLock::new();
    CFG.get_or_init(|| {
        let base = std::env::temp_dir().join(format!("oxwsgi-fuzz-static-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::create_dir_all(root.join("sub"));
        let _ = std::fs::write(root.join("a.css"), "a");
        let _ = std::fs::write(root.join("sub/index.html"), "i");
        let _ = std::fs::write(base.join("secret"), "s");
        let _ = std::os::unix::fs::symlink(base.join("secret"), root.join("out"));
        let _ = std::os::unix::fs::symlink(root.join("a.css"), root.join("in"));
        let maps = vec![
            StaticMap { prefix: "/static".into(), dir: root.clone(), keep_prefix: false },
            StaticMap { prefix: "/s2/".into(), dir: root.clone(), keep_prefix: true },
        ];
        let cfg = StaticConfig { maps, check: vec![root.clone()], index: vec!["index.html".into()], skip_ext: vec![".py".into()], ..Default::default() };
        (cfg, std::fs::canonicalize(&root).unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let (cfg, root) = config();
    if let Lookup::File(found) = resolve(cfg, data) {
        let real = std::fs::canonicalize(&found.0).expect("a file it found exists");
        assert!(real.starts_with(root), "{:?} resolved outside the root: {:?}", String::from_utf8_lossy(data), real);
        assert!(found.1.is_file());
    }
});
