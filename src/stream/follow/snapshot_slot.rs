//! The slot `snapshot --follow` created, recorded in the work directory for
//! the `follow --dir` that comes after the copy: that follow adopts it as
//! its own (no `--resume` needed, `stream cleanup` drops it and the
//! publication made with it) instead of refusing a slot that exists.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;
use crate::workdir::contents::SNAPSHOT_SLOT_FILE;
use crate::workdir::private::write_private_file;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSlot {
    pub slot_name: String,
    pub plugin: String,
    pub publication: Option<String>,
    pub publication_created: bool,
    /// Where the slot's stream starts: the exported snapshot's position.
    pub consistent_point: String,
}

impl SnapshotSlot {
    pub fn plugin(&self) -> Option<Plugin> {
        Plugin::from_name(&self.plugin)
    }
    pub fn consistent_point(&self) -> Result<Lsn> {
        self.consistent_point
            .parse()
            .with_context(|| format!("reading {SNAPSHOT_SLOT_FILE}"))
    }
}

pub fn save(dir: &Path, slot: &SnapshotSlot) -> Result<()> {
    write_private_file(&dir.join(SNAPSHOT_SLOT_FILE), &serde_json::to_vec(slot)?)
}

pub fn load(dir: &Path) -> Result<Option<SnapshotSlot>> {
    crate::workdir::private::read_json_record(&dir.join(SNAPSHOT_SLOT_FILE))
}

/// Forget it: adopted by a follow (its state records the slot now), or
/// dropped by a cleanup.
pub fn remove(dir: &Path) -> Result<()> {
    crate::workdir::private::remove_if_present(&dir.join(SNAPSHOT_SLOT_FILE))
}
