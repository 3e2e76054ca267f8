//! Copy workers: take work items (whole tables, or parts of split tables)
//! off the queue, largest first, each copied in one target transaction;
//! retry when a connection breaks. When a table's last part is in, what
//! follows its copy starts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio_postgres::Client;
use tracing::{debug, warn};

use super::after_copy::{after_copy, after_copy_group};
use super::shared::Shared;
use crate::catalog::{uncompressed_columns, Table};
use crate::connections::{connect, connect_target_worker, Side};
use crate::copy::counts::RowCountMismatch;
use crate::copy::relay::TapHandle;
use crate::copy::{copy_in_transaction, copy_table, unit_label, CopyStats, CopyUnit, Source};
use crate::error::{reached_before, Error, Kind, SideContext};
use crate::indexes::buildable;
use crate::interrupt;
use crate::report::costs::Cost;
use crate::report::summary::TableReport;
use crate::snapshot::open_copy_reader;
use crate::workdir::state::Unit;

/// How many times a copy is retried after a connection-class error.
const RETRIES: u32 = 5;

/// One COPY to run: a whole table, or part `part` (an index into
/// `table.parts`) of a split table.
#[derive(Clone)]
pub(super) struct WorkItem {
    pub table: Arc<Table>,
    pub part: Option<usize>,
    /// Delete the part's rows before copying it (an earlier attempt may
    /// have committed them).
    pub clear_first: bool,
}

impl WorkItem {
    /// Expected bytes, to order the queue largest first.
    pub fn bytes(&self) -> i64 {
        match self.part {
            None => self.table.bytes,
            Some(_) => self.table.bytes / self.table.parts.len().max(1) as i64,
        }
    }
    // `part` indexes `table.parts`: items are made by enumerating them.
    #[allow(clippy::indexing_slicing)]
    fn unit(&self) -> Unit {
        match self.part {
            None => Unit::Table(self.table.oid),
            Some(i) => Unit::Part(self.table.oid, self.table.parts[i].number),
        }
    }
    /// The failpoint reached once this item's COPY is committed.
    #[cfg(feature = "failpoints")]
    fn copied_point(&self) -> &'static str {
        match self.part {
            None => "table-copied",
            Some(_) => "part-copied",
        }
    }
    #[allow(clippy::indexing_slicing)]
    fn copy_unit(&self) -> CopyUnit<'_> {
        match self.part {
            None => CopyUnit::Whole,
            Some(i) => CopyUnit::Part {
                part: &self.table.parts[i],
                clear_first: self.clear_first,
            },
        }
    }
}

/// What a copy worker takes off the queue at once.
#[derive(Clone)]
pub(super) enum CopyJob {
    One(WorkItem),
    /// Small whole tables copied in one target transaction: one commit,
    /// and one state write before and after, for all of them.
    Group(Vec<Arc<Table>>),
}

impl CopyJob {
    /// Its place among the waiters for an instance-wide slot.
    fn priority(&self, shared: &Shared) -> i64 {
        match self {
            CopyJob::One(item) => shared.plan.priority(item),
            CopyJob::Group(tables) => tables.iter().map(|t| t.bytes).sum(),
        }
    }
}

struct Connections {
    source: Client,
    /// The source reader's socket, for the COPY relay.
    relay: Option<TapHandle>,
    target: Client,
}

impl Connections {
    /// A link broke (or a relay was abandoned mid-reply): reopen both.
    fn is_closed(&self) -> bool {
        self.source.is_closed()
            || self.target.is_closed()
            || self.relay.as_ref().is_some_and(TapHandle::is_broken)
    }
}

/// Both connections of a worker. The servers answered at the start of the
/// run: one that no longer does has gone away, a retryable failure.
async fn open(shared: &Shared) -> Result<Connections> {
    let target = connect_target_worker(&shared.settings.endpoints.target)
        .await
        .map_err(reached_before)?;
    if let Some(sql) = &shared.settings.toast_compression {
        // A target built without lz4 refuses it: it then compresses with its
        // own default, as it would have anyway.
        if let Err(e) = target.batch_execute(sql).await {
            tracing::debug!(
                "keeping the target's default_toast_compression: {}",
                crate::connections::db_error_message(&e)
            );
        }
    }
    let (source, relay) = open_copy_reader(
        &shared.settings.endpoints.source,
        shared.settings.snapshot.as_deref(),
    )
    .await
    .map_err(reached_before)?;
    Ok(Connections {
        source,
        relay,
        target,
    })
}

