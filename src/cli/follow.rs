//! `pgcopydb follow`: apply the source's changes to the target from the
//! slot, until endpos (after a clone on the same `--dir`, or standalone).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use super::cdc_args::CdcArgs;
use super::{ConnectionArgs, LogArgs};
use crate::connections::Endpoints;
use crate::filters::Filters;
use crate::stream::follow::FollowSettings;
use crate::workdir::WorkDir;

#[derive(Debug, Clone, Args)]
pub struct FollowArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Work directory (changes are stored in its cdc/ subdirectory)
    #[arg(long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,
    /// INI file of what to leave out (as for clone): filtered tables are not followed
    #[arg(long, visible_alias = "filter", value_name = "FILE")]
    pub filters: Option<PathBuf>,
    /// Drop what an earlier follow left in the work directory and start over
    #[arg(long, conflicts_with = "resume")]
    pub restart: bool,
    /// Continue an interrupted follow from the slot and the target's origin
    #[arg(long)]
    pub resume: bool,
    /// The target is not a consistent copy as of the slot: an UPDATE or DELETE
    /// that finds no row is skipped with a warning instead of stopping
    #[arg(long)]
    pub not_consistent: bool,
    /// Accepted for compatibility: the snapshot a clone used
    #[arg(long, env = "PGCOPYDB_SNAPSHOT")]
    pub snapshot: Option<String>,
    #[command(flatten)]
    pub cdc: CdcArgs,
    /// Serve the received, applied and source positions at
    /// http://HOST:PORT/metrics in the Prometheus text format (off unless given)
    #[arg(long, value_name = "HOST:PORT", env = "PGCOPYDB_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    #[command(flatten)]
    pub log: LogArgs,
}

/// The engine's settings from CDC options and the common ones.
pub fn settings(
    dir: Option<&PathBuf>,
    filters: Option<&PathBuf>,
    cdc: &CdcArgs,
    reuse: (bool, bool, bool),
    snapshot: Option<&String>,
) -> Result<FollowSettings> {
    let (restart, resume, not_consistent) = reuse;
    let mut s = FollowSettings::new(dir.cloned().unwrap_or_else(WorkDir::default_path));
    cdc.coordinator.warn_unused(&s.dir);
    s.slot = cdc.slot.settings();
    s.create_slot = cdc.create_slot;
    s.origin = cdc.origin.clone();
    s.endpos = cdc.endpos;
    s.segment_bytes = cdc.max_replaydb_size;
    s.restart = restart;
    s.resume = resume;
    s.not_consistent = not_consistent;
    s.snapshot = snapshot.cloned();
    s.filters = match filters {
        Some(path) => Filters::load(path)?,
        None => Filters::default(),
    };
    Ok(s)
}

impl FollowArgs {
    pub fn settings(&self) -> Result<FollowSettings> {
        settings(
            self.dir.as_ref(),
            self.filters.as_ref(),
            &self.cdc,
            (self.restart, self.resume, self.not_consistent),
            self.snapshot.as_ref(),
        )
    }
}

pub async fn run(args: FollowArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let endpoints = Endpoints::from_args(&args.conn)?;
    let settings = args.settings()?;
    let _metrics =
        crate::report::metrics::server::serve_if(args.metrics_addr.as_deref(), &settings.dir)?;
    super::stream::run_follow(&endpoints, &settings).await
}
