//! `pgcopydb snapshot`: export a snapshot on the source and hold it until
//! signalled, so that several commands (and a resumed run) share one view.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::LogArgs;
use crate::conninfo::ConnInfo;
use crate::error::Failure;
use crate::stream::follow::clone_follow::{create_slot_for_copy, SlotForCopy};
use crate::stream::follow::snapshot_slot::{self, SnapshotSlot};
use crate::stream::follow::FollowSettings;
use crate::workdir::contents::{refuse_foreign, SNAPSHOT_FILE};
use crate::workdir::private::{create_private_dir, write_private_file};
use crate::workdir::{Lock, WorkDir, SNAPSHOT_LOCK};

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Source database connection string (libpq URI or key=value)
    #[arg(
        short = 'S',
        long,
        env = "PGCOPYDB_SOURCE_PGURI",
        hide_env_values = true
    )]
    source: Option<String>,
    /// Work directory, where the snapshot id is written
    #[arg(short = 'D', long, env = "PGCOPYDB_DIR")]
    dir: Option<PathBuf>,
    /// Create the replication slot (and pgoutput's publication) and hold the
    /// snapshot it exports, for `clone --snapshot` then `follow`
    #[arg(long)]
    follow: bool,
    #[command(flatten)]
    slot: crate::cli::cdc_args::SlotArgs,
    #[command(flatten)]
    log: LogArgs,
}

/// What holds the snapshot: an exporting transaction, or the replication
/// connection that created the slot.
enum Held {
    Exported(crate::snapshot::SnapshotHolder),
    Slot(SlotForCopy),
}

impl Held {
    fn id(&self) -> &str {
        match self {
            Held::Exported(h) => &h.id,
            Held::Slot(s) => s.snapshot(),
        }
    }
}

pub async fn run(args: SnapshotArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let source = args
        .source
        .as_deref()
        .ok_or_else(|| Failure::args("no source: use --source or set PGCOPYDB_SOURCE_PGURI"))?;
    let source = ConnInfo::resolve(source)
        .map_err(|e| Failure::args(format!("invalid source connection string: {e:#}")))?;
    let dir = args.dir.unwrap_or_else(WorkDir::default_path);
    create_private_dir(&dir)?;
    refuse_foreign(&dir)?;
    let lock = Lock::take(&dir.join(SNAPSHOT_LOCK))?;
    let held = if args.follow {
        let mut settings = FollowSettings::new(dir.clone());
        settings.slot = args.slot.settings();
        let slot = create_slot_for_copy(&source, &settings).await?;
        let (publication, publication_created) = slot.publication();
        // For the `follow --dir` after the copy: it adopts this slot.
        snapshot_slot::save(
            &dir,
            &SnapshotSlot {
                slot_name: settings.slot.slot_name.clone(),
                plugin: settings.slot.plugin.name().to_string(),
                publication: publication.map(str::to_string),
                publication_created,
                consistent_point: slot.consistent_point().to_string(),
            },
        )?;
        // snapshot.slot records it now (`stream cleanup` reads both).
        crate::stream::follow::slot_intent::remove(&dir)?;
        Held::Slot(slot)
    } else {
        Held::Exported(crate::snapshot::export(&source).await?)
    };
    let id = held.id().to_string();
    let file = dir.join(SNAPSHOT_FILE);
    write_private_file(&file, id.as_bytes())?;
    crate::report::stdout::println(&id)?;
    tracing::info!(
        "holding snapshot {id} for {} until interrupted (Ctrl-C or SIGTERM)",
        dir.display()
    );
    if args.follow {
        tracing::info!(
            "then: `pgcopydb clone --snapshot {id} --dir {}` and `pgcopydb follow --dir {}`",
            dir.display(),
            dir.display()
        );
    }
    crate::interrupt::install_handlers();
    crate::interrupt::cancelled().await;
    drop(held);
    let _ = std::fs::remove_file(&file);
    drop(lock);
    Ok(())
}
