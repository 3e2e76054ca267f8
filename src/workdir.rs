//! The work directory: where the schema archive, restore lists, snapshot id
//! and summary live, protected by a pid-file lock so that two pgcopydb runs
//! never share it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Failure;

pub struct WorkDir {
    pub root: PathBuf,
    lock: PathBuf,
}

/// What to do with what a previous run left in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Fresh,
    Restart,
    Resume,
}

impl WorkDir {
    /// The default location, `$TMPDIR/pgcopydb`, as the original pgcopydb.
    pub fn default_path() -> PathBuf {
        std::env::var_os("TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"))
            .join("pgcopydb")
    }

    /// Create or reuse the directory and take its lock.
    pub fn open(root: &Path, reuse: Reuse) -> Result<WorkDir> {
        fs::create_dir_all(root)
            .with_context(|| format!("creating work directory {}", root.display()))?;
        let lock = root.join("pgcopydb.pid");
        take_lock(&lock)?;
        let dir = WorkDir {
            root: root.to_path_buf(),
            lock,
        };
        let unfinished = dir.schema_dir().exists() && !dir.done_marker().exists();
        match reuse {
            Reuse::Restart => dir.clear()?,
            Reuse::Fresh if unfinished => {
                return Err(Failure::state(format!(
                    "work directory {} holds an unfinished run: use --resume to continue it, \
                     or --restart to start over",
                    root.display()
                ))
                .into())
            }
            Reuse::Fresh => dir.clear()?,
            Reuse::Resume => {}
        }
        fs::create_dir_all(dir.schema_dir())?;
        Ok(dir)
    }

    fn clear(&self) -> Result<()> {
        for entry in fs::read_dir(&self.root)? {
            let path = entry?.path();
            if path == self.lock {
                continue;
            }
            if path.is_dir() {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    pub fn schema_dir(&self) -> PathBuf {
        self.root.join("schema")
    }
    pub fn archive(&self) -> PathBuf {
        self.schema_dir().join("schema.dump")
    }
    pub fn pre_list(&self) -> PathBuf {
        self.schema_dir().join("pre-filtered.list")
    }
    pub fn post_list(&self) -> PathBuf {
        self.schema_dir().join("post-filtered.list")
    }
    pub fn snapshot_file(&self) -> PathBuf {
        self.root.join("snapshot")
    }
    pub fn summary_file(&self) -> PathBuf {
        self.root.join("summary.json")
    }
    fn done_marker(&self) -> PathBuf {
        self.root.join("done")
    }
    pub fn mark_done(&self) -> Result<()> {
        fs::write(self.done_marker(), b"")?;
        Ok(())
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// Write our pid into the lock file, refusing when a live process holds it.
fn take_lock(lock: &Path) -> Result<()> {
    if let Ok(text) = fs::read_to_string(lock) {
        if let Ok(pid) = text.trim().parse::<i32>() {
            if pid != std::process::id() as i32 && process_alive(pid) {
                return Err(Failure::state(format!(
                    "work directory {} is in use by another pgcopydb (pid {pid}); \
                     wait for it to finish or use another --dir",
                    lock.parent().unwrap_or(lock).display()
                ))
                .into());
            }
            tracing::warn!("taking over the lock of a pgcopydb that is gone (pid {pid})");
        }
    }
    fs::write(lock, format!("{}\n", std::process::id()))
        .with_context(|| format!("writing {}", lock.display()))
}

fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
