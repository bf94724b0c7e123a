//! oxwsgi as a Python extension: the module python/host.rs loads into
//! python3. Its own crate because the binary's crate links an interpreter
//! into whatever it builds (build.rs), and this must use python3's.

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_oxwsgi")]
fn extension(m: &Bound<'_, PyModule>) -> PyResult<()> {
    oxwsgi::python::host::add_entry(m)
}
