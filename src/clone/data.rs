//! The data phase. Tables are copied largest first by `table_jobs` workers;
//! as soon as one is in, its indexes build concurrently (bounded by
//! `index_jobs`), then its constraints are attached and it is vacuumed,
//! while other tables keep copying. Sequences and large objects run
//! alongside. Each unit is recorded in the state; units already done by an
//! earlier run are skipped.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::future::try_join_all;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::CloneOptions;
use crate::catalog::{Catalog, Table};
use crate::cli::CopyFormatArg;
use crate::connections::{connect_target_worker, Endpoints};
use crate::copy::CopyFormat;
use crate::indexes::{attach_constraints, build_index, buildable};
use crate::interrupt;
use crate::pool::Pool;
use crate::report::progress::{spawn_reporter, Progress};
use crate::report::summary::TableReport;
use crate::sequences::reset_sequences;
use crate::workdir::state::{State, Unit};

mod blobs_phase;
mod table_copy;

pub struct DataOutcome {
    pub steps: Vec<(String, Duration)>,
    pub tables: Vec<TableReport>,
    pub failures: Vec<String>,
}

/// Shared state of the data phase.
pub(super) struct Shared {
    endpoints: Endpoints,
    snapshot: Option<String>,
    opts: CloneOptions,
    same_major: bool,
    progress: Arc<Progress>,
    state: Arc<State>,
    done: HashSet<String>,
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
    /// Record a failed unit; with --fail-fast, stop everything else too.
    async fn fail(&self, unit: Option<&Unit>, what: String) {
        if interrupt::is_cancelled() {
            return;
        }
        warn!("{what}");
        if let Some(unit) = unit {
            let _ = self.state.failed(unit, &what);
        }
        self.failures.lock().expect("failures").push(what);
        if self.opts.fail_fast {
            interrupt::cancel_all().await;
        }
    }
    fn stopping(&self) -> bool {
        interrupt::is_cancelled()
            || (self.opts.fail_fast && !self.failures.lock().expect("failures").is_empty())
    }
    fn is_done(&self, unit: &Unit) -> bool {
        self.done.contains(&unit.key())
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
        let binary = match self.opts.copy_format {
            CopyFormatArg::Text => false,
            CopyFormatArg::Binary => safe,
            CopyFormatArg::Auto => safe && self.same_major,
        };
        if binary {
            CopyFormat::Binary
        } else {
            CopyFormat::Text
        }
    }
    /// Whether every piece of after-copy work of this table is done.
    fn after_copy_done(&self, table: &Table) -> bool {
        buildable(table).all(|i| self.is_done(&Unit::Index(i.oid)))
            && self.is_done(&Unit::Constraints(table.oid))
            && (self.opts.skip_vacuum || self.is_done(&Unit::Vacuum(table.oid)))
    }
}

