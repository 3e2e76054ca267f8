//! The data phase. Tables are copied largest first by `table_jobs` workers;
//! as soon as one is in, its indexes build concurrently (bounded by
//! `index_jobs`), then its constraints are attached and it is vacuumed,
//! while other tables keep copying. Sequences and large objects run
//! alongside. Each unit is recorded in the state; units already done by an
//! earlier run are skipped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::{CloneOptions, Steps};
use crate::catalog::{Catalog, PartitionedTable, Table};
use crate::connections::{connect_target_worker, Endpoints};
use crate::copy::{target_relations, CopyFormat, CopyStats, TargetRelation};
use crate::error::{Error, Side};
use crate::foreign_keys::add_foreign_key;
use crate::indexes::memory::index_session_setting;
use crate::indexes::{attach_constraints, build_index, build_parent_index, buildable};
use crate::interrupt;
use crate::pool::Pool;
use crate::report::progress::{spawn_reporter, Progress};
use crate::report::summary::TableReport;
use crate::sequences::reset_sequences;
use crate::workdir::state::{Ledger, Unit};

mod blobs_phase;
mod format;
mod order;
mod schedule;
mod table_copy;

/// While tables are still copying, every core is already busy with our own
/// jobs; a parallel index build then only adds workers that wait on each
/// other for CPU (measured: 0.5 s lost on a 11 s clone on 2 cores). Once
/// the copies are done, builds may use the server's parallel workers again.
const SERIAL_BUILDS: &str = "SET max_parallel_maintenance_workers = 0";
const PARALLEL_BUILDS: &str = "SET max_parallel_maintenance_workers = DEFAULT";

pub struct DataOutcome {
    pub steps: Vec<(String, Duration)>,
    pub tables: Vec<TableReport>,
    pub failures: Vec<Error>,
    /// Some table's data is not in (its copy failed).
    pub data_incomplete: bool,
    /// Copies that failed because the two sides' row counts differed.
    pub count_mismatches: usize,
}

/// Shared state of the data phase.
pub(super) struct Shared {
    endpoints: Endpoints,
    snapshot: Option<String>,
    opts: CloneOptions,
    same_major: bool,
    /// The source has `pg_column_compression` (PostgreSQL 14+): tables are
    /// checked for columns without compressed values before their copy.
    check_compression: bool,
    /// `SET default_toast_compression` for the copy sessions, when the
    /// source has the setting (see `Catalog::toast_compression`).
    toast_compression: Option<String>,
    target_major: u32,
    /// The tables that are not plain tables on the target (re-partitioned
    /// there, or foreign), by oid.
    target_relations: HashMap<u32, TargetRelation>,
    progress: Arc<Progress>,
    ledger: Ledger,
    done: HashSet<String>,
    queue: Mutex<VecDeque<table_copy::WorkItem>>,
    /// Copy priority of referenced tables (see `order`).
    referenced_weights: HashMap<u32, i64>,
    /// What may start when a part, a table or a partitioned table is in.
    schedule: Mutex<schedule::Schedule>,
    reports: Mutex<Vec<TableReport>>,
    failures: Mutex<Vec<Error>>,
    /// Index builds, and the ANALYZE that follows them: together at most
    /// `--index-jobs` target connections (see README, Connections per side).
    index_pool: Arc<Pool>,
    /// For DDL that only writes the catalog: attaching built indexes as
    /// PRIMARY KEY / UNIQUE constraints, and the indexes of partitioned tables
    /// (each partition's index is built by then, and is attached). It must
    /// not queue behind long builds in `index_pool`: the table's ANALYZE and
    /// the foreign keys that reference it wait for it.
    ddl_pool: Arc<Pool>,
    started: Instant,
    last_copy: Mutex<Duration>,
    last_index: Mutex<Duration>,
    /// Copy workers still taking tables from the queue.
    copiers_running: AtomicUsize,
    /// `--table-jobs` slots, each one source and one target connection:
    /// held by the copy workers, then by the large-object workers as the
    /// copy workers run out of tables, so that together they never open
    /// more connections than `--table-jobs` per side.
    copy_slots: Arc<Semaphore>,
    /// A copy failed on a connection error after all its retries: no more
    /// tables are started (they would each retry against a server that is
    /// gone); the run ends with what is done, for `--resume`.
    server_lost: AtomicBool,
    /// Some table's data is not in.
    copy_failed: AtomicBool,
    /// Copies whose source and target row counts differed.
    count_mismatches: AtomicUsize,
    /// Work that follows a table's copy (indexes, constraints, foreign keys).
    after: Mutex<JoinSet<()>>,
    /// Keys whose referenced data is excluded: added NOT VALID.
    fk_unvalidated: HashSet<u32>,
    steps: Steps,
}

