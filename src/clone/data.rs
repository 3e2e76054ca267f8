//! The data phase. Tables are copied largest first by `table_jobs` workers;
//! as soon as one is in, its indexes build concurrently (bounded by
//! `index_jobs`), then its constraints are attached and it is vacuumed,
//! while other tables keep copying. Sequences and large objects run
//! alongside. Each unit is recorded in the ledger; units already done by an
//! earlier run are skipped.
//!
//! The pieces: the [`plan`] (what to do, decided once), the [`schedule`]
//! (what may start when a part, a table or a partitioned table is in, and
//! the after-copy rules), the workers ([`table_copy`], [`after_copy`],
//! [`blobs_phase`]) and what they share ([`shared`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info};

use super::{CloneOptions, Steps};
use crate::catalog::{Catalog, Table};
use crate::connections::{connect_target_worker, Endpoints};
use crate::copy::{target_relations, CopyStats};
use crate::error::Error;
use crate::indexes::buildable;
use crate::indexes::memory::index_session_setting;
use crate::pool::Pool;
use crate::report::progress::{spawn_reporter, Progress};
use crate::report::summary::TableReport;
use crate::sequences::reset_sequences;
use crate::workdir::state::{Ledger, Unit};

mod after_copy;
mod blobs_phase;
mod format;
mod order;
mod plan;
mod sampler;
mod schedule;
mod shared;
mod table_copy;

use after_copy::{after_copy, build_parent, table_complete};
use plan::{Plan, TableStart};
use shared::{Outcome, Pools, Settings, Shared, Timings};

pub struct DataOutcome {
    pub steps: Vec<(String, Duration)>,
    pub tables: Vec<TableReport>,
    pub failures: Vec<Error>,
    /// Some table's data is not in (its copy failed).
    pub data_incomplete: bool,
    /// Copies that failed because the two sides' row counts differed.
    pub count_mismatches: usize,
    /// Where the phase's time went, per kind of work.
    pub costs: Vec<crate::report::costs::CostReport>,
}

/// The data phase, with the servers sampled for what our sessions are doing
/// (see `sampler`) on `control`, the run's target connection, meanwhile.
#[allow(clippy::too_many_arguments)]
pub async fn copy_all(
    endpoints: &Endpoints,
    catalog: &Catalog,
    snapshot: Option<&str>,
    majors: (u32, u32),
    opts: &CloneOptions,
    steps: Steps,
    ledger: Ledger,
    control: &tokio_postgres::Client,
) -> Result<DataOutcome> {
    let progress = Arc::new(Progress::default());
    if let Some(board) = &opts.metrics {
        board.watch(progress.clone());
    }
    let sampler = sampler::Sampler::new(
        endpoints,
        majors,
        catalog,
        opts.dir.clone(),
        progress.clone(),
    );
    let result = tokio::select! {
        r = copy_everything(endpoints, catalog, snapshot, majors, opts, steps, ledger, progress.clone()) => r,
        () = sampler.run(control) => unreachable!("sampling never ends"),
    };
    // Nothing is in flight any more.
    progress.set_sampled(crate::report::in_flight::InFlight::default());
    crate::report::in_flight::InFlight::clear(&opts.dir);
    result
}

