//! The data phase. Tables are copied largest first by `table_jobs` workers;
//! as soon as one is in, its indexes build concurrently (bounded by
//! `index_jobs`), then its constraints are attached and it is vacuumed,
//! while other tables keep copying. Sequences and large objects run
//! alongside.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::CloneOptions;
use crate::blobs::copy_large_object;
use crate::catalog::{Catalog, Table};
use crate::connections::{connect_target_worker, Endpoints};
use crate::copy::{copy_table, CopyFormat};
use crate::indexes::{attach_constraints, build_index, buildable};
use crate::pool::Pool;
use crate::report::progress::{spawn_reporter, Progress};
use crate::report::summary::TableReport;
use crate::sequences::reset_sequences;
use crate::snapshot::open_reader;

pub struct DataOutcome {
    pub steps: Vec<(String, Duration)>,
    pub tables: Vec<TableReport>,
    pub failures: Vec<String>,
}

/// Shared state of the data phase.
struct Shared {
    endpoints: Endpoints,
    snapshot: Option<String>,
    opts: CloneOptions,
    same_major: bool,
    progress: Arc<Progress>,
    queue: Mutex<VecDeque<Arc<Table>>>,
    reports: Mutex<Vec<TableReport>>,
    failures: Mutex<Vec<String>>,
    index_pool: Arc<Pool>,
    vacuum_pool: Arc<Pool>,
    started: Instant,
    last_copy: Mutex<Duration>,
    last_index: Mutex<Duration>,
}

impl Shared {
    fn fail(&self, what: String) {
        warn!("{what}");
        self.failures.lock().expect("failures").push(what);
    }
    fn failed(&self) -> bool {
        !self.failures.lock().expect("failures").is_empty()
    }
    fn mark(slot: &Mutex<Duration>, at: Duration) {
        let mut v = slot.lock().expect("timing");
        if at > *v {
            *v = at;
        }
    }
    fn format_for(&self, table: &Table) -> CopyFormat {
        // Binary COPY costs the target less to parse; it is exact when both
        // servers share the major version and no type OID is embedded.
        let safe = table.binary_safe() && !table.columns.is_empty();
        if safe && (self.opts.use_copy_binary || self.same_major) {
            CopyFormat::Binary
        } else {
            CopyFormat::Text
        }
    }
}

pub async fn copy_all(
    endpoints: &Endpoints,
    catalog: &Catalog,
    snapshot: Option<&str>,
    same_major: bool,
    opts: &CloneOptions,
) -> Result<DataOutcome> {
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
    let shared = Arc::new(Shared {
        endpoints: endpoints.clone(),
        snapshot: snapshot.map(str::to_string),
        opts: opts.clone(),
        same_major,
        progress: progress.clone(),
        queue: Mutex::new(catalog.tables.iter().cloned().map(Arc::new).collect()),
        reports: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        index_pool: Pool::new(endpoints.target.clone(), opts.index_jobs),
        vacuum_pool: Pool::new(endpoints.target.clone(), opts.table_jobs),
        started: Instant::now(),
        last_copy: Mutex::new(Duration::ZERO),
        last_index: Mutex::new(Duration::ZERO),
    });
    let reporter = spawn_reporter(progress);
    info!(
        "copying {} tables with {} jobs, building indexes with {} jobs",
        catalog.tables.len(),
        opts.table_jobs,
        opts.index_jobs
    );

    let mut side_tasks = JoinSet::new();
    let sequences = catalog.sequences.clone();
    let seq_shared = shared.clone();
    side_tasks.spawn(async move {
        let started = Instant::now();
        let result = async {
            let target = connect_target_worker(&seq_shared.endpoints.target).await?;
            reset_sequences(&target, &sequences).await
        }
        .await;
        match result {
            Ok(n) => debug!("set {n} sequences"),
            Err(e) => seq_shared.fail(format!("sequences: {e:#}")),
        }
        ("sequences", started.elapsed())
    });
    if !catalog.large_objects.is_empty() {
        let oids = Arc::new(Mutex::new(
            catalog
                .large_objects
                .iter()
                .copied()
                .collect::<VecDeque<u32>>(),
        ));
        let lo_shared = shared.clone();
        side_tasks.spawn(async move {
            let started = Instant::now();
            let workers = (0..lo_shared.opts.large_objects_jobs)
                .map(|_| large_object_worker(lo_shared.clone(), oids.clone()));
            if let Err(e) = try_join_all(workers).await {
                lo_shared.fail(format!("large objects: {e:#}"));
            }
            ("large objects", started.elapsed())
        });
    }

    // Copy workers; each finished table spawns its index work into `after`.
    let after = Arc::new(Mutex::new(JoinSet::new()));
    let copiers = (0..opts.table_jobs.min(catalog.tables.len().max(1)))
        .map(|_| copy_worker(shared.clone(), after.clone()));
    let copy_result = try_join_all(copiers).await;
    if let Err(e) = copy_result {
        shared.fail(format!("{e:#}"));
    }
    // Drain index/vacuum work; new entries may still be added while we wait.
    loop {
        let next = {
            let mut set = after.lock().expect("after");
            if set.is_empty() {
                break;
            }
            // Take the whole set out so the lock is not held across await.
            std::mem::take(&mut *set)
        };
        let mut next = next;
        while next.join_next().await.is_some() {}
    }
    let mut steps = Vec::new();
    steps.push((
        "copy data".to_string(),
        *shared.last_copy.lock().expect("timing"),
    ));
    steps.push((
        "indexes, constraints, vacuum".to_string(),
        *shared.last_index.lock().expect("timing"),
    ));
    while let Some(done) = side_tasks.join_next().await {
        let (name, duration) = done.context("side task panicked")?;
        steps.push((name.to_string(), duration));
    }
    reporter.stop();

    let mut tables = std::mem::take(&mut *shared.reports.lock().expect("reports"));
    tables.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    let failures = std::mem::take(&mut *shared.failures.lock().expect("failures"));
    Ok(DataOutcome {
        steps,
        tables,
        failures,
    })
}