/// One copy worker: one source reader (inside the snapshot) and one target
/// connection serve all its items; both are reopened after a broken link.
pub(super) async fn copy_worker(shared: Arc<Shared>) -> Result<()> {
    let instance = shared.opts().limits.as_ref().map(|l| &l.copiers);
    if let Some(n) = instance {
        n.fetch_add(1, Ordering::Relaxed);
    }
    let result = take_tables(&shared).await;
    shared.pools.copiers_running.fetch_sub(1, Ordering::Relaxed);
    if let Some(n) = instance {
        n.fetch_sub(1, Ordering::Relaxed);
    }
    result
}

async fn take_tables(shared: &Arc<Shared>) -> Result<()> {
    let mut conns: Option<Connections> = None;
    loop {
        if shared.stopping() {
            return Ok(());
        }
        let Some(job) = crate::sync::lock(&shared.queue).pop_front() else {
            return Ok(());
        };
        // With --all-databases, wait for an instance-wide slot, given to the
        // largest item waiting in any database.
        let _slot = crate::clone::limits::table_slot(shared.opts(), job.priority(shared)).await;
        if shared.stopping() {
            return Ok(());
        }
        match job {
            CopyJob::One(item) => take_item(shared, &mut conns, &item).await?,
            CopyJob::Group(tables) => take_group(shared, &mut conns, tables).await?,
        }
    }
}

/// Copy one item in its own transaction, record it, and start what follows
/// once its table is in.
async fn take_item(
    shared: &Arc<Shared>,
    conns: &mut Option<Connections>,
    item: &WorkItem,
) -> Result<()> {
    let label = unit_label(&item.table, item.copy_unit());
    let unit = item.unit();
    shared.progress.start_table(&label);
    let copy = async {
        let started = Instant::now();
        let result = copy_with_retries(shared, conns, item).await;
        shared.costs.since(Cost::Copy, started);
        shared.progress.finish_table(&label);
        shared.timings.copy_ended();
        result
    };
    let result = shared
        .ledger
        .recorded(&unit, &label, item.bytes(), copy, |stats| {
            crate::failpoint!(item.copied_point(), &label);
            Ok((stats.bytes, stats.rows))
        })
        .await?;
    match result {
        Ok(stats) => {
            count_copied(shared, item.bytes(), &stats);
            debug!(
                "copied {label}: {} rows, {} bytes in {:?}",
                stats.rows, stats.bytes, stats.duration
            );
            if let Some(total) = shared.part_done(&item.table, &stats) {
                table_copied(shared, item.table.clone(), total)?;
            } else {
                crate::failpoint!("between-parts", &label);
            }
        }
        Err(e) => {
            // Retries are spent and a server is still out of reach: the
            // next tables would only go through the same retries.
            let e = if Error::classify(&e).is_retryable() {
                shared.outcome.server_lost.store(true, Ordering::Relaxed);
                e
            } else {
                // The source reader's transaction is aborted: the next
                // tables need a new one.
                *conns = None;
                explain_vanished(shared, &item.table, e).await
            };
            shared.outcome.copy_failed.store(true, Ordering::Relaxed);
            if e.chain().any(|c| c.is::<RowCountMismatch>()) {
                shared
                    .outcome
                    .count_mismatches
                    .fetch_add(1, Ordering::Relaxed);
            }
            shared.fail(Some(&unit), Error::classify(&e)).await
        }
    }
    Ok(())
}

