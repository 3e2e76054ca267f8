//! `pgcopydb stream sentinel ...`: read and set the positions a running
//! follower obeys (endpos, apply) and reports (write, flush, replay).

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::cdc_args::parse_lsn;
use super::LogArgs;
use crate::connections::{resolve, Side};
use crate::stream::lsn::Lsn;
use crate::stream::sentinel::{self, Sentinel};
use crate::workdir::WorkDir;

#[derive(Debug, Subcommand)]
pub enum SentinelCommand {
    /// Create the sentinel with a start and an end position
    Setup(SentinelSetupArgs),
    /// Print the sentinel
    Get(SentinelGetArgs),
    /// Set a value of the sentinel
    #[command(subcommand)]
    Set(SentinelSetCommand),
}

#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// Work directory of the follower
    #[arg(long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub coordinator: super::compat_args::CoordinatorArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

impl DirArg {
    /// The work directory, once logging is set up (it warns about an
    /// unused `--host`).
    fn dir(&self) -> PathBuf {
        let dir = self.dir.clone().unwrap_or_else(WorkDir::default_path);
        self.coordinator.warn_unused(&dir);
        dir
    }
}

#[derive(Debug, Clone, Args)]
pub struct SentinelSetupArgs {
    /// Start position
    #[arg(value_parser = parse_lsn)]
    pub startpos: Lsn,
    /// End position (0/0: none)
    #[arg(value_parser = parse_lsn)]
    pub endpos: Lsn,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Clone, Args)]
pub struct SentinelGetArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Only the start position
    #[arg(long, group = "field")]
    pub startpos: bool,
    /// Only the end position
    #[arg(long, group = "field")]
    pub endpos: bool,
    /// Only the apply switch
    #[arg(long, group = "field")]
    pub apply: bool,
    /// Only the position received and written
    #[arg(long, group = "field")]
    pub write_lsn: bool,
    /// Only the position durably stored
    #[arg(long, group = "field")]
    pub flush_lsn: bool,
    /// Only the position stored and decoded (the same as --flush-lsn here)
    #[arg(long, group = "field")]
    pub transform_lsn: bool,
    /// Only the position applied to the target
    #[arg(long, group = "field")]
    pub replay_lsn: bool,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Subcommand)]
pub enum SentinelSetCommand {
    /// Set the start position
    Startpos(SentinelLsnArgs),
    /// Set the end position: an LSN, or the source's current one with --current
    Endpos(SentinelEndposArgs),
    /// Let the follower apply changes
    Apply(DirArg),
    /// Let the follower only receive and store changes
    Prefetch(DirArg),
}

#[derive(Debug, Clone, Args)]
pub struct SentinelLsnArgs {
    #[arg(value_parser = parse_lsn)]
    pub lsn: Lsn,
    #[command(flatten)]
    pub dir: DirArg,
}

#[derive(Debug, Clone, Args)]
pub struct SentinelEndposArgs {
    /// The end position
    #[arg(value_parser = parse_lsn, required_unless_present = "current", conflicts_with = "current")]
    pub lsn: Option<Lsn>,
    /// Use the source's current WAL flush position (pg_current_wal_flush_lsn())
    #[arg(long, requires = "source")]
    pub current: bool,
    /// Source database connection string, for --current
    #[arg(long, env = "PGCOPYDB_SOURCE_PGURI", hide_env_values = true)]
    pub source: Option<String>,
    #[command(flatten)]
    pub dir: DirArg,
}

pub async fn run(command: SentinelCommand) -> Result<()> {
    match command {
        SentinelCommand::Setup(a) => {
            crate::report::logging::init(a.dir.log.level());
            sentinel::setup(&a.dir.dir(), a.startpos, a.endpos)
        }
        SentinelCommand::Get(a) => {
            crate::report::logging::init(a.dir.log.level());
            let s = sentinel::get(&a.dir.dir())?;
            crate::report::stdout::println(render(&a, &s)?)?;
            Ok(())
        }
        SentinelCommand::Set(set) => match set {
            SentinelSetCommand::Startpos(a) => {
                crate::report::logging::init(a.dir.log.level());
                sentinel::set_startpos(&a.dir.dir(), a.lsn)
            }
            SentinelSetCommand::Endpos(a) => {
                crate::report::logging::init(a.dir.log.level());
                let lsn = match a.lsn {
                    Some(lsn) => lsn,
                    None => {
                        let source = resolve(Side::Source, a.source.as_deref())?;
                        sentinel::source_current_lsn(&source).await?
                    }
                };
                sentinel::set_endpos(&a.dir.dir(), lsn)?;
                crate::report::stdout::println(lsn)?;
                Ok(())
            }
            SentinelSetCommand::Apply(a) => {
                crate::report::logging::init(a.log.level());
                sentinel::set_apply(&a.dir(), true)
            }
            SentinelSetCommand::Prefetch(a) => {
                crate::report::logging::init(a.log.level());
                sentinel::set_apply(&a.dir(), false)
            }
        },
    }
}

/// One field when asked for one, else every field, as text or JSON.
fn render(a: &SentinelGetArgs, s: &Sentinel) -> Result<String> {
    let field = [
        (a.startpos, s.startpos.to_string()),
        (a.endpos, s.endpos.to_string()),
        (a.apply, s.apply.to_string()),
        (a.write_lsn, s.write_lsn.to_string()),
        (a.flush_lsn || a.transform_lsn, s.flush_lsn.to_string()),
        (a.replay_lsn, s.replay_lsn.to_string()),
    ]
    .into_iter()
    .find_map(|(asked, value)| asked.then_some(value));
    Ok(match (field, a.json) {
        (Some(value), _) => value,
        (None, true) => serde_json::to_string_pretty(&s.json())?,
        (None, false) => s.text(),
    })
}