/// Take tables off the queue until it is empty. One source reader (inside
/// the snapshot) and one target connection serve all the worker's tables.
async fn copy_worker(shared: Arc<Shared>, after: Arc<Mutex<JoinSet<()>>>) -> Result<()> {
    let source = open_reader(&shared.endpoints.source, shared.snapshot.as_deref()).await?;
    let target = connect_target_worker(&shared.endpoints.target).await?;
    loop {
        if shared.opts.fail_fast && shared.failed() {
            return Ok(());
        }
        let Some(table) = shared.queue.lock().expect("queue").pop_front() else {
            return Ok(());
        };
        let label = table.label();
        shared.progress.start_table(&label);
        let format = shared.format_for(&table);
        let result = copy_table(
            &source,
            &target,
            &table,
            format,
            &shared.progress.bytes_done,
        )
        .await;
        shared.progress.finish_table(&label);
        Shared::mark(&shared.last_copy, shared.started.elapsed());
        match result {
            Ok(stats) => {
                debug!(
                    "copied {label}: {} rows, {} bytes in {:?}",
                    stats.rows, stats.bytes, stats.duration
                );
                let report = TableReport {
                    table: label,
                    rows: stats.rows,
                    bytes: stats.bytes,
                    copy_seconds: stats.duration.as_secs_f64(),
                    indexes: buildable(&table).count(),
                    index_seconds: 0.0,
                    binary: format == CopyFormat::Binary,
                };
                let s = shared.clone();
                after
                    .lock()
                    .expect("after")
                    .spawn(async move { after_copy(s, table, report).await });
            }
            Err(e) => {
                shared.fail(format!("{e:#}"));
                if target.is_closed() || source.is_closed() {
                    return Err(e);
                }
            }
        }
    }
}

/// Everything that follows a table's data: all its indexes at once, then its
/// constraints, then VACUUM ANALYZE.
async fn after_copy(shared: Arc<Shared>, table: Arc<Table>, mut report: TableReport) {
    let started = Instant::now();
    let builds = buildable(&table).map(|index| {
        let shared = shared.clone();
        async move {
            let conn = shared.index_pool.get().await?;
            build_index(&conn, index, shared.opts.resume).await?;
            shared.progress.indexes_done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), anyhow::Error>(())
        }
    });
    let result = async {
        try_join_all(builds).await?;
        if table.indexes.iter().any(|i| i.constraint.is_some()) {
            let conn = shared.index_pool.get().await?;
            attach_constraints(&conn, &table).await?;
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    report.index_seconds = started.elapsed().as_secs_f64();
    Shared::mark(&shared.last_index, shared.started.elapsed());
    if let Err(e) = result {
        shared.fail(format!("{e:#}"));
    } else if !shared.opts.skip_vacuum {
        let vacuum = async {
            let conn = shared.vacuum_pool.get().await?;
            conn.batch_execute(&format!("VACUUM ANALYZE {}", table.qualified()))
                .await
                .with_context(|| format!("vacuum analyze {}", table.label()))
        };
        if let Err(e) = vacuum.await {
            shared.fail(format!("{e:#}"));
        }
        Shared::mark(&shared.last_index, shared.started.elapsed());
    }
    shared.reports.lock().expect("reports").push(report);
}

async fn large_object_worker(shared: Arc<Shared>, oids: Arc<Mutex<VecDeque<u32>>>) -> Result<()> {
    let source = open_reader(&shared.endpoints.source, shared.snapshot.as_deref()).await?;
    let target = connect_target_worker(&shared.endpoints.target).await?;
    loop {
        let Some(oid) = oids.lock().expect("oids").pop_front() else {
            return Ok(());
        };
        copy_large_object(&source, &target, oid).await?;
    }
}