impl Shared {
    /// Record a failed unit; with --fail-fast, stop everything else too.
    async fn fail(&self, unit: Option<&Unit>, failure: Error) {
        if interrupt::is_cancelled() {
            return;
        }
        warn!("{failure}");
        if let Some(unit) = unit {
            let _ = self.ledger.failed(unit, &failure.message);
        }
        crate::sync::lock(&self.failures).push(failure);
        if self.opts.fail_fast {
            interrupt::cancel_all().await;
        }
    }
    /// Record a failed unit of work on the target (an index, constraints,
    /// vacuum, a foreign key, sequences): its error is the target's unless
    /// it says otherwise.
    async fn fail_on_target(&self, unit: Option<&Unit>, err: &anyhow::Error) {
        self.fail(unit, Error::classify(err).or_on(Side::Target))
            .await
    }
    /// One unit of work on the target: take a connection, record the unit
    /// started, do the work (which ends with the unit's failpoint, if it
    /// has one), record it done. Any failure along the way, not only the
    /// work's, is recorded against the unit and reported; the error is
    /// returned for callers whose next steps depend on the unit.
    async fn run_target_unit<W, F>(
        &self,
        unit: &Unit,
        label: &str,
        connection: impl std::future::Future<Output = Result<crate::pool::Pooled>>,
        work: W,
    ) -> Result<()>
    where
        W: FnOnce(crate::pool::Pooled) -> F,
        F: std::future::Future<Output = Result<()>>,
    {
        let result = async {
            let conn = connection.await?;
            self.ledger.start(unit, label, 0)?;
            work(conn).await?;
            self.ledger.done(unit, 0, 0)
        }
        .await;
        if let Err(e) = &result {
            self.fail_on_target(Some(unit), e).await;
        }
        result
    }
    fn stopping(&self) -> bool {
        interrupt::is_cancelled()
            || self.server_lost.load(Ordering::Relaxed)
            || (self.opts.fail_fast && !crate::sync::lock(&self.failures).is_empty())
    }
    fn is_done(&self, unit: &Unit) -> bool {
        self.done.contains(&unit.key())
    }
    fn mark(slot: &Mutex<Duration>, at: Duration) {
        let mut v = crate::sync::lock(slot);
        if at > *v {
            *v = at;
        }
    }
    fn format_for(&self, table: &Table) -> CopyFormat {
        format::copy_format(self.opts.copy_format, self.same_major, table)
    }
    /// What follows a table's copy. `COPY ... FREEZE` on PostgreSQL 14+ leaves
    /// the pages frozen and all-visible, so VACUUM would only re-read them:
    /// the statistics are what is missing.
    fn maintenance_command(&self, table: &Table) -> &'static str {
        let relation = self.target_relation(table);
        // Parts are copied without FREEZE (no TRUNCATE in their transaction),
        // and so is a table that is not a plain table on the target; a
        // foreign table's rows are vacuumed where they are stored.
        if relation == TargetRelation::Foreign
            || (self.target_major >= 14 && table.parts.is_empty() && relation.freezes())
        {
            "ANALYZE"
        } else {
            "VACUUM ANALYZE"
        }
    }

    fn target_relation(&self, table: &Table) -> TargetRelation {
        self.target_relations
            .get(&table.oid)
            .copied()
            .unwrap_or_default()
    }

    /// Where an item goes in the copy queue: its size, or more for a table
    /// that big tables' foreign keys wait on.
    fn priority(&self, item: &table_copy::WorkItem) -> i64 {
        let weight = self.referenced_weights.get(&item.table.oid).copied();
        item.bytes().max(weight.unwrap_or(0))
    }

    /// A connection for an index build, told whether it may use parallel
    /// workers.
    async fn index_connection(&self) -> Result<crate::pool::Pooled> {
        let conn = self.index_pool.get().await?;
        // With --all-databases, copies of the other databases count too.
        let copying = self.copiers_running.load(Ordering::Relaxed) > 0
            || self
                .opts
                .limits
                .as_ref()
                .is_some_and(|l| l.copiers.load(Ordering::Relaxed) > 0);
        conn.batch_execute(if copying {
            SERIAL_BUILDS
        } else {
            PARALLEL_BUILDS
        })
        .await?;
        Ok(conn)
    }

    /// Whether every piece of after-copy work of this table is done.
    fn after_copy_done(&self, table: &Table) -> bool {
        let steps = &self.steps;
        (!steps.indexes || buildable(table).all(|i| self.is_done(&Unit::Index(i.oid))))
            && (!steps.constraints || self.is_done(&Unit::Constraints(table.oid)))
            && (!steps.analyze || self.opts.skip_vacuum || self.is_done(&Unit::Vacuum(table.oid)))
    }

    /// A part of `table` is copied; returns the table's total once its last
    /// part is in (at once for a table copied whole).
    fn part_done(&self, table: &Table, stats: &CopyStats) -> Option<CopyStats> {
        crate::sync::lock(&self.schedule).part_done(table, stats)
    }

    /// CREATE INDEX IF NOT EXISTS when the index may already be there: on
    /// resume, when the data was copied by an earlier step, or on a target
    /// schema prepared by the user (`copy data`: a clone refuses existing
    /// tables).
    fn index_if_not_exists(&self) -> bool {
        self.opts.resume || !self.steps.table_data || !self.steps.whole_run
    }
}

