//! `pgcopydb stream ...`: the steps of change data capture one at a time
//! (setup, receive, apply, cleanup, ...), and the sentinel's remote control.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::stream_sentinel::SentinelCommand;
use super::LogArgs;
use crate::connections::Endpoints;
use crate::interrupt;
use crate::stream::follow::{self, FollowSettings, Mode};
use crate::workdir::WorkDir;

#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Create the replication slot, the publication (pgoutput), the target's origin and the sentinel
    Setup(StreamArgs),
    /// Drop the slot, the publication and the origin we created, and the stored changes
    Cleanup(StreamArgs),
    /// Delete the stored segments of changes the target already has
    Prune(PruneArgs),
    /// Receive changes from the slot into the work directory, without applying them
    Prefetch(StreamArgs),
    /// Apply the stored changes to the target, then stop
    Catchup(StreamArgs),
    /// Receive and apply changes, live, until endpos
    Replay(StreamArgs),
    /// Maintain the sentinel: start and end positions, apply switch, reported positions
    #[command(subcommand)]
    Sentinel(SentinelCommand),
    /// Receive changes from the slot into the work directory (same as prefetch)
    Receive(StreamArgs),
    /// Apply the stored changes to the target (same as catchup)
    Apply(StreamArgs),
}

/// Options of the stream steps (each takes those it needs): the same as
/// `follow`'s.
pub type StreamArgs = super::follow::FollowArgs;

impl StreamArgs {
    pub(super) fn stream_settings(&self) -> Result<FollowSettings> {
        super::follow::settings(
            self.dir.as_ref(),
            self.filters.as_ref(),
            &self.cdc,
            (self.restart, self.resume, self.not_consistent),
            self.snapshot.as_ref(),
        )
    }
}

#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Work directory
    #[arg(long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,
    /// List what would be deleted, delete nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub coordinator: super::compat_args::CoordinatorArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

pub async fn run(command: StreamCommand) -> Result<()> {
    match command {
        StreamCommand::Sentinel(cmd) => super::stream_sentinel::run(cmd).await,
        StreamCommand::Prune(args) => {
            crate::report::logging::init(args.log.level());
            let dir = args.dir.unwrap_or_else(WorkDir::default_path);
            args.coordinator.warn_unused(&dir);
            for line in follow::prune(&dir, args.dry_run)? {
                crate::report::stdout::println(&line)?;
            }
            Ok(())
        }
        StreamCommand::Setup(args) => {
            let (endpoints, settings) = prepare(&args)?;
            follow::setup::setup(&endpoints, &settings).await
        }
        StreamCommand::Cleanup(args) => {
            let (endpoints, settings) = prepare(&args)?;
            follow::setup::cleanup(&endpoints, &settings).await
        }
        StreamCommand::Prefetch(args) | StreamCommand::Receive(args) => {
            let (endpoints, settings) = prepare(&args)?;
            run_mode(&endpoints, &settings, Mode::Receive).await
        }
        StreamCommand::Catchup(args) | StreamCommand::Apply(args) => {
            let (endpoints, settings) = prepare(&args)?;
            run_mode(&endpoints, &settings, Mode::Catchup).await
        }
        StreamCommand::Replay(args) => {
            let (endpoints, settings) = prepare(&args)?;
            run_mode(&endpoints, &settings, Mode::Replay).await
        }
    }
}

fn prepare(args: &StreamArgs) -> Result<(Endpoints, FollowSettings)> {
    crate::report::logging::init(args.log.level());
    Ok((Endpoints::from_args(&args.conn)?, args.stream_settings()?))
}

/// `follow` and the end of `clone --follow`: set up what is missing, then
/// receive and apply until endpos.
pub async fn run_follow(endpoints: &Endpoints, settings: &FollowSettings) -> Result<()> {
    run_mode(endpoints, settings, Mode::Follow).await
}

async fn run_mode(endpoints: &Endpoints, settings: &FollowSettings, mode: Mode) -> Result<()> {
    interrupt::install_handlers();
    let summary = interrupt::unless_interrupted(
        follow::run(endpoints, settings, mode),
        format!(
            "what was received is stored; continue with `pgcopydb follow --resume --dir {}`",
            settings.dir.display()
        ),
    )
    .await?;
    crate::report::stdout::print(summary.render())?;
    Ok(())
}