/// Copy a group of small tables in one target transaction, recorded
/// started before it and done after its commit in one state write each: a
/// crash in between leaves them all running, and the resume copies them
/// all again (each copy truncates first). When the group fails, its tables
/// are copied again one by one, so that a failure is told, retried and
/// recorded against its own table only.
async fn take_group(
    shared: &Arc<Shared>,
    conns: &mut Option<Connections>,
    tables: Vec<Arc<Table>>,
) -> Result<()> {
    let units: Vec<(Unit, String, i64)> = tables
        .iter()
        .map(|t| (Unit::Table(t.oid), t.label(), t.bytes))
        .collect();
    shared.ledger.start_many(&units)?;
    for (_, label, _) in &units {
        shared.progress.start_table(label);
    }
    let started = Instant::now();
    let result = copy_group(shared, conns, &tables).await;
    shared.costs.since(Cost::Copy, started);
    for (_, label, _) in &units {
        shared.progress.finish_table(label);
    }
    shared.timings.copy_ended();
    let stats = match result {
        Ok(stats) => stats,
        Err(e) => {
            debug!(
                "a group of {} small tables failed ({e:#}): copying them one by one",
                tables.len()
            );
            *conns = None;
            shared
                .progress
                .tables_done
                .fetch_sub(tables.len(), Ordering::Relaxed);
            for table in tables {
                let item = WorkItem {
                    table,
                    part: None,
                    clear_first: false,
                };
                take_item(shared, conns, &item).await?;
            }
            return Ok(());
        }
    };
    #[cfg(feature = "failpoints")]
    for (_, label, _) in &units {
        crate::failpoint!("table-copied", label);
    }
    let done: Vec<(Unit, u64, u64)> = units
        .iter()
        .zip(&stats)
        .map(|((unit, _, _), s)| (unit.clone(), s.bytes, s.rows))
        .collect();
    shared.ledger.done_many(&done)?;
    let mut copied = Vec::with_capacity(tables.len());
    for (table, stats) in tables.into_iter().zip(stats) {
        count_copied(shared, table.bytes, &stats);
        let report = copied_report(shared, &table, &stats);
        copied.push((table, report));
    }
    shared.spawn_after(after_copy_group(shared.clone(), copied));
    Ok(())
}

