//! The pre-data restore in several `pg_restore` at once.
//!
//! pg_restore restores pre-data with one connection whatever `--jobs` is:
//! on a schema of thousands of tables that is most of a clone. The archive
//! records what each entry depends on ([`crate::schema::plan`] makes stages
//! of it), so independent entries are restored side by side, up to
//! `--restore-jobs` pg_restore at a time, each with `--single-transaction`
//! over a batch of entries: few processes, few commits.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use futures_util::future::join_all;
use tracing::info;

use crate::connections::Endpoints;
use crate::error::Failure;
use crate::schema::{self, RestoreOptions, Section, Stage, TocEntry};
use crate::tools::PgTools;
use crate::workdir::WorkDir;

/// `on` restores pre-data in parallel whatever its size, `off` never; unset
/// (or `auto`), from [`AUTO_FROM_ENTRIES`] entries on.
pub const ENV: &str = "PGCOPYDB_PARALLEL_PRE_DATA";

/// Below this many entries the startup of more pg_restore processes (each
/// reads the archive's table of contents) may outweigh what restoring side
/// by side saves. Measured (bench/results/parallel-pre-data.md): from 250
/// entries on the staged restore took a third of the time of one
/// pg_restore; below about 100 no level has two batches' worth anyway.
const AUTO_FROM_ENTRIES: usize = 200;

/// Fewest entries worth a pg_restore of their own.
const MIN_BATCH: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Auto,
    On,
    Off,
}

fn mode() -> Result<Mode> {
    let value = std::env::var(ENV).unwrap_or_default();
    match value.to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(Mode::Auto),
        "on" | "1" | "true" => Ok(Mode::On),
        "off" | "0" | "false" => Ok(Mode::Off),
        _ => Err(Failure::config(format!(
            "{ENV}={value} is not understood: set it to on, off or auto (or unset it)"
        ))
        .into()),
    }
}

/// The stages to restore the `kept` entries of the pre-data listing with,
/// or `None` when one pg_restore restores them all (the reason logged at
/// info level unless the schema is merely small).
pub fn stages(
    entries: &[TocEntry],
    kept: &HashSet<u32>,
    opts: &RestoreOptions,
) -> Result<Option<Vec<Stage>>> {
    let mode = mode()?;
    let serial = |why: &str| {
        info!("pre-data restored by one pg_restore: {why}");
        Ok(None)
    };
    match mode {
        Mode::Off => return serial(&format!("{ENV}=off")),
        Mode::Auto if kept.len() < AUTO_FROM_ENTRIES => return Ok(None),
        _ => {}
    }
    if opts.jobs < 2 {
        return serial("--restore-jobs is 1");
    }
    if opts.clean_if_exists {
        // Each pg_restore would drop its own entries only, in an order that
        // ignores what the target still has from before.
        return serial("objects are dropped first (--drop-if-exists, or a resumed restore)");
    }
    // A forced run splits even small levels, so that tests reach the
    // parallel path on small schemas.
    let min_batch = if mode == Mode::On { 1 } else { MIN_BATCH };
    match schema::plan(entries, kept, opts.jobs, min_batch) {
        Ok(stages) if stages.iter().any(|s| matches!(s, Stage::Parallel(_))) => Ok(Some(stages)),
        Ok(_) => serial("no dependency level has enough independent entries"),
        Err(why) => serial(&why),
    }
}

/// Restores `stages` one after the other, the batches of a parallel stage
/// side by side, each batch in one transaction.
pub async fn restore(
    tools: &PgTools,
    endpoints: &Endpoints,
    workdir: &WorkDir,
    entries: &[TocEntry],
    stages: &[Stage],
    opts: &RestoreOptions,
) -> Result<()> {
    let batch_opts = RestoreOptions {
        jobs: 1,
        ..opts.clone()
    };
    let processes: usize = stages
        .iter()
        .map(|s| match s {
            Stage::Serial(_) => 1,
            Stage::Parallel(batches) => batches.len(),
        })
        .sum();
    info!(
        "restoring pre-data in {} stages ({processes} pg_restore, up to {} at a time)",
        stages.len(),
        opts.jobs
    );
    let run = |list: PathBuf| {
        let batch_opts = &batch_opts;
        async move {
            super::schema_steps::restore(
                tools,
                endpoints,
                workdir,
                Section::PreData,
                &list,
                batch_opts,
            )
            .await
        }
    };
    for (k, stage) in stages.iter().enumerate() {
        let batches = match stage {
            Stage::Serial(ids) => std::slice::from_ref(ids),
            Stage::Parallel(batches) => batches.as_slice(),
        };
        let lists = batches
            .iter()
            .enumerate()
            .map(|(j, ids)| write_batch(workdir, entries, ids, k, j))
            .collect::<Result<Vec<_>>>()?;
        let results = join_all(lists.iter().cloned().map(run)).await;
        // A batch is one transaction: a failed one left nothing behind. One
        // may have lost a deadlock or a concurrent catalog update to a batch
        // beside it (two partitions attached to the same parents in opposite
        // orders). pg_restore reports the server's message in the server's
        // language, never its SQLSTATE, so which failure it was cannot be
        // told: every failed batch of a parallel stage runs again alone,
        // once, and only a second failure is the restore's.
        for (list, result) in lists.into_iter().zip(results) {
            match result {
                Ok(()) => {}
                Err(e) if batches.len() > 1 && !crate::interrupt::is_cancelled() => {
                    info!(
                        "pre-data batch {} failed beside others, restoring it alone: {e:#}",
                        list.display()
                    );
                    run(list).await?;
                }
                Err(e) => return Err(e),
            }
        }
        crate::failpoint!(
            "pre-data-stage-restored",
            &format!("stage {} of {}", k + 1, stages.len())
        );
    }
    Ok(())
}

/// A use-list of the entries `ids`, in archive order, in the schema
/// directory beside the full pre-data list.
fn write_batch(
    workdir: &WorkDir,
    entries: &[TocEntry],
    ids: &[u32],
    stage: usize,
    batch: usize,
) -> Result<PathBuf> {
    let wanted: HashSet<u32> = ids.iter().copied().collect();
    // Only the batch's lines: a list of every entry per batch would grow
    // with entries times stages.
    let batch_entries: Vec<TocEntry> = entries
        .iter()
        .filter(|e| wanted.contains(&e.dump_id))
        .cloned()
        .collect();
    let path = workdir
        .schema_dir()
        .join(format!("pre-filtered.stage-{stage}.batch-{batch}.list"));
    schema::write_use_list(&batch_entries, &|_| false, &path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
