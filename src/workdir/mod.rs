//! The work directory: where the schema archive, restore lists, snapshot id
//! and summary live, protected by a lock so that two pgcopydb runs never
//! share it. It is private to the user running pgcopydb ([`private`]), and
//! pgcopydb deletes nothing in it that it did not write ([`contents`]).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::error::Failure;

pub mod contents;
pub mod lock;
pub mod private;
pub mod state;

pub use contents::SNAPSHOT_LOCK;
use contents::{DONE_FILE, LOCK_FILE, SNAPSHOT_FILE, SNAPSHOT_SLOT_FILE, STATE_FILE};
pub use lock::Lock;

pub struct WorkDir {
    pub root: PathBuf,
    pub state: std::sync::Arc<state::State>,
    /// An earlier run recorded its progress here and this run continues it.
    pub resuming: bool,
    // Last: released once everything above is closed.
    _lock: Lock,
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

/// What a directory holds, as far as a new run is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunStatus {
    /// No run recorded.
    None,
    /// A run that stopped before writing anything to the target (refused,
    /// or failed while dumping): starting over loses nothing.
    NotStarted,
    /// A run that wrote to the target and did not finish.
    Unfinished,
    Finished,
    /// A state file that cannot be read: the reason.
    Unreadable(String),
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
        private::create_private_dir(root)?;
        contents::refuse_foreign(root)?;
        let lock = Lock::take(&root.join(LOCK_FILE))?;
        let status = run_status(root);
        let state_file = root.join(STATE_FILE);
        match (reuse, &status) {
            (Reuse::Restart, _) => clear(root)?,
            (Reuse::Fresh, RunStatus::Unfinished) => {
                return Err(Failure::state(format!(
                    "work directory {} holds an unfinished run: use --resume to continue it, \
                     or --restart to start over",
                    root.display()
                ))
                .into())
            }
            (Reuse::Fresh, RunStatus::Unreadable(why)) => {
                return Err(state::unreadable(&state_file, why, "--restart to start over").into())
            }
            (Reuse::Fresh, _) => clear(root)?,
            (Reuse::Resume, RunStatus::None) => {
                // Killed before it recorded anything: there is nothing to
                // skip, so resuming is starting.
                tracing::warn!(
                    "nothing recorded in {} yet: starting the run from the beginning",
                    root.display()
                );
            }
            (Reuse::Resume | Reuse::Continue, RunStatus::Unreadable(why)) => {
                return Err(state::unreadable(
                    &state_file,
                    why,
                    "--restart to start over (what the target already has stays there)",
                )
                .into())
            }
            (Reuse::Resume | Reuse::Continue, _) => {}
        }
        let resuming = matches!(reuse, Reuse::Resume | Reuse::Continue) && state_file.exists();
        let _ = fs::remove_file(root.join(DONE_FILE));
        private::create_private_dir(&root.join(contents::SCHEMA_DIR))?;
        let state = std::sync::Arc::new(state::State::open(&state_file)?);
        Ok(WorkDir {
            root: root.to_path_buf(),
            state,
            resuming,
            _lock: lock,
        })
    }

    /// The snapshot held by a running `pgcopydb snapshot` on this directory.
    pub fn held_snapshot(&self) -> Option<String> {
        if !lock::is_held(&self.root.join(SNAPSHOT_LOCK)) {
            return None;
        }
        fs::read_to_string(self.snapshot_file())
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn schema_dir(&self) -> PathBuf {
        self.root.join(contents::SCHEMA_DIR)
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
    pub fn roles_file(&self) -> PathBuf {
        self.schema_dir().join(contents::ROLES_FILE)
    }
    pub fn snapshot_file(&self) -> PathBuf {
        self.root.join(SNAPSHOT_FILE)
    }
    pub fn summary_file(&self) -> PathBuf {
        self.root.join(contents::SUMMARY_FILE)
    }
    pub fn mark_done(&self) -> Result<()> {
        private::write_private_file(&self.root.join(DONE_FILE), b"")
    }
}

/// What `root` holds: no run, a run that never wrote to the target, an
/// unfinished or a finished run, or a state that cannot be read.
pub fn run_status(root: &Path) -> RunStatus {
    let path = root.join(STATE_FILE);
    if !contents::holds_run(root) {
        return RunStatus::None;
    }
    if root.join(DONE_FILE).exists() {
        return RunStatus::Finished;
    }
    let read = state::State::open_readonly(&path).and_then(|s| {
        s.check()?;
        s.catalog().target_written()
    });
    match read {
        Ok(true) => RunStatus::Unfinished,
        Ok(false) => RunStatus::NotStarted,
        Err(e) => RunStatus::Unreadable(state::reason(&path, &e)),
    }
}

/// Whether `root` holds a run that must not be started over by accident.
pub fn has_unfinished_run(root: &Path) -> bool {
    matches!(
        run_status(root),
        RunStatus::Unfinished | RunStatus::Unreadable(_)
    )
}

/// Whether `root` holds a run that finished.
pub fn has_finished_run(root: &Path) -> bool {
    run_status(root) == RunStatus::Finished
}

/// Remove what an earlier run left, but not our lock, nor the snapshot of a
/// `pgcopydb snapshot` that is still holding it for us.
fn clear(root: &Path) -> Result<()> {
    let snapshot_held = lock::is_held(&root.join(SNAPSHOT_LOCK));
    contents::clear_run(root, &|name| {
        name == LOCK_FILE
            || name == contents::SLOT_INTENT_FILE
            || (snapshot_held
                && (name == SNAPSHOT_FILE || name == SNAPSHOT_LOCK || name == SNAPSHOT_SLOT_FILE))
    })
}