/// The group's copies in one target transaction, on the worker's
/// connections. Not retried here: the caller copies the tables one by one
/// then, each with its own retries.
async fn copy_group(
    shared: &Shared,
    conns: &mut Option<Connections>,
    tables: &[Arc<Table>],
) -> Result<Vec<CopyStats>> {
    if conns.as_ref().is_some_and(Connections::is_closed) {
        *conns = None;
    }
    let c: &Connections = match conns {
        Some(c) => c,
        None => conns.insert(open(shared).await?),
    };
    c.target
        .batch_execute("BEGIN")
        .await
        .on(Side::Target, "starting the target transaction")?;
    let copied = async {
        let mut all = Vec::with_capacity(tables.len());
        for table in tables {
            let counted = AtomicU64::new(0);
            let uncompressed = uncompressed_before_copy(shared, c, table, CopyUnit::Whole).await?;
            let stats = copy_in_transaction(
                Source {
                    client: &c.source,
                    relay: c.relay.as_ref(),
                },
                &c.target,
                table,
                CopyUnit::Whole,
                shared.copy_how(table, &uncompressed),
                &counted,
                &shared.progress.bytes_done,
            )
            .await;
            if stats.is_err() {
                // The bytes of a failed attempt will be sent again.
                let n = counted.load(Ordering::Relaxed);
                shared.progress.bytes_done.fetch_sub(n, Ordering::Relaxed);
            }
            all.push(stats?);
            crate::failpoint!("group-table-copied", &table.label());
        }
        Ok::<_, anyhow::Error>(all)
    }
    .await;
    match copied {
        Ok(all) => {
            c.target
                .batch_execute("COMMIT")
                .await
                .on(Side::Target, "committing on the target")?;
            Ok(all)
        }
        Err(e) => {
            let _ = c.target.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Count a copy in once it is in: the total is in table sizes (pages on
/// disk), the flow in COPY bytes, so the item counts at its expected size
/// and the bar ends at 100%.
fn count_copied(shared: &Shared, expected: i64, stats: &CopyStats) {
    let progress = &shared.progress;
    progress.rows_done.fetch_add(stats.rows, Ordering::Relaxed);
    let expected = expected.max(0) as u64;
    if expected >= stats.bytes {
        progress
            .bytes_done
            .fetch_add(expected - stats.bytes, Ordering::Relaxed);
    } else {
        progress
            .bytes_done
            .fetch_sub(stats.bytes - expected, Ordering::Relaxed);
    }
}

/// The columns of `table` stored EXTERNAL for its whole-table copy (see
/// [`uncompressed_columns`]).
async fn uncompressed_before_copy(
    shared: &Shared,
    c: &Connections,
    table: &Table,
    unit: CopyUnit<'_>,
) -> Result<Vec<String>> {
    match unit {
        CopyUnit::Whole
            if shared.settings.check_compression
                && shared.plan.rules.target_relation(table).freezes() =>
        {
            Ok(uncompressed_columns(&c.source, table).await.on(
                Side::Source,
                "checking the column compression on the source",
            )?)
        }
        _ => Ok(Vec::new()),
    }
}

/// All of a table's data is in: record it and start what follows.
pub(super) fn table_copied(
    shared: &Arc<Shared>,
    table: Arc<Table>,
    stats: CopyStats,
) -> Result<()> {
    if !table.parts.is_empty() {
        shared
            .ledger
            .done_quick(&Unit::Table(table.oid), &table.label(), stats.bytes)?;
    }
    let report = copied_report(shared, &table, &stats);
    let s = shared.clone();
    shared.spawn_after(async move { after_copy(s, table, report).await });
    Ok(())
}

/// The summary's line of a table whose data is in.
fn copied_report(shared: &Shared, table: &Table, stats: &CopyStats) -> TableReport {
    TableReport {
        table: table.label(),
        oid: table.oid,
        schema: table.schema.clone(),
        name: table.name.clone(),
        rows: stats.rows,
        bytes: stats.bytes,
        parts: table.parts.len().max(1),
        copy_seconds: stats.duration.as_secs_f64(),
        indexes: buildable(table).count(),
        index_seconds: 0.0,
        binary: shared.format_for(table) == crate::copy::CopyFormat::Binary,
        copied: true,
        ..TableReport::default()
    }
}

async fn copy_with_retries(
    shared: &Shared,
    conns: &mut Option<Connections>,
    item: &WorkItem,
) -> Result<CopyStats> {
    let table = &item.table;
    let mut attempt = 0;
    loop {
        let outcome = async {
            if conns.as_ref().is_some_and(Connections::is_closed) {
                *conns = None;
            }
            let c: &Connections = match conns {
                Some(c) => c,
                None => conns.insert(open(shared).await?),
            };
            let uncompressed = uncompressed_before_copy(shared, c, table, item.copy_unit()).await?;
            let counted = AtomicU64::new(0);
            let copy = copy_table(
                Source {
                    client: &c.source,
                    relay: c.relay.as_ref(),
                },
                &c.target,
                table,
                item.copy_unit(),
                shared.copy_how(table, &uncompressed),
                &counted,
                &shared.progress.bytes_done,
            );
            // Publish the bytes in flight for `list progress` now and then.
            let unit = item.unit();
            let publish = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    let _ = shared
                        .ledger
                        .advance(&unit, counted.load(Ordering::Relaxed));
                }
            };
            let result = tokio::select! {
                r = copy => r,
                _ = publish => unreachable!("publishing never ends"),
            };
            if result.is_err() {
                // The bytes of a failed attempt will be sent again.
                let n = counted.load(Ordering::Relaxed);
                shared.progress.bytes_done.fetch_sub(n, Ordering::Relaxed);
            }
            result
        }
        .await;
        match outcome {
            Ok(stats) => return Ok(stats),
            Err(e)
                if attempt < RETRIES
                    && Error::classify(&e).is_retryable()
                    && !interrupt::is_cancelled() =>
            {
                attempt += 1;
                let wait = crate::retry::base_delay() * (1 << attempt.min(3));
                warn!(
                    "copying {} failed on a broken connection ({e:#}); retry {attempt}/{RETRIES} in {:.1}s",
                    unit_label(table, item.copy_unit()),
                    wait.as_secs_f64()
                );
                *conns = None;
                let started = Instant::now();
                while started.elapsed() < wait && !interrupt::is_cancelled() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// A copy failed: when the table is no longer on the source under the name
/// the catalog read gave (dropped or renamed on the live source since), say
/// so, naming it. Any other failure, or no answer, keeps its own message.
async fn explain_vanished(shared: &Shared, table: &Table, err: anyhow::Error) -> anyhow::Error {
    let Ok(source) = connect(Side::Source, &shared.settings.endpoints.source).await else {
        return err;
    };
    // Outside any snapshot: the catalog as it is now.
    let now = source
        .query_opt(
            "SELECT n.nspname::text, c.relname::text \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
              WHERE c.oid = $1",
            &[&table.oid],
        )
        .await;
    let what = match now {
        Ok(None) => "dropped".to_string(),
        Ok(Some(row)) => match (row.try_get::<_, String>(0), row.try_get::<_, String>(1)) {
            (Ok(schema), Ok(name)) if (&schema, &name) != (&table.schema, &table.name) => {
                format!("renamed to {schema}.{name}")
            }
            _ => return err,
        },
        Err(_) => return err,
    };
    Error::new(
        Kind::ObjectMissing,
        Side::Source.into(),
        format!(
            "{} is no longer on the source ({what} after the clone started): its data is not \
             copied; run again with --restart to clone the source as it is now ({err:#})",
            table.label()
        ),
    )
    .into()
}
