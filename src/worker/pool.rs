//! The hand-off between the I/O thread and the Python threads: jobs go
//! into a queue that `--threads` Python threads take from. Each thread
//! holds the GIL only while it runs the app; it waits on the queue without
//! it. Keeping this behind `PyPool` lets a future mode call the app on the
//! I/O thread itself without touching the connection code.

use crate::wsgi::call::{PyApps, handle};
use crate::wsgi::{Job, RespEvent};
use pyo3::prelude::*;
use std::sync::Arc;

pub struct PyPool {
    tx: Option<crossbeam_channel::Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl PyPool {
    pub fn start(n: usize, apps: Arc<PyApps>) -> PyPool {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..n)
            .map(|i| {
                let rx = rx.clone();
                let apps = apps.clone();
                std::thread::Builder::new()
                    .name(format!("python-{}", i))
                    .spawn(move || {
                        Python::attach(|py| {
                            while let Ok(job) = py.detach(|| rx.recv()) {
                                let tx = job.tx.clone();
                                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(py, &apps, job)));
                                if r.is_err() {
                                    let _ = tx.try_send(RespEvent::Failed);
                                }
                            }
                        })
                    })
                    .expect("cannot start a Python thread")
            })
            .collect();
        PyPool { tx: Some(tx), threads }
    }

    /// Queues a job; the response comes back on the job's channel.
    pub fn submit(&self, job: Job) {
        if let Some(tx) = &self.tx {
            // The receivers live as long as the pool: this cannot fail.
            let _ = tx.send(job);
        }
    }

    /// Lets the threads finish their current request, then joins them.
    pub fn shutdown(mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
