//! Which processes own a data folder, told by advisory locks (`flock(2)`) that the kernel
//! drops when a process dies, however it dies; a file's mere presence (a pid file alone)
//! would outlive a `kill -9` and lie.
//!
//! - `serve.lock`: held exclusively by the one `dpost serve` of the folder, with its process
//!   id written in it, so that `dpost contact-points import` can find it and send SIGHUP,
//!   and a second `serve` on the same folder is refused.
//! - `spool.lock`: held shared by every process that receives into `spool/` (`serve`,
//!   `ngdp pull`). A process that can take it exclusively at start knows nobody else is
//!   receiving, so everything in `spool/` is a dead process's leftover, whatever its age.

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};

/// Why the folder could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Another `dpost serve` runs on this data folder.
    #[error(
        "another dpost serve (process {pid}) runs on the data folder {dir}; stop it first, or give this one a data folder of its own ([serve] data_dir)"
    )]
    ServeRunning {
        /// The folder.
        dir: PathBuf,
        /// Its process id (0 when it could not be read).
        pid: u32,
    },
    /// The lock file could not be opened or locked.
    #[error("{path}: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
}

/// The serve lock, held until dropped (or the process ends).
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// The shared spool lock, held until dropped.
#[derive(Debug)]
pub struct SpoolLock {
    _file: File,
}

#[derive(Clone, Copy)]
enum Mode {
    Shared,
    Exclusive,
}

/// Lock `file`; `wait` false: fail with `WouldBlock` at once when another holds it.
fn lock(file: &File, mode: Mode, wait: bool) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd as _;
        let mut op = match mode {
            Mode::Shared => libc::LOCK_SH,
            Mode::Exclusive => libc::LOCK_EX,
        };
        if !wait {
            op |= libc::LOCK_NB;
        }
        loop {
            // SAFETY: flock on a file descriptor this `File` owns for the whole call.
            let r = unsafe { libc::flock(file.as_raw_fd(), op) };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (file, mode, wait);
        Ok(())
    }
}

fn open(path: &Path) -> Result<File, OwnerError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(|source| OwnerError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Take `data_dir` for this `dpost serve`, writing its process id into the lock file.
pub fn lock_serve(data_dir: &Path) -> Result<ServeLock, OwnerError> {
    let path = data_dir.join("serve.lock");
    let mut file = open(&path)?;
    match lock(&file, Mode::Exclusive, false) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            return Err(OwnerError::ServeRunning {
                dir: data_dir.to_owned(),
                pid: read_pid(&mut file).unwrap_or(0),
            });
        }
        Err(source) => return Err(OwnerError::Io { path, source }),
    }
    let io = |source| OwnerError::Io {
        path: path.clone(),
        source,
    };
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(ServeLock { _file: file })
}

/// The process id of the `dpost serve` running on `data_dir`, if one does.
pub fn running_serve(data_dir: &Path) -> Result<Option<u32>, OwnerError> {
    let path = data_dir.join("serve.lock");
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(OwnerError::Io { path, source }),
    };
    match lock(&file, Mode::Shared, false) {
        // Nobody holds it: no serve runs (the file is a dead one's).
        Ok(()) => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(read_pid(&mut file)),
        Err(source) => Err(OwnerError::Io { path, source }),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}

/// Join the processes receiving into `data_dir/spool`; true when this one is the only one
/// (so whatever the spool holds was left by a process that is gone).
pub fn own_spool(data_dir: &Path) -> Result<(SpoolLock, bool), OwnerError> {
    let path = data_dir.join("spool.lock");
    let file = open(&path)?;
    let err = |source| OwnerError::Io {
        path: path.clone(),
        source,
    };
    let alone = match lock(&file, Mode::Exclusive, false) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => return Err(err(e)),
    };
    // Shared from here on, so the next process to start sees that this one receives.
    lock(&file, Mode::Shared, true).map_err(err)?;
    Ok((SpoolLock { _file: file }, alone))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_serve_is_refused_and_found_by_its_pid() {
        let dir = std::env::temp_dir().join(format!("dpost-owner-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(running_serve(&dir).unwrap(), None);
        let held = lock_serve(&dir).unwrap();
        // flock locks belong to the open file: a second open in the same process conflicts
        // as a second process would.
        let e = lock_serve(&dir).unwrap_err();
        assert!(matches!(e, OwnerError::ServeRunning { pid, .. } if pid == std::process::id()));
        assert_eq!(running_serve(&dir).unwrap(), Some(std::process::id()));
        drop(held);
        assert_eq!(running_serve(&dir).unwrap(), None);

        let (first, alone) = own_spool(&dir).unwrap();
        assert!(alone);
        let (_second, alone) = own_spool(&dir).unwrap();
        assert!(!alone, "another receiver holds the spool");
        drop(first);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
