//! Options of change data capture, shared by `clone --follow`, `follow`,
//! `snapshot --follow` and the `stream` commands, with the `PGCOPYDB_*`
//! variables of the original.

use clap::builder::BoolishValueParser;
use clap::Args;

use crate::stream::decode::Plugin;
use crate::stream::follow::settings::{
    SlotSettings, DEFAULT_ORIGIN, DEFAULT_SEGMENT_BYTES, DEFAULT_SLOT_NAME,
};
use crate::stream::lsn::Lsn;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginArg {
    Pgoutput,
    #[value(name = "test_decoding", alias = "test-decoding")]
    TestDecoding,
    Wal2json,
}

impl From<PluginArg> for Plugin {
    fn from(arg: PluginArg) -> Plugin {
        match arg {
            PluginArg::Pgoutput => Plugin::Pgoutput,
            PluginArg::TestDecoding => Plugin::TestDecoding,
            PluginArg::Wal2json => Plugin::Wal2json,
        }
    }
}

/// The slot and its output plugin.
#[derive(Debug, Clone, Args)]
pub struct SlotArgs {
    /// Logical decoding output plugin: pgoutput, test_decoding or wal2json
    #[arg(
        long,
        env = "PGCOPYDB_OUTPUT_PLUGIN",
        value_enum,
        default_value = "pgoutput"
    )]
    pub plugin: PluginArg,

    /// With wal2json: numeric values as strings (numeric-data-types-as-string)
    #[arg(long, env = "PGCOPYDB_WAL2JSON_NUMERIC_AS_STRING", value_parser = BoolishValueParser::new(),
          num_args = 0, default_missing_value = "true", default_value = "false")]
    pub wal2json_numeric_as_string: bool,

    /// Name of the logical replication slot
    #[arg(long, default_value = DEFAULT_SLOT_NAME)]
    pub slot_name: String,

    /// With pgoutput: the publication to stream (an existing one is used and never
    /// dropped); default: one named after the slot, created from the filters
    #[arg(long)]
    pub publication: Option<String>,
}

impl SlotArgs {
    pub fn settings(&self) -> SlotSettings {
        SlotSettings {
            plugin: self.plugin.into(),
            wal2json_numeric_as_string: self.wal2json_numeric_as_string,
            slot_name: self.slot_name.clone(),
            publication: self.publication.clone(),
        }
    }
}

/// Everything a follower takes beyond the slot.
#[derive(Debug, Clone, Args)]
pub struct CdcArgs {
    #[command(flatten)]
    pub slot: SlotArgs,

    /// Create the replication slot (also done whenever it does not exist yet)
    #[arg(long)]
    pub create_slot: bool,

    /// Name of the replication origin on the target, which records what is applied
    #[arg(long, default_value = DEFAULT_ORIGIN)]
    pub origin: String,

    /// Stop after the last transaction committed at or before this LSN
    #[arg(long, value_parser = parse_lsn)]
    pub endpos: Option<Lsn>,

    /// Start a new segment of received changes past this size (at a transaction boundary)
    #[arg(long, value_parser = parse_segment_size, default_value_t = DEFAULT_SEGMENT_BYTES)]
    pub max_replaydb_size: u64,

    /// Accepted for compatibility; no effect: every UPDATE is replayed, even one that changes no column
    #[arg(long)]
    pub replay_no_op_updates: bool,

    #[command(flatten)]
    pub coordinator: super::compat_args::CoordinatorArgs,
}

pub fn parse_lsn(s: &str) -> Result<Lsn, String> {
    s.parse::<Lsn>().map_err(|e| e.to_string())
}

fn parse_segment_size(s: &str) -> Result<u64, String> {
    let bytes = crate::catalog::parts::parse_size(s)?;
    // Below this a segment would hold little more than its relations.
    if bytes < 64 * 1024 {
        return Err(format!("{s:?} is too small: give at least 64kB"));
    }
    Ok(bytes)
}
