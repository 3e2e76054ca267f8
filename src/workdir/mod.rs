//! The work directory: where the schema archive, restore lists, snapshot id
//! and summary live, protected by a pid-file lock so that two pgcopydb runs
//! never share it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::error::Failure;

pub mod state;

pub struct WorkDir {
    pub root: PathBuf,
    lock: PathBuf,
    pub state: std::sync::Arc<state::State>,
    /// An earlier run recorded its progress here and this run continues it.
    pub resuming: bool,
}

/// What to do with what a previous run left in the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Fresh,
    Restart,
    Resume,
    /// A step of a step-by-step migration: continue whatever is there.
    Continue,
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
        let guard = LockGuard(lock.clone());
        let unfinished = root.join(STATE_FILE).exists() && !root.join(DONE_FILE).exists();
        let resuming =
            matches!(reuse, Reuse::Resume | Reuse::Continue) && root.join(STATE_FILE).exists();
        match reuse {
            Reuse::Restart => clear(root, &lock)?,
            Reuse::Fresh if unfinished => {
                return Err(Failure::state(format!(
                    "work directory {} holds an unfinished run: use --resume to continue it, \
                     or --restart to start over",
                    root.display()
                ))
                .into())
            }
            Reuse::Fresh => clear(root, &lock)?,
            Reuse::Resume if !root.join(STATE_FILE).exists() => {
                // Killed before it recorded anything: there is nothing to
                // skip, so resuming is starting.
                tracing::warn!(
                    "nothing recorded in {} yet: starting the run from the beginning",
                    root.display()
                );
            }
            Reuse::Resume | Reuse::Continue => {}
        }
        let _ = fs::remove_file(root.join(DONE_FILE));
        fs::create_dir_all(root.join("schema"))?;
        let state = std::sync::Arc::new(state::State::open(&root.join(STATE_FILE))?);
        std::mem::forget(guard);
        Ok(WorkDir {
            root: root.to_path_buf(),
            lock,
            state,
            resuming,
        })
    }

    /// The snapshot held by a running `pgcopydb snapshot` on this directory.
    pub fn held_snapshot(&self) -> Option<String> {
        let pid: i32 = fs::read_to_string(self.root.join(SNAPSHOT_LOCK))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        if !process_alive(pid) {
            return None;
        }
        fs::read_to_string(self.snapshot_file())
            .ok()
            .map(|s| s.trim().to_string())
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
    pub fn mark_done(&self) -> Result<()> {
        fs::write(self.root.join(DONE_FILE), b"")?;
        Ok(())
    }
}

/// Whether `root` holds a run that recorded progress and did not finish.
pub fn has_unfinished_run(root: &Path) -> bool {
    root.join(STATE_FILE).exists() && !root.join(DONE_FILE).exists()
}

/// Whether `root` holds a run that finished.
pub fn has_finished_run(root: &Path) -> bool {
    root.join(DONE_FILE).exists()
}

const STATE_FILE: &str = "pgcopydb.db";
const DONE_FILE: &str = "done";
/// Lock of a `pgcopydb snapshot` process holding a snapshot for this directory.
pub const SNAPSHOT_LOCK: &str = "pgcopydb.snapshot.pid";

/// Remove what an earlier run left, but not our lock, nor the snapshot of a
/// `pgcopydb snapshot` that is still holding it for us.
fn clear(root: &Path, lock: &Path) -> Result<()> {
    let snapshot_held = fs::read_to_string(root.join(SNAPSHOT_LOCK))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .is_some_and(process_alive);
    for entry in fs::read_dir(root)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path == lock || (snapshot_held && (name == "snapshot" || name == SNAPSHOT_LOCK)) {
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

/// Removes the lock file if opening the directory fails half-way.
struct LockGuard(PathBuf);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.lock);
    }
}

/// Write our pid into the lock file, refusing when a live process holds it.
pub fn take_lock(lock: &Path) -> Result<()> {
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

pub fn process_alive(pid: i32) -> bool {
    // Signal 0 checks existence; EPERM means it exists but is not ours.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