pub async fn copy_all(
    endpoints: &Endpoints,
    catalog: &Catalog,
    snapshot: Option<&str>,
    same_major: bool,
    opts: &CloneOptions,
    state: Arc<State>,
) -> Result<DataOutcome> {
    let done = state.done_units()?;
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
        state,
        done,
        queue: Mutex::new(VecDeque::new()),
        reports: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        index_pool: Pool::new(endpoints.target.clone(), opts.index_jobs),
        vacuum_pool: Pool::new(endpoints.target.clone(), opts.table_jobs),
        started: Instant::now(),
        last_copy: Mutex::new(Duration::ZERO),
        last_index: Mutex::new(Duration::ZERO),
    });
    let reporter = spawn_reporter(progress.clone());

    // Tables copied by an earlier run only need what follows their copy.
    let after = Arc::new(Mutex::new(JoinSet::new()));
    let mut skipped = 0;
    let mut no_data = 0;
    for table in &catalog.tables {
        let table = Arc::new(table.clone());
        // exclude-table-data: no COPY, but indexes, constraints and vacuum.
        if !table.copy_data {
            no_data += 1;
            progress.tables_done.fetch_add(1, Ordering::Relaxed);
            if !shared.after_copy_done(&table) {
                let report = TableReport {
                    table: table.label(),
                    indexes: buildable(&table).count(),
                    ..TableReport::default()
                };
                let s = shared.clone();
                after
                    .lock()
                    .expect("after")
                    .spawn(async move { after_copy(s, table, report).await });
            }
            continue;
        }
        if !shared.is_done(&Unit::Table(table.oid)) {
            shared.queue.lock().expect("queue").push_back(table);
            continue;
        }
        skipped += 1;
        progress.tables_done.fetch_add(1, Ordering::Relaxed);
        progress
            .bytes_done
            .fetch_add(table.bytes.max(0) as u64, Ordering::Relaxed);
        if !shared.after_copy_done(&table) {
            let report = TableReport {
                table: table.label(),
                indexes: buildable(&table).count(),
                ..TableReport::default()
            };
            let s = shared.clone();
            after
                .lock()
                .expect("after")
                .spawn(async move { after_copy(s, table, report).await });
        }
    }
    if skipped > 0 {
        info!("{skipped} tables were copied by an earlier run");
    }
    info!(
        "copying {} tables with {} jobs, building indexes with {} jobs",
        catalog.tables.len() - skipped - no_data,
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
            Err(e) => seq_shared.fail(None, format!("sequences: {e:#}")).await,
        }
        ("sequences", started.elapsed())
    });
    if !catalog.large_objects.is_empty() {
        let lo_shared = shared.clone();
        let oids = catalog.large_objects.clone();
        side_tasks.spawn(async move {
            let started = Instant::now();
            blobs_phase::copy_large_objects(lo_shared, oids).await;
            ("large objects", started.elapsed())
        });
    }

    let copiers =
        (0..opts.table_jobs).map(|_| table_copy::copy_worker(shared.clone(), after.clone()));
    if let Err(e) = try_join_all(copiers).await {
        shared.fail(None, format!("{e:#}")).await;
    }
    // Drain index/vacuum work; copy workers are done adding to it.
    let mut pending = std::mem::take(&mut *after.lock().expect("after"));
    while pending.join_next().await.is_some() {}

    let mut steps = vec![
        (
            "copy data".to_string(),
            *shared.last_copy.lock().expect("timing"),
        ),
        (
            "indexes, constraints, vacuum".to_string(),
            *shared.last_index.lock().expect("timing"),
        ),
    ];
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

/// Everything that follows a table's data: all its indexes at once, then its
/// constraints, then VACUUM ANALYZE. Units done by an earlier run are skipped.
async fn after_copy(shared: Arc<Shared>, table: Arc<Table>, mut report: TableReport) {
    let started = Instant::now();
    let builds = buildable(&table).map(|index| {
        let shared = shared.clone();
        async move {
            let unit = Unit::Index(index.oid);
            if !shared.is_done(&unit) {
                let conn = shared.index_pool.get().await?;
                shared.state.start(&unit, &index.label(), 0)?;
                if let Err(e) = build_index(&conn, index, shared.opts.resume).await {
                    shared.fail(Some(&unit), format!("{e:#}")).await;
                    return Err(e);
                }
                shared.state.done(&unit, 0, 0)?;
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
    if built && needs_finishing && !shared.is_done(&constraints) {
        let result = async {
            let conn = shared.index_pool.get().await?;
            shared.state.start(&constraints, &table.label(), 0)?;
            attach_constraints(&conn, &table).await?;
            shared.state.done(&constraints, 0, 0)
        }
        .await;
        if let Err(e) = result {
            shared.fail(Some(&constraints), format!("{e:#}")).await;
            ok = false;
        }
    }
    report.index_seconds = started.elapsed().as_secs_f64();
    Shared::mark(&shared.last_index, shared.started.elapsed());
    let vacuum = Unit::Vacuum(table.oid);
    if ok && !shared.opts.skip_vacuum && !shared.is_done(&vacuum) {
        let result = async {
            let conn = shared.vacuum_pool.get().await?;
            shared.state.start(&vacuum, &table.label(), 0)?;
            conn.batch_execute(&format!("VACUUM ANALYZE {}", table.qualified()))
                .await
                .with_context(|| format!("vacuum analyze {}", table.label()))?;
            shared.state.done(&vacuum, 0, 0)
        }
        .await;
        if let Err(e) = result {
            shared.fail(Some(&vacuum), format!("{e:#}")).await;
        }
        Shared::mark(&shared.last_index, shared.started.elapsed());
    }
    shared.reports.lock().expect("reports").push(report);
}
