//! `pgcopydb snapshot`: export a snapshot on the source and hold it until
//! signalled, so that several commands (and a resumed run) share one view.

use std::fs;
use std::path::PathBuf;

use anyhow::Result;

use crate::cli::LogArgs;
use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::workdir::{take_lock, WorkDir, SNAPSHOT_LOCK};

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Source database connection string (libpq URI or key=value)
    #[arg(long, env = "PGCOPYDB_SOURCE_PGURI", hide_env_values = true)]
    source: Option<String>,
    /// Work directory, where the snapshot id is written
    #[arg(long, env = "PGCOPYDB_DIR")]
    dir: Option<PathBuf>,
    #[command(flatten)]
    log: LogArgs,
}

pub async fn run(args: SnapshotArgs) -> Result<()> {
    crate::report::logging::init(&args.log);
    let source = args
        .source
        .as_deref()
        .ok_or_else(|| Failure::args("no source: use --source or set PGCOPYDB_SOURCE_PGURI"))?;
    let source = ConnInfo::resolve(source)
        .map_err(|e| Failure::args(format!("invalid source connection string: {e:#}")))?;
    let dir = args.dir.unwrap_or_else(WorkDir::default_path);
    fs::create_dir_all(&dir)?;
    let lock = dir.join(SNAPSHOT_LOCK);
    take_lock(&lock)?;
    let held = crate::snapshot::export(&source).await;
    let held = match held {
        Ok(h) => h,
        Err(e) => {
            let _ = fs::remove_file(&lock);
            return Err(e);
        }
    };
    let file = dir.join("snapshot");
    fs::write(&file, &held.id)?;
    println!("{}", held.id);
    tracing::info!(
        "holding snapshot {} for {} until interrupted (Ctrl-C or SIGTERM)",
        held.id,
        dir.display()
    );
    crate::interrupt::install_handlers();
    crate::interrupt::cancelled().await;
    drop(held);
    let _ = fs::remove_file(&file);
    let _ = fs::remove_file(&lock);
    Ok(())
}