pub async fn copy_all(
    endpoints: &Endpoints,
    catalog: &Catalog,
    snapshot: Option<&str>,
    (source_major, target_major): (u32, u32),
    opts: &CloneOptions,
    steps: Steps,
    ledger: Ledger,
) -> Result<DataOutcome> {
    let done = ledger.done_units()?;
    let progress = Arc::new(Progress::default());
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
    let schedule = schedule::Schedule::new(
        catalog,
        steps.indexes && steps.constraints,
        steps.foreign_keys,
    );
    let shared = Arc::new(Shared {
        endpoints: endpoints.clone(),
        snapshot: snapshot.map(str::to_string),
        opts: opts.clone(),
        same_major: source_major == target_major,
        check_compression: source_major >= 14,
        toast_compression: catalog
            .toast_compression
            .as_ref()
            .filter(|_| target_major >= 14)
            .map(|m| {
                format!(
                    "SET default_toast_compression = {}",
                    crate::sql::quote_literal(m)
                )
            }),
        target_major,
        target_relations,
        progress: progress.clone(),
        ledger,
        done,
        queue: Mutex::new(VecDeque::new()),
        referenced_weights: order::referenced_weights(catalog),
        schedule: Mutex::new(schedule),
        reports: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        // With --all-databases, index work of every database shares one limit.
        index_pool: Pool::bounded(
            endpoints.target.clone(),
            opts.index_jobs,
            index_setup,
            opts.limits.as_ref().map(|l| l.indexes.clone()),
        ),
        ddl_pool: Pool::new(endpoints.target.clone(), 1, String::new()),
        started: Instant::now(),
        last_copy: Mutex::new(Duration::ZERO),
        last_index: Mutex::new(Duration::ZERO),
        copiers_running: AtomicUsize::new(opts.table_jobs),
        copy_slots: Arc::new(Semaphore::new(opts.table_jobs.max(1))),
        server_lost: AtomicBool::new(false),
        copy_failed: AtomicBool::new(false),
        count_mismatches: AtomicUsize::new(0),
        after: Mutex::new(JoinSet::new()),
        fk_unvalidated: crate::foreign_keys::keys_to_excluded_data(catalog),
        steps,
    });
    if steps.foreign_keys {
        crate::foreign_keys::warn_unvalidated(catalog, &shared.fk_unvalidated);
    }
    // A partitioned table without partitions is complete from the start.
    let empty = crate::sync::lock(&shared.schedule).parents_without_partitions();
    for parent in empty {
        spawn_after(&shared, build_parent(shared.clone(), parent));
    }
    let reporter = spawn_reporter(progress.clone());

    // Tables copied by an earlier run only need what follows their copy.
    let mut skipped = 0;
    let mut items = Vec::new();
    let started_units = shared.ledger.started_units()?;
    if steps.table_data {
        let to_copy = catalog.tables.iter().filter(|t| t.copy_data);
        format::warn_text_fallbacks(opts.copy_format, to_copy);
    }
    for table in &catalog.tables {
        let table = Arc::new(table.clone());
        // exclude-table-data: no COPY, but indexes, constraints and analyze,
        // as for a table copied by an earlier run.
        if steps.table_data && table.copy_data && !shared.is_done(&Unit::Table(table.oid)) {
            if table.parts.is_empty() {
                items.push(table_copy::WorkItem {
                    table,
                    part: None,
                    clear_first: false,
                });
            } else {
                let parts = split_items(&shared, table.clone(), &started_units).await?;
                if parts.is_empty() {
                    // Every part was in before the table was recorded done.
                    table_copy::table_copied(&shared, table, CopyStats::default())?;
                }
                items.extend(parts);
            }
            continue;
        }
        skipped += 1;
        progress.tables_done.fetch_add(1, Ordering::Relaxed);
        progress
            .bytes_done
            .fetch_add(table.bytes.max(0) as u64, Ordering::Relaxed);
        if shared.after_copy_done(&table) || !steps.after_copy() {
            table_complete(&shared, table.oid);
        } else {
            let report = TableReport {
                table: table.label(),
                indexes: buildable(&table).count(),
                ..TableReport::default()
            };
            spawn_after(&shared, after_copy(shared.clone(), table, report));
        }
    }
    items.sort_by_key(|i| std::cmp::Reverse(shared.priority(i)));
    crate::sync::lock(&shared.queue).extend(items);
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
    let sequences = catalog.sequences.clone();
    let seq_shared = shared.clone();
    if steps.sequences {
        side_tasks.spawn(async move {
            let started = Instant::now();
            let result = async {
                let target = seq_shared.ddl_pool.get().await?;
                let set = reset_sequences(&target, &sequences).await?;
                crate::failpoint!("sequences-set");
                Ok::<usize, anyhow::Error>(set)
            }
            .await;
            match result {
                Ok(n) => debug!("set {n} sequences"),
                Err(e) => {
                    seq_shared
                        .fail_on_target(None, &e.context("sequences"))
                        .await
                }
            }
            ("sequences", started.elapsed())
        });
    }
    if steps.large_objects && !catalog.large_objects.is_empty() {
        let lo_shared = shared.clone();
        let oids = catalog.large_objects.clone();
        side_tasks.spawn(async move {
            let started = Instant::now();
            blobs_phase::copy_large_objects(lo_shared, oids).await;
            ("large objects", started.elapsed())
        });
    }

    // The copy workers take their slots before any large-object worker can.
    let copiers: Vec<_> = (0..opts.table_jobs)
        .filter_map(|_| shared.copy_slots.clone().try_acquire_owned().ok())
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
        shared.copy_failed.store(true, Ordering::Relaxed);
        shared.fail(None, Error::classify(&e)).await;
    }
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
        (
            "copy data".to_string(),
            *crate::sync::lock(&shared.last_copy),
        ),
        (
            "indexes, constraints, vacuum".to_string(),
            *crate::sync::lock(&shared.last_index),
        ),
    ];
    while let Some(done) = side_tasks.join_next().await {
        let (name, duration) = done.context("side task panicked")?;
        steps.push((name.to_string(), duration));
    }
    reporter.stop();

    let mut tables = std::mem::take(&mut *crate::sync::lock(&shared.reports));
    tables.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    let failures = std::mem::take(&mut *crate::sync::lock(&shared.failures));
    Ok(DataOutcome {
        steps,
        tables,
        failures,
        data_incomplete: shared.copy_failed.load(Ordering::Relaxed),
        count_mismatches: shared.count_mismatches.load(Ordering::Relaxed),
    })
}

