// Records which interpreter we were built against, so the embedded Python
// can find its standard library without a --home (see python/interp.rs).
fn main() {
    let cfg = pyo3_build_config::get();
    if let Some(exe) = cfg.executable() {
        println!("cargo:rustc-env=OXWSGI_BUILD_PYTHON={}", exe);
    } else {
        println!("cargo:rustc-env=OXWSGI_BUILD_PYTHON=python3");
    }
    println!("cargo:rerun-if-env-changed=PYO3_PYTHON");
}