#[allow(clippy::too_many_arguments)]
async fn copy_everything(
    endpoints: &Endpoints,
    catalog: &Catalog,
    snapshot: Option<&str>,
    (source_major, target_major): (u32, u32),
    opts: &CloneOptions,
    steps: Steps,
    ledger: Ledger,
    progress: Arc<Progress>,
) -> Result<DataOutcome> {
    progress
        .bytes_total
        .store(catalog.total_bytes().max(0) as u64, Ordering::Relaxed);
    progress
        .tables_total
        .store(catalog.tables.len(), Ordering::Relaxed);
    progress.indexes_total.store(
        catalog.tables.iter().map(|t| buildable(t).count()).sum(),
        Ordering::Relaxed,
    );
    let target = connect_target_worker(&endpoints.target).await?;
    let index_setup = if steps.indexes {
        index_session_setting(&target, opts.index_jobs)
            .await
            .unwrap_or_default()
    } else {
        String::new()
    };
    let target_relations = if steps.table_data || steps.analyze {
        target_relations(&target, &catalog.tables).await?
    } else {
        HashMap::new()
    };
    drop(target);
    let fk_unvalidated = crate::foreign_keys::keys_to_excluded_data(catalog);
    if steps.foreign_keys {
        crate::foreign_keys::warn_unvalidated(catalog, &fk_unvalidated);
    }
    let rules = schedule::Rules::new(
        steps,
        (opts.skip_vacuum, target_major),
        ledger.done_units()?,
        target_relations,
        fk_unvalidated,
    );
    let plan = Plan::new(catalog, rules, &ledger.started_units()?);
    let schedule = schedule::Schedule::new(
        catalog,
        steps.indexes && steps.constraints,
        steps.foreign_keys,
    );
    let costs = ledger.costs().clone();
    let shared = Arc::new(Shared {
        settings: Settings {
            endpoints: endpoints.clone(),
            snapshot: snapshot.map(str::to_string),
            opts: opts.clone(),
            same_major: source_major == target_major,
            check_compression: source_major >= 14,
            toast_compression: toast_compression_setting(catalog, target_major),
        },
        plan,
        schedule: Mutex::new(schedule),
        queue: Mutex::new(VecDeque::new()),
        pools: Pools {
            // With --all-databases, index work of every database shares one limit.
            index: Pool::bounded(
                endpoints.target.clone(),
                opts.index_jobs,
                index_setup,
                opts.limits.as_ref().map(|l| l.indexes.clone()),
            ),
            ddl: Pool::new(endpoints.target.clone(), 1, String::new()),
            copy_slots: Arc::new(Semaphore::new(opts.table_jobs.max(1))),
            copiers_running: AtomicUsize::new(opts.table_jobs),
        },
        ledger,
        progress: progress.clone(),
        timings: Timings::new(),
        costs,
        outcome: Outcome::default(),
        after: Mutex::new(JoinSet::new()),
    });
    // A partitioned table without partitions is complete from the start.
    let empty = crate::sync::lock(&shared.schedule).parents_without_partitions();
    for parent in empty {
        shared.spawn_after(build_parent(shared.clone(), parent));
    }
    let reporter = spawn_reporter(progress.clone());

    if steps.table_data {
        let to_copy = catalog.tables.iter().filter(|t| t.copy_data);
        format::warn_text_fallbacks(opts.copy_format, to_copy);
    }
    start_tables(&shared).await?;
    crate::sync::lock(&shared.queue).extend(shared.plan.jobs());
    let skipped = shared.plan.copied_already();
    if skipped > 0 && steps.table_data {
        info!("{skipped} tables were copied by an earlier run");
    }
    info!(
        "copying {} tables with {} jobs, building indexes with {} jobs",
        catalog.tables.len() - skipped,
        opts.table_jobs,
        opts.index_jobs
    );

    let mut side_tasks = JoinSet::new();
    if steps.sequences {
        side_tasks.spawn(set_sequences(shared.clone()));
    }
    if steps.large_objects && !shared.plan.large_objects.is_empty() {
        let lo_shared = shared.clone();
        side_tasks.spawn(async move {
            let started = Instant::now();
            blobs_phase::copy_large_objects(lo_shared).await;
            ("large objects: contents", started.elapsed())
        });
    }

    run_copiers(&shared).await;
    // Drain what follows the copies; that work adds more (foreign keys), so
    // take batches until none is left.
    loop {
        let mut pending = std::mem::take(&mut *crate::sync::lock(&shared.after));
        if pending.is_empty() {
            break;
        }
        while pending.join_next().await.is_some() {}
    }

    let mut steps = vec![
        ("copy data".to_string(), shared.timings.last_copy()),
        (
            "indexes, constraints, vacuum".to_string(),
            shared.timings.last_index(),
        ),
    ];
    while let Some(done) = side_tasks.join_next().await {
        let (name, duration) = done.context("side task panicked")?;
        steps.push((name.to_string(), duration));
    }
    reporter.stop();

    let outcome = &shared.outcome;
    let mut tables = std::mem::take(&mut *crate::sync::lock(&outcome.reports));
    tables.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    // Kept until the summary is written: no room for more.
    tables.shrink_to_fit();
    let failures = std::mem::take(&mut *crate::sync::lock(&outcome.failures));
    Ok(DataOutcome {
        steps,
        tables,
        failures,
        data_incomplete: outcome.copy_failed.load(Ordering::Relaxed),
        count_mismatches: outcome.count_mismatches.load(Ordering::Relaxed),
        costs: shared.costs.report(),
    })
}

