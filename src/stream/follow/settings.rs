//! What a follower needs to know, built by the command line (or a test) and
//! handed to the engine: no engine module parses arguments.

use std::path::PathBuf;

use crate::filters::Filters;
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;

/// The replication slot and how its stream is decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotSettings {
    pub plugin: Plugin,
    /// wal2json's `numeric-data-types-as-string`.
    pub wal2json_numeric_as_string: bool,
    pub slot_name: String,
    /// pgoutput's publication: the given one (used, never dropped), or one
    /// of the slot's name created from the filters.
    pub publication: Option<String>,
}

impl Default for SlotSettings {
    fn default() -> SlotSettings {
        SlotSettings {
            plugin: Plugin::Pgoutput,
            wal2json_numeric_as_string: false,
            slot_name: DEFAULT_SLOT_NAME.into(),
            publication: None,
        }
    }
}

impl SlotSettings {
    /// The publication pgoutput streams: `--publication`, or the slot's name.
    pub fn publication_name(&self) -> &str {
        self.publication.as_deref().unwrap_or(&self.slot_name)
    }
}

pub const DEFAULT_SLOT_NAME: &str = "pgcopydb";
pub const DEFAULT_ORIGIN: &str = "pgcopydb";
/// Segments of the store rotate at this size (`--max-replaydb-size`).
pub const DEFAULT_SEGMENT_BYTES: u64 = 1 << 30;

/// Settings of `follow`, `clone --follow` and the `stream` commands.
#[derive(Debug, Clone)]
pub struct FollowSettings {
    pub dir: PathBuf,
    pub slot: SlotSettings,
    /// `--create-slot`: create the slot even when a run is resumed.
    pub create_slot: bool,
    /// The target's replication origin.
    pub origin: String,
    /// `--endpos`: stop after the last transaction committed at or before it.
    pub endpos: Option<Lsn>,
    pub resume: bool,
    pub restart: bool,
    pub not_consistent: bool,
    pub snapshot: Option<String>,
    pub filters: Filters,
    /// `--max-replaydb-size`: a store segment rotates past this size.
    pub segment_bytes: u64,
}

impl FollowSettings {
    /// Defaults for a work directory (what the command line gives when no
    /// option is set).
    pub fn new(dir: PathBuf) -> FollowSettings {
        FollowSettings {
            dir,
            slot: SlotSettings::default(),
            create_slot: false,
            origin: DEFAULT_ORIGIN.into(),
            endpos: None,
            resume: false,
            restart: false,
            not_consistent: false,
            snapshot: None,
            filters: Filters::default(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}