/// The parts of a split table still to copy. The table is truncated once
/// before its parts start; on resume, a key-range part that was started is
/// cleared before it is copied again, while ctid-range parts cannot be
/// matched to target rows, so a table with such a part cut short starts over.
async fn split_items(
    shared: &Arc<Shared>,
    table: Arc<Table>,
    started: &HashSet<String>,
) -> Result<Vec<table_copy::WorkItem>> {
    let part_units: Vec<Unit> = table
        .parts
        .iter()
        .map(|p| Unit::Part(table.oid, p.number))
        .collect();
    let cut_short = |u: &Unit| started.contains(&u.key()) && !shared.is_done(u);
    let by_pages = table
        .parts
        .iter()
        .any(|p| matches!(p.range, crate::catalog::parts::PartRange::Pages { .. }));
    let truncate = Unit::Truncate(table.oid);
    let start_over = !shared.is_done(&truncate) || (by_pages && part_units.iter().any(cut_short));
    if start_over {
        let target = connect_target_worker(&shared.endpoints.target).await?;
        target
            .batch_execute(&shared.target_relation(&table).truncate_sql(&table))
            .await
            .with_context(|| format!("truncating {} on the target", table.label()))?;
        shared.ledger.done_quick(&truncate, &table.label(), 0)?;
    }
    let items: Vec<table_copy::WorkItem> = part_units
        .iter()
        .enumerate()
        .filter(|(_, unit)| start_over || !shared.is_done(unit))
        .map(|(i, unit)| table_copy::WorkItem {
            table: table.clone(),
            part: Some(i),
            clear_first: !start_over && cut_short(unit),
        })
        .collect();
    crate::sync::lock(&shared.schedule).split_started(table.oid, items.len());
    Ok(items)
}