/// `SET default_toast_compression` for the copy sessions, when the source
/// has the setting and the target knows it.
fn toast_compression_setting(catalog: &Catalog, target_major: u32) -> Option<String> {
    catalog
        .toast_compression
        .as_ref()
        .filter(|_| target_major >= 14)
        .map(|m| {
            format!(
                "SET default_toast_compression = {}",
                crate::sql::quote_literal(m)
            )
        })
}

/// Act on the plan's start of each table: truncate the split tables that
/// start over, and start what follows the copy of the tables whose data is
/// in already (an earlier run, or excluded).
async fn start_tables(shared: &Arc<Shared>) -> Result<()> {
    for start in &shared.plan.tables {
        let table = match start {
            TableStart::Copy => continue,
            TableStart::Split {
                table,
                truncate,
                parts,
            } => {
                if *truncate {
                    truncate_split(shared, table).await?;
                }
                crate::sync::lock(&shared.schedule).split_started(table.oid, *parts);
                if *parts == 0 {
                    // Every part was in before the table was recorded done.
                    table_copy::table_copied(shared, table.clone(), CopyStats::default())?;
                }
                continue;
            }
            TableStart::AfterCopy(table) | TableStart::Complete(table) => table,
        };
        let progress = &shared.progress;
        progress.tables_done.fetch_add(1, Ordering::Relaxed);
        progress
            .bytes_done
            .fetch_add(table.bytes.max(0) as u64, Ordering::Relaxed);
        if matches!(start, TableStart::Complete(_)) {
            table_complete(shared, table.oid);
        } else {
            let report = TableReport {
                table: table.label(),
                oid: table.oid,
                schema: table.schema.clone(),
                name: table.name.clone(),
                parts: table.parts.len().max(1),
                indexes: buildable(table).count(),
                ..TableReport::default()
            };
            shared.spawn_after(after_copy(shared.clone(), table.clone(), report));
        }
    }
    Ok(())
}

/// The single TRUNCATE of a split table before its parts are copied.
async fn truncate_split(shared: &Shared, table: &Table) -> Result<()> {
    let target = connect_target_worker(&shared.settings.endpoints.target).await?;
    let relation = shared.plan.rules.target_relation(table);
    target
        .batch_execute(&relation.truncate_sql(table))
        .await
        .with_context(|| format!("truncating {} on the target", table.label()))?;
    shared
        .ledger
        .done_quick(&Unit::Truncate(table.oid), &table.label(), 0)
}

async fn set_sequences(shared: Arc<Shared>) -> (&'static str, Duration) {
    let started = Instant::now();
    let result = async {
        let target = shared.pools.ddl.get().await?;
        let set = reset_sequences(&target, &shared.plan.sequences).await?;
        crate::failpoint!("sequences-set");
        Ok::<usize, anyhow::Error>(set)
    }
    .await;
    match result {
        Ok(n) => debug!("set {n} sequences"),
        Err(e) => shared.fail_on_target(None, &e.context("sequences")).await,
    }
    ("sequences", started.elapsed())
}

/// The copy workers, each in one of the `--table-jobs` slots, which they
/// take before any large-object worker can.
async fn run_copiers(shared: &Arc<Shared>) {
    let copiers: Vec<_> = (0..shared.opts().table_jobs)
        .filter_map(|_| shared.pools.copy_slots.clone().try_acquire_owned().ok())
        .map(|slot| {
            let shared = shared.clone();
            async move {
                let result = table_copy::copy_worker(shared).await;
                drop(slot);
                result
            }
        })
        .collect();
    if let Err(e) = try_join_all(copiers).await {
        // A worker that ended on an error (its state could not be written)
        // leaves a table copied but not recorded, or not copied: post-data
        // must wait for the resume that copies it again.
        shared.outcome.copy_failed.store(true, Ordering::Relaxed);
        shared.fail(None, Error::classify(&e)).await;
    }
}
