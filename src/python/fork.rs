//! fork() with CPython's hooks around it, as os.fork does: the interpreter
//! must know, or its locks and thread states are wrong in the child.

use nix::unistd::{ForkResult, fork};

/// Forks the process. Call only while no other thread runs (the master and
/// a not-yet-started worker never run threads).
pub fn fork_with_python() -> nix::Result<ForkResult> {
    pyo3::Python::attach(|_py| unsafe {
        pyo3::ffi::PyOS_BeforeFork();
        let r = fork();
        match r {
            Ok(ForkResult::Child) => pyo3::ffi::PyOS_AfterFork_Child(),
            _ => pyo3::ffi::PyOS_AfterFork_Parent(),
        }
        r
    })
}
