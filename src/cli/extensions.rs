//! `copy extensions`: create the source's extensions on the target and copy
//! the rows of their configuration tables.

use std::path::PathBuf;

use anyhow::{Context, Result};
use tracing::info;

use crate::cli::{ConnectionArgs, LogArgs};
use crate::connections::{connect_target_worker, Endpoints};
use crate::extensions::{self, config_data};
use crate::filters::Filters;

#[derive(Debug, Clone, clap::Args)]
pub struct ExtensionsArgs {
    #[command(flatten)]
    pub conn: ConnectionArgs,
    /// Work directory (accepted for compatibility: this command keeps no state)
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    pub dir: Option<PathBuf>,
    /// INI filters file: its include-only-extension / exclude-extension sections apply
    #[arg(short = 'F', long, visible_alias = "filter", value_name = "FILE")]
    pub filters: Option<PathBuf>,
    /// Read the source under this exported snapshot
    #[arg(short = 'N', long, env = "PGCOPYDB_SNAPSHOT")]
    pub snapshot: Option<String>,
    /// JSON file of extension versions to create instead of the source's
    /// (`[{"name": ..., "version": ...}]`, as `list extensions --requirements --json` writes)
    #[arg(short = 'Q', long, value_name = "FILE")]
    pub requirements: Option<PathBuf>,
    #[command(flatten)]
    pub run: super::compat_args::OneShotRunArgs,
    #[command(flatten)]
    pub log: LogArgs,
}

pub async fn run(args: ExtensionsArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let filters = match &args.filters {
        Some(path) => Filters::load(path)?,
        None => Filters::default(),
    };
    let pins = match &args.requirements {
        Some(path) => extensions::requirements::load(path)?,
        None => Default::default(),
    };
    let endpoints = Endpoints::from_args(&args.conn)?;
    let source = crate::snapshot::open_reader(&endpoints.source, args.snapshot.as_deref()).await?;
    let target = connect_target_worker(&endpoints.target).await?;
    crate::guards::refuse_same_database(&source, &target, "copy extensions").await?;
    let list = extensions::read_extensions(&source, &filters).await?;
    let created = extensions::create_extensions(&target, &list, &pins).await?;
    info!(
        "{} extension(s) on the source, {} created on the target{}",
        list.len(),
        created.len(),
        if created.is_empty() {
            String::new()
        } else {
            format!(": {}", created.join(", "))
        }
    );
    let rows = config_data::copy_config_data(&source, &target, &list)
        .await
        .context("copying extension configuration data")?;
    info!("copied {rows} rows of extension configuration tables");
    Ok(())
}
