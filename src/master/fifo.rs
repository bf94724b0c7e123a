//! --master-fifo: a named pipe the master reads one-letter commands from,
//! as uWSGI's (`echo c > /run/app.fifo` for a chain reload). Several may
//! be given; the first is read, and `0`-`9` switch to another (which is
//! then created, and the old one removed).

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Slot(usize),
    /// r
    GracefulReload,
    /// R
    BrutalReload,
    /// c
    ChainReload,
    /// w: every worker, gracefully, without re-executing the master.
    WorkersReload,
    /// W
    WorkersBrutalReload,
    /// q
    GracefulStop,
    /// Q
    Stop,
    /// s
    Stats,
    /// l
    ReopenLog,
    /// L
    RotateLog,
    /// + and -: one worker more or less (cheaper mode, or as SIGTTIN/SIGTTOU).
    MoreWorkers,
    FewerWorkers,
    /// P: write the pidfiles again.
    Pidfiles,
    /// p: suspend every worker (SIGSTOP), or resume them (SIGCONT).
    PauseResume,
    /// C: go cheap: stop every worker until the next connection.
    GoCheap,
    /// A uWSGI command oxwsgi does not have.
    Unsupported(char),
}

/// The commands in what was read; whitespace is ignored.
pub fn parse(bytes: &[u8]) -> Vec<Command> {
    bytes
        .iter()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|&b| match b {
            b'0'..=b'9' => Command::Slot((b - b'0') as usize),
            b'r' => Command::GracefulReload,
            b'R' => Command::BrutalReload,
            b'c' => Command::ChainReload,
            b'w' => Command::WorkersReload,
            b'W' => Command::WorkersBrutalReload,
            b'q' => Command::GracefulStop,
            b'Q' => Command::Stop,
            b's' => Command::Stats,
            b'l' => Command::ReopenLog,
            b'L' => Command::RotateLog,
            b'+' => Command::MoreWorkers,
            b'-' => Command::FewerWorkers,
            b'P' => Command::Pidfiles,
            b'p' => Command::PauseResume,
            b'C' => Command::GoCheap,
            other => Command::Unsupported(other as char),
        })
        .collect()
}

pub struct MasterFifo {
    paths: Vec<PathBuf>,
    active: usize,
    read: File,
    /// Our own writer: the read end never sees end-of-file (which would
    /// wake every poll) when an `echo` closes its end.
    _write: File,
}

fn make(path: &PathBuf) -> Result<(File, File), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(|e| format!("--master-fifo {}: {}", path.display(), e))?;
    let read =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| format!("--master-fifo {}: {}", path.display(), e))?;
    let write =
        std::fs::OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(path).map_err(|e| format!("--master-fifo {}: {}", path.display(), e))?;
    Ok((read, write))
}

impl MasterFifo {
    pub fn open(paths: &[PathBuf]) -> Result<Option<MasterFifo>, String> {
        let Some(first) = paths.first() else { return Ok(None) };
        let (read, write) = make(first)?;
        crate::logln!("oxwsgi: master FIFO at {}", first.display());
        Ok(Some(MasterFifo { paths: paths.to_vec(), active: 0, read, _write: write }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// The commands waiting; slot switches are done here.
    pub fn commands(&mut self) -> Vec<Command> {
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        while let Ok(n) = self.read.read(&mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let cmds = parse(&got);
        for c in &cmds {
            if let Command::Slot(n) = c {
                self.switch(*n);
            }
        }
        cmds
    }

    fn switch(&mut self, n: usize) {
        if n == self.active {
            return;
        }
        let Some(path) = self.paths.get(n).cloned() else {
            crate::logln!("oxwsgi: master FIFO: there is no FIFO {} (give --master-fifo {} times)", n, n + 1);
            return;
        };
        match make(&path) {
            Ok((read, write)) => {
                let _ = std::fs::remove_file(&self.paths[self.active]);
                crate::logln!("oxwsgi: master FIFO: now reading {}", path.display());
                (self.read, self._write, self.active) = (read, write, n);
            }
            Err(e) => crate::logln!("oxwsgi: master FIFO: {}", e),
        }
    }

    /// At the instance's stop (a reload makes it again).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.paths[self.active]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_as_uwsgi_reads_them() {
        assert_eq!(parse(b"c\n"), vec![Command::ChainReload]);
        assert_eq!(parse(b"+++s"), vec![Command::MoreWorkers, Command::MoreWorkers, Command::MoreWorkers, Command::Stats]);
        assert_eq!(parse(b"1r"), vec![Command::Slot(1), Command::GracefulReload]);
        assert_eq!(
            parse(b"qQRwW lLP-"),
            vec![
                Command::GracefulStop,
                Command::Stop,
                Command::BrutalReload,
                Command::WorkersReload,
                Command::WorkersBrutalReload,
                Command::ReopenLog,
                Command::RotateLog,
                Command::Pidfiles,
                Command::FewerWorkers
            ]
        );
        assert_eq!(parse(b"f"), vec![Command::Unsupported('f')]);
        assert_eq!(parse(b"p C"), vec![Command::PauseResume, Command::GoCheap]);
    }
}
