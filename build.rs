// Records which interpreter we were built against, so the embedded Python
// can find its standard library without a --home (see python/interp.rs),
// and links that interpreter into the binary.
//
// Linking: libpython as a shared library costs the interpreter 10-12% of
// its speed against Debian's own /usr/bin/python3, which links it
// statically (position-dependent code, direct calls): measured on a Django
// view and a pure-Python loop. So when the interpreter ships a static
// archive built for position-independent code (Debian's python3-dev has
// libpython3.X-pic.a), the whole archive goes into the binary, and its
// symbols are exported for the C extension modules Python loads later
// (lib-dynload, numpy...), as /usr/bin/python3 does. Otherwise libpython
// is linked as a shared library. pyo3's own link lines are switched off
// (PYO3_BUILD_EXTENSION_MODULE in .cargo/config.toml): this file decides.
use std::path::Path;
use std::process::Command;

fn main() {
    let cfg = pyo3_build_config::get();
    let exe = cfg.executable().unwrap_or("python3").to_string();
    println!("cargo:rustc-env=OXWSGI_BUILD_PYTHON={}", exe);
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
    println!("cargo:rerun-if-env-changed=OXWSGI_LIBPYTHON");
    println!("cargo:rerun-if-changed=build.rs");
    link_libpython(&exe);
}

fn sysconfig(exe: &str) -> Vec<String> {
    let script = "import sysconfig as s\nfor k in ('LIBPL', 'LIBDIR', 'LDVERSION', 'LIBS', 'SYSLIBS', 'MODLIBS'):\n    print(s.get_config_var(k) or '')";
    let out = Command::new(exe).args(["-c", script]).output().unwrap_or_else(|e| panic!("cannot run {} to read its sysconfig: {}", exe, e));
    assert!(out.status.success(), "{} failed to print its sysconfig: {}", exe, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn link_libpython(exe: &str) {
    let v = sysconfig(exe);
    let (libpl, libdir, ldversion) = (&v[0], &v[1], &v[2]);
    let archive = format!("python{}", ldversion);
    // OXWSGI_LIBPYTHON=shared forces the shared library (e.g. to compare).
    let want_shared = std::env::var("OXWSGI_LIBPYTHON").is_ok_and(|s| s == "shared");
    if !want_shared && Path::new(libpl).join(format!("lib{}.a", archive)).exists() {
        // Linker arguments, not a link-lib: they reach this package's own
        // binaries and tests but not crates that depend on it, such as the
        // Python extension in ext/ (see python/host.rs), which must not
        // carry an interpreter of its own; it uses python3's.
        let mut args = vec![format!("-L{}", libpl), "-Wl,--whole-archive".into(), format!("-l:lib{}.a", archive), "-Wl,--no-whole-archive".into()];
        // The libraries libpython's own modules need (expat, zlib, libm...).
        let mut seen = std::collections::HashSet::new();
        for flag in v[3..].iter().flat_map(|l| l.split_whitespace()) {
            if let Some(lib) = flag.strip_prefix("-l")
                && seen.insert(lib.to_string())
            {
                args.push(format!("-l{}", lib));
            }
        }
        args.push("-Wl,--export-dynamic".into());
        // The archive is position-dependent code, as in /usr/bin/python3:
        // our binaries and tests cannot be PIEs (their Rust code stays
        // PIC). Crates that depend on this one (the fuzz targets) build with
        // OXWSGI_LIBPYTHON=shared.
        args.push("-no-pie".into());
        for a in &args {
            println!("cargo:rustc-link-arg={}", a);
        }
    } else if want_shared {
        // Asked for (the fuzz targets): a link-lib, which reaches the
        // crates that depend on this one.
        println!("cargo:rustc-link-search=native={}", libdir);
        println!("cargo:rustc-link-lib=dylib=python{}", ldversion);
    } else {
        // No archive: the shared library, for our own binaries only, so the
        // extension in ext/ still carries no libpython.
        println!("cargo:rustc-link-arg=-L{}", libdir);
        println!("cargo:rustc-link-arg=-lpython{}", ldversion);
    }
}
