//! The original's low-level change data capture workflow: `pgcopydb
//! snapshot --follow` holds the snapshot its slot was created at, `stream
//! setup` records the slot, publication and origin in the work directory,
//! then a plain `clone` copies at that snapshot, and `stream prefetch`,
//! `catchup` and `replay` apply what changed since. A fresh clone starts the
//! directory over; while a snapshot is held there, the stream setup and
//! the sentinel are carried over so that the stream steps still find them.

use std::path::Path;

use anyhow::Result;

use crate::stream::sentinel::{self, Sentinel};
use crate::workdir::contents::STATE_FILE;
use crate::workdir::lock::is_held;
use crate::workdir::state::State;
use crate::workdir::SNAPSHOT_LOCK;

/// What `stream setup` recorded, read before the directory is cleared.
pub struct CarriedCdc {
    setup: Vec<(String, String)>,
    sentinel: Option<Sentinel>,
}

/// The stream setup of `root`, when a `pgcopydb snapshot` holds its
/// snapshot there and a setup is recorded; None otherwise (an unreadable
/// state is left to the work directory's own checks).
pub fn read(root: &Path) -> Option<CarriedCdc> {
    if !is_held(&root.join(SNAPSHOT_LOCK)) {
        return None;
    }
    let state = State::open_readonly(&root.join(STATE_FILE)).ok()?;
    let setup: Vec<(String, String)> = state
        .catalog()
        .setup()
        .ok()?
        .into_iter()
        .filter(|(k, _)| k.starts_with("cdc."))
        .collect();
    if setup.is_empty() {
        return None;
    }
    let sentinel = sentinel::read(&state).ok().flatten();
    Some(CarriedCdc { setup, sentinel })
}

impl CarriedCdc {
    /// Record it again in the new run's state.
    pub fn restore(&self, state: &State) -> Result<()> {
        let entries: Vec<(&str, String)> = self
            .setup
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        state.catalog().put_setup(&entries)?;
        if let Some(s) = &self.sentinel {
            sentinel::put_control(state, Some(s.startpos), Some(s.endpos), Some(s.apply))?;
        }
        tracing::info!("keeping the stream setup of the held snapshot (slot, sentinel)");
        Ok(())
    }
}
