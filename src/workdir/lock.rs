//! The pid-file lock that keeps two pgcopydb processes out of one work
//! directory.
//!
//! The file holds our pid for people to read, but what decides is an
//! exclusive `flock` on it: taking it is atomic (of two runs started at once
//! exactly one wins), and the kernel releases it when its process dies,
//! however it dies, so a lock left by a killed run is simply taken over —
//! never a live one, and never because its pid was reused by another program.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::private::{create_new_private, open_existing_nofollow};
use crate::error::Failure;

/// A held lock; dropping it removes the file and releases it.
pub struct Lock {
    path: PathBuf,
    // Held open: closing it would release the flock.
    _file: File,
}

impl Lock {
    /// Take the lock at `path`, refusing when a live process holds it.
    pub fn take(path: &Path) -> Result<Lock> {
        // A holder may remove the file between our open and our flock: then
        // we locked a file nobody else will look at, and try again.
        for _ in 0..10 {
            let mut file = match create_new_private(path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    match open_existing_nofollow(path) {
                        Ok(f) => f,
                        // Removed meanwhile: try again.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        // A link (ELOOP) or anything else that is not a plain
                        // file of ours is not a lock: replace it.
                        Err(_) => {
                            fs::remove_file(path)
                                .with_context(|| format!("removing {}", path.display()))?;
                            continue;
                        }
                    }
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            };
            if !try_flock(&file, libc::LOCK_EX)? {
                return Err(in_use(path, &mut file).into());
            }
            if !still_at(&file, path)? {
                continue;
            }
            if file.metadata()?.len() > 0 {
                tracing::warn!(
                    "taking over the lock {} of a pgcopydb that is gone",
                    path.display()
                );
            }
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
            return Ok(Lock {
                path: path.to_path_buf(),
                _file: file,
            });
        }
        Err(anyhow::anyhow!(
            "could not take the lock {}: it keeps changing",
            path.display()
        ))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Removed while still locked, so nobody can lock this file after us.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether a live process holds the lock at `path`.
pub fn is_held(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(try_flock(&file, libc::LOCK_SH), Ok(false))
}

/// Lock `file` without waiting: false when another process holds it.
fn try_flock(file: &File, kind: libc::c_int) -> Result<bool> {
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        return Ok(false);
    }
    Err(err).context("locking the work directory")
}

/// Whether `path` still names the file we have open.
fn still_at(file: &File, path: &Path) -> Result<bool> {
    let open = file.metadata()?;
    Ok(match fs::symlink_metadata(path) {
        Ok(now) => now.dev() == open.dev() && now.ino() == open.ino(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    })
}

fn in_use(path: &Path, file: &mut File) -> Failure {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let holder = match text.trim().parse::<u32>() {
        Ok(pid) => format!(" (pid {pid})"),
        Err(_) => String::new(),
    };
    Failure::state(format!(
        "work directory {} is in use by another pgcopydb{holder}; \
         wait for it to finish or use another --dir",
        path.parent().unwrap_or(path).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_a_dead_holders_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgcopydb.pid");
        // A lock file nobody holds (its process was killed).
        fs::write(&path, "999999\n").unwrap();
        let first = Lock::take(&path).unwrap();
        assert!(is_held(&path));
        let err = Lock::take(&path).err().expect("second taker refused");
        assert!(format!("{err:#}").contains("in use by another pgcopydb"));
        drop(first);
        assert!(!path.exists());
        assert!(!is_held(&path));
        let _again = Lock::take(&path).unwrap();
    }

    #[test]
    fn a_link_in_place_of_the_lock_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("some.conf");
        fs::write(&outside, "precious").unwrap();
        let path = dir.path().join("pgcopydb.pid");
        std::os::unix::fs::symlink(&outside, &path).unwrap();
        let _lock = Lock::take(&path).unwrap();
        assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
        assert!(!fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