/// Everything that follows a table's data: all its indexes at once, then its
/// constraints, then VACUUM ANALYZE. Units done by an earlier run are skipped.
async fn after_copy(shared: Arc<Shared>, table: Arc<Table>, mut report: TableReport) {
    let started = Instant::now();
    let builds = buildable(&table).map(|index| {
        let shared = shared.clone();
        async move {
            let unit = Unit::Index(index.oid);
            if shared.steps.indexes && !shared.is_done(&unit) {
                // Any failure of the unit is reported, not only the build's:
                // one that ended the future silently left the index to
                // post-data, which then failed on it existing.
                let label = index.label();
                let if_not_exists = shared.index_if_not_exists();
                shared
                    .run_target_unit(
                        &unit,
                        &label,
                        shared.index_connection(),
                        |conn| async move {
                            build_index(&conn, index, if_not_exists).await?;
                            crate::failpoint!("index-built", &index.label());
                            Ok(())
                        },
                    )
                    .await?;
            }
            shared.progress.indexes_done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), anyhow::Error>(())
        }
    });
    let built = try_join_all(builds).await.is_ok();
    let constraints = Unit::Constraints(table.oid);
    let mut ok = built;
    let needs_finishing = table.indexes.iter().any(|i| {
        i.constraint.is_some()
            || i.clustered
            || i.replica_identity
            || !i.column_statistics.is_empty()
    });
    if built && shared.steps.constraints && needs_finishing && !shared.is_done(&constraints) {
        // An EXCLUDE constraint builds its index as it is added.
        let builds = table
            .indexes
            .iter()
            .any(|i| i.constraint.as_ref().is_some_and(|c| c.kind == 'x'));
        let pool = if builds {
            &shared.index_pool
        } else {
            &shared.ddl_pool
        };
        let table = &table;
        ok = shared
            .run_target_unit(
                &constraints,
                &table.label(),
                pool.get(),
                |conn| async move {
                    attach_constraints(&conn, table).await?;
                    crate::failpoint!("constraints-attached", &table.label());
                    Ok(())
                },
            )
            .await
            .is_ok();
    }
    report.index_seconds = started.elapsed().as_secs_f64();
    Shared::mark(&shared.last_index, shared.started.elapsed());
    let vacuum = Unit::Vacuum(table.oid);
    if ok && shared.steps.analyze && !shared.opts.skip_vacuum && !shared.is_done(&vacuum) {
        let sql = format!(
            "{} {}",
            shared.maintenance_command(&table),
            table.qualified()
        );
        let sql = &sql;
        // Its failure is reported; the table is complete all the same.
        let _ = shared
            .run_target_unit(
                &vacuum,
                &table.label(),
                shared.index_pool.get(),
                |conn| async move {
                    conn.batch_execute(sql)
                        .await
                        .with_context(|| format!("{sql} on the target"))
                },
            )
            .await;
        Shared::mark(&shared.last_index, shared.started.elapsed());
    }
    crate::sync::lock(&shared.reports).push(report);
    // A table whose indexes or constraints failed never becomes complete:
    // its foreign keys are not attempted (the failure is already reported).
    if ok {
        table_complete(&shared, table.oid);
    }
}

/// Run `work` with the rest of what follows the copies.
pub(super) fn spawn_after(
    shared: &Shared,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    crate::sync::lock(&shared.after).spawn(work);
}

/// Build the indexes of a partitioned table whose partitions are all
/// complete, one after the other on one connection (each is a catalog
/// change, no scan), then count the table complete.
async fn build_parent(shared: Arc<Shared>, parent: Arc<PartitionedTable>) {
    for index in &parent.indexes {
        let unit = Unit::ParentIndex(index.index.oid);
        if shared.is_done(&unit) {
            continue;
        }
        let parent = &parent;
        let result = shared
            .run_target_unit(
                &unit,
                &index.index.label(),
                shared.ddl_pool.get(),
                |conn| async move { build_parent_index(&conn, &parent.qualified(), index).await },
            )
            .await;
        if result.is_err() {
            // Its foreign keys and its own parent wait for post-data.
            return;
        }
    }
    Shared::mark(&shared.last_index, shared.started.elapsed());
    table_complete(&shared, parent.oid);
}

/// A table (plain, or partitioned with its indexes built) is complete: build
/// the indexes of its partitioned parent once that one's partitions all are,
/// and start every foreign key whose two tables now are.
fn table_complete(shared: &Arc<Shared>, oid: u32) {
    let ready = crate::sync::lock(&shared.schedule).table_complete(oid);
    if let Some(p) = ready.parent {
        spawn_after(shared, build_parent(shared.clone(), p));
    }
    for fk in ready.foreign_keys {
        let s = shared.clone();
        spawn_after(shared, async move {
            let unit = Unit::ForeignKey(fk.oid);
            if s.is_done(&unit) {
                return;
            }
            let label = format!("{} {}", fk.table, fk.name);
            let fk = &fk;
            let validate = !s.fk_unvalidated.contains(&fk.oid);
            // Its failure is reported; nothing else waits for it.
            let _ = s
                .run_target_unit(&unit, &label, s.index_pool.get(), |conn| async move {
                    add_foreign_key(&conn, fk, validate).await?;
                    crate::failpoint!("foreign-key-added", &format!("{} {}", fk.table, fk.name));
                    Ok(())
                })
                .await;
            Shared::mark(&s.last_index, s.started.elapsed());
        });
    }
}
